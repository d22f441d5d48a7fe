-- Software update deployment error codes and how often clients report them.
SELECT LastErrorCode AS error_code,
       COUNT(*)      AS occurrences
FROM Update_ComplianceStatus
WHERE LastErrorCode IS NOT NULL
GROUP BY LastErrorCode;
