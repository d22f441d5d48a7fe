//! The catalog of TEL queries ("probes"): for each, its level, what it is about, its SQL per
//! dialect (kept as `.sql` files under `harness/sql/`) and the Rust oracle that computes the
//! rows it must return from the generated model. A run may add or replace probes loaded from a
//! directory at run time (`loaded`); [`Catalog`] is the set a run uses.

mod catalog;
mod loaded;
mod oracle;

pub use catalog::Catalog;
pub use loaded::{ExpectedRows, ProbeFileError, line_of};
pub use oracle::{EngineInfo, OracleInput, PreviousRun};

use usage_protocol::payload::Row;

use crate::scenario::Level;

/// The SQL dialect an engine speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    MsSql,
}

#[derive(Clone)]
pub struct Probe {
    /// The stored procedure's name in the product, e.g. `TEL_ClientVersions`; also the name the
    /// result carries upstream.
    pub name: &'static str,
    pub level: Level,
    pub category: &'static str,
    pub description: &'static str,
    sqlite: &'static str,
    mssql: &'static str,
    /// How its rows are checked.
    pub check: Check,
    /// Columns whose values are measurements (durations, sizes on disk): checked to be
    /// non-negative integers, not compared, and the only bytes that differ between two runs of
    /// one seed.
    pub volatile: &'static [&'static str],
    /// Where a loaded probe was read from (its metadata file); `None` for the shipped catalog.
    pub file: Option<&'static str>,
}

/// How a probe's rows are checked.
#[derive(Clone, Copy)]
pub enum Check {
    /// Computed from the generated model (every probe of the shipped catalog).
    Oracle(fn(&OracleInput) -> Vec<Row>),
    /// A loaded probe's expected rows (`NAME.expected.json`): compared order-free.
    Expected(&'static ExpectedRows),
    /// A loaded probe without expected rows: it runs, is timed, goes upstream and through the
    /// personal-data scan, must arrive exactly once, and its rows are reported unchecked.
    Unchecked,
}

/// What an oracle puts in a volatile column, and what a checked volatile value is replaced by.
pub const MEASURED: &str = "<measured>";

impl Probe {
    pub fn sql(&self, dialect: Dialect) -> &'static str {
        match dialect {
            Dialect::Sqlite => self.sqlite,
            Dialect::MsSql => self.mssql,
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
        probe!($name, $file, $level, $category, $description, $oracle, volatile: [])
    };
    ($name:literal, $file:literal, $level:ident, $category:literal, $description:literal, $oracle:path, volatile: [$($v:literal),*]) => {
        Probe {
            name: $name,
            level: Level::$level,
            category: $category,
            description: $description,
            sqlite: include_str!(concat!("../../sql/sqlite/probes/", $file, ".sql")),
            mssql: include_str!(concat!("../../sql/mssql/probes/", $file, ".sql")),
            check: Check::Oracle($oracle),
            volatile: &[$($v),*],
            file: None,
        }
    };
}

/// Every probe the harness knows, Basic first. Kept as a table: one probe a line.
#[rustfmt::skip]
pub static CATALOG: &[Probe] = &[
    // Basic: hierarchy, versions, database, telemetry itself.
    probe!("TEL_SiteList", "tel_site_list", Basic, "hierarchy", "Hashed site code, type, version, status, client count and time zone", oracle::site_list),
    probe!("TEL_ClientVersions", "tel_client_versions", Basic, "clients", "Clients per client agent version", oracle::client_versions),
    probe!("TEL_OSVersions", "tel_os_versions", Basic, "clients", "Clients per operating system caption and version", oracle::os_versions),
    probe!("TEL_WindowsBuilds", "tel_windows_builds", Basic, "clients", "Windows 10/11 clients per servicing branch and build", oracle::windows_builds),
    probe!("TEL_SQLVersion", "tel_sql_version", Basic, "database", "Database engine product, version, edition and collation", oracle::sql_version),
    probe!("TEL_SchemaHash", "tel_schema_hash", Basic, "database", "Hashed names of every table in the site database", oracle::schema_hash),
    probe!("TEL_DatabaseSize", "tel_database_size", Basic, "database", "Database size and table count", oracle::database_size, volatile: ["size_kb"]),
    probe!("TEL_Settings", "tel_settings", Basic, "telemetry", "Telemetry level and service connection point mode", oracle::settings),
    probe!("TEL_AppTechnologies", "tel_app_technologies", Basic, "applications", "Applications and deployment types per technology", oracle::app_technologies),
    probe!("TEL_AppTotals", "tel_app_totals", Basic, "applications", "Total applications and deployment types", oracle::app_totals),
    probe!("TEL_RunStats", "tel_run_stats", Basic, "telemetry", "The previous weekly run: start, probes run, errors, rows", oracle::run_stats),
    probe!("TEL_ProbeRunTimes", "tel_probe_run_times", Basic, "telemetry", "Duration and error of every probe of the previous weekly run allowed at the level in force", oracle::probe_run_times, volatile: ["duration_ms"]),
    // Enhanced: feature usage.
    probe!("TEL_AppDeployments", "tel_app_deployments", Enhanced, "applications", "Application deployments by action, purpose and user/device target", oracle::app_deployments),
    probe!("TEL_AppSupersedence", "tel_app_supersedence", Enhanced, "applications", "Applications per supersedence chain depth", oracle::app_supersedence),
    probe!("TEL_CollectionTypes", "tel_collection_types", Enhanced, "collections", "Collections and members by collection type", oracle::collection_types),
    probe!("TEL_CollectionsWithoutDeployment", "tel_collections_without_deployment", Enhanced, "collections", "Collections no application or update group is deployed to", oracle::collections_without_deployment),
    probe!("TEL_BoundaryGroups", "tel_boundary_groups", Enhanced, "infrastructure", "Boundary groups, boundaries, groups without site systems", oracle::boundary_groups),
    probe!("TEL_BoundaryTypes", "tel_boundary_types", Enhanced, "infrastructure", "Boundaries per boundary type", oracle::boundary_types),
    probe!("TEL_ClientHealth", "tel_client_health", Enhanced, "clients", "Clients by days since last active", oracle::client_health),
    probe!("TEL_BiosAge", "tel_bios_age", Enhanced, "hardware", "Clients per BIOS age in years", oracle::bios_age),
    probe!("TEL_OSAge", "tel_os_age", Enhanced, "clients", "Clients per OS install age in months", oracle::os_age),
    probe!("TEL_FirmwareSecurity", "tel_firmware_security", Enhanced, "hardware", "Clients by UEFI, Secure Boot and TPM state", oracle::firmware_security),
    probe!("TEL_VirtualMachines", "tel_virtual_machines", Enhanced, "hardware", "Virtual and physical clients", oracle::virtual_machines),
    probe!("TEL_UpdateGroups", "tel_update_groups", Enhanced, "updates", "Software update groups, memberships, the largest group", oracle::update_groups),
    probe!("TEL_UpdatesPerGroup", "tel_updates_per_group", Enhanced, "updates", "Software update groups per number of updates", oracle::updates_per_group),
    probe!("TEL_UpdateCatalog", "tel_update_catalog", Enhanced, "updates", "Software updates by severity and expiry", oracle::update_catalog),
    probe!("TEL_LargestTables", "tel_largest_tables", Enhanced, "database", "The ten largest product tables by rows (hashed names)", oracle::largest_tables),
    // Full: everything, including compliance and security detail.
    probe!("TEL_UpdateCompliance", "tel_update_compliance", Full, "updates", "Overall software update compliance (basis points)", oracle::update_compliance),
    probe!("TEL_UpdateComplianceBySeverity", "tel_update_compliance_by_severity", Full, "updates", "Software update compliance per severity (basis points)", oracle::update_compliance_by_severity),
    probe!("TEL_UpdateErrors", "tel_update_errors", Full, "updates", "Update deployment error codes and counts", oracle::update_errors),
    probe!("TEL_EndpointProtection", "tel_endpoint_protection", Full, "security", "Endpoint Protection health: protected, at risk, unknown, unsupported", oracle::endpoint_protection),
    probe!("TEL_TopCPUs", "tel_top_cpus", Full, "hardware", "The 50 most common processors", oracle::top_cpus),
    probe!("TEL_MsiProductCodes", "tel_msi_product_codes", Full, "applications", "The 50 most common MSI product codes (hashed)", oracle::msi_product_codes),
];

/// The shipped probes a run at `level` executes: every probe of that level and the levels
/// below it.
pub fn for_level(level: Level) -> Vec<&'static Probe> {
    Catalog::shipped().for_level(level)
}

