-- Endpoint Protection health summary.
SELECT CASE EP_State0 WHEN 1 THEN 'protected' WHEN 2 THEN 'at_risk'
                      WHEN 3 THEN 'unknown' ELSE 'unsupported' END AS state,
       COUNT(*) AS clients
FROM System_DISC
GROUP BY EP_State0;
