//! Where site databases live. One async trait, a driver per database, in the manner of `sqlx`:
//! the pipeline only ever talks to [`SiteDatabase`], so the embedded SQLite engine and the SQL
//! Server engine run the same collect → replicate → submit flow.
//!
//! The SQL Server driver is behind the `mssql` cargo feature (on by default). A build without it
//! still knows the SQL Server dialect's scripts and the provisioning settings, but [`engine_for`]
//! then refuses the `docker` and `external` engines with an [`EngineError::Unavailable`].

pub mod mssql;
pub mod sqlite;

/// Where SQL Server instances come from (kept at this path for the scenario defaults and tests).
pub use mssql::provision;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::NaiveDate;
use tokio::sync::mpsc;

use crate::generate::Batch;
use crate::model::{HierarchyModel, SiteModel};
use crate::probes::{Catalog, Dialect, EngineInfo, Probe};
use crate::scenario::{EngineKind, Level, RunSpec};
use provision::Provisioner;
use sqlite::SqliteEngine;

/// The error a site database reports, whatever its driver.
pub type SourceError = Box<dyn std::error::Error + Send + Sync + 'static>;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The engine itself cannot be reached or started (exit code 2).
    #[error("engine unavailable: {0}")]
    Unavailable(String),
    /// An action on one site's database failed; `source` is the driver's own error.
    #[error("site {site}: {action}: {source}")]
    Site {
        site: String,
        action: &'static str,
        #[source]
        source: SourceError,
    },
}

impl EngineError {
    /// A failed `action` at `site`, keeping the error that caused it as its source.
    pub fn site(site: &str, action: &'static str, source: impl Into<SourceError>) -> Self {
        EngineError::Site {
            site: site.to_string(),
            action,
            source: source.into(),
        }
    }
}

pub use crate::scenario::CrashPoint;

/// What became of a replicated batch at the CAS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// Stored with its watermark (or found already stored).
    Committed,
    /// The transaction died at its crash point and was rolled back.
    Crashed,
}

/// One row of `TEL_TelemetryResults`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultRow {
    pub id: i64,
    pub week: u32,
    pub probe: String,
    pub site_hash: String,
    pub hierarchy_hash: String,
    pub row_no: u32,
    /// The result row as a JSON object.
    pub data: String,
    pub collected_on: String,
}

/// One line of `TEL_ProbeRuns`: how one probe of one weekly run went at one site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeRunRecord {
    /// Its ID in the database it was read from (a CAS numbers replicated runs itself).
    pub id: i64,
    pub site_hash: String,
    pub week: u32,
    /// The first day of the week's period, `YYYY-MM-DD`.
    pub period_start: String,
    pub probe: String,
    pub rows: u64,
    /// Set when the probe failed: its run is reported, never sent.
    pub error: Option<String>,
}

/// What one replication pass carries from a child to the CAS: the probe runs above the CAS's
/// watermark and every result row of their sites' weeks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplicationBatch {
    pub runs: Vec<ProbeRunRecord>,
    pub rows: Vec<ResultRow>,
}

/// The unit the service connection point delivers: one probe of one site's weekly run, with all
/// its rows (none, for an empty result).
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct EntryKey {
    pub site_hash: String,
    pub week: u32,
    pub probe: String,
}

/// The batch in flight: persisted before it is sent, replayed first after a restart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagedBatch {
    pub idempotency_key: String,
    pub entries: Vec<EntryKey>,
    /// The exact gzip'd body sent, so a replay is byte for byte the same upload.
    pub body: Vec<u8>,
}

/// A probe run the top-level site has not delivered yet, with its rows in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingEntry {
    pub key: EntryKey,
    pub period_start: String,
    pub rows: Vec<ResultRow>,
}

/// What the service connection tool needs to know about the site it runs at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteInfo {
    pub code: String,
    /// The hierarchy ID in clear (a GUID): only ever sent hashed.
    pub hierarchy_id: String,
    /// The level in force now.
    pub level: String,
    pub mode: String,
    pub version: String,
    pub installed: String,
    /// The parent site (the CAS) of a child primary; `None` at the top-level site, the only one
    /// with a service connection point.
    pub parent: Option<String>,
    /// The weekly runs so far, oldest first.
    pub runs: Vec<RunRecord>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRecord {
    pub week: u32,
    pub started_on: String,
    pub level: String,
}

