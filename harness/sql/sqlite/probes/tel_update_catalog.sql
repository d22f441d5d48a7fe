-- Software updates in the catalog by severity and whether they are expired.
SELECT Severity  AS severity,
       IsExpired AS expired,
       COUNT(*)  AS updates
FROM CI_SoftwareUpdates
GROUP BY Severity, IsExpired;
