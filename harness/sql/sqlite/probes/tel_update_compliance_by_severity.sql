-- Software update compliance per update severity, in basis points. Counted per update first:
-- the table is clustered by update, so that pass reads it in order, and only one row per update
-- is grouped again by severity (grouping the joined rows by severity sorts all of them).
SELECT severity,
       installed,
       required,
       CASE WHEN installed + required = 0 THEN 10000
            ELSE installed * 10000 / (installed + required) END AS compliance_bp
FROM (SELECT u.Severity AS severity,
             SUM(per_update.installed) AS installed,
             SUM(per_update.required) AS required
      FROM (SELECT CI_ID,
                   SUM(CASE WHEN Status = 3 THEN 1 ELSE 0 END) AS installed,
                   SUM(CASE WHEN Status = 2 THEN 1 ELSE 0 END) AS required
            FROM Update_ComplianceStatus
            GROUP BY CI_ID) per_update
      JOIN CI_SoftwareUpdates u ON u.CI_ID = per_update.CI_ID
      GROUP BY u.Severity);
