//! The embedded engine: one SQLite database file per site, in the run's output folder, kept after
//! the run so that a person can open it with `sqlite3`.
//!
//! SQLite has no stored procedures and no SHA-256, so the engine registers `tel_hash()` (the
//! product's hash, see [`crate::hash`]) and runs each probe's `.sql` file itself, writing the rows
//! into `TEL_TelemetryResults` in the same transaction — the job the `TEL_*` procedures do on SQL
//! Server. Calls run on tokio's blocking pool; a connection is used by one call at a time.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use async_trait::async_trait;
use rusqlite::functions::FunctionFlags;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;
use tokio::sync::mpsc;

use super::{
    Engine, EngineError, ImportedPack, ProbeRun, ResultRow, RunOutcome, RunRecord, SiteDatabase,
    SiteInfo, WeeklyRun,
};
use crate::generate::Batch;
use crate::hash::tel_hash;
use crate::model::{HierarchyModel, SiteModel};
use crate::probes::{Dialect, EngineInfo, Probe};
use crate::scenario::Level;

const SCHEMA: &str = include_str!("../../sql/sqlite/schema.sql");

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
        let code = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("site")
            .to_string();
        if !path.exists() {
            return Err(EngineError::site(
                &code,
                "open",
                format!("{} does not exist", path.display()),
            ));
        }
        let conn = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE)
            .map_err(|e| {
            EngineError::site(&code, "open", format!("{}: {e}", path.display()))
        })?;
        register_functions(&conn).map_err(|e| EngineError::site(&code, "register tel_hash", e))?;
        let code: String = conn
            .query_row("SELECT SiteCode FROM Sites", [], |r| r.get(0))
            .map_err(|e| {
                EngineError::site(
                    &code,
                    "read site",
                    format!("{}: not a site database: {e}", path.display()),
                )
            })?;
        Ok(Arc::new(SqliteSite {
            code,
            conn: Arc::new(Mutex::new(conn)),
        }))
    }
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
        let dir = self.dir.clone();
        let conn = tokio::task::spawn_blocking(move || -> Result<Connection, EngineError> {
            let fail = |action, e: &dyn std::fmt::Display| EngineError::site(&code, action, e);
            std::fs::create_dir_all(&dir)
                .map_err(|e| fail("create folder", &format!("{}: {e}", dir.display())))?;
            for suffix in ["", "-wal", "-shm"] {
                let file = PathBuf::from(format!("{}{suffix}", path.display()));
                match std::fs::remove_file(&file) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                        return Err(fail(
                            "remove old database",
                            &format!("{}: {e}", file.display()),
                        ));
                    }
                    _ => {}
                }
            }
            let conn = Connection::open(&path)
                .map_err(|e| fail("open", &format!("{}: {e}", path.display())))?;
            conn.pragma_update(None, "journal_mode", "WAL")
                .map_err(|e| fail("configure", &e))?;
            conn.pragma_update(None, "synchronous", "NORMAL")
                .map_err(|e| fail("configure", &e))?;
            register_functions(&conn).map_err(|e| fail("register tel_hash", &e))?;
            Ok(conn)
        })
        .await
        .map_err(|e| EngineError::site(&site.code, "open", e))??;
        Ok(Arc::new(SqliteSite {
            code: site.code.clone(),
            conn: Arc::new(Mutex::new(conn)),
        }))
    }
}

/// Registers the product's hash as `tel_hash(value)`; NULL hashes to NULL.
pub fn register_functions(conn: &Connection) -> rusqlite::Result<()> {
    conn.create_scalar_function(
        "tel_hash",
        1,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| {
            let value: Option<String> = ctx.get(0)?;
            Ok(value.map(|v| tel_hash(&v)))
        },
    )
}

pub struct SqliteSite {
    code: String,
    conn: Arc<Mutex<Connection>>,
}

