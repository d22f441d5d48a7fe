//! `TEL_TelemetryResults` read back, and the rows a CAS stores when a child site replicates.

use rusqlite::{Connection, OptionalExtension, params};

use std::collections::BTreeSet;

use super::super::{Applied, CrashPoint, ProbeRunRecord, ReplicationBatch, ResultRow};

/// The result rows `filter` (a `WHERE … ORDER BY …` with one parameter, `?1`) selects.
pub(super) fn read(conn: &Connection, filter: &str, arg: i64) -> rusqlite::Result<Vec<ResultRow>> {
    let sql = format!(
        "SELECT ID, Week, ProbeName, SiteHash, HierarchyHash, RowNo, ResultData, CollectedOn
         FROM TEL_TelemetryResults {filter}"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    stmt.query_map([arg], result_row)?.collect()
}

/// A `TEL_TelemetryResults` row selected as `ID, Week, ProbeName, SiteHash, HierarchyHash,
/// RowNo, ResultData, CollectedOn`.
pub(super) fn result_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ResultRow> {
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
}

/// The highest probe-run ID of `source` already replicated here (0 when none).
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

/// The probe runs `filter` (a `WHERE … ORDER BY …` with one parameter, `?1`) selects.
pub(super) fn read_runs(
    conn: &Connection,
    filter: &str,
    arg: i64,
) -> rusqlite::Result<Vec<ProbeRunRecord>> {
    let sql = format!(
        "SELECT ID, SiteHash, Week, PeriodStart, ProbeName, RowCount, Error
         FROM TEL_ProbeRuns {filter}"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    stmt.query_map([arg], |r| {
        Ok(ProbeRunRecord {
            id: r.get(0)?,
            site_hash: r.get(1)?,
            week: r.get(2)?,
            period_start: r.get(3)?,
            probe: r.get(4)?,
            rows: r.get::<_, i64>(5)? as u64,
            error: r.get(6)?,
        })
    })?
    .collect()
}

/// The probe runs above `after` and every result row of their sites' weeks, read in one
/// transaction so the two agree.
pub(super) fn replication_batch(
    conn: &mut Connection,
    after: i64,
) -> rusqlite::Result<ReplicationBatch> {
    let tx = conn.transaction()?;
    let same_weeks = "(SiteHash, Week) IN (SELECT SiteHash, Week FROM TEL_ProbeRuns WHERE ID > ?1)";
    let runs = read_runs(&tx, &format!("WHERE {same_weeks} ORDER BY ID"), after)?;
    let rows = read(&tx, &format!("WHERE {same_weeks} ORDER BY ID"), after)?;
    tx.commit()?;
    Ok(ReplicationBatch { runs, rows })
}

/// Stores a batch of `source` and moves its watermark to the batch's highest probe-run ID, in
/// one transaction, so that a repeated pass adds nothing. A site's week in the batch replaces
/// any copy of that week stored before: a site that ran a week again replaced its own rows, and
/// a run's rows and probe runs are written in one transaction, so they come up in one pass.
pub(super) fn apply_replicated(
    conn: &mut Connection,
    source: &str,
    batch: &ReplicationBatch,
    crash: Option<CrashPoint>,
) -> rusqlite::Result<Applied> {
    let Some(last) = batch.runs.iter().map(|r| r.id).max() else {
        return Ok(Applied::Committed);
    };
    // Returning `Crashed` drops `tx` uncommitted: SQLite rolls it back, as it would a dying
    // process's transaction when the database is next opened.
    let tx = conn.transaction()?;
    if last <= watermark(&tx, source)? {
        // Applied by an earlier pass: a batch delivered twice changes nothing.
        return Ok(Applied::Committed);
    }
    let weeks: BTreeSet<(&str, u32)> = batch
        .runs
        .iter()
        .map(|r| (r.site_hash.as_str(), r.week))
        .collect();
    for (site_hash, week) in weeks {
        for table in ["TEL_TelemetryResults", "TEL_ProbeRuns"] {
            tx.execute(
                &format!("DELETE FROM {table} WHERE SiteHash = ?1 AND Week = ?2"),
                params![site_hash, week],
            )?;
        }
    }
    if crash == Some(CrashPoint::AfterDelete) {
        return Ok(Applied::Crashed);
    }
    let (first_half, second_half) = batch.rows.split_at(batch.rows.len() / 2);
    insert_rows(&tx, first_half)?;
    if crash == Some(CrashPoint::MidRows) {
        return Ok(Applied::Crashed);
    }
    insert_rows(&tx, second_half)?;
    insert_runs(&tx, &batch.runs)?;
    if crash == Some(CrashPoint::BeforeWatermark) {
        return Ok(Applied::Crashed);
    }
    tx.execute(
        "INSERT INTO TEL_ReplicationWatermark (SourceSite, LastID) VALUES (?1, ?2)
         ON CONFLICT (SourceSite) DO UPDATE SET LastID = max(LastID, excluded.LastID)",
        params![source, last],
    )?;
    tx.commit()?;
    Ok(Applied::Committed)
}

