-- The site database of one Configuration Manager site, SQL Server dialect (T-SQL). The same
-- tables and columns as the embedded engine's schema, so the probes of the two dialects read
-- alike and TEL_SchemaHash hashes the same default set. The hash, dbo.fnTelHash, is in hash.sql,
-- installed next. Batches are separated by GO lines.

CREATE TABLE dbo.Sites (
    SiteCode        NVARCHAR(3)   NOT NULL PRIMARY KEY,
    SiteName        NVARCHAR(256) NOT NULL,
    SiteType        NVARCHAR(16)  NOT NULL,
    ParentSiteCode  NVARCHAR(3)   NULL,
    Version         NVARCHAR(32)  NOT NULL,
    Status          NVARCHAR(16)  NOT NULL,
    TimeZone        NVARCHAR(128) NOT NULL,
    InstallDate     VARCHAR(10)   NOT NULL
);

CREATE TABLE dbo.System_DISC (
    ItemKey                    BIGINT        NOT NULL PRIMARY KEY,
    Netbios_Name0              NVARCHAR(64)  NOT NULL,
    User_Name0                 NVARCHAR(256) NULL,
    IP_Addresses0              NVARCHAR(64)  NULL,
    MAC_Addresses0             NVARCHAR(64)  NULL,
    Mail0                      NVARCHAR(256) NULL,
    Client_Version0            NVARCHAR(32)  NOT NULL,
    Operating_System_Caption0  NVARCHAR(128) NOT NULL,
    OS_Version0                NVARCHAR(32)  NOT NULL,
    OS_Build0                  INT           NOT NULL,
    OS_UBR0                    INT           NOT NULL,
    OSBranch01                 TINYINT       NULL,
    BIOS_ReleaseDate0          DATE          NOT NULL,
    OS_InstallDate0            DATE          NOT NULL,
    UEFI0                      TINYINT       NOT NULL,
    SecureBoot0                TINYINT       NOT NULL,
    TPM_Enabled0               TINYINT       NOT NULL,
    Is_Virtual_Machine0        TINYINT       NOT NULL,
    CPU_Name0                  NVARCHAR(128) NOT NULL,
    LastActiveDays0            INT           NOT NULL,
    EP_State0                  TINYINT       NOT NULL
);

CREATE TABLE dbo.CI_Applications (
    CI_ID           BIGINT        NOT NULL PRIMARY KEY,
    Title           NVARCHAR(256) NOT NULL,
    Manufacturer    NVARCHAR(128) NOT NULL,
    SupersededBy    BIGINT        NULL
);

CREATE TABLE dbo.CI_DeploymentTypes (
    CI_ID           BIGINT        NOT NULL PRIMARY KEY,
    AppCI_ID        BIGINT        NOT NULL REFERENCES dbo.CI_Applications (CI_ID),
    Technology      NVARCHAR(32)  NOT NULL,
    ProductCode     NVARCHAR(38)  NULL
);

CREATE TABLE dbo.CI_AppDeployments (
    DeploymentID    BIGINT        NOT NULL PRIMARY KEY,
    AppCI_ID        BIGINT        NOT NULL REFERENCES dbo.CI_Applications (CI_ID),
    CollectionID    NVARCHAR(8)   NOT NULL,
    Action          NVARCHAR(16)  NOT NULL,
    Purpose         NVARCHAR(16)  NOT NULL
);

CREATE TABLE dbo.Collections (
    CollectionID    NVARCHAR(8)   NOT NULL PRIMARY KEY,
    Name            NVARCHAR(256) NOT NULL,
    CollectionType  TINYINT       NOT NULL,
    MemberCount     INT           NOT NULL
);

CREATE TABLE dbo.CI_SoftwareUpdates (
    CI_ID           BIGINT        NOT NULL PRIMARY KEY,
    ArticleID       NVARCHAR(16)  NOT NULL,
    Severity        TINYINT       NOT NULL,
    IsExpired       TINYINT       NOT NULL
);

CREATE TABLE dbo.Update_ComplianceStatus (
    ItemKey         BIGINT        NOT NULL,
    CI_ID           BIGINT        NOT NULL,
    Status          TINYINT       NOT NULL,
    LastErrorCode   BIGINT        NULL,
    CONSTRAINT PK_Update_ComplianceStatus PRIMARY KEY CLUSTERED (CI_ID, ItemKey)
);

CREATE TABLE dbo.CI_UpdateGroups (
    GroupID         BIGINT        NOT NULL PRIMARY KEY,
    Name            NVARCHAR(256) NOT NULL
);

CREATE TABLE dbo.CI_UpdateGroupMembers (
    GroupID         BIGINT        NOT NULL,
    CI_ID           BIGINT        NOT NULL,
    CONSTRAINT PK_CI_UpdateGroupMembers PRIMARY KEY (GroupID, CI_ID)
);

CREATE TABLE dbo.UpdateDeployments (
    DeploymentID    BIGINT        IDENTITY (1, 1) NOT NULL PRIMARY KEY,
    GroupID         BIGINT        NOT NULL,
    CollectionID    NVARCHAR(8)   NOT NULL
);

CREATE TABLE dbo.BoundaryGroups (
    GroupID         BIGINT        NOT NULL PRIMARY KEY,
    Name            NVARCHAR(256) NOT NULL,
    SiteSystems     INT           NOT NULL
);