impl SqliteSite {
    /// Runs `f` with the connection on the blocking pool.
    async fn with_conn<T: Send + 'static>(
        &self,
        action: &'static str,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, EngineError> {
        let conn = self.conn.clone();
        let code = self.code.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = conn.lock().expect("connection poisoned");
            f(&mut conn).map_err(|e| EngineError::site(&code, action, e))
        })
        .await
        .map_err(|e| EngineError::site(&self.code, action, e))?
    }
}

#[async_trait]
impl SiteDatabase for SqliteSite {
    fn code(&self) -> &str {
        &self.code
    }

    async fn install(
        &self,
        hierarchy: &HierarchyModel,
        site: &SiteModel,
    ) -> Result<(), EngineError> {
        let site = site.clone();
        let (id, level, mode, installed) = (
            hierarchy.id.to_string(),
            hierarchy.level.as_str(),
            hierarchy.mode.as_str(),
            hierarchy.installed.to_string(),
        );
        self.with_conn("install schema", move |conn| {
            conn.execute_batch(SCHEMA)?;
            conn.execute(
                "INSERT INTO Sites (SiteCode, SiteName, SiteType, ParentSiteCode, Version, Status, TimeZone, InstallDate)
                 VALUES (?1, ?2, ?3, ?4, ?5, 'Active', ?6, ?7)",
                params![site.code, site.name, site.role.as_str(), site.parent, site.version, site.time_zone, installed],
            )?;
            conn.execute(
                "INSERT INTO TEL_Settings (HierarchyID, Level, Mode) VALUES (?1, ?2, ?3)",
                params![id, level, mode],
            )?;
            Ok(())
        })
        .await
    }

    async fn load(&self, mut batches: mpsc::Receiver<Batch>) -> Result<u64, EngineError> {
        self.with_conn("bulk load", move |conn| {
            let mut rows = 0;
            while let Some(batch) = batches.blocking_recv() {
                let tx = conn.transaction()?;
                insert_batch(&tx, &batch)?;
                tx.commit()?;
                rows += batch.rows();
            }
            Ok(rows)
        })
        .await
    }

    async fn set_level(&self, level: Level) -> Result<(), EngineError> {
        self.with_conn("set level", move |conn| {
            conn.execute("UPDATE TEL_Settings SET Level = ?1", [level.as_str()])?;
            Ok(())
        })
        .await
    }

    async fn run_weekly(&self, run: &WeeklyRun<'_>) -> Result<RunOutcome, EngineError> {
        let probes: Vec<&'static Probe> = run.probes.to_vec();
        let (week, started_on) = (run.week, run.started_on.to_string());
        let site_hash = tel_hash(&self.code);
        self.with_conn("weekly run", move |conn| {
            let start = Instant::now();
            let tx = conn.transaction()?;
            let hierarchy_hash: String =
                tx.query_row("SELECT tel_hash(HierarchyID) FROM TEL_Settings", [], |r| r.get(0))?;
            let mut outcome = RunOutcome { probes: Vec::new(), elapsed: Default::default() };
            let (mut rows_total, mut errors) = (0u64, 0u64);
            for probe in probes {
                let probe_start = Instant::now();
                let result = run_probe(&tx, probe.sql(Dialect::Sqlite), week, &started_on).and_then(|rows| {
                    let mut insert = tx.prepare_cached(
                        "INSERT INTO TEL_TelemetryResults
                           (Week, ProbeName, SiteHash, HierarchyHash, RowNo, ResultData, CollectedOn)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    )?;
                    for (n, row) in rows.iter().enumerate() {
                        let data = serde_json::to_string(row).expect("rows serialise");
                        insert.execute(params![week, probe.name, site_hash, hierarchy_hash, n as u32 + 1, data, started_on])?;
                    }
                    Ok(rows.len() as u64)
                });
                let (rows, error) = match result {
                    Ok(n) => (n, None),
                    Err(e) => {
                        errors += 1;
                        (0, Some(e.to_string()))
                    }
                };
                rows_total += rows;
                let elapsed = probe_start.elapsed();
                tx.execute(
                    "INSERT OR REPLACE INTO TEL_ProbeRunHistory (Week, ProbeName, DurationMs, Error) VALUES (?1, ?2, ?3, ?4)",
                    params![week, probe.name, elapsed.as_millis() as i64, error],
                )?;
                outcome.probes.push(ProbeRun { probe: probe.name, rows, elapsed, error });
            }
            outcome.elapsed = start.elapsed();
            tx.execute(
                "INSERT OR REPLACE INTO TEL_RunHistory (Week, StartedOn, Level, ProbeCount, ErrorCount, RowCount, DurationMs)
                 VALUES (?1, ?2, (SELECT Level FROM TEL_Settings), ?3, ?4, ?5, ?6)",
                params![week, started_on, outcome.probes.len() as i64, errors as i64, rows_total as i64, outcome.elapsed.as_millis() as i64],
            )?;
            tx.commit()?;
            Ok(outcome)
        })
        .await
    }

