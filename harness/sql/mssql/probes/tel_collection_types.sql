SELECT CASE CollectionType WHEN 1 THEN 'user' ELSE 'device' END AS type,
       COUNT(*) AS collections,
       SUM(CAST(MemberCount AS BIGINT)) AS members
FROM dbo.Collections
GROUP BY CollectionType