fn insert_rows(tx: &Connection, rows: &[ResultRow]) -> rusqlite::Result<()> {
    let mut insert = tx.prepare_cached(
        "INSERT INTO TEL_TelemetryResults
           (Week, ProbeName, SiteHash, HierarchyHash, RowNo, ResultData, CollectedOn)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    for r in rows {
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
    Ok(())
}

fn insert_runs(tx: &Connection, runs: &[ProbeRunRecord]) -> rusqlite::Result<()> {
    let mut insert = tx.prepare_cached(
        "INSERT INTO TEL_ProbeRuns (SiteHash, Week, PeriodStart, ProbeName, RowCount, Error)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    for r in runs {
        insert.execute(params![
            r.site_hash,
            r.week,
            r.period_start,
            r.probe,
            r.rows as i64,
            r.error
        ])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::engine::sqlite::SqliteEngine;
    use crate::engine::{SiteDatabase, WeeklyRun};
    use crate::model::HierarchyModel;
    use crate::pipeline::replicate::replicate;
    use crate::probes;
    use crate::scenario::{Level, Scenario};

    const HIERARCHY: &str = "name = \"rerun\"\nseed = 9\n[hierarchy]\ncas = true\n\
                             installed = \"2026-01-05\"\n[[hierarchy.primary]]\ncode = \"P01\"\n\
                             clients = 20\n";

    async fn rows_of(db: &dyn SiteDatabase, site_hash: &str) -> Vec<(String, u32, String)> {
        let mut rows: Vec<_> = db
            .results_of_week(1)
            .await
            .unwrap()
            .into_iter()
            .filter(|r| r.site_hash == site_hash)
            .map(|r| (r.probe, r.row_no, r.data))
            .collect();
        rows.sort();
        rows
    }

    #[tokio::test]
    async fn a_week_a_child_ran_again_replaces_its_copy_at_the_cas() {
        let scenario = Scenario::parse(HIERARCHY, Path::new("rerun.toml")).unwrap();
        let hierarchy = HierarchyModel::from_scenario(&scenario);
        let dir = tempfile::tempdir().unwrap();
        let engine = SqliteEngine::new(dir.path());
        let mut dbs = Vec::new();
        for site in &hierarchy.sites {
            let bar = indicatif::ProgressBar::hidden();
            let seeded = crate::pipeline::seed::seed_site(
                &engine,
                &hierarchy,
                site,
                crate::probes::Catalog::shipped(),
                &bar,
            )
            .await
            .unwrap();
            dbs.push(seeded.db);
        }
        let (cas, child) = (dbs[0].as_ref(), dbs[1].as_ref());
        let catalog = probes::for_level(Level::Enhanced);
        let run = WeeklyRun {
            week: 1,
            started_on: hierarchy.week_start(1),
            probes: &catalog,
        };
        let child_hash = crate::hash::tel_hash(child.code());
        child.run_weekly(&run).await.unwrap();
        replicate(cas, child).await.unwrap();
        child.run_weekly(&run).await.unwrap();
        assert!(
            replicate(cas, child).await.unwrap() > 0,
            "the new rows go up"
        );
        let at_child = rows_of(child, &child_hash).await;
        assert!(!at_child.is_empty());
        let at_cas = rows_of(cas, &child_hash).await;
        assert_eq!(at_cas.len(), at_child.len(), "one copy at the CAS");
        assert_eq!(at_cas, at_child);
    }
}
