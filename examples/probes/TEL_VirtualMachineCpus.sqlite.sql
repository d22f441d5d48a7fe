SELECT CPU_Name0 AS cpu, COUNT(*) AS clients
FROM System_DISC
WHERE Is_Virtual_Machine0 = 1
GROUP BY CPU_Name0
ORDER BY clients DESC, cpu
LIMIT 10;
