//! The service connection point's bookkeeping at the top-level site: which probe runs are still
//! to be delivered, the outbox of the batch in flight, and what was delivered or dropped.

use rusqlite::{Connection, OptionalExtension, params};

use super::super::{EntryKey, PendingEntry, ResultRow, StagedBatch};
use super::results;

/// Probe runs that ran without error and are neither delivered nor dropped, with their rows.
pub(super) fn pending(conn: &mut Connection) -> rusqlite::Result<Vec<PendingEntry>> {
    let tx = conn.transaction()?;
    let runs = results::read_runs(
        &tx,
        "WHERE Error IS NULL AND ?1 = 0 AND NOT EXISTS (
             SELECT 1 FROM TEL_UploadState s WHERE s.SiteHash = TEL_ProbeRuns.SiteHash
               AND s.Week = TEL_ProbeRuns.Week AND s.ProbeName = TEL_ProbeRuns.ProbeName)
         ORDER BY Week, SiteHash, ProbeName",
        0,
    )?;
    let mut rows_of = tx.prepare_cached(
        "SELECT ID, Week, ProbeName, SiteHash, HierarchyHash, RowNo, ResultData, CollectedOn
         FROM TEL_TelemetryResults WHERE SiteHash = ?1 AND Week = ?2 AND ProbeName = ?3
         ORDER BY RowNo",
    )?;
    let mut entries = Vec::with_capacity(runs.len());
    for run in runs {
        let rows = rows_of
            .query_map(
                params![run.site_hash, run.week, run.probe],
                results::result_row,
            )?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        entries.push(PendingEntry {
            key: EntryKey {
                site_hash: run.site_hash,
                week: run.week,
                probe: run.probe,
            },
            period_start: run.period_start,
            rows,
        });
    }
    drop(rows_of);
    tx.commit()?;
    Ok(entries)
}

/// Each site's `TEL_SiteList` row of its latest week.
pub(super) fn site_list(conn: &Connection) -> rusqlite::Result<Vec<ResultRow>> {
    results::read(
        conn,
        "WHERE ProbeName = 'TEL_SiteList' AND ?1 = 0 AND Week = (
             SELECT max(l.Week) FROM TEL_TelemetryResults l
             WHERE l.ProbeName = 'TEL_SiteList' AND l.SiteHash = TEL_TelemetryResults.SiteHash)
         ORDER BY SiteHash, RowNo",
        0,
    )
}

pub(super) fn stage(conn: &mut Connection, batch: &StagedBatch) -> rusqlite::Result<()> {
    let entries = serde_json::to_string(&batch.entries).expect("entry keys serialise");
    let tx = conn.transaction()?;
    tx.execute("DELETE FROM TEL_Outbox", [])?;
    tx.execute(
        "INSERT INTO TEL_Outbox (IdempotencyKey, Entries, Body) VALUES (?1, ?2, ?3)",
        params![batch.idempotency_key, entries, batch.body],
    )?;
    tx.commit()
}

pub(super) fn outbox(conn: &Connection) -> rusqlite::Result<Option<StagedBatch>> {
    conn.query_row(
        "SELECT IdempotencyKey, Entries, Body FROM TEL_Outbox",
        [],
        |r| {
            let entries: String = r.get(1)?;
            Ok(StagedBatch {
                idempotency_key: r.get(0)?,
                entries: serde_json::from_str(&entries).map_err(|e| {
                    rusqlite::Error::FromSqlConversionFailure(
                        1,
                        rusqlite::types::Type::Text,
                        e.into(),
                    )
                })?,
                body: r.get(2)?,
            })
        },
    )
    .optional()
}

/// Marks the staged batch `key` delivered with `receipt` and empties the outbox; false when the
/// outbox holds no such batch (nothing is changed then).
pub(super) fn delivered(conn: &mut Connection, key: &str, receipt: &str) -> rusqlite::Result<bool> {
    let tx = conn.transaction()?;
    let Some(batch) = outbox(&tx)?.filter(|b| b.idempotency_key == key) else {
        return Ok(false);
    };
    {
        let mut insert = tx.prepare_cached(
            "INSERT OR IGNORE INTO TEL_UploadState (SiteHash, Week, ProbeName, Outcome, Receipt)
             VALUES (?1, ?2, ?3, 'delivered', ?4)",
        )?;
        for e in &batch.entries {
            insert.execute(params![e.site_hash, e.week, e.probe, receipt])?;
        }
    }
    tx.execute("DELETE FROM TEL_Outbox", [])?;
    tx.commit()?;
    Ok(true)
}

pub(super) fn dropped(
    conn: &mut Connection,
    entries: &[EntryKey],
    cause: &str,
) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    {
        let mut insert = tx.prepare_cached(
            "INSERT OR IGNORE INTO TEL_UploadState (SiteHash, Week, ProbeName, Outcome, Cause)
             VALUES (?1, ?2, ?3, 'dropped', ?4)",
        )?;
        for e in entries {
            insert.execute(params![e.site_hash, e.week, e.probe, cause])?;
        }
    }
    tx.commit()
}
