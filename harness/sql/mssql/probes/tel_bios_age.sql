SELECT age_years, COUNT(*) AS clients
FROM (SELECT DATEDIFF(DAY, BIOS_ReleaseDate0, @week_start) / 365 AS age_years FROM dbo.System_DISC) AS aged
GROUP BY age_years
