-- Database performance figures: the database's size and how many tables it has.
SELECT (SELECT page_count FROM pragma_page_count()) * (SELECT page_size FROM pragma_page_size()) / 1024 AS size_kb,
       (SELECT COUNT(*) FROM sqlite_master
         WHERE type = 'table' AND name NOT LIKE 'sqlite\_%' ESCAPE '\')                              AS tables;
