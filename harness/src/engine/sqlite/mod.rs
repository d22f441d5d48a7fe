//! The embedded engine: one SQLite database file per site, in the run's output folder, kept after
//! the run so that a person can open it with `sqlite3`.
//!
//! SQLite has no stored procedures and no SHA-256, so the engine registers `tel_hash()` (the
//! product's hash, see [`crate::hash`]) and runs each probe's `.sql` file itself, writing the rows
//! into `TEL_TelemetryResults` in the same transaction — the job the `TEL_*` procedures do on SQL
//! Server. Calls run on tokio's blocking pool; a connection is used by one call at a time.
//!
//! - [`functions`]: the SQL functions the probes call;
//! - `site`: the [`SiteDatabase`] of one site file, handing each call to the module below;
//! - `load`: generated rows into the site's tables;
//! - `weekly`: the weekly run of the probes;
//! - `results`: `TEL_TelemetryResults` read back, and rows replicated in at a CAS;
//! - `records`: the site's identity, settings, run history and update packs.

mod delivery;
mod functions;
mod load;
mod records;
mod results;
mod site;
mod weekly;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use rusqlite::Connection;

use super::{Engine, EngineError, SiteDatabase};
use crate::model::SiteModel;
use crate::probes::{Catalog, Dialect, EngineInfo, ProbeFileError, line_of};
pub use functions::{SITE_COLLATION, register_functions, site_collation};
pub use site::SqliteSite;

const SCHEMA: &str = include_str!("../../../sql/sqlite/schema.sql");

pub struct SqliteEngine {
    dir: PathBuf,
}

impl SqliteEngine {
    /// Site databases go to `dir/CODE.db`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The database file of a site.
    pub fn path_of(dir: &Path, code: &str) -> PathBuf {
        dir.join(format!("{code}.db"))
    }

    /// Opens a site database a run kept, for the service connection tool and `view`.
    pub fn open_existing(path: &Path) -> Result<Arc<dyn SiteDatabase>, EngineError> {
        Self::open_kept(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE)
    }

    /// Opens a site database a run kept for reading only (`harness check`): every write fails.
    pub fn open_read_only(path: &Path) -> Result<Arc<dyn SiteDatabase>, EngineError> {
        Self::open_kept(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
    }

    fn open_kept(
        path: &Path,
        flags: rusqlite::OpenFlags,
    ) -> Result<Arc<dyn SiteDatabase>, EngineError> {
        let code = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("site")
            .to_string();
        let at = |source| FileError {
            path: path.to_path_buf(),
            source,
        };
        if !path.exists() {
            return Err(EngineError::site(
                &code,
                "open",
                format!("{} does not exist", path.display()),
            ));
        }
        let conn = Connection::open_with_flags(path, flags)
            .map_err(|e| EngineError::site(&code, "open", at(e)))?;
        register_functions(&conn).map_err(|e| EngineError::site(&code, "register tel_hash", e))?;
        let code: String = conn
            .query_row("SELECT SiteCode FROM Sites", [], |r| r.get(0))
            .map_err(|e| EngineError::site(&code, "read site: not a site database", at(e)))?;
        Ok(Arc::new(SqliteSite::new(code, conn)))
    }
}

/// SQLite's process-wide settings, for a binary to apply first, before anything opens a
/// connection (SQLite refuses them once it has started; `sqlite3_config` must not run while
/// another thread uses SQLite). Memory statistics go off: with them on, every allocation and
/// free inside SQLite takes one process-wide mutex to count bytes, which the sites seeded and
/// collected on both cores contend for, and nothing here reads the counts (one 40,000-client
/// Full primary, end to end: 4.71 G instructions with them, 4.63 G without, by callgrind).
/// False when SQLite had already started: its defaults stay, which costs time, never results.
pub fn configure_process() -> bool {
    // SAFETY: the one int argument SQLITE_CONFIG_MEMSTATUS takes; called once SQLite has started,
    // it answers SQLITE_MISUSE and changes nothing.
    let code = unsafe {
        rusqlite::ffi::sqlite3_config(rusqlite::ffi::SQLITE_CONFIG_MEMSTATUS, 0 as std::ffi::c_int)
    };
    code == rusqlite::ffi::SQLITE_OK
}

/// An error about one file, naming it and keeping its cause.
#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", path.display())]
pub struct FileError<E: std::error::Error + 'static> {
    pub path: PathBuf,
    #[source]
    pub source: E,
}

