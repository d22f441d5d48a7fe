SELECT CASE OSBranch01 WHEN 0 THEN 'CB' WHEN 1 THEN 'CBB' WHEN 2 THEN 'LTSB' END AS branch,
       OS_Build0 AS build,
       COUNT(*)  AS clients
FROM dbo.System_DISC
WHERE OSBranch01 IS NOT NULL
GROUP BY OSBranch01, OS_Build0
