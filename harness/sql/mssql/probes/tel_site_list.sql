SELECT dbo.fnTelHash(SiteCode)                 AS site,
       SiteType                                AS type,
       Version                                 AS version,
       Status                                  AS status,
       (SELECT COUNT(*) FROM dbo.System_DISC)  AS clients,
       TimeZone                                AS time_zone
FROM dbo.Sites