/// Creates a new, empty database for `code` at `path`, removing any file a former run left there.
fn create_database(code: &str, path: &Path) -> Result<Connection, EngineError> {
    fn at<E>(code: &str, action: &'static str, path: &Path, source: E) -> EngineError
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        let path = path.to_path_buf();
        EngineError::site(code, action, FileError { path, source })
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| at(code, "create folder", dir, e))?;
    }
    for suffix in ["", "-wal", "-shm"] {
        let file = PathBuf::from(format!("{}{suffix}", path.display()));
        match std::fs::remove_file(&file) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(at(code, "remove old database", &file, e));
            }
            _ => {}
        }
    }
    let conn = Connection::open(path).map_err(|e| at(code, "open", path, e))?;
    let fail = |action| move |e| EngineError::site(code, action, e);
    // 16 KiB pages: a quarter of the B-tree pages (and of their splits) of SQLite's default for
    // the bulk load, and the probes' scans read fewer of them.
    conn.pragma_update(None, "page_size", 16384)
        .map_err(fail("configure"))?;
    // While it is seeded, a site's file is only the generator's: a run that stops midway makes
    // it again from the seed, so the load keeps its rollback journal in memory and syncs
    // nothing (a write-ahead log writes every page twice). [`journal_after_seeding`] makes it
    // the pipeline's.
    conn.pragma_update(None, "journal_mode", "MEMORY")
        .map_err(fail("configure"))?;
    conn.pragma_update(None, "synchronous", "OFF")
        .map_err(fail("configure"))?;
    register_functions(&conn).map_err(fail("register tel_hash"))?;
    Ok(conn)
}

/// The journal of a seeded site, from the end of its load on: the pipeline's bookkeeping (the
/// outbox, deliveries, replication watermarks) must survive a crash, so a write-ahead log, synced
/// at its checkpoints.
fn journal_after_seeding(conn: &Connection) -> rusqlite::Result<()> {
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")
}

#[async_trait]
impl Engine for SqliteEngine {
    fn name(&self) -> &'static str {
        "embedded"
    }

    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn info(&self) -> EngineInfo {
        EngineInfo {
            product: "SQLite".into(),
            version: rusqlite::version().into(),
            edition: "embedded".into(),
            collation: "BINARY".into(),
        }
    }

    async fn open_site(&self, site: &SiteModel) -> Result<Arc<dyn SiteDatabase>, EngineError> {
        let path = Self::path_of(&self.dir, &site.code);
        let code = site.code.clone();
        let conn = tokio::task::spawn_blocking(move || create_database(&code, &path))
            .await
            .map_err(|e| EngineError::site(&site.code, "open", e))??;
        Ok(Arc::new(SqliteSite::new(site.code.clone(), conn)))
    }
}

