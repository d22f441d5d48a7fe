SELECT activity, COUNT(*) AS clients
FROM (SELECT CASE WHEN LastActiveDays0 <= 7 THEN 'active'
                  WHEN LastActiveDays0 <= 30 THEN 'inactive_8_30_days'
                  ELSE 'inactive_over_30_days' END AS activity
      FROM dbo.System_DISC) AS bucketed
GROUP BY activity
