SELECT CASE EP_State0 WHEN 1 THEN 'protected' WHEN 2 THEN 'at_risk' WHEN 3 THEN 'unknown' ELSE 'unsupported' END AS state,
       COUNT(*) AS clients
FROM dbo.System_DISC
GROUP BY EP_State0