    async fn results_of_week(&self, week: u32) -> Result<Vec<ResultRow>, EngineError> {
        self.with_conn("read results", move |conn| {
            read_results(conn, "WHERE Week = ?1 ORDER BY ID", week as i64)
        })
        .await
    }

    async fn results_after(&self, after: i64) -> Result<Vec<ResultRow>, EngineError> {
        self.with_conn("read results", move |conn| {
            read_results(conn, "WHERE ID > ?1 ORDER BY ID", after)
        })
        .await
    }

    async fn apply_replicated(&self, source: &str, rows: &[ResultRow]) -> Result<(), EngineError> {
        let Some(last) = rows.iter().map(|r| r.id).max() else {
            return Ok(());
        };
        let rows = rows.to_vec();
        let source = source.to_string();
        self.with_conn("apply replicated rows", move |conn| {
            let tx = conn.transaction()?;
            let current: i64 = tx
                .query_row(
                    "SELECT LastID FROM TEL_ReplicationWatermark WHERE SourceSite = ?1",
                    [&source],
                    |r| r.get(0),
                )
                .optional()?
                .unwrap_or(0);
            {
                let mut insert = tx.prepare_cached(
                    "INSERT INTO TEL_TelemetryResults
                       (Week, ProbeName, SiteHash, HierarchyHash, RowNo, ResultData, CollectedOn)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )?;
                // Rows at or below the watermark were applied by an earlier pass.
                for r in rows.iter().filter(|r| r.id > current) {
                    insert.execute(params![
                        r.week,
                        r.probe,
                        r.site_hash,
                        r.hierarchy_hash,
                        r.row_no,
                        r.data,
                        r.collected_on
                    ])?;
                }
            }
            tx.execute(
                "INSERT INTO TEL_ReplicationWatermark (SourceSite, LastID) VALUES (?1, ?2)
                 ON CONFLICT (SourceSite) DO UPDATE SET LastID = max(LastID, excluded.LastID)",
                params![source, last],
            )?;
            tx.commit()
        })
        .await
    }

    async fn site_info(&self) -> Result<SiteInfo, EngineError> {
        self.with_conn("read site", |conn| Self::read_info(conn))
            .await
    }

    async fn import_update_packs(&self, packs: &[ImportedPack]) -> Result<(), EngineError> {
        let packs = packs.to_vec();
        self.with_conn("import update packs", move |conn| {
            let tx = conn.transaction()?;
            {
                let mut insert =
                    tx.prepare_cached("INSERT OR IGNORE INTO UpdatePacks VALUES (?1, ?2, ?3, ?4)")?;
                for p in &packs {
                    insert.execute(params![p.id, p.name, p.version, p.sha256])?;
                }
            }
            tx.commit()
        })
        .await
    }

    async fn update_packs(&self) -> Result<Vec<ImportedPack>, EngineError> {
        self.with_conn("read update packs", |conn| {
            let mut stmt = conn
                .prepare("SELECT PackID, Name, Version, SHA256 FROM UpdatePacks ORDER BY PackID")?;
            stmt.query_map([], |r| {
                Ok(ImportedPack {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    version: r.get(2)?,
                    sha256: r.get(3)?,
                })
            })?
            .collect()
        })
        .await
    }

