SELECT TOP (10) CPU_Name0 AS cpu, COUNT(*) AS clients
FROM dbo.System_DISC
WHERE Is_Virtual_Machine0 = 1
GROUP BY CPU_Name0
ORDER BY clients DESC, cpu
