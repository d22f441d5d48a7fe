-- Clients per operating system caption and version.
SELECT Operating_System_Caption0 AS caption,
       OS_Version0               AS version,
       COUNT(*)                  AS clients
FROM System_DISC
GROUP BY Operating_System_Caption0, OS_Version0;
