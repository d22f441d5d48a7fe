//! `TEL_TelemetryResults` read back, and the rows a CAS stores when a child site replicates.

use tiberius::{IntoSql, Row};

use std::collections::BTreeSet;

use super::super::{Applied, CrashPoint, EngineError, ProbeRunRecord, ReplicationBatch, ResultRow};
use super::bulk::{Values, load};
use super::site::MssqlSite;
use super::transaction;
use super::values::{ValueError, optional_text, required, text, unsigned, unsigned_big};

const RESULT_COLUMNS: &str =
    "ID, Week, ProbeName, SiteHash, HierarchyHash, RowNo, ResultData, CollectedOn";

/// The columns a replicated row is stored in (the CAS numbers its rows itself).
const REPLICATED_COLUMNS: [&str; 7] = [
    "Week",
    "ProbeName",
    "SiteHash",
    "HierarchyHash",
    "RowNo",
    "ResultData",
    "CollectedOn",
];

pub(super) const RUN_COLUMNS: &str =
    "ID, SiteHash, Week, PeriodStart, ProbeName, [RowCount], Error";

/// The columns a replicated probe run is stored in.
const REPLICATED_RUN_COLUMNS: [&str; 6] = [
    "SiteHash",
    "Week",
    "PeriodStart",
    "ProbeName",
    "RowCount",
    "Error",
];

pub(super) fn probe_run(row: &Row) -> Result<ProbeRunRecord, ValueError> {
    Ok(ProbeRunRecord {
        id: required(row, 0)?,
        site_hash: text(row, 1)?,
        week: unsigned(row, 2)?,
        period_start: text(row, 3)?,
        probe: text(row, 4)?,
        rows: unsigned_big(row, 5)?,
        error: optional_text(row, 6)?,
    })
}

fn replicated_run(r: &ProbeRunRecord) -> Values {
    vec![
        r.site_hash.clone().into_sql(),
        (r.week as i32).into_sql(),
        r.period_start.clone().into_sql(),
        r.probe.clone().into_sql(),
        (r.rows as i64).into_sql(),
        r.error.clone().into_sql(),
    ]
}

pub(super) fn result_row(row: &Row) -> Result<ResultRow, ValueError> {
    Ok(ResultRow {
        id: required(row, 0)?,
        week: unsigned(row, 1)?,
        probe: text(row, 2)?,
        site_hash: text(row, 3)?,
        hierarchy_hash: text(row, 4)?,
        row_no: unsigned(row, 5)?,
        data: text(row, 6)?,
        collected_on: text(row, 7)?,
    })
}

fn replicated_row(r: &ResultRow) -> Values {
    vec![
        (r.week as i32).into_sql(),
        r.probe.clone().into_sql(),
        r.site_hash.clone().into_sql(),
        r.hierarchy_hash.clone().into_sql(),
        (r.row_no as i32).into_sql(),
        r.data.clone().into_sql(),
        r.collected_on.clone().into_sql(),
    ]
}

impl MssqlSite {
    /// The result rows `filter` (a `WHERE … ORDER BY …` with one parameter, `@P1`) selects.
    pub(super) async fn read_results(
        &self,
        filter: &str,
        arg: &dyn tiberius::ToSql,
    ) -> Result<Vec<ResultRow>, EngineError> {
        let sql = format!("SELECT {RESULT_COLUMNS} FROM dbo.TEL_TelemetryResults {filter}");
        self.query(&sql, &[arg], "read results")
            .await?
            .iter()
            .map(result_row)
            .collect::<Result<_, _>>()
            .map_err(self.fail("read results"))
    }

    pub(super) async fn read_watermark(&self, source: &str) -> Result<i64, EngineError> {
        let rows = self
            .query(
                "SELECT LastID FROM dbo.TEL_ReplicationWatermark WHERE SourceSite = @P1",
                &[&source],
                "read watermark",
            )
            .await?;
        match rows.first() {
            None => Ok(0),
            Some(row) => required(row, 0).map_err(self.fail("read watermark")),
        }
    }

