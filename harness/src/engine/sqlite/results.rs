//! `TEL_TelemetryResults` read back, and the rows a CAS stores when a child site replicates.

use rusqlite::{Connection, OptionalExtension, params};

use super::super::ResultRow;

/// The result rows `filter` (a `WHERE … ORDER BY …` with one parameter, `?1`) selects.
pub(super) fn read(conn: &Connection, filter: &str, arg: i64) -> rusqlite::Result<Vec<ResultRow>> {
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

/// The highest ID of `source` already replicated here (0 when none).
pub(super) fn watermark(conn: &Connection, source: &str) -> rusqlite::Result<i64> {
    Ok(conn
        .query_row(
            "SELECT LastID FROM TEL_ReplicationWatermark WHERE SourceSite = ?1",
            [source],
            |r| r.get(0),
        )
        .optional()?
        .unwrap_or(0))
}

/// Stores the rows of `source` above its watermark and moves the watermark to the highest ID
/// given, in one transaction, so that a repeated pass adds nothing.
pub(super) fn apply_replicated(
    conn: &mut Connection,
    source: &str,
    rows: &[ResultRow],
) -> rusqlite::Result<()> {
    let Some(last) = rows.iter().map(|r| r.id).max() else {
        return Ok(());
    };
    let tx = conn.transaction()?;
    let current = watermark(&tx, source)?;
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
}
