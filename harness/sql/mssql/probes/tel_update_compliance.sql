SELECT installed,
       required,
       CASE WHEN installed + required = 0 THEN 10000 ELSE installed * 10000 / (installed + required) END AS compliance_bp
FROM (SELECT COALESCE(SUM(CASE WHEN Status = 3 THEN CAST(1 AS BIGINT) ELSE 0 END), 0) AS installed,
             COALESCE(SUM(CASE WHEN Status = 2 THEN CAST(1 AS BIGINT) ELSE 0 END), 0) AS required
      FROM dbo.Update_ComplianceStatus) AS counted
