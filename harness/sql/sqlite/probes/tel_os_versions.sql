-- Clients per operating system caption and version. Captions spelled differently (case, trailing
-- spaces) are one caption, as SQL Server's site collation groups them, named by the
-- binary-smallest spelling without trailing spaces.
SELECT MIN(RTRIM(Operating_System_Caption0)) AS caption,
       OS_Version0                           AS version,
       COUNT(*)                              AS clients
FROM System_DISC
GROUP BY Operating_System_Caption0 COLLATE SQL_Latin1_General_CP1_CI_AS, OS_Version0;
