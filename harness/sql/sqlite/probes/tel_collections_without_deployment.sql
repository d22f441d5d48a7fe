-- Collections that no application or software update group is deployed to, by type.
SELECT CASE CollectionType WHEN 1 THEN 'user' ELSE 'device' END AS type,
       COUNT(*) AS collections
FROM Collections c
WHERE NOT EXISTS (SELECT 1 FROM CI_AppDeployments d WHERE d.CollectionID = c.CollectionID)
  AND NOT EXISTS (SELECT 1 FROM UpdateDeployments u WHERE u.CollectionID = c.CollectionID)
GROUP BY CollectionType;
