//! The weekly run: every probe's query, its rows stored in `TEL_TelemetryResults` as JSON
//! objects, and the run recorded in `TEL_ProbeRunHistory` and `TEL_RunHistory` — all in one
//! transaction. A failing probe is recorded with its error and the others still run. A week run
//! again replaces what the site recorded for that week, in the same transaction.

use std::time::Instant;

use rusqlite::types::ValueRef;
use rusqlite::{Connection, Transaction, params};
use serde_json::Value;

use super::super::{ProbeRun, RunOutcome};
use crate::probes::{Dialect, Probe};

/// What one weekly run at one site does.
pub(super) struct Work {
    pub probes: Vec<&'static Probe>,
    pub week: u32,
    pub started_on: String,
    pub site_hash: String,
}

pub(super) fn run(conn: &mut Connection, work: &Work) -> rusqlite::Result<RunOutcome> {
    // Each probe is stopped past its time limit: the handler reads the running probe's
    // deadline, which `run_probe` sets.
    let deadline = DEADLINE.with(|d| d.clone());
    conn.progress_handler(
        10_000,
        Some(move || Instant::now() > *deadline.lock().expect("deadline")),
    )?;
    // The probes scan the same tables one after another: a page cache that holds them reads
    // each page from the file once per run, not once per probe. Given back after the run, so
    // that a hierarchy of idle sites holds little.
    conn.pragma_update(None, "cache_size", RUN_CACHE_KIB)?;
    let outcome = run_probes(conn, work);
    let cleared = conn.progress_handler(0, None::<fn() -> bool>);
    let restored = conn
        .pragma_update(None, "cache_size", IDLE_CACHE_KIB)
        .and_then(|()| conn.execute_batch("PRAGMA shrink_memory"));
    let outcome = outcome?;
    cleared?;
    restored?;
    Ok(outcome)
}

/// Page cache during a weekly run, in KiB (negative: SQLite reads it as KiB): more than a
/// 175,000-client site's scanned tables.
const RUN_CACHE_KIB: i64 = -96 * 1024;
/// SQLite's default page cache, in KiB.
const IDLE_CACHE_KIB: i64 = -2000;

thread_local! {
    /// The deadline of the probe running on this thread (a weekly run is one blocking call).
    static DEADLINE: std::sync::Arc<std::sync::Mutex<Instant>> =
        std::sync::Arc::new(std::sync::Mutex::new(Instant::now() + probe_time_limit()));
}

fn run_probes(conn: &mut Connection, work: &Work) -> rusqlite::Result<RunOutcome> {
    let start = Instant::now();
    let mut tx = conn.transaction()?;
    forget_week(&tx, work)?;
    let hierarchy_hash: String =
        tx.query_row("SELECT tel_hash(HierarchyID) FROM TEL_Settings", [], |r| {
            r.get(0)
        })?;
    let mut outcome = RunOutcome {
        probes: Vec::new(),
        elapsed: Default::default(),
    };
    for probe in &work.probes {
        let probe_start = Instant::now();
        let cpu_start = cpu_time::ThreadTime::try_now().ok();
        let (rows, vm_steps, error) = match store_probe(&mut tx, work, probe, &hierarchy_hash) {
            Ok((n, steps)) => (n, Some(steps), None),
            Err(e) => (0, None, Some(e.to_string())),
        };
        let elapsed = probe_start.elapsed();
        let cpu = cpu_start.and_then(|t| t.try_elapsed().ok());
        tx.execute(
            "INSERT INTO TEL_ProbeRunHistory (Week, ProbeName, DurationMs, Error)
             VALUES (?1, ?2, ?3, ?4)",
            params![work.week, probe.name, elapsed.as_millis() as i64, error],
        )?;
        tx.execute(
            // The run on day D covers the seven days before it: its period starts on D − 7.
            "INSERT INTO TEL_ProbeRuns (SiteHash, Week, PeriodStart, ProbeName, RowCount, Error)
             VALUES (?1, ?2, date(?3, '-7 days'), ?4, ?5, ?6)",
            params![
                work.site_hash,
                work.week,
                work.started_on,
                probe.name,
                rows as i64,
                error
            ],
        )?;
        outcome.probes.push(ProbeRun {
            probe: probe.name,
            rows,
            elapsed,
            error,
            vm_steps,
            cpu,
        });
    }
    outcome.elapsed = start.elapsed();
    record_run(&tx, work, &outcome)?;
    tx.commit()?;
    Ok(outcome)
}

