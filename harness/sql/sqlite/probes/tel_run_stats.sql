-- Statistics of the previous weekly run: when it ran, how many probes, errors and rows.
-- How long it took is kept in TEL_RunHistory.DurationMs for the harness's timing report, but
-- not sent: a wall-clock figure would make two runs of one seed differ.
SELECT Week       AS week,
       StartedOn  AS started_on,
       ProbeCount AS probes,
       ErrorCount AS errors,
       RowCount   AS rows
FROM TEL_RunHistory
WHERE Week = :week - 1;
