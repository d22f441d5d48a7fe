SELECT ProbeName AS probe, DurationMs AS duration_ms, Error AS error
FROM dbo.TEL_ProbeRunHistory
WHERE Week = @week - 1