CREATE TABLE dbo.Boundaries (
    BoundaryID      BIGINT        NOT NULL PRIMARY KEY,
    GroupID         BIGINT        NOT NULL,
    BoundaryType    NVARCHAR(16)  NOT NULL,
    Value           NVARCHAR(128) NOT NULL
);

CREATE TABLE dbo.TEL_Settings (
    HierarchyID     NVARCHAR(36)  NOT NULL,
    Level           NVARCHAR(16)  NOT NULL,
    Mode            NVARCHAR(16)  NOT NULL
);

CREATE TABLE dbo.TEL_TelemetryResults (
    ID              BIGINT        IDENTITY (1, 1) NOT NULL PRIMARY KEY,
    Week            INT           NOT NULL,
    ProbeName       NVARCHAR(64)  NOT NULL,
    SiteHash        VARCHAR(44)   NOT NULL,
    HierarchyHash   VARCHAR(44)   NOT NULL,
    RowNo           INT           NOT NULL,
    ResultData      NVARCHAR(MAX) NOT NULL,
    CollectedOn     VARCHAR(10)   NOT NULL
);

-- A week's rows, and one probe run's rows in order (see the embedded engine's schema).
CREATE INDEX TEL_TelemetryResults_Run ON dbo.TEL_TelemetryResults (Week, SiteHash, ProbeName, RowNo);

-- The probe catalog as installed: each probe's level, so that what a run reports about earlier
-- runs keeps to the level in force.
CREATE TABLE dbo.TEL_ProbeCatalog (
    ProbeName       NVARCHAR(64)  NOT NULL PRIMARY KEY,
    LevelRank       INT           NOT NULL
);

-- How each probe of each weekly run went, here and (at a CAS) at every child: tells an empty
-- result (sent as an empty entry) from a failed one (not sent) from a missing one. Replicated with
-- the results; its IDs drive replication.
CREATE TABLE dbo.TEL_ProbeRuns (
    ID              BIGINT        IDENTITY (1, 1) NOT NULL PRIMARY KEY,
    SiteHash        VARCHAR(44)   NOT NULL,
    Week            INT           NOT NULL,
    PeriodStart     VARCHAR(10)   NOT NULL,
    ProbeName       NVARCHAR(64)  NOT NULL,
    [RowCount]      BIGINT        NOT NULL,
    Error           NVARCHAR(4000) NULL,
    CONSTRAINT UQ_TEL_ProbeRuns UNIQUE (SiteHash, Week, ProbeName)
);

-- At the top-level site: what the service connection point did with each probe run; a side
-- table, so that SELECT * FROM TEL_TelemetryResults still shows exactly what is sent.
CREATE TABLE dbo.TEL_UploadState (
    SiteHash        VARCHAR(44)   NOT NULL,
    Week            INT           NOT NULL,
    ProbeName       NVARCHAR(64)  NOT NULL,
    Outcome         NVARCHAR(16)  NOT NULL,
    Receipt         NVARCHAR(64)  NULL,
    Cause           NVARCHAR(64)  NULL,
    CONSTRAINT PK_TEL_UploadState PRIMARY KEY (SiteHash, Week, ProbeName)
);

-- At the top-level site: the batch being sent (key, probe runs, exact body), persisted before it
-- leaves; at most one is in flight.
CREATE TABLE dbo.TEL_Outbox (
    IdempotencyKey  NVARCHAR(64)   NOT NULL PRIMARY KEY,
    Entries         NVARCHAR(MAX)  NOT NULL,
    Body            VARBINARY(MAX) NOT NULL
);

CREATE TABLE dbo.TEL_RunHistory (
    Week            INT           NOT NULL PRIMARY KEY,
    StartedOn       VARCHAR(10)   NOT NULL,
    Level           NVARCHAR(16)  NOT NULL,
    ProbeCount      INT           NOT NULL,
    ErrorCount      INT           NOT NULL,
    [RowCount]      BIGINT        NOT NULL,
    DurationMs      BIGINT        NOT NULL
);

CREATE TABLE dbo.TEL_ProbeRunHistory (
    Week            INT           NOT NULL,
    ProbeName       NVARCHAR(64)  NOT NULL,
    DurationMs      BIGINT        NOT NULL,
    Error           NVARCHAR(4000) NULL,
    CONSTRAINT PK_TEL_ProbeRunHistory PRIMARY KEY (Week, ProbeName)
);

CREATE TABLE dbo.UpdatePacks (
    PackID          NVARCHAR(64)  NOT NULL PRIMARY KEY,
    Name            NVARCHAR(256) NOT NULL,
    Version         NVARCHAR(32)  NOT NULL,
    SHA256          VARCHAR(64)   NOT NULL
);

CREATE TABLE dbo.TEL_ReplicationWatermark (
    SourceSite      NVARCHAR(3)   NOT NULL PRIMARY KEY,
    LastID          BIGINT        NOT NULL
);
GO

-- The hierarchy ID every row is tagged with (hashed before it is stored).
CREATE FUNCTION dbo.fnGetHierarchyID ()
RETURNS NVARCHAR(36)
AS
BEGIN
    RETURN (SELECT TOP (1) HierarchyID FROM dbo.TEL_Settings);
END
GO
