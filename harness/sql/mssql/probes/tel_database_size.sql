SELECT (SELECT SUM(CAST(size AS BIGINT)) * 8 FROM sys.database_files)   AS size_kb,
       (SELECT COUNT(*) FROM sys.tables WHERE is_ms_shipped = 0)         AS tables
