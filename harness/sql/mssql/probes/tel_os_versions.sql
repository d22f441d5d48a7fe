SELECT Operating_System_Caption0 AS caption, OS_Version0 AS version, COUNT(*) AS clients
FROM dbo.System_DISC
GROUP BY Operating_System_Caption0, OS_Version0
