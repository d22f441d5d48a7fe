SELECT 'SQL Server'                                              AS product,
       CAST(SERVERPROPERTY('ProductVersion') AS NVARCHAR(128))   AS version,
       CAST(SERVERPROPERTY('Edition') AS NVARCHAR(128))          AS edition,
       CAST(SERVERPROPERTY('Collation') AS NVARCHAR(128))        AS collation
