//! `TEL_TelemetryResults` read back, and the rows a CAS stores when a child site replicates.

use tiberius::{IntoSql, Row};

use super::super::{EngineError, ResultRow, site_weeks};
use super::bulk::{Values, load};
use super::site::MssqlSite;
use super::transaction;
use super::values::{ValueError, required, text, unsigned};

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

fn result_row(row: &Row) -> Result<ResultRow, ValueError> {
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

    /// Stores the rows of `source` above its watermark and moves the watermark, in one
    /// transaction. The rows of a site's week replace the copy of that week stored before.
    pub(super) async fn store_replicated(
        &self,
        source: &str,
        rows: &[ResultRow],
    ) -> Result<(), EngineError> {
        let Some(last) = rows.iter().map(|r| r.id).max() else {
            return Ok(());
        };
        let current = self.read_watermark(source).await?;
        let fresh: Vec<&ResultRow> = rows.iter().filter(|r| r.id > current).collect();
        let replaced: Vec<(String, i32)> = site_weeks(fresh.iter().copied())
            .into_iter()
            .map(|(site, week)| (site.to_string(), week as i32))
            .collect();
        let fresh: Vec<Values> = fresh.into_iter().map(replicated_row).collect();
        let mut conn = self.conn.lock().await;
        let fail = self.fail("apply replicated rows");
        transaction::begin(&mut conn).await.map_err(&fail)?;
        let applied: tiberius::Result<()> = async {
            for (site_hash, week) in &replaced {
                conn.execute(
                    "DELETE FROM dbo.TEL_TelemetryResults WHERE SiteHash = @P1 AND Week = @P2",
                    &[site_hash, week],
                )
                .await?;
            }
            load(&mut conn, "dbo.TEL_TelemetryResults", &REPLICATED_COLUMNS, fresh).await?;
            conn.execute(
                "MERGE dbo.TEL_ReplicationWatermark AS w USING (SELECT @P1 AS SourceSite, @P2 AS LastID) AS s
                   ON w.SourceSite = s.SourceSite
                 WHEN MATCHED THEN UPDATE SET LastID = CASE WHEN s.LastID > w.LastID THEN s.LastID ELSE w.LastID END
                 WHEN NOT MATCHED THEN INSERT (SourceSite, LastID) VALUES (s.SourceSite, s.LastID);",
                &[&source, &last],
            )
            .await?;
            Ok(())
        }
        .await;
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
