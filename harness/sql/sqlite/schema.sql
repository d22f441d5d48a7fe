-- The site database of one Configuration Manager site, embedded-engine dialect (SQLite).
-- Table and column names follow the product's where the probes read them, so the SQL of the
-- two dialects reads alike. The list of tables here is the product's "default set" that the
-- schema-hash probe compares against (see probes::DEFAULT_TABLES, kept equal by a test).

CREATE TABLE Sites (
    SiteCode        TEXT PRIMARY KEY,
    SiteName        TEXT NOT NULL,
    SiteType        TEXT NOT NULL,      -- cas | primary | standalone
    ParentSiteCode  TEXT,
    Version         TEXT NOT NULL,
    Status          TEXT NOT NULL,
    TimeZone        TEXT NOT NULL,
    InstallDate     TEXT NOT NULL
);

CREATE TABLE System_DISC (
    ItemKey                    INTEGER PRIMARY KEY,
    Netbios_Name0              TEXT NOT NULL,
    User_Name0                 TEXT,
    IP_Addresses0              TEXT,
    MAC_Addresses0             TEXT,
    Mail0                      TEXT,
    Client_Version0            TEXT NOT NULL,
    Operating_System_Caption0  TEXT NOT NULL,
    OS_Version0                TEXT NOT NULL,
    OS_Build0                  INTEGER NOT NULL,
    OS_UBR0                    INTEGER NOT NULL,
    OSBranch01                 INTEGER,          -- 0 CB, 1 CBB, 2 LTSB; NULL for servers
    BIOS_ReleaseDate0          TEXT NOT NULL,
    OS_InstallDate0            TEXT NOT NULL,
    UEFI0                      INTEGER NOT NULL,
    SecureBoot0                INTEGER NOT NULL,
    TPM_Enabled0               INTEGER NOT NULL,
    Is_Virtual_Machine0        INTEGER NOT NULL,
    CPU_Name0                  TEXT NOT NULL,
    LastActiveDays0            INTEGER NOT NULL,
    EP_State0                  INTEGER NOT NULL   -- 1 protected, 2 at risk, 3 unknown, 4 unsupported
);

CREATE TABLE CI_Applications (
    CI_ID           INTEGER PRIMARY KEY,
    Title           TEXT NOT NULL,
    Manufacturer    TEXT NOT NULL,
    SupersededBy    INTEGER
);

CREATE TABLE CI_DeploymentTypes (
    CI_ID           INTEGER PRIMARY KEY,
    AppCI_ID        INTEGER NOT NULL REFERENCES CI_Applications (CI_ID),
    Technology      TEXT NOT NULL,
    ProductCode     TEXT                -- MSI product code (a GUID), MSI deployment types only
);

CREATE TABLE CI_AppDeployments (
    DeploymentID    INTEGER PRIMARY KEY,
    AppCI_ID        INTEGER NOT NULL REFERENCES CI_Applications (CI_ID),
    CollectionID    TEXT NOT NULL,
    Action          TEXT NOT NULL,      -- install | uninstall
    Purpose         TEXT NOT NULL       -- required | available
);

CREATE TABLE Collections (
    CollectionID    TEXT PRIMARY KEY,
    Name            TEXT NOT NULL,
    CollectionType  INTEGER NOT NULL,   -- 1 user, 2 device
    MemberCount     INTEGER NOT NULL
);

CREATE TABLE CI_SoftwareUpdates (
    CI_ID           INTEGER PRIMARY KEY,
    ArticleID       TEXT NOT NULL,
    Severity        INTEGER NOT NULL,
    IsExpired       INTEGER NOT NULL
);

CREATE TABLE Update_ComplianceStatus (
    ItemKey         INTEGER NOT NULL,
    CI_ID           INTEGER NOT NULL,
    Status          INTEGER NOT NULL,   -- 1 not required, 2 required, 3 installed
    LastErrorCode   INTEGER,            -- the last install error of a required update, if any
    PRIMARY KEY (CI_ID, ItemKey)        -- clustered by update, as the product's table is
) WITHOUT ROWID;

CREATE TABLE CI_UpdateGroups (
    GroupID         INTEGER PRIMARY KEY,
    Name            TEXT NOT NULL
);

CREATE TABLE CI_UpdateGroupMembers (
    GroupID         INTEGER NOT NULL,
    CI_ID           INTEGER NOT NULL,
    PRIMARY KEY (GroupID, CI_ID)
) WITHOUT ROWID;

CREATE TABLE UpdateDeployments (
    DeploymentID    INTEGER PRIMARY KEY,
    GroupID         INTEGER NOT NULL,
    CollectionID    TEXT NOT NULL
);

CREATE TABLE BoundaryGroups (
    GroupID         INTEGER PRIMARY KEY,
    Name            TEXT NOT NULL,
    SiteSystems     INTEGER NOT NULL
);