    /// The probe runs above `after` and every result row of their sites' weeks. A week run again
    /// between the two reads gets new probe-run IDs, so the next pass carries it whole.
    pub(super) async fn read_replication_batch(
        &self,
        after: i64,
    ) -> Result<ReplicationBatch, EngineError> {
        let same_weeks = "EXISTS (SELECT 1 FROM dbo.TEL_ProbeRuns AS n WHERE n.ID > @P1 \
                          AND n.SiteHash = t.SiteHash AND n.Week = t.Week)";
        let runs = self
            .query(
                &format!("SELECT {RUN_COLUMNS} FROM dbo.TEL_ProbeRuns AS t WHERE {same_weeks} ORDER BY ID"),
                &[&after],
                "read replication batch",
            )
            .await?
            .iter()
            .map(probe_run)
            .collect::<Result<Vec<_>, _>>()
            .map_err(self.fail("read replication batch"))?;
        let rows = self
            .read_results(&format!("AS t WHERE {same_weeks} ORDER BY ID"), &after)
            .await?;
        Ok(ReplicationBatch { runs, rows })
    }

    /// Stores a batch of `source` and moves its watermark to the batch's highest probe-run ID,
    /// in one transaction. A site's week in the batch replaces the copy stored before; a batch
    /// at or below the watermark was applied already and changes nothing.
    pub(super) async fn store_replicated(
        &self,
        source: &str,
        batch: &ReplicationBatch,
        crash: Option<CrashPoint>,
    ) -> Result<Applied, EngineError> {
        let Some(last) = batch.runs.iter().map(|r| r.id).max() else {
            return Ok(Applied::Committed);
        };
        if last <= self.read_watermark(source).await? {
            return Ok(Applied::Committed);
        }
        let replaced: BTreeSet<(String, i32)> = batch
            .runs
            .iter()
            .map(|r| (r.site_hash.clone(), r.week as i32))
            .collect();
        let mut rows: Vec<Values> = batch.rows.iter().map(replicated_row).collect();
        let second_half = rows.split_off(rows.len() / 2);
        let runs: Vec<Values> = batch.runs.iter().map(replicated_run).collect();
        let mut conn = self.conn.lock().await;
        let fail = self.fail("apply replicated rows");
        transaction::begin(&mut conn).await.map_err(&fail)?;
        let applied: tiberius::Result<Applied> = async {
            for (site_hash, week) in &replaced {
                for table in ["dbo.TEL_TelemetryResults", "dbo.TEL_ProbeRuns"] {
                    conn.execute(
                        format!("DELETE FROM {table} WHERE SiteHash = @P1 AND Week = @P2"),
                        &[site_hash, week],
                    )
                    .await?;
                }
            }
            if crash == Some(CrashPoint::AfterDelete) {
                return Ok(Applied::Crashed);
            }
            load(&mut conn, "dbo.TEL_TelemetryResults", &REPLICATED_COLUMNS, rows).await?;
            if crash == Some(CrashPoint::MidRows) {
                return Ok(Applied::Crashed);
            }
            load(&mut conn, "dbo.TEL_TelemetryResults", &REPLICATED_COLUMNS, second_half).await?;
            load(&mut conn, "dbo.TEL_ProbeRuns", &REPLICATED_RUN_COLUMNS, runs).await?;
            if crash == Some(CrashPoint::BeforeWatermark) {
                return Ok(Applied::Crashed);
            }
            conn.execute(
                "MERGE dbo.TEL_ReplicationWatermark AS w USING (SELECT @P1 AS SourceSite, @P2 AS LastID) AS s
                   ON w.SourceSite = s.SourceSite
                 WHEN MATCHED THEN UPDATE SET LastID = CASE WHEN s.LastID > w.LastID THEN s.LastID ELSE w.LastID END
                 WHEN NOT MATCHED THEN INSERT (SourceSite, LastID) VALUES (s.SourceSite, s.LastID);",
                &[&source, &last],
            )
            .await?;
            Ok(Applied::Committed)
        }
        .await;
        if let Ok(Applied::Crashed) = applied {
            // The transaction dies where the schedule said: abandoned, as a dying process's is.
            transaction::abandon(&mut conn).await.map_err(&fail)?;
            return Ok(Applied::Crashed);
        }
        transaction::end(&mut conn, applied, &self.code)
            .await
            .map_err(fail)
    }
}

#[cfg(test)]
mod tests {
    use super::REPLICATED_COLUMNS;
    use crate::engine::mssql::load::tests::schema_columns;

    #[test]
    fn replicated_rows_fill_every_column_but_the_id() {
        assert_eq!(schema_columns("TEL_TelemetryResults"), REPLICATED_COLUMNS);
    }
}
