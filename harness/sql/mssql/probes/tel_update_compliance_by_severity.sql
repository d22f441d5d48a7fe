SELECT severity,
       installed,
       required,
       CASE WHEN installed + required = 0 THEN 10000 ELSE installed * 10000 / (installed + required) END AS compliance_bp
FROM (SELECT CAST(u.Severity AS INT) AS severity,
             SUM(CASE WHEN s.Status = 3 THEN CAST(1 AS BIGINT) ELSE 0 END) AS installed,
             SUM(CASE WHEN s.Status = 2 THEN CAST(1 AS BIGINT) ELSE 0 END) AS required
      FROM dbo.Update_ComplianceStatus AS s
      INNER JOIN dbo.CI_SoftwareUpdates AS u ON u.CI_ID = s.CI_ID
      GROUP BY u.Severity) AS counted
