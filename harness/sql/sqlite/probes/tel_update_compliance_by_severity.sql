-- Software update compliance per update severity, in basis points.
SELECT severity,
       installed,
       required,
       CASE WHEN installed + required = 0 THEN 10000
            ELSE installed * 10000 / (installed + required) END AS compliance_bp
FROM (SELECT u.Severity AS severity,
             SUM(CASE WHEN s.Status = 3 THEN 1 ELSE 0 END) AS installed,
             SUM(CASE WHEN s.Status = 2 THEN 1 ELSE 0 END) AS required
      FROM Update_ComplianceStatus s
      JOIN CI_SoftwareUpdates u ON u.CI_ID = s.CI_ID
      GROUP BY u.Severity);
