-- One probe of a weekly run, in its own TRY/CATCH so that a failing probe is recorded as an
-- error and the run goes on. It runs inside TEL_RunWeekly's transaction; a probe stores its rows
-- with one INSERT ... SELECT, so a probe that fails stores none. An error that dooms the
-- transaction (XACT_STATE() = -1) cannot be recorded: it is raised again and fails the run.
-- (The body has no BEGIN/END of its own: it is the whole batch.)
CREATE OR ALTER PROCEDURE dbo.TEL_RunProbe
(
    @name NVARCHAR(128),
    @week INT,
    @week_start DATE,
    @site_hash VARCHAR(44),
    @hierarchy_hash VARCHAR(44)
)
AS
SET NOCOUNT ON;
DECLARE @probe_started DATETIME2 = SYSDATETIME();
BEGIN TRY
    EXEC @name @week = @week, @week_start = @week_start, @site_hash = @site_hash, @hierarchy_hash = @hierarchy_hash;
    INSERT INTO dbo.TEL_ProbeRunHistory (Week, ProbeName, DurationMs, Error)
    VALUES (@week, @name, DATEDIFF(MILLISECOND, @probe_started, SYSDATETIME()), NULL);
    INSERT INTO dbo.TEL_ProbeRuns (SiteHash, Week, PeriodStart, ProbeName, [RowCount], Error)
    SELECT @site_hash, @week, CONVERT(VARCHAR(10), DATEADD(DAY, -7, @week_start), 23), @name, COUNT_BIG(*), NULL
    FROM dbo.TEL_TelemetryResults
    WHERE Week = @week AND SiteHash = @site_hash AND ProbeName = @name;
END TRY
BEGIN CATCH
    IF XACT_STATE() = -1
    BEGIN
        THROW;
    END;
    INSERT INTO dbo.TEL_ProbeRunHistory (Week, ProbeName, DurationMs, Error)
    VALUES (@week, @name, DATEDIFF(MILLISECOND, @probe_started, SYSDATETIME()), ERROR_MESSAGE());
    INSERT INTO dbo.TEL_ProbeRuns (SiteHash, Week, PeriodStart, ProbeName, [RowCount], Error)
    VALUES (@site_hash, @week, CONVERT(VARCHAR(10), DATEADD(DAY, -7, @week_start), 23), @name, 0, ERROR_MESSAGE());
END CATCH;
GO

-- The weekly run: every probe of the level in force (a comma-separated list), then the run's
-- history, in one transaction. A week run again replaces what this site recorded for it: its own
-- rows and probe runs of the week in TEL_TelemetryResults and TEL_ProbeRuns (rows replicated from
-- other sites stay) and the week's run history. Returns one row per probe (name, duration, error, rows written) for the harness's
-- timing report.
CREATE OR ALTER PROCEDURE dbo.TEL_RunWeekly
(
    @week INT,
    @week_start DATE,
    @probes NVARCHAR(MAX)
)
AS
BEGIN
    SET NOCOUNT ON;
    -- A failing probe must leave the transaction committable where SQL Server allows it.
    SET XACT_ABORT OFF;
    DECLARE @site_hash VARCHAR(44) = (SELECT TOP (1) dbo.fnTelHash(SiteCode) FROM dbo.Sites);
    DECLARE @hierarchy_hash VARCHAR(44) = dbo.fnTelHash(dbo.fnGetHierarchyID());
    DECLARE @run_started DATETIME2 = SYSDATETIME();
    DECLARE @name NVARCHAR(128);
    DECLARE @next INT = 1;
    CREATE TABLE #probes (n INT IDENTITY (1, 1) NOT NULL PRIMARY KEY, name NVARCHAR(128) NOT NULL);
    INSERT INTO #probes (name)
    SELECT LTRIM(RTRIM(value)) FROM STRING_SPLIT(@probes, ',') WHERE LTRIM(RTRIM(value)) <> '';
    BEGIN TRY
        BEGIN TRANSACTION;
        DELETE FROM dbo.TEL_TelemetryResults WHERE Week = @week AND SiteHash = @site_hash;
        DELETE FROM dbo.TEL_ProbeRuns WHERE Week = @week AND SiteHash = @site_hash;
        DELETE FROM dbo.TEL_ProbeRunHistory WHERE Week = @week;
        DELETE FROM dbo.TEL_RunHistory WHERE Week = @week;
        WHILE @next <= (SELECT COUNT(*) FROM #probes)
        BEGIN
            SET @name = (SELECT name FROM #probes WHERE n = @next);
            EXEC dbo.TEL_RunProbe @name = @name, @week = @week, @week_start = @week_start,
                 @site_hash = @site_hash, @hierarchy_hash = @hierarchy_hash;
            SET @next = @next + 1;
        END;
        INSERT INTO dbo.TEL_RunHistory (Week, StartedOn, Level, ProbeCount, ErrorCount, [RowCount], DurationMs)
        SELECT @week,
               CONVERT(VARCHAR(10), DATEADD(DAY, -7, @week_start), 23),
               Level,
               (SELECT COUNT(*) FROM #probes),
               (SELECT COUNT(*) FROM dbo.TEL_ProbeRunHistory WHERE Week = @week AND Error IS NOT NULL),
               (SELECT COUNT_BIG(*) FROM dbo.TEL_TelemetryResults WHERE Week = @week AND SiteHash = @site_hash),
               DATEDIFF(MILLISECOND, @run_started, SYSDATETIME())
        FROM dbo.TEL_Settings;
        COMMIT TRANSACTION;
    END TRY
    BEGIN CATCH
        IF @@TRANCOUNT > 0
            ROLLBACK TRANSACTION;
        THROW;
    END CATCH;
    SELECT h.ProbeName,
           h.DurationMs,
           h.Error,
           (SELECT COUNT_BIG(*) FROM dbo.TEL_TelemetryResults AS r
             WHERE r.Week = @week AND r.ProbeName = h.ProbeName AND r.SiteHash = @site_hash) AS RowsWritten
    FROM dbo.TEL_ProbeRunHistory AS h
    WHERE h.Week = @week;
END