/// A shipped probe by name.
pub fn by_name(name: &str) -> Option<&'static Probe> {
    Catalog::shipped().by_name(name)
}

/// The tables of a freshly installed site database: the "product defaults" the schema-hash
/// probe is compared against. A test keeps this equal to `schema.sql`.
pub const DEFAULT_TABLES: &[&str] = &[
    "Sites",
    "System_DISC",
    "CI_Applications",
    "CI_DeploymentTypes",
    "CI_AppDeployments",
    "Collections",
    "CI_SoftwareUpdates",
    "Update_ComplianceStatus",
    "CI_UpdateGroups",
    "CI_UpdateGroupMembers",
    "UpdateDeployments",
    "BoundaryGroups",
    "Boundaries",
    "TEL_Settings",
    "TEL_TelemetryResults",
    "TEL_ProbeCatalog",
    "TEL_ProbeRuns",
    "TEL_UploadState",
    "TEL_Outbox",
    "TEL_RunHistory",
    "TEL_ProbeRunHistory",
    "TEL_ReplicationWatermark",
    "UpdatePacks",
];

/// Replaces each volatile column's value by [`MEASURED`] when it is a non-negative integer, so
/// measured values compare equal to the oracle's and between runs; anything else is left as it
/// is, and then fails the comparison.
pub fn mask_volatile(rows: &mut [Row], volatile: &[&str]) {
    for row in rows {
        for column in volatile {
            if let Some(value) = row.get_mut(*column)
                && value.as_u64().is_some()
            {
                *value = serde_json::Value::from(MEASURED);
            }
        }
    }
}

/// Puts rows in a canonical order so that results compare as multisets: engines may return
/// rows in any order, and collations sort text differently.
pub fn canonical(mut rows: Vec<Row>) -> Vec<Row> {
    rows.sort_by_cached_key(|r| serde_json::to_string(r).expect("rows serialise"));
    rows
}
