-- Clients per BIOS age in whole years (365-day years) on the day the run starts.
SELECT CAST(julianday(:week_start) - julianday(BIOS_ReleaseDate0) AS INTEGER) / 365 AS age_years,
       COUNT(*) AS clients
FROM System_DISC
GROUP BY CAST(julianday(:week_start) - julianday(BIOS_ReleaseDate0) AS INTEGER) / 365;
