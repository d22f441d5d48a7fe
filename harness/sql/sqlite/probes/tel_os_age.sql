-- Clients per operating system age in whole months (30-day months) since it was installed.
SELECT CAST(julianday(:week_start) - julianday(OS_InstallDate0) AS INTEGER) / 30 AS age_months,
       COUNT(*) AS clients
FROM System_DISC
GROUP BY CAST(julianday(:week_start) - julianday(OS_InstallDate0) AS INTEGER) / 30;