    async fn watermark(&self, source: &str) -> Result<i64, EngineError> {
        let source = source.to_string();
        self.with_conn("read watermark", move |conn| {
            Ok(conn
                .query_row(
                    "SELECT LastID FROM TEL_ReplicationWatermark WHERE SourceSite = ?1",
                    [&source],
                    |r| r.get(0),
                )
                .optional()?
                .unwrap_or(0))
        })
        .await
    }
}

impl SqliteSite {
    fn read_info(conn: &Connection) -> rusqlite::Result<SiteInfo> {
        let (code, version, installed): (String, String, String) = conn.query_row(
            "SELECT SiteCode, Version, InstallDate FROM Sites",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        let (hierarchy_id, level, mode): (String, String, String) = conn.query_row(
            "SELECT HierarchyID, Level, Mode FROM TEL_Settings",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        let mut stmt =
            conn.prepare("SELECT Week, StartedOn, Level FROM TEL_RunHistory ORDER BY Week")?;
        let runs = stmt
            .query_map([], |r| {
                Ok(RunRecord {
                    week: r.get(0)?,
                    started_on: r.get(1)?,
                    level: r.get(2)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(SiteInfo {
            code,
            hierarchy_id,
            level,
            mode,
            version,
            installed,
            runs,
        })
    }
}

/// Runs one probe's SQL and returns its rows as JSON objects keyed by column name.
fn run_probe(
    conn: &Connection,
    sql: &str,
    week: u32,
    week_start: &str,
) -> rusqlite::Result<Vec<usage_protocol::payload::Row>> {
    let mut stmt = conn.prepare(sql)?;
    if let Some(index) = stmt.parameter_index(":week")? {
        stmt.raw_bind_parameter(index, week)?;
    }
    if let Some(index) = stmt.parameter_index(":week_start")? {
        stmt.raw_bind_parameter(index, week_start)?;
    }
    let names: Vec<String> = stmt.column_names().map(String::from).collect();
    let mut rows = stmt.raw_query();
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let mut map = usage_protocol::payload::Row::new();
        for (i, name) in names.iter().enumerate() {
            map.insert(name.clone(), to_json(row.get_ref(i)?));
        }
        out.push(map);
    }
    Ok(out)
}

fn to_json(value: ValueRef<'_>) -> Value {
    match value {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::from(i),
        ValueRef::Real(f) => Value::from(f),
        ValueRef::Text(t) => Value::from(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => {
            use base64::Engine as _;
            Value::from(base64::engine::general_purpose::STANDARD.encode(b))
        }
    }
}

fn read_results(conn: &Connection, filter: &str, arg: i64) -> rusqlite::Result<Vec<ResultRow>> {
    let sql = format!(
        "SELECT ID, Week, ProbeName, SiteHash, HierarchyHash, RowNo, ResultData, CollectedOn
         FROM TEL_TelemetryResults {filter}"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    stmt.query_map([arg], |r| {
        Ok(ResultRow {
            id: r.get(0)?,
            week: r.get(1)?,
            probe: r.get(2)?,
            site_hash: r.get(3)?,
            hierarchy_hash: r.get(4)?,
            row_no: r.get(5)?,
            data: r.get(6)?,
            collected_on: r.get(7)?,
        })
    })?
    .collect()
}

fn insert_batch(tx: &rusqlite::Transaction<'_>, batch: &Batch) -> rusqlite::Result<()> {
    match batch {
        Batch::Clients(clients) => {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO System_DISC VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21)",
            )?;
            for c in clients {
                stmt.execute(params![
                    c.item_key,
                    c.netbios_name,
                    c.user_name,
                    c.ip_address,
                    c.mac_address,
                    c.email,
                    c.client_version,
                    c.os.caption,
                    c.os.version,
                    c.os.build,
                    c.ubr,
                    c.branch,
                    c.bios_date.to_string(),
                    c.os_install_date.to_string(),
                    c.uefi,
                    c.secure_boot,
                    c.tpm,
                    c.is_virtual,
                    c.cpu,
                    c.last_active_days,
                    c.ep_state,
                ])?;
            }
        }
        Batch::Applications(apps) => {
            let mut app_stmt =
                tx.prepare_cached("INSERT INTO CI_Applications VALUES (?1, ?2, ?3, ?4)")?;
            let mut dt_stmt =
                tx.prepare_cached("INSERT INTO CI_DeploymentTypes VALUES (?1, ?2, ?3, ?4)")?;
            for a in apps {
                app_stmt.execute(params![a.ci_id, a.title, a.manufacturer, a.superseded_by])?;
                for dt in &a.deployment_types {
                    dt_stmt.execute(params![dt.ci_id, a.ci_id, dt.technology, dt.product_code])?;
                }
            }
        }
        Batch::Collections(collections) => {
            let mut stmt = tx.prepare_cached("INSERT INTO Collections VALUES (?1, ?2, ?3, ?4)")?;
            for c in collections {
                stmt.execute(params![
                    c.collection_id,
                    c.name,
                    c.collection_type,
                    c.member_count
                ])?;
            }
        }
        Batch::Updates(updates) => {
            let mut stmt =
                tx.prepare_cached("INSERT INTO CI_SoftwareUpdates VALUES (?1, ?2, ?3, ?4)")?;
            for u in updates {
                stmt.execute(params![u.ci_id, u.article_id, u.severity, u.is_expired])?;
            }
        }
        Batch::Compliance(states) => {
            let mut stmt =
                tx.prepare_cached("INSERT INTO Update_ComplianceStatus VALUES (?1, ?2, ?3, ?4)")?;
            for s in states {
                stmt.execute(params![s.item_key, s.update_ci_id, s.status, s.error_code])?;
            }
        }
        Batch::AppDeployments(deployments) => {
            let mut stmt =
                tx.prepare_cached("INSERT INTO CI_AppDeployments VALUES (?1, ?2, ?3, ?4, ?5)")?;
            for d in deployments {
                stmt.execute(params![
                    d.deployment_id,
                    d.app_ci_id,
                    d.collection_id,
                    d.action,
                    d.purpose
                ])?;
            }
        }
        Batch::UpdateGroups(groups) => {
            let mut group = tx.prepare_cached("INSERT INTO CI_UpdateGroups VALUES (?1, ?2)")?;
            let mut member =
                tx.prepare_cached("INSERT INTO CI_UpdateGroupMembers VALUES (?1, ?2)")?;
            let mut deployment = tx.prepare_cached(
                "INSERT INTO UpdateDeployments (GroupID, CollectionID) VALUES (?1, ?2)",
            )?;
            for g in groups {
                group.execute(params![g.group_id, g.name])?;
                for m in &g.members {
                    member.execute(params![g.group_id, m])?;
                }
                for c in &g.deployed_to {
                    deployment.execute(params![g.group_id, c])?;
                }
            }
        }
        Batch::BoundaryGroups(groups) => {
            let mut group = tx.prepare_cached("INSERT INTO BoundaryGroups VALUES (?1, ?2, ?3)")?;
            let mut boundary =
                tx.prepare_cached("INSERT INTO Boundaries VALUES (?1, ?2, ?3, ?4)")?;
            for g in groups {
                group.execute(params![g.group_id, g.name, g.site_systems])?;
                for b in &g.boundaries {
                    boundary.execute(params![
                        b.boundary_id,
                        g.group_id,
                        b.boundary_type,
                        b.value
                    ])?;
                }
            }
        }
        Batch::CustomTable(table) => {
            // The name comes from the generator, but quote it as an identifier all the same.
            let name = table.name.replace('"', "\"\"");
            tx.execute_batch(&format!(
                "CREATE TABLE \"{name}\" (ID INTEGER PRIMARY KEY, Note TEXT NOT NULL)"
            ))?;
            let mut stmt = tx.prepare(&format!("INSERT INTO \"{name}\" VALUES (?1, ?2)"))?;
            for (id, note) in &table.rows {
                stmt.execute(params![id, note])?;
            }
        }
    }
    Ok(())
}
