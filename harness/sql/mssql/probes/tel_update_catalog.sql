SELECT CAST(Severity AS INT) AS severity, CAST(IsExpired AS INT) AS expired, COUNT(*) AS updates
FROM dbo.CI_SoftwareUpdates
GROUP BY Severity, IsExpired
