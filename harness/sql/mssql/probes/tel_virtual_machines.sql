SELECT CASE Is_Virtual_Machine0 WHEN 1 THEN 'virtual' ELSE 'physical' END AS kind, COUNT(*) AS clients
FROM dbo.System_DISC
GROUP BY Is_Virtual_Machine0
