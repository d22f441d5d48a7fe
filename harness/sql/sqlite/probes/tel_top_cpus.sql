-- The 50 most common processors. Ties are broken by name so the answer does not depend on the
-- engine.
SELECT CPU_Name0 AS cpu,
       COUNT(*)  AS clients
FROM System_DISC
GROUP BY CPU_Name0
ORDER BY COUNT(*) DESC, CPU_Name0
LIMIT 50;