/// An update pack imported into a site database.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ImportedPack {
    pub id: String,
    pub name: String,
    pub version: String,
    pub sha256: String,
}

/// The work of one weekly run at one site.
pub struct WeeklyRun<'a> {
    pub week: u32,
    pub started_on: NaiveDate,
    pub probes: &'a [&'static Probe],
}

/// How one probe went.
#[derive(Debug, Clone)]
pub struct ProbeRun {
    pub probe: &'static str,
    pub rows: u64,
    pub elapsed: Duration,
    pub error: Option<String>,
    /// The virtual-machine steps SQLite took for the probe's query: a cost that does not
    /// depend on the machine's load (the embedded engine only).
    pub vm_steps: Option<u64>,
    /// CPU time of the thread that ran the probe (query and storing its rows): unlike wall
    /// time, not stretched by other sites' work on a shared core.
    pub cpu: Option<Duration>,
}

#[derive(Debug, Clone)]
pub struct RunOutcome {
    pub probes: Vec<ProbeRun>,
    pub elapsed: Duration,
}

/// A site database.
#[async_trait]
pub trait SiteDatabase: Send + Sync {
    fn code(&self) -> &str;

    /// Creates the schema and the site's own configuration rows, with the probes it runs.
    async fn install(
        &self,
        hierarchy: &HierarchyModel,
        site: &SiteModel,
        probes: &Catalog,
    ) -> Result<(), EngineError>;

    /// Bulk-loads generated rows until the channel closes; returns the rows loaded. Called once,
    /// right after [`install`](Self::install): a driver may load with less durability than the
    /// pipeline needs (a failed seed is made again from the seed) and must have restored it
    /// when this returns.
    async fn load(&self, batches: mpsc::Receiver<Batch>) -> Result<u64, EngineError>;

    /// Changes the telemetry level; the next weekly run uses it.
    async fn set_level(&self, level: Level) -> Result<(), EngineError>;

