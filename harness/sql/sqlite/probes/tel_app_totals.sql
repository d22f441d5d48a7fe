-- How many applications and deployment types the site has.
SELECT COUNT(*)                                   AS applications,
       (SELECT COUNT(*) FROM CI_DeploymentTypes)  AS deployment_types
FROM CI_Applications;
