-- Application deployments by action (install/uninstall), purpose (required/available) and
-- target (user or device collection).
SELECT d.Action  AS action,
       d.Purpose AS purpose,
       CASE c.CollectionType WHEN 1 THEN 'user' ELSE 'device' END AS target,
       COUNT(*)  AS deployments
FROM CI_AppDeployments d
LEFT JOIN Collections c ON c.CollectionID = d.CollectionID
GROUP BY d.Action, d.Purpose, CASE c.CollectionType WHEN 1 THEN 'user' ELSE 'device' END;
