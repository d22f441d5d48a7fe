-- Every table of the site database, by hashed name only: the service compares the hashes with
-- the product's defaults to spot custom tables without learning their names.
SELECT tel_hash(name) AS table_hash
FROM sqlite_master
WHERE type = 'table'
  AND name NOT LIKE 'sqlite\_%' ESCAPE '\';
