//! The catalog of TEL queries ("probes"): for each, its level, what it is about, its SQL per
//! dialect (kept as `.sql` files under `harness/sql/`) and the Rust oracle that computes the
//! rows it must return from the generated model.

mod oracle;

pub use oracle::{EngineInfo, OracleInput, PreviousRun};

use mock_upstream::payload::Row;

use crate::scenario::Level;

/// The SQL dialect an engine speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
}

pub struct Probe {
    /// The stored procedure's name in the product, e.g. `TEL_ClientVersions`; also the name the
    /// result carries upstream.
    pub name: &'static str,
    pub level: Level,
    pub category: &'static str,
    pub description: &'static str,
    sqlite: &'static str,
    pub oracle: fn(&OracleInput) -> Vec<Row>,
}

impl Probe {
    pub fn sql(&self, dialect: Dialect) -> &'static str {
        match dialect {
            Dialect::Sqlite => self.sqlite,
        }
    }
}

impl std::fmt::Debug for Probe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Probe")
            .field("name", &self.name)
            .field("level", &self.level)
            .finish()
    }
}

macro_rules! probe {
    ($name:literal, $file:literal, $level:ident, $category:literal, $description:literal, $oracle:path) => {
        Probe {
            name: $name,
            level: Level::$level,
            category: $category,
            description: $description,
            sqlite: include_str!(concat!("../../sql/sqlite/probes/", $file, ".sql")),
            oracle: $oracle,
        }
    };
}

/// Every probe the harness knows, Basic first.
pub static CATALOG: &[Probe] = &[
    probe!(
        "TEL_SiteList",
        "tel_site_list",
        Basic,
        "hierarchy",
        "Hashed site code, type, version, status, client count and time zone",
        oracle::site_list
    ),
    probe!(
        "TEL_ClientVersions",
        "tel_client_versions",
        Basic,
        "clients",
        "Clients per client agent version",
        oracle::client_versions
    ),
    probe!(
        "TEL_OSVersions",
        "tel_os_versions",
        Basic,
        "clients",
        "Clients per operating system caption and version",
        oracle::os_versions
    ),
    probe!(
        "TEL_WindowsBuilds",
        "tel_windows_builds",
        Basic,
        "clients",
        "Windows 10/11 clients per servicing branch and build",
        oracle::windows_builds
    ),
    probe!(
        "TEL_SQLVersion",
        "tel_sql_version",
        Basic,
        "database",
        "Database engine product, version, edition and collation",
        oracle::sql_version
    ),
    probe!(
        "TEL_SchemaHash",
        "tel_schema_hash",
        Basic,
        "database",
        "Hashed names of every table in the site database",
        oracle::schema_hash
    ),
    probe!(
        "TEL_Settings",
        "tel_settings",
        Basic,
        "telemetry",
        "Telemetry level and service connection point mode",
        oracle::settings
    ),
    probe!(
        "TEL_AppTechnologies",
        "tel_app_technologies",
        Basic,
        "applications",
        "Applications and deployment types per technology",
        oracle::app_technologies
    ),
    probe!(
        "TEL_AppTotals",
        "tel_app_totals",
        Basic,
        "applications",
        "Total applications and deployment types",
        oracle::app_totals
    ),
    probe!(
        "TEL_RunStats",
        "tel_run_stats",
        Basic,
        "telemetry",
        "The previous weekly run: start, probes run, errors, rows",
        oracle::run_stats
    ),
];

/// The probes a run at `level` executes: every probe of that level and the levels below it.
pub fn for_level(level: Level) -> Vec<&'static Probe> {
    CATALOG.iter().filter(|p| p.level <= level).collect()
}

pub fn by_name(name: &str) -> Option<&'static Probe> {
    CATALOG.iter().find(|p| p.name.eq_ignore_ascii_case(name))
}

/// The tables of a freshly installed site database: the "product defaults" the schema-hash
/// probe is compared against. A test keeps this equal to `schema.sql`.
pub const DEFAULT_TABLES: &[&str] = &[
    "Sites",
    "System_DISC",
    "CI_Applications",
    "CI_DeploymentTypes",
    "Collections",
    "CI_SoftwareUpdates",
    "Update_ComplianceStatus",
    "TEL_Settings",
    "TEL_TelemetryResults",
    "TEL_RunHistory",
    "TEL_ReplicationWatermark",
];

/// Puts rows in a canonical order so that results compare as multisets: engines may return
/// rows in any order, and collations sort text differently.
pub fn canonical(mut rows: Vec<Row>) -> Vec<Row> {
    rows.sort_by_cached_key(|r| serde_json::to_string(r).expect("rows serialise"));
    rows
}
