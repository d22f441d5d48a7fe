-- Applications per supersedence depth: 0 for an application nothing supersedes, 1 when one
-- newer application supersedes it, and so on along the chain.
WITH RECURSIVE chain (CI_ID, Next, Depth) AS (
    SELECT CI_ID, SupersededBy, 0 FROM CI_Applications
    UNION ALL
    SELECT chain.CI_ID, a.SupersededBy, chain.Depth + 1
    FROM chain JOIN CI_Applications a ON a.CI_ID = chain.Next
)
SELECT depth AS depth, COUNT(*) AS applications
FROM (SELECT CI_ID, MAX(Depth) AS depth FROM chain GROUP BY CI_ID)
GROUP BY depth;
