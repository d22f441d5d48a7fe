//! One site database on SQL Server as a [`SiteDatabase`]. The work is in the modules named after
//! it (`install`, `load`, `weekly`, `results`, `records`); this file holds the connection and the
//! few ways of sending a command over it.

use async_trait::async_trait;
use tiberius::Row;
use tokio::sync::{Mutex, mpsc};

use super::super::{
    Applied, CrashPoint, EngineError, EntryKey, ImportedPack, PendingEntry, ReplicationBatch,
    ResultRow, RunOutcome, SiteDatabase, SiteInfo, StagedBatch, WeeklyRun,
};
use super::connection::Connection;
use super::script::batches;
use crate::generate::Batch;
use crate::model::{HierarchyModel, SiteModel};
use crate::probes::Catalog;
use crate::scenario::Level;

pub struct MssqlSite {
    pub(super) code: String,
    pub(super) conn: Mutex<Connection>,
}

impl MssqlSite {
    pub(super) fn new(code: String, conn: Connection) -> Self {
        Self {
            code,
            conn: Mutex::new(conn),
        }
    }

    /// Turns a driver error into this site's error for `action`, keeping it as the source.
    pub(super) fn fail<E>(&self, action: &'static str) -> impl Fn(E) -> EngineError + '_
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        move |e| EngineError::site(&self.code, action, e)
    }

    /// Runs a script batch by batch (split at `GO` lines).
    pub(super) async fn run_script(
        &self,
        conn: &mut Connection,
        script: &str,
        action: &'static str,
    ) -> Result<(), EngineError> {
        for batch in batches(script) {
            conn.simple_query(batch)
                .await
                .map_err(self.fail(action))?
                .into_results()
                .await
                .map_err(self.fail(action))?;
        }
        Ok(())
    }

    /// The rows of the first result set of a parameterised query.
    pub(super) async fn query(
        &self,
        sql: &str,
        params: &[&dyn tiberius::ToSql],
        action: &'static str,
    ) -> Result<Vec<Row>, EngineError> {
        let mut conn = self.conn.lock().await;
        conn.query(sql, params)
            .await
            .map_err(self.fail(action))?
            .into_first_result()
            .await
            .map_err(self.fail(action))
    }

    /// Runs a parameterised command; returns the rows it affected.
    pub(super) async fn execute(
        &self,
        sql: &str,
        params: &[&dyn tiberius::ToSql],
        action: &'static str,
    ) -> Result<u64, EngineError> {
        let mut conn = self.conn.lock().await;
        Ok(conn
            .execute(sql, params)
            .await
            .map_err(self.fail(action))?
            .total())
    }
}

#[async_trait]
impl SiteDatabase for MssqlSite {
    fn code(&self) -> &str {
        &self.code
    }

    async fn install(
        &self,
        hierarchy: &HierarchyModel,
        site: &SiteModel,
        probes: &Catalog,
    ) -> Result<(), EngineError> {
        self.install_schema(probes).await?;
        self.install_site(hierarchy, site, probes).await
    }

    async fn load(&self, batches: mpsc::Receiver<Batch>) -> Result<u64, EngineError> {
        self.load_batches(batches).await
    }

    async fn set_level(&self, level: Level) -> Result<(), EngineError> {
        self.write_level(level).await
    }

    async fn run_weekly(&self, run: &WeeklyRun<'_>) -> Result<RunOutcome, EngineError> {
        self.weekly_run(run).await
    }

    async fn results_of_week(&self, week: u32) -> Result<Vec<ResultRow>, EngineError> {
        let week = i32::try_from(week).map_err(self.fail("read results"))?;
        self.read_results("WHERE Week = @P1 ORDER BY ID", &week)
            .await
    }

    async fn replication_batch(&self, after: i64) -> Result<ReplicationBatch, EngineError> {
        self.read_replication_batch(after).await
    }

    async fn apply_replicated(
        &self,
        source: &str,
        batch: &ReplicationBatch,
        crash: Option<CrashPoint>,
    ) -> Result<Applied, EngineError> {
        self.store_replicated(source, batch, crash).await
    }

    async fn pending_entries(&self) -> Result<Vec<PendingEntry>, EngineError> {
        self.read_pending().await
    }

    async fn site_list(&self) -> Result<Vec<ResultRow>, EngineError> {
        self.read_site_list().await
    }

    async fn stage_outbox(&self, batch: &StagedBatch) -> Result<(), EngineError> {
        self.write_outbox(batch).await
    }

    async fn outbox(&self) -> Result<Option<StagedBatch>, EngineError> {
        self.read_outbox().await
    }

    async fn mark_delivered(&self, key: &str, receipt: &str) -> Result<(), EngineError> {
        if self.write_delivered(key, receipt).await? {
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
        self.write_dropped(entries, cause).await
    }

    async fn watermark(&self, source: &str) -> Result<i64, EngineError> {
        self.read_watermark(source).await
    }

    async fn site_info(&self) -> Result<SiteInfo, EngineError> {
        self.read_site_info().await
    }

    async fn import_update_packs(&self, packs: &[ImportedPack]) -> Result<(), EngineError> {
        self.store_update_packs(packs).await
    }

    async fn update_packs(&self) -> Result<Vec<ImportedPack>, EngineError> {
        self.read_update_packs().await
    }
}
