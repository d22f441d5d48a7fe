-- Overall software update compliance: installed among applicable (installed + required), in
-- basis points (hundredths of a percent), with the counts it was computed from.
SELECT installed,
       required,
       CASE WHEN installed + required = 0 THEN 10000
            ELSE installed * 10000 / (installed + required) END AS compliance_bp
FROM (SELECT COALESCE(SUM(CASE WHEN Status = 3 THEN 1 ELSE 0 END), 0) AS installed,
             COALESCE(SUM(CASE WHEN Status = 2 THEN 1 ELSE 0 END), 0) AS required
      FROM Update_ComplianceStatus);
