SELECT age_months, COUNT(*) AS clients
FROM (SELECT DATEDIFF(DAY, OS_InstallDate0, @week_start) / 30 AS age_months FROM dbo.System_DISC) AS aged
GROUP BY age_months
