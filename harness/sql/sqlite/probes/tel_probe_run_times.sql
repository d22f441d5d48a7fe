-- How long each probe of the previous weekly run took, and whether it failed. The duration is a
-- measurement: the catalog declares `duration_ms` volatile, checked for shape, not value.
SELECT ProbeName  AS probe,
       DurationMs AS duration_ms,
       Error      AS error
FROM TEL_ProbeRunHistory
WHERE Week = :week - 1;
