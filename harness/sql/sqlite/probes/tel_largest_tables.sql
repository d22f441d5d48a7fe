-- The ten largest product tables by rows, by hashed name. Ties are broken by the hash so the
-- answer does not depend on the engine.
SELECT table_hash, row_count
FROM (
    SELECT tel_hash('Sites') AS table_hash, COUNT(*) AS row_count FROM Sites
    UNION ALL SELECT tel_hash('System_DISC'), COUNT(*) FROM System_DISC
    UNION ALL SELECT tel_hash('CI_Applications'), COUNT(*) FROM CI_Applications
    UNION ALL SELECT tel_hash('CI_DeploymentTypes'), COUNT(*) FROM CI_DeploymentTypes
    UNION ALL SELECT tel_hash('CI_AppDeployments'), COUNT(*) FROM CI_AppDeployments
    UNION ALL SELECT tel_hash('Collections'), COUNT(*) FROM Collections
    UNION ALL SELECT tel_hash('CI_SoftwareUpdates'), COUNT(*) FROM CI_SoftwareUpdates
    UNION ALL SELECT tel_hash('Update_ComplianceStatus'), COUNT(*) FROM Update_ComplianceStatus
    UNION ALL SELECT tel_hash('CI_UpdateGroups'), COUNT(*) FROM CI_UpdateGroups
    UNION ALL SELECT tel_hash('CI_UpdateGroupMembers'), COUNT(*) FROM CI_UpdateGroupMembers
    UNION ALL SELECT tel_hash('UpdateDeployments'), COUNT(*) FROM UpdateDeployments
    UNION ALL SELECT tel_hash('BoundaryGroups'), COUNT(*) FROM BoundaryGroups
    UNION ALL SELECT tel_hash('Boundaries'), COUNT(*) FROM Boundaries
)
ORDER BY row_count DESC, table_hash
LIMIT 10;
