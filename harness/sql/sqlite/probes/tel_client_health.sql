-- Client health: clients by days since they were last active.
SELECT CASE WHEN LastActiveDays0 <= 7 THEN 'active'
            WHEN LastActiveDays0 <= 30 THEN 'inactive_8_30_days'
            ELSE 'inactive_over_30_days' END AS activity,
       COUNT(*) AS clients
FROM System_DISC
GROUP BY CASE WHEN LastActiveDays0 <= 7 THEN 'active'
              WHEN LastActiveDays0 <= 30 THEN 'inactive_8_30_days'
              ELSE 'inactive_over_30_days' END;
