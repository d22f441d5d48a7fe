//! One site's database file as a [`SiteDatabase`]: each call takes the connection on tokio's
//! blocking pool and hands it to the module that knows the job.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rusqlite::{Connection, params};
use tokio::sync::mpsc;

use super::super::{
    Applied, CrashPoint, EngineError, EntryKey, ImportedPack, PendingEntry, ReplicationBatch,
    ResultRow, RunOutcome, SiteDatabase, SiteInfo, StagedBatch, WeeklyRun,
};
use super::{SCHEMA, delivery, load, records, results, weekly};
use crate::generate::Batch;
use crate::hash::tel_hash;
use crate::model::{HierarchyModel, SiteModel};
use crate::probes::Catalog;
use crate::scenario::Level;

pub struct SqliteSite {
    code: String,
    conn: Arc<Mutex<Connection>>,
    /// The sync of the file's seeded pages, started when the load ended: it takes the disk's
    /// time while the cores go on seeding and collecting, and the close, which syncs the file
    /// again, finds little left to write. Joined before the connection closes.
    seeded_sync: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl SqliteSite {
    pub(super) fn new(code: String, conn: Connection) -> Self {
        Self {
            code,
            conn: Arc::new(Mutex::new(conn)),
            seeded_sync: Mutex::new(None),
        }
    }

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
        probes: &Catalog,
    ) -> Result<(), EngineError> {
        let site = site.clone();
        let probes: Vec<(String, i64)> = probes
            .iter()
            .map(|p| (p.name.to_string(), i64::from(p.level.rank())))
            .collect();
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
            let mut catalog =
                conn.prepare("INSERT INTO TEL_ProbeCatalog (ProbeName, LevelRank) VALUES (?1, ?2)")?;
            for (name, rank) in &probes {
                catalog.execute(params![name, rank])?;
            }
            Ok(())
        })
        .await
    }

    async fn load(&self, mut batches: mpsc::Receiver<Batch>) -> Result<u64, EngineError> {
        let (rows, file) = self
            .with_conn("bulk load", move |conn| {
                let mut rows = 0;
                while let Some(batch) = batches.blocking_recv() {
                    let tx = conn.transaction()?;
                    load::insert_batch(&tx, &batch)?;
                    tx.commit()?;
                    rows += batch.rows();
                }
                super::journal_after_seeding(conn)?;
                Ok((rows, conn.path().map(std::path::PathBuf::from)))
            })
            .await?;
        if let Some(file) = file {
            let code = self.code.clone();
            let sync = std::thread::spawn(move || {
                if let Err(e) = std::fs::File::open(&file).and_then(|f| f.sync_all()) {
                    tracing::warn!(site = %code, file = %file.display(), "syncing the seeded file: {e}");
                }
            });
            *self.seeded_sync.lock().expect("sync handle poisoned") = Some(sync);
        }
        Ok(rows)
    }

    async fn set_level(&self, level: Level) -> Result<(), EngineError> {
        self.with_conn("set level", move |conn| {
            conn.execute("UPDATE TEL_Settings SET Level = ?1", [level.as_str()])?;
            Ok(())
        })
        .await
    }

    async fn run_weekly(&self, run: &WeeklyRun<'_>) -> Result<RunOutcome, EngineError> {
        let work = weekly::Work {
            probes: run.probes.to_vec(),
            week: run.week,
            started_on: run.started_on.to_string(),
            site_hash: tel_hash(&self.code),
        };
        self.with_conn("weekly run", move |conn| weekly::run(conn, &work))
            .await
    }

    async fn results_of_week(&self, week: u32) -> Result<Vec<ResultRow>, EngineError> {
        self.with_conn("read results", move |conn| {
            results::read(conn, "WHERE Week = ?1 ORDER BY ID", week.into())
        })
        .await
    }

    async fn replication_batch(&self, after: i64) -> Result<ReplicationBatch, EngineError> {
        self.with_conn("read replication batch", move |conn| {
            results::replication_batch(conn, after)
        })
        .await
    }

    async fn apply_replicated(
        &self,
        source: &str,
        batch: &ReplicationBatch,
        crash: Option<CrashPoint>,
    ) -> Result<Applied, EngineError> {
        if batch.runs.is_empty() {
            return Ok(Applied::Committed);
        }
        let (source, batch) = (source.to_string(), batch.clone());
        self.with_conn("apply replicated rows", move |conn| {
            results::apply_replicated(conn, &source, &batch, crash)
        })
        .await
    }

    async fn pending_entries(&self) -> Result<Vec<PendingEntry>, EngineError> {
        self.with_conn("read pending deliveries", delivery::pending)
            .await
    }

    async fn site_list(&self) -> Result<Vec<ResultRow>, EngineError> {
        self.with_conn("read site list", |conn| delivery::site_list(conn))
            .await
    }

    async fn stage_outbox(&self, batch: &StagedBatch) -> Result<(), EngineError> {
        let batch = batch.clone();
        self.with_conn("stage outbox", move |conn| delivery::stage(conn, &batch))
            .await
    }

    async fn outbox(&self) -> Result<Option<StagedBatch>, EngineError> {
        self.with_conn("read outbox", |conn| delivery::outbox(conn))
            .await
    }

    async fn mark_delivered(&self, key: &str, receipt: &str) -> Result<(), EngineError> {
        let (key, receipt) = (key.to_string(), receipt.to_string());
        let marked = self
            .with_conn("mark delivered", {
                let key = key.clone();
                move |conn| delivery::delivered(conn, &key, &receipt)
            })
            .await?;
        if marked {
            Ok(())
        } else {
            Err(EngineError::site(
                &self.code,
                "mark delivered",
                format!("the outbox holds no batch {key}"),
            ))
        }
    }

    async fn mark_dropped(&self, entries: &[EntryKey], cause: &str) -> Result<(), EngineError> {
        let (entries, cause) = (entries.to_vec(), cause.to_string());
        self.with_conn("mark dropped", move |conn| {
            delivery::dropped(conn, &entries, &cause)
        })
        .await
    }

    async fn watermark(&self, source: &str) -> Result<i64, EngineError> {
        let source = source.to_string();
        self.with_conn("read watermark", move |conn| {
            results::watermark(conn, &source)
        })
        .await
    }

    async fn site_info(&self) -> Result<SiteInfo, EngineError> {
        self.with_conn("read site", |conn| records::site_info(conn))
            .await
    }

    async fn import_update_packs(&self, packs: &[ImportedPack]) -> Result<(), EngineError> {
        let packs = packs.to_vec();
        self.with_conn("import update packs", move |conn| {
            records::import_update_packs(conn, &packs)
        })
        .await
    }

    async fn update_packs(&self) -> Result<Vec<ImportedPack>, EngineError> {
        self.with_conn("read update packs", |conn| records::update_packs(conn))
            .await
    }
}

impl Drop for SqliteSite {
    fn drop(&mut self) {
        let sync = self.seeded_sync.get_mut().ok().and_then(Option::take);
        if let Some(sync) = sync {
            // It logged its own failure; a panic in it leaves the close to sync the file.
            let _ = sync.join();
        }
    }
}
