SELECT TOP (10) table_hash, row_count
FROM (
    SELECT dbo.fnTelHash(N'Sites') AS table_hash, COUNT_BIG(*) AS row_count FROM dbo.Sites
    UNION ALL SELECT dbo.fnTelHash(N'System_DISC'), COUNT_BIG(*) FROM dbo.System_DISC
    UNION ALL SELECT dbo.fnTelHash(N'CI_Applications'), COUNT_BIG(*) FROM dbo.CI_Applications
    UNION ALL SELECT dbo.fnTelHash(N'CI_DeploymentTypes'), COUNT_BIG(*) FROM dbo.CI_DeploymentTypes
    UNION ALL SELECT dbo.fnTelHash(N'CI_AppDeployments'), COUNT_BIG(*) FROM dbo.CI_AppDeployments
    UNION ALL SELECT dbo.fnTelHash(N'Collections'), COUNT_BIG(*) FROM dbo.Collections
    UNION ALL SELECT dbo.fnTelHash(N'CI_SoftwareUpdates'), COUNT_BIG(*) FROM dbo.CI_SoftwareUpdates
    UNION ALL SELECT dbo.fnTelHash(N'Update_ComplianceStatus'), COUNT_BIG(*) FROM dbo.Update_ComplianceStatus
    UNION ALL SELECT dbo.fnTelHash(N'CI_UpdateGroups'), COUNT_BIG(*) FROM dbo.CI_UpdateGroups
    UNION ALL SELECT dbo.fnTelHash(N'CI_UpdateGroupMembers'), COUNT_BIG(*) FROM dbo.CI_UpdateGroupMembers
    UNION ALL SELECT dbo.fnTelHash(N'UpdateDeployments'), COUNT_BIG(*) FROM dbo.UpdateDeployments
    UNION ALL SELECT dbo.fnTelHash(N'BoundaryGroups'), COUNT_BIG(*) FROM dbo.BoundaryGroups
    UNION ALL SELECT dbo.fnTelHash(N'Boundaries'), COUNT_BIG(*) FROM dbo.Boundaries
) AS counted
ORDER BY row_count DESC, table_hash COLLATE Latin1_General_BIN2