/// What the site recorded for the week before: its own result rows (rows replicated from other
/// sites stay) and the week's run history.
fn forget_week(tx: &Transaction<'_>, work: &Work) -> rusqlite::Result<()> {
    tx.execute(
        "DELETE FROM TEL_TelemetryResults WHERE Week = ?1 AND SiteHash = ?2",
        params![work.week, work.site_hash],
    )?;
    tx.execute(
        "DELETE FROM TEL_ProbeRuns WHERE Week = ?1 AND SiteHash = ?2",
        params![work.week, work.site_hash],
    )?;
    tx.execute(
        "DELETE FROM TEL_ProbeRunHistory WHERE Week = ?1",
        [work.week],
    )?;
    tx.execute("DELETE FROM TEL_RunHistory WHERE Week = ?1", [work.week])?;
    Ok(())
}

/// Runs one probe and stores its rows; returns how many, and the query's virtual-machine steps.
/// A probe that fails part-way leaves no rows behind (its own savepoint is rolled back).
fn store_probe(
    tx: &mut Transaction<'_>,
    work: &Work,
    probe: &Probe,
    hierarchy_hash: &str,
) -> rusqlite::Result<(u64, u64)> {
    let savepoint = tx.savepoint()?;
    let stored = store_rows(&savepoint, work, probe, hierarchy_hash)?;
    savepoint.commit()?;
    Ok(stored)
}

fn store_rows(
    tx: &Connection,
    work: &Work,
    probe: &Probe,
    hierarchy_hash: &str,
) -> rusqlite::Result<(u64, u64)> {
    let (rows, steps) = run_probe(tx, probe.sql(Dialect::Sqlite), work.week, &work.started_on)?;
    let mut insert = tx.prepare_cached(
        "INSERT INTO TEL_TelemetryResults
           (Week, ProbeName, SiteHash, HierarchyHash, RowNo, ResultData, CollectedOn)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    for (n, row) in rows.iter().enumerate() {
        let data = serde_json::to_string(row).expect("rows serialise");
        insert.execute(params![
            work.week,
            probe.name,
            work.site_hash,
            hierarchy_hash,
            n as u32 + 1,
            data,
            work.started_on
        ])?;
    }
    Ok((rows.len() as u64, steps))
}

/// The run's line in `TEL_RunHistory`.
fn record_run(tx: &Transaction<'_>, work: &Work, outcome: &RunOutcome) -> rusqlite::Result<()> {
    let errors = outcome.probes.iter().filter(|p| p.error.is_some()).count();
    let rows: u64 = outcome.probes.iter().map(|p| p.rows).sum();
    tx.execute(
        "INSERT INTO TEL_RunHistory
           (Week, StartedOn, Level, ProbeCount, ErrorCount, RowCount, DurationMs)
         VALUES (?1, ?2, (SELECT Level FROM TEL_Settings), ?3, ?4, ?5, ?6)",
        params![
            work.week,
            work.started_on,
            outcome.probes.len() as i64,
            errors as i64,
            rows as i64,
            outcome.elapsed.as_millis() as i64
        ],
    )?;
    Ok(())
}

/// The most rows one probe may return: the catalog's largest answer is a few thousand rows
/// (every table's hashed name at a site with many custom tables); far more is a runaway query.
pub const MAX_PROBE_ROWS: usize = 100_000;
/// The longest one probe may run before it is stopped and reported as failed, unless
/// `HARNESS_PROBE_TIME_LIMIT_S` says otherwise.
pub const PROBE_TIME_LIMIT: std::time::Duration = std::time::Duration::from_secs(120);

fn probe_time_limit() -> std::time::Duration {
    std::env::var("HARNESS_PROBE_TIME_LIMIT_S")
        .ok()
        .and_then(|s| s.parse().ok())
        .map_or(PROBE_TIME_LIMIT, std::time::Duration::from_secs)
}

/// A probe stopped by a limit, as the SQLite error its run reports.
fn stopped(message: String) -> rusqlite::Error {
    rusqlite::Error::SqliteFailure(
        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_TOOBIG),
        Some(message),
    )
}

