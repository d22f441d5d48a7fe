SELECT severity,
       installed,
       required,
       CASE WHEN installed + required = 0 THEN 10000 ELSE installed * 10000 / (installed + required) END AS compliance_bp
FROM (SELECT CAST(u.Severity AS INT) AS severity,
             SUM(per_update.installed) AS installed,
             SUM(per_update.required) AS required
      FROM (SELECT CI_ID,
                   SUM(CASE WHEN Status = 3 THEN CAST(1 AS BIGINT) ELSE 0 END) AS installed,
                   SUM(CASE WHEN Status = 2 THEN CAST(1 AS BIGINT) ELSE 0 END) AS required
            FROM dbo.Update_ComplianceStatus
            GROUP BY CI_ID) AS per_update
      INNER JOIN dbo.CI_SoftwareUpdates AS u ON u.CI_ID = per_update.CI_ID
      GROUP BY u.Severity) AS counted
