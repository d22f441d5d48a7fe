SELECT Client_Version0 AS client_version, COUNT(*) AS clients
FROM dbo.System_DISC
GROUP BY Client_Version0
