SELECT Technology AS technology, COUNT(DISTINCT AppCI_ID) AS applications, COUNT(*) AS deployment_types
FROM dbo.CI_DeploymentTypes
GROUP BY Technology