/// Checks the SQLite query of every probe of `catalog` loaded from a directory (see
/// [`check_probe_sql`]); the first problem names the file and its line.
pub fn check_loaded_probes(catalog: &Catalog) -> Result<(), ProbeFileError> {
    for probe in catalog.iter() {
        let Some(file) = probe.sqlite_file() else {
            continue;
        };
        let sql = probe.sql(Dialect::Sqlite);
        let columns = check_probe_sql(sql).map_err(|(offset, message)| {
            ProbeFileError::invalid(&file, Some(line_of(sql, offset)), message)
        })?;
        if let Some(missing) = probe
            .volatile
            .iter()
            .find(|v| !columns.iter().any(|c| c == *v))
        {
            return Err(ProbeFileError::invalid(
                Path::new(probe.file.unwrap_or_default()),
                None,
                format!(
                    "`volatile` names `{missing}`, which the query does not return (it returns {})",
                    columns.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

/// The tables of a site database before the customer's own: what `TEL_DatabaseSize` counts
/// beside them.
pub fn base_table_count() -> u64 {
    let conn = Connection::open_in_memory().expect("an in-memory database opens");
    register_functions(&conn).expect("functions register");
    conn.execute_batch(SCHEMA).expect("the schema is valid");
    conn.query_row(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'",
        [],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n.unsigned_abs())
    .expect("sqlite_master is readable")
}

/// Checks a probe's SQLite query before any run: prepared against an empty site database (the
/// schema and `tel_hash`), so a syntax error, an unknown table or column, or a function that does
/// not exist is found now. Err: the byte offset of the problem (0 when SQLite gives none) and
/// SQLite's message.
pub fn check_probe_sql(sql: &str) -> Result<Vec<String>, (usize, String)> {
    let setup = |e: rusqlite::Error| (0, format!("cannot set up the check: {e}"));
    let conn = Connection::open_in_memory().map_err(setup)?;
    register_functions(&conn).map_err(setup)?;
    conn.execute_batch(SCHEMA).map_err(setup)?;
    let statement = conn.prepare(sql).map_err(|e| match e {
        rusqlite::Error::SqlInputError { msg, offset, .. } => {
            (usize::try_from(offset).unwrap_or(0), msg)
        }
        other => (0, other.to_string()),
    })?;
    if !statement.readonly() || statement.column_count() == 0 {
        return Err((
            0,
            "not a query: the file must hold one SELECT that returns columns".into(),
        ));
    }
    for index in 1..=statement.parameter_count() {
        let name = statement.parameter_name(index).unwrap_or("?");
        if name != ":week" && name != ":week_start" {
            return Err((
                sql.find(name).unwrap_or(0),
                format!("parameter `{name}`: a probe may use only `:week` and `:week_start`"),
            ));
        }
    }
    let columns: Vec<String> = statement.column_names().map(String::from).collect();
    for (i, column) in columns.iter().enumerate() {
        if columns[..i].contains(column) {
            return Err((
                0,
                format!("two columns are named `{column}`: a row is an object, one would be lost"),
            ));
        }
    }
    Ok(columns)
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    #[test]
    fn a_site_error_keeps_the_error_that_caused_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("X01.db");
        std::fs::write(&path, "not a database, though long enough to have a header").unwrap();
        let err = SqliteEngine::open_existing(&path)
            .err()
            .expect("not a site");
        assert!(matches!(err, EngineError::Site { .. }), "{err}");
        let source = err.source().expect("the cause is kept");
        let file = source
            .downcast_ref::<FileError<rusqlite::Error>>()
            .expect("the driver's own error, with the file");
        assert_eq!(file.path, path);
        assert!(err.to_string().contains("X01.db"), "{err}");
    }

    /// After the load the file is the pipeline's: a write-ahead log, not the load's journal in
    /// memory. And compliance is clustered by update: the per-severity probe sorts one row per
    /// update, not every state (keyed by client first, it sorted them all: a second temporary
    /// B-tree in its plan).
    #[tokio::test]
    async fn a_seeded_site_is_in_wal_and_its_compliance_clustered_by_update() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../scenarios/smoke.toml");
        let scenario = crate::scenario::Scenario::load(Path::new(path)).unwrap();
        let model = crate::model::HierarchyModel::from_scenario(&scenario);
        let dir = tempfile::tempdir().unwrap();
        let engine = SqliteEngine::new(dir.path());
        let seeded = crate::pipeline::seed::seed_hierarchy(
            &engine,
            &model,
            Catalog::shipped(),
            &crate::pipeline::seed::hidden_progress(),
        )
        .await
        .unwrap();
        let code = seeded[0].model.code.clone();
        drop(seeded);
        let conn = Connection::open(SqliteEngine::path_of(dir.path(), &code)).unwrap();
        let journal: String = conn
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .unwrap();
        assert_eq!(journal, "wal");
        let page_size: i64 = conn
            .pragma_query_value(None, "page_size", |r| r.get(0))
            .unwrap();
        assert_eq!(page_size, 16384);
        let probe = crate::probes::by_name("TEL_UpdateComplianceBySeverity").unwrap();
        let mut plan = conn
            .prepare(&format!(
                "EXPLAIN QUERY PLAN {}",
                probe.sql(Dialect::Sqlite)
            ))
            .unwrap();
        let steps: Vec<String> = plan
            .query_map([], |r| r.get::<_, String>(3))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let sorts = steps.iter().filter(|s| s.contains("TEMP B-TREE")).count();
        assert_eq!(sorts, 1, "{steps:#?}");
        let states: i64 = conn
            .query_row("SELECT COUNT(*) FROM Update_ComplianceStatus", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert!(states > 0, "the smoke site holds compliance");
    }
}
