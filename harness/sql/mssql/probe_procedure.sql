-- The template every TEL_* probe procedure is made from: the probe's query (its .sql file under
-- probes/) becomes q, and each of its rows is stored in TEL_TelemetryResults as a JSON object.
-- A probe file that starts with CREATE is a whole procedure of its own and is used as it is.
CREATE OR ALTER PROCEDURE dbo.TEL_PROBE_NAME
(
    @week INT,
    @week_start DATE,
    @site_hash VARCHAR(44),
    @hierarchy_hash VARCHAR(44)
)
AS
BEGIN
    SET NOCOUNT ON;
    INSERT INTO dbo.TEL_TelemetryResults (Week, ProbeName, SiteHash, HierarchyHash, RowNo, ResultData, CollectedOn)
    SELECT @week,
           'TEL_PROBE_NAME',
           @site_hash,
           @hierarchy_hash,
           ROW_NUMBER() OVER (ORDER BY (SELECT NULL)),
           j.data,
           CONVERT(VARCHAR(10), @week_start, 23)
    FROM (
        PROBE_QUERY
    ) AS q
    CROSS APPLY (SELECT q.* FOR JSON PATH, WITHOUT_ARRAY_WRAPPER, INCLUDE_NULL_VALUES) AS j (data);
END
