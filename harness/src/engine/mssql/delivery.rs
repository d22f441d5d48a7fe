//! The service connection point's bookkeeping at a top-level site on SQL Server: pending probe
//! runs, the outbox of the batch in flight, and what was delivered or dropped.

use std::collections::BTreeMap;

use super::super::{EngineError, EntryKey, PendingEntry, ResultRow, StagedBatch};
use super::results::{RUN_COLUMNS, probe_run};
use super::site::MssqlSite;
use super::transaction;
use super::values::{required, text};

impl MssqlSite {
    pub(super) async fn read_pending(&self) -> Result<Vec<PendingEntry>, EngineError> {
        let not_handled = "t.Error IS NULL AND NOT EXISTS (SELECT 1 FROM dbo.TEL_UploadState AS s \
            WHERE s.SiteHash = t.SiteHash AND s.Week = t.Week AND s.ProbeName = t.ProbeName)";
        let fail = self.fail("read pending deliveries");
        let runs = self
            .query(
                &format!(
                    "SELECT {RUN_COLUMNS} FROM dbo.TEL_ProbeRuns AS t WHERE {not_handled} \
                     ORDER BY Week, SiteHash, ProbeName"
                ),
                &[],
                "read pending deliveries",
            )
            .await?
            .iter()
            .map(probe_run)
            .collect::<Result<Vec<_>, _>>()
            .map_err(&fail)?;
        let rows = self
            .read_results(
                &format!(
                    "AS r WHERE @P1 = 0 AND EXISTS (SELECT 1 FROM dbo.TEL_ProbeRuns AS t \
                     WHERE {not_handled} AND t.SiteHash = r.SiteHash AND t.Week = r.Week \
                     AND t.ProbeName = r.ProbeName) ORDER BY RowNo"
                ),
                &0i32,
            )
            .await?;
        let mut by_key: BTreeMap<EntryKey, Vec<ResultRow>> = BTreeMap::new();
        for row in rows {
            by_key
                .entry(EntryKey {
                    site_hash: row.site_hash.clone(),
                    week: row.week,
                    probe: row.probe.clone(),
                })
                .or_default()
                .push(row);
        }
        Ok(runs
            .into_iter()
            .map(|run| {
                let key = EntryKey {
                    site_hash: run.site_hash,
                    week: run.week,
                    probe: run.probe,
                };
                PendingEntry {
                    rows: by_key.remove(&key).unwrap_or_default(),
                    key,
                    period_start: run.period_start,
                }
            })
            .collect())
    }

    pub(super) async fn read_site_list(&self) -> Result<Vec<ResultRow>, EngineError> {
        self.read_results(
            "AS r WHERE r.ProbeName = N'TEL_SiteList' AND @P1 = 0 AND r.Week = \
             (SELECT MAX(l.Week) FROM dbo.TEL_TelemetryResults AS l \
              WHERE l.ProbeName = N'TEL_SiteList' AND l.SiteHash = r.SiteHash) \
             ORDER BY SiteHash, RowNo",
            &0i32,
        )
        .await
    }

    pub(super) async fn write_outbox(&self, batch: &StagedBatch) -> Result<(), EngineError> {
        let entries = serde_json::to_string(&batch.entries).expect("entry keys serialise");
        let mut conn = self.conn.lock().await;
        let fail = self.fail("stage outbox");
        transaction::begin(&mut conn).await.map_err(&fail)?;
        let staged: tiberius::Result<()> = async {
            conn.execute("DELETE FROM dbo.TEL_Outbox", &[]).await?;
            conn.execute(
                "INSERT INTO dbo.TEL_Outbox (IdempotencyKey, Entries, Body) VALUES (@P1, @P2, @P3)",
                &[&batch.idempotency_key, &entries, &batch.body.as_slice()],
            )
            .await?;
            Ok(())
        }
        .await;
        transaction::end(&mut conn, staged, &self.code)
            .await
            .map_err(fail)
    }

    pub(super) async fn read_outbox(&self) -> Result<Option<StagedBatch>, EngineError> {
        let rows = self
            .query(
                "SELECT IdempotencyKey, Entries, Body FROM dbo.TEL_Outbox",
                &[],
                "read outbox",
            )
            .await?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        let fail = self.fail("read outbox");
        let entries: String = text(row, 1).map_err(&fail)?;
        let body: &[u8] = required(row, 2).map_err(&fail)?;
        Ok(Some(StagedBatch {
            idempotency_key: text(row, 0).map_err(&fail)?,
            entries: serde_json::from_str(&entries).map_err(self.fail("read outbox"))?,
            body: body.to_vec(),
        }))
    }

    /// Marks the staged batch `key` delivered and empties the outbox, in one transaction;
    /// false when the outbox holds no such batch.
    pub(super) async fn write_delivered(
        &self,
        key: &str,
        receipt: &str,
    ) -> Result<bool, EngineError> {
        let Some(batch) = self
            .read_outbox()
            .await?
            .filter(|b| b.idempotency_key == key)
        else {
            return Ok(false);
        };
        let mut conn = self.conn.lock().await;
        let fail = self.fail("mark delivered");
        transaction::begin(&mut conn).await.map_err(&fail)?;
        let marked: tiberius::Result<()> = async {
            for e in &batch.entries {
                conn.execute(
                    "INSERT INTO dbo.TEL_UploadState (SiteHash, Week, ProbeName, Outcome, Receipt) \
                     SELECT @P1, @P2, @P3, N'delivered', @P4 WHERE NOT EXISTS (SELECT 1 FROM \
                     dbo.TEL_UploadState WHERE SiteHash = @P1 AND Week = @P2 AND ProbeName = @P3)",
                    &[&e.site_hash, &(e.week as i32), &e.probe, &receipt],
                )
                .await?;
            }
            conn.execute(
                "DELETE FROM dbo.TEL_Outbox WHERE IdempotencyKey = @P1",
                &[&key],
            )
            .await?;
            Ok(())
        }
        .await;
        transaction::end(&mut conn, marked, &self.code)
            .await
            .map_err(fail)?;
        Ok(true)
    }

    pub(super) async fn write_dropped(
        &self,
        entries: &[EntryKey],
        cause: &str,
    ) -> Result<(), EngineError> {
        for e in entries {
            self.execute(
                "INSERT INTO dbo.TEL_UploadState (SiteHash, Week, ProbeName, Outcome, Cause) \
                 SELECT @P1, @P2, @P3, N'dropped', @P4 WHERE NOT EXISTS (SELECT 1 FROM \
                 dbo.TEL_UploadState WHERE SiteHash = @P1 AND Week = @P2 AND ProbeName = @P3)",
                &[&e.site_hash, &(e.week as i32), &e.probe, &cause],
                "mark dropped",
            )
            .await?;
        }
        Ok(())
    }
}
