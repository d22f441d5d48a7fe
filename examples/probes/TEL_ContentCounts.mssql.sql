SELECT (SELECT COUNT(*) FROM dbo.CI_Applications) AS applications,
       (SELECT COUNT(*) FROM dbo.Collections)     AS collections
