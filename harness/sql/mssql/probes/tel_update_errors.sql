SELECT LastErrorCode AS error_code, COUNT(*) AS occurrences
FROM dbo.Update_ComplianceStatus
WHERE LastErrorCode IS NOT NULL
GROUP BY LastErrorCode