    /// Runs the weekly TEL queries into `TEL_TelemetryResults` and records the run in
    /// `TEL_RunHistory`. A failing probe is recorded as an error; the others still run. Running a
    /// week again replaces this site's rows and history of that week, in the same transaction.
    async fn run_weekly(&self, run: &WeeklyRun<'_>) -> Result<RunOutcome, EngineError>;

    /// `TEL_TelemetryResults` rows of one week, in ID order.
    async fn results_of_week(&self, week: u32) -> Result<Vec<ResultRow>, EngineError>;

    /// What a replication pass from this site carries: its probe runs with an ID above
    /// `after` and every result row of their sites' weeks.
    async fn replication_batch(&self, after: i64) -> Result<ReplicationBatch, EngineError>;

    /// At a CAS: stores a batch replicated from `source` and moves its watermark to the
    /// batch's highest probe-run ID, atomically, so that a repeated pass adds nothing. A site's
    /// week in the batch replaces the copy of that week stored before (the site ran it again).
    /// With `crash`, the transaction dies at that point instead of committing, as it would if
    /// the process died there: nothing of it may remain.
    async fn apply_replicated(
        &self,
        source: &str,
        batch: &ReplicationBatch,
        crash: Option<CrashPoint>,
    ) -> Result<Applied, EngineError>;
    /// At a CAS: the highest source ID already replicated from `source` (0 when none).
    async fn watermark(&self, source: &str) -> Result<i64, EngineError>;

    /// At the top-level site: every probe run (its own and replicated) that ran without error
    /// and was neither delivered nor dropped, oldest week first, with its rows.
    async fn pending_entries(&self) -> Result<Vec<PendingEntry>, EngineError>;
    /// Each site's latest `TEL_SiteList` row.
    async fn site_list(&self) -> Result<Vec<ResultRow>, EngineError>;
    /// Persists the batch about to be sent, replacing any other.
    async fn stage_outbox(&self, batch: &StagedBatch) -> Result<(), EngineError>;
    /// The batch staged and not yet acknowledged, if any: sent again first after a restart.
    async fn outbox(&self) -> Result<Option<StagedBatch>, EngineError>;
    /// The upstream acknowledged the staged batch `key` with `receipt`: its entries are
    /// delivered and the outbox is empty, atomically. A key other than the staged one is an
    /// error.
    async fn mark_delivered(&self, key: &str, receipt: &str) -> Result<(), EngineError>;
    /// Entries that will never be sent (e.g. above the level in force), with why.
    async fn mark_dropped(&self, entries: &[EntryKey], cause: &str) -> Result<(), EngineError>;
    /// The site's identity, settings and run history.
    async fn site_info(&self) -> Result<SiteInfo, EngineError>;

    /// Records imported update packs (a pack imported again is left as it is).
    async fn import_update_packs(&self, packs: &[ImportedPack]) -> Result<(), EngineError>;

    /// The update packs imported so far, by ID.
    async fn update_packs(&self) -> Result<Vec<ImportedPack>, EngineError>;
}

/// A provider of site databases.
#[async_trait]
pub trait Engine: Send + Sync {
    fn name(&self) -> &'static str;
    fn dialect(&self) -> Dialect;
    /// What the `TEL_SQLVersion` probe must report on this engine.
    fn info(&self) -> EngineInfo;
    /// Opens a new, empty database for `site`.
    async fn open_site(&self, site: &SiteModel) -> Result<Arc<dyn SiteDatabase>, EngineError>;
}

/// Picks the engine a scenario's hierarchy runs on. SQL Server engines share one provisioner per
/// scenario (so sites fill containers together) and name databases `cm_<scenario>_<CODE>`.
pub fn engine_for(
    kind: EngineKind,
    sites_dir: &Path,
    provisioner: &mut Option<Arc<Provisioner>>,
    run: &RunSpec,
    database_prefix: &str,
) -> Result<Box<dyn Engine>, EngineError> {
    match kind {
        EngineKind::Embedded => Ok(Box::new(SqliteEngine::new(sites_dir))),
        EngineKind::Docker | EngineKind::External => {
            sql_server_engine(kind, provisioner, run, database_prefix)
        }
    }
}

#[cfg(feature = "mssql")]
fn sql_server_engine(
    kind: EngineKind,
    provisioner: &mut Option<Arc<Provisioner>>,
    run: &RunSpec,
    database_prefix: &str,
) -> Result<Box<dyn Engine>, EngineError> {
    let provisioner = match provisioner {
        Some(p) => p.clone(),
        None => provisioner
            .insert(Arc::new(Provisioner::for_run(kind, run)?))
            .clone(),
    };
    Ok(Box::new(mssql::MssqlEngine::new(
        provisioner,
        database_prefix,
    )))
}

#[cfg(not(feature = "mssql"))]
fn sql_server_engine(
    kind: EngineKind,
    _provisioner: &mut Option<Arc<Provisioner>>,
    _run: &RunSpec,
    _database_prefix: &str,
) -> Result<Box<dyn Engine>, EngineError> {
    Err(EngineError::Unavailable(format!(
        "the {} engine runs on SQL Server, and this build of the harness has no SQL Server \
         engine (it was built without the `mssql` feature): rebuild with `--features mssql`, \
         or run on the embedded engine",
        kind.as_str()
    )))
}

#[cfg(test)]
mod tests {
    /// Runs in a build without the `mssql` feature
    /// (`cargo test -p harness --no-default-features --lib`).
    #[cfg(not(feature = "mssql"))]
    #[test]
    fn a_build_without_sql_server_says_so_for_the_sql_server_engines() {
        use super::*;
        for kind in [EngineKind::Docker, EngineKind::External] {
            let err = engine_for(kind, Path::new("."), &mut None, &RunSpec::default(), "cm_")
                .err()
                .expect("no SQL Server engine");
            let message = err.to_string();
            assert!(matches!(err, EngineError::Unavailable(_)), "{message}");
            assert!(message.contains("--features mssql"), "{message}");
        }
        assert!(
            engine_for(
                EngineKind::Embedded,
                Path::new("."),
                &mut None,
                &RunSpec::default(),
                "cm_"
            )
            .is_ok()
        );
    }
}
