-- A whole procedure: the supersedence depths are computed hop by hop into a temporary table first
-- and stored as rows afterwards.
CREATE OR ALTER PROCEDURE dbo.TEL_AppSupersedence
(
    @week INT,
    @week_start DATE,
    @site_hash VARCHAR(44),
    @hierarchy_hash VARCHAR(44)
)
AS
BEGIN
    SET NOCOUNT ON;
    -- Walk every chain one hop at a time: Depth counts the hops to the newest application.
    CREATE TABLE #chain (CI_ID BIGINT NOT NULL PRIMARY KEY, NextID BIGINT NULL, Depth INT NOT NULL);
    INSERT INTO #chain (CI_ID, NextID, Depth)
    SELECT CI_ID, SupersededBy, 0 FROM dbo.CI_Applications;
    WHILE EXISTS (SELECT 1 FROM #chain AS c INNER JOIN dbo.CI_Applications AS a ON a.CI_ID = c.NextID)
    BEGIN
        UPDATE c
        SET c.Depth = c.Depth + 1, c.NextID = a.SupersededBy
        FROM #chain AS c
        INNER JOIN dbo.CI_Applications AS a ON a.CI_ID = c.NextID;
    END;
    CREATE TABLE #depths (depth INT NOT NULL, applications INT NOT NULL);
    INSERT INTO #depths (depth, applications)
    SELECT Depth, COUNT(*) FROM #chain GROUP BY Depth;
    INSERT INTO dbo.TEL_TelemetryResults (Week, ProbeName, SiteHash, HierarchyHash, RowNo, ResultData, CollectedOn)
    SELECT @week,
           'TEL_AppSupersedence',
           @site_hash,
           @hierarchy_hash,
           ROW_NUMBER() OVER (ORDER BY q.depth),
           j.data,
           CONVERT(VARCHAR(10), @week_start, 23)
    FROM #depths AS q
    CROSS APPLY (SELECT q.depth AS depth, q.applications AS applications FOR JSON PATH, WITHOUT_ARRAY_WRAPPER) AS j (data);
END