CREATE TABLE Boundaries (
    BoundaryID      INTEGER PRIMARY KEY,
    GroupID         INTEGER NOT NULL,
    BoundaryType    TEXT NOT NULL,      -- IPSubnet | IPRange | ADSite | IPv6Prefix | VPN
    Value           TEXT NOT NULL
);

CREATE TABLE TEL_Settings (
    HierarchyID     TEXT NOT NULL,
    Level           TEXT NOT NULL,      -- basic | enhanced | full
    Mode            TEXT NOT NULL       -- online | offline
);

-- What the weekly run produced; SELECT * FROM TEL_TelemetryResults is exactly what is sent.
CREATE TABLE TEL_TelemetryResults (
    ID              INTEGER PRIMARY KEY AUTOINCREMENT,
    Week            INTEGER NOT NULL,
    ProbeName       TEXT NOT NULL,
    SiteHash        TEXT NOT NULL,
    HierarchyHash   TEXT NOT NULL,
    RowNo           INTEGER NOT NULL,
    ResultData      TEXT NOT NULL,      -- one result row as a JSON object
    CollectedOn     TEXT NOT NULL
);
-- A week's rows, and one probe run's rows in order: the service connection point reads every
-- pending run's rows one run at a time, which without it scans the week once per run.
CREATE INDEX TEL_TelemetryResults_Run ON TEL_TelemetryResults (Week, SiteHash, ProbeName, RowNo);

-- The probe catalog as installed: each probe's level, so that what a run reports about earlier
-- runs keeps to the level in force.
CREATE TABLE TEL_ProbeCatalog (
    ProbeName       TEXT PRIMARY KEY,
    LevelRank       INTEGER NOT NULL    -- 1 basic, 2 enhanced, 3 full
);

-- How each probe of each weekly run went, here and (at a CAS) at every child: it tells an empty
-- result (ran, 0 rows: sent as an empty entry) from a failed one (not sent) from a missing one.
-- Replicated with the results; its IDs drive replication.
CREATE TABLE TEL_ProbeRuns (
    ID              INTEGER PRIMARY KEY AUTOINCREMENT,
    SiteHash        TEXT NOT NULL,
    Week            INTEGER NOT NULL,
    PeriodStart     TEXT NOT NULL,
    ProbeName       TEXT NOT NULL,
    RowCount        INTEGER NOT NULL,
    Error           TEXT,
    UNIQUE (SiteHash, Week, ProbeName)
);

-- At the top-level site: what the service connection point has done with each probe run.
-- A side table, so that SELECT * FROM TEL_TelemetryResults still shows exactly what is sent.
CREATE TABLE TEL_UploadState (
    SiteHash        TEXT NOT NULL,
    Week            INTEGER NOT NULL,
    ProbeName       TEXT NOT NULL,
    Outcome         TEXT NOT NULL,      -- delivered | dropped
    Receipt         TEXT,               -- the upstream's receipt of the upload that carried it
    Cause           TEXT,               -- why it was dropped
    PRIMARY KEY (SiteHash, Week, ProbeName)
);

-- At the top-level site: the batch being sent, persisted before it leaves (its key, the probe
-- runs it carries and its exact body), so that after a restart the same bytes under the same
-- Idempotency-Key go first. At most one batch is in flight.
CREATE TABLE TEL_Outbox (
    IdempotencyKey  TEXT PRIMARY KEY,
    Entries         TEXT NOT NULL,      -- JSON: [{site_hash, week, probe}, ...]
    Body            BLOB NOT NULL       -- the gzip'd payload as sent
);

CREATE TABLE TEL_RunHistory (
    Week            INTEGER PRIMARY KEY,
    StartedOn       TEXT NOT NULL,
    Level           TEXT NOT NULL,      -- the level the run was at
    ProbeCount      INTEGER NOT NULL,
    ErrorCount      INTEGER NOT NULL,
    RowCount        INTEGER NOT NULL,
    DurationMs      INTEGER NOT NULL
);

CREATE TABLE TEL_ProbeRunHistory (
    Week            INTEGER NOT NULL,
    ProbeName       TEXT NOT NULL,
    DurationMs      INTEGER NOT NULL,
    Error           TEXT,
    PRIMARY KEY (Week, ProbeName)
);

-- Update packs imported by the service connection tool's -import (offline mode).
CREATE TABLE UpdatePacks (
    PackID          TEXT PRIMARY KEY,
    Name            TEXT NOT NULL,
    Version         TEXT NOT NULL,
    SHA256          TEXT NOT NULL
);

-- At a CAS: how far each child primary's results have been replicated.
CREATE TABLE TEL_ReplicationWatermark (
    SourceSite      TEXT PRIMARY KEY,
    LastID          INTEGER NOT NULL
);
