SELECT dbo.fnTelHash(name) AS table_hash
FROM sys.tables
WHERE is_ms_shipped = 0
