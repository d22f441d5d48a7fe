//! The weekly run: every probe's query, its rows stored in `TEL_TelemetryResults` as JSON
//! objects, and the run recorded in `TEL_ProbeRunHistory` and `TEL_RunHistory` — all in one
//! transaction. A failing probe is recorded with its error and the others still run.

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
    let start = Instant::now();
    let tx = conn.transaction()?;
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
        let (rows, error) = match store_probe(&tx, work, probe, &hierarchy_hash) {
            Ok(n) => (n, None),
            Err(e) => (0, Some(e.to_string())),
        };
        let elapsed = probe_start.elapsed();
        tx.execute(
            "INSERT OR REPLACE INTO TEL_ProbeRunHistory (Week, ProbeName, DurationMs, Error)
             VALUES (?1, ?2, ?3, ?4)",
            params![work.week, probe.name, elapsed.as_millis() as i64, error],
        )?;
        outcome.probes.push(ProbeRun {
            probe: probe.name,
            rows,
            elapsed,
            error,
        });
    }
    outcome.elapsed = start.elapsed();
    record_run(&tx, work, &outcome)?;
    tx.commit()?;
    Ok(outcome)
}

/// Runs one probe and stores its rows; returns how many.
fn store_probe(
    tx: &Transaction<'_>,
    work: &Work,
    probe: &Probe,
    hierarchy_hash: &str,
) -> rusqlite::Result<u64> {
    let rows = run_probe(tx, probe.sql(Dialect::Sqlite), work.week, &work.started_on)?;
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
    Ok(rows.len() as u64)
}

/// The run's line in `TEL_RunHistory`.
fn record_run(tx: &Transaction<'_>, work: &Work, outcome: &RunOutcome) -> rusqlite::Result<()> {
    let errors = outcome.probes.iter().filter(|p| p.error.is_some()).count();
    let rows: u64 = outcome.probes.iter().map(|p| p.rows).sum();
    tx.execute(
        "INSERT OR REPLACE INTO TEL_RunHistory
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
