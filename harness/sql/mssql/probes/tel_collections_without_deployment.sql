SELECT CASE CollectionType WHEN 1 THEN 'user' ELSE 'device' END AS type, COUNT(*) AS collections
FROM dbo.Collections AS c
WHERE NOT EXISTS (SELECT 1 FROM dbo.CI_AppDeployments AS d WHERE d.CollectionID = c.CollectionID)
  AND NOT EXISTS (SELECT 1 FROM dbo.UpdateDeployments AS u WHERE u.CollectionID = c.CollectionID)
GROUP BY CollectionType
