SELECT COUNT(*) AS applications,
       (SELECT COUNT(*) FROM dbo.CI_DeploymentTypes) AS deployment_types
FROM dbo.CI_Applications
