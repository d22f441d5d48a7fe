-- How long each probe of the previous weekly run took, and whether it failed — only the probes
-- allowed at the level in force now, so a run after a level drop names none above it. The
-- duration is a measurement: the catalog declares `duration_ms` volatile, checked for shape.
SELECT h.ProbeName  AS probe,
       h.DurationMs AS duration_ms,
       h.Error      AS error
FROM TEL_ProbeRunHistory AS h
JOIN TEL_ProbeCatalog AS c ON c.ProbeName = h.ProbeName
WHERE h.Week = :week - 1
  AND c.LevelRank <= (SELECT CASE Level WHEN 'basic' THEN 1 WHEN 'enhanced' THEN 2 ELSE 3 END
                      FROM TEL_Settings);
