SELECT h.ProbeName AS probe, h.DurationMs AS duration_ms, h.Error AS error
FROM dbo.TEL_ProbeRunHistory AS h
JOIN dbo.TEL_ProbeCatalog AS c ON c.ProbeName = h.ProbeName
WHERE h.Week = @week - 1
  AND c.LevelRank <= (SELECT CASE Level WHEN N'basic' THEN 1 WHEN N'enhanced' THEN 2 ELSE 3 END FROM dbo.TEL_Settings)
