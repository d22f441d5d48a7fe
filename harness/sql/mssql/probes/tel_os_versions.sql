SELECT MIN(RTRIM(Operating_System_Caption0) COLLATE Latin1_General_BIN2) AS caption,
       OS_Version0 AS version, COUNT(*) AS clients
FROM dbo.System_DISC
GROUP BY Operating_System_Caption0 COLLATE SQL_Latin1_General_CP1_CI_AS, OS_Version0
