-- The 50 most common processors. Inventory spells one processor in several ways (case, trailing
-- spaces): they are grouped as SQL Server's site collation groups them, and each group is named
-- by its binary-smallest spelling without trailing spaces. Ties are broken by that name so the
-- answer does not depend on the engine.
SELECT MIN(RTRIM(CPU_Name0)) AS cpu,
       COUNT(*)              AS clients
FROM System_DISC
GROUP BY CPU_Name0 COLLATE SQL_Latin1_General_CP1_CI_AS
ORDER BY COUNT(*) DESC, cpu
LIMIT 50;