/// Runs one probe's SQL and returns its rows as JSON objects keyed by column name. A query
/// that runs past [`PROBE_TIME_LIMIT`] or returns more than [`MAX_PROBE_ROWS`] rows is stopped
/// and fails, as a runaway query must not take the machine with it.
fn run_probe(
    conn: &Connection,
    sql: &str,
    week: u32,
    week_start: &str,
) -> rusqlite::Result<(Vec<usage_protocol::payload::Row>, u64)> {
    DEADLINE.with(|d| *d.lock().expect("deadline") = Instant::now() + probe_time_limit());
    let rows = read_rows(conn, sql, week, week_start);
    DEADLINE.with(|d| *d.lock().expect("deadline") = Instant::now() + probe_time_limit());
    rows.map_err(|e| match e {
        rusqlite::Error::SqliteFailure(f, _)
            if f.code == rusqlite::ErrorCode::OperationInterrupted =>
        {
            stopped(format!(
                "ran longer than {} s and was stopped",
                probe_time_limit().as_secs()
            ))
        }
        other => other,
    })
}

fn read_rows(
    conn: &Connection,
    sql: &str,
    week: u32,
    week_start: &str,
) -> rusqlite::Result<(Vec<usage_protocol::payload::Row>, u64)> {
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
        if out.len() == MAX_PROBE_ROWS {
            return Err(stopped(format!(
                "returned more than {MAX_PROBE_ROWS} rows and was stopped"
            )));
        }
        let mut map = usage_protocol::payload::Row::new();
        for (i, name) in names.iter().enumerate() {
            map.insert(name.clone(), to_json(row.get_ref(i)?));
        }
        out.push(map);
    }
    drop(rows);
    let steps = stmt.get_status(rusqlite::StatementStatus::VmStep);
    Ok((out, u64::try_from(steps).unwrap_or(0)))
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::Path;

    use crate::engine::sqlite::SqliteEngine;
    use crate::engine::{ProbeRunRecord, ReplicationBatch, ResultRow, SiteDatabase, WeeklyRun};
    use crate::hash::tel_hash;
    use crate::model::HierarchyModel;
    use crate::probes;
    use crate::scenario::{Level, Scenario};

    const SITE: &str = "name = \"rerun\"\nseed = 5\n[hierarchy]\ninstalled = \"2026-01-05\"\n\
                        [[hierarchy.primary]]\ncode = \"P01\"\nclients = 30\n";

    /// How many times each (site, probe, row) of `week` is stored.
    async fn copies(db: &dyn SiteDatabase, week: u32) -> BTreeMap<(String, String, u32), usize> {
        let mut copies = BTreeMap::new();
        for r in db.results_of_week(week).await.unwrap() {
            *copies.entry((r.site_hash, r.probe, r.row_no)).or_default() += 1;
        }
        copies
    }

    #[tokio::test]
    async fn a_week_run_again_replaces_the_sites_rows_of_that_week() {
        let scenario = Scenario::parse(SITE, Path::new("rerun.toml")).unwrap();
        let hierarchy = HierarchyModel::from_scenario(&scenario);
        let dir = tempfile::tempdir().unwrap();
        let engine = SqliteEngine::new(dir.path());
        let bar = indicatif::ProgressBar::hidden();
        let seeded = crate::pipeline::seed::seed_site(
            &engine,
            &hierarchy,
            &hierarchy.sites[0],
            crate::probes::Catalog::shipped(),
            &bar,
        )
        .await
        .unwrap();
        let db = seeded.db.as_ref();
        // A row another site replicated here for the same week is not this site's to replace.
        let foreign = ResultRow {
            id: 7,
            week: 1,
            probe: "TEL_SiteList".into(),
            site_hash: tel_hash("P02"),
            hierarchy_hash: tel_hash("h"),
            row_no: 1,
            data: "{}".into(),
            collected_on: "2026-01-05".into(),
        };
        let batch = ReplicationBatch {
            runs: vec![ProbeRunRecord {
                id: 7,
                site_hash: foreign.site_hash.clone(),
                week: 1,
                period_start: "2026-01-05".into(),
                probe: foreign.probe.clone(),
                rows: 1,
                error: None,
            }],
            rows: vec![foreign.clone()],
        };
        db.apply_replicated("P02", &batch, None).await.unwrap();
        let catalog = probes::for_level(Level::Full);
        let run = WeeklyRun {
            week: 1,
            started_on: hierarchy.week_start(1),
            probes: &catalog,
        };
        db.run_weekly(&run).await.unwrap();
        let once = copies(db, 1).await;
        db.run_weekly(&run).await.unwrap();
        let twice = copies(db, 1).await;
        assert!(once.len() > catalog.len(), "the run stored rows");
        assert_eq!(twice, once, "the second run replaced the first");
        assert!(twice.values().all(|n| *n == 1), "one copy of each row");
        assert!(twice.contains_key(&(foreign.site_hash, foreign.probe, 1)));
        let runs = db.site_info().await.unwrap().runs;
        assert_eq!(runs.len(), 1, "{runs:?}");
    }
}
