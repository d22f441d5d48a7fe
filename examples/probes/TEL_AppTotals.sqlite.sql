SELECT COUNT(DISTINCT a.CI_ID) AS applications,
       COUNT(d.CI_ID)          AS deployment_types
FROM CI_Applications AS a
LEFT JOIN CI_DeploymentTypes AS d ON d.AppCI_ID = a.CI_ID;
