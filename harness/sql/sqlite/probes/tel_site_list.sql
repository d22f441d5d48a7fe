-- The site's entry in the hierarchy list: hashed code, type, version, status, clients, time zone.
SELECT tel_hash(SiteCode)                   AS site,
       SiteType                             AS type,
       Version                              AS version,
       Status                               AS status,
       (SELECT COUNT(*) FROM System_DISC)   AS clients,
       TimeZone                             AS time_zone
FROM Sites;
