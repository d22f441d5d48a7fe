-- Collections and their members by collection type.
SELECT CASE CollectionType WHEN 1 THEN 'user' ELSE 'device' END AS type,
       COUNT(*)         AS collections,
       SUM(MemberCount) AS members
FROM Collections
GROUP BY CollectionType;
