-- The database engine behind the site: product, version, edition, collation.
SELECT 'SQLite'         AS product,
       sqlite_version() AS version,
       'embedded'       AS edition,
       'BINARY'         AS collation;
