-- Applications and deployment types per deployment technology.
SELECT Technology                AS technology,
       COUNT(DISTINCT AppCI_ID)  AS applications,
       COUNT(*)                  AS deployment_types
FROM CI_DeploymentTypes
GROUP BY Technology;
