SELECT Week AS week, StartedOn AS started_on, ProbeCount AS probes, ErrorCount AS errors, [RowCount] AS [rows]
FROM dbo.TEL_RunHistory
WHERE Week = @week - 1
