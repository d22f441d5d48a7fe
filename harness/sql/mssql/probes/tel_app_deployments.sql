SELECT d.Action AS action,
       d.Purpose AS purpose,
       CASE c.CollectionType WHEN 1 THEN 'user' ELSE 'device' END AS target,
       COUNT(*) AS deployments
FROM dbo.CI_AppDeployments AS d
LEFT JOIN dbo.Collections AS c ON c.CollectionID = d.CollectionID
GROUP BY d.Action, d.Purpose, CASE c.CollectionType WHEN 1 THEN 'user' ELSE 'device' END
