//! The dialect differential: no SQL Server runs here, so the *meaning* of every probe's T-SQL is
//! checked by translation. Each T-SQL probe query is translated to SQLite by sqlglot (pinned:
//! `pip install sqlglot==30.30.0`; one Python process, `tsql_to_sqlite.py` beside this file,
//! translates them all), run on seeded random sites, and its rows must equal BOTH the SQLite
//! probe's rows and the oracle's, as multisets (`probes::canonical`, volatile columns masked).
//!
//! What differs between the dialects and not between the queries is bridged here, never in the
//! product's SQL:
//! - `dbo.X` tables: the site's database file is attached as schema `dbo`;
//! - `dbo.fnTelHash(v)`: registered as `fnTelHash` (the product's hash, `harness::hash::tel_hash`);
//!   the helper drops the `dbo.` of function calls, which SQLite cannot parse;
//! - `DATEDIFF(unit, a, b)`: registered with T-SQL's meaning (unit boundaries crossed from `a` to
//!   `b`), instead of sqlglot's truncated `JULIANDAY` difference;
//! - `N'…'` literals become plain literals; `COLLATE Latin1_General_BIN2` becomes `COLLATE BINARY`
//!   (both order by code point); `COLLATE SQL_Latin1_General_CP1_CI_AS`, the site databases'
//!   collation, is kept and registered with its meaning (ASCII case and trailing spaces ignored);
//! - `@week`, `@week_start`, … are bound by name to the values the SQLite run had;
//! - engine facts (`SERVERPROPERTY`, `sys.tables`, `sys.database_files`) cannot mean the same thing
//!   on SQLite: they get stand-ins (fixed property values; a catalog filled from the site file's
//!   own `sqlite_master` and page count), and those probes are compared by SHAPE only — column
//!   names, JSON types and row count — and the test's output says so.
//!
//! `COVERAGE` lists every probe of the catalog and how it is covered. Without `python3` or sqlglot
//! the tests print `SKIPPED: dialect differential: <why>` and pass, unless
//! `HARNESS_REQUIRE_SQLGLOT=1` (set by `.ci/run`), which makes that a failure.

mod common;

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use chrono::{Datelike, NaiveDate, NaiveDateTime, Timelike};
use harness::engine::sqlite::SqliteEngine;
use harness::engine::{Engine, WeeklyRun};
use harness::hash::tel_hash;
use harness::pipeline::verify::expected_weeks;
use harness::probes::{self, Dialect, Probe, canonical};
use harness::scenario::Level;
use rusqlite::Connection;
use rusqlite::functions::FunctionFlags;
use rusqlite::types::{Value as SqlValue, ValueRef};
use serde_json::Value;
use usage_protocol::payload::Row;

/// The sqlglot release the translations are checked with; the helper refuses any other.
const SQLGLOT: &str = "30.30.0";
const HELPER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tsql_to_sqlite.py");

/// How a probe's T-SQL is covered.
#[derive(Debug, Clone, Copy)]
enum Coverage {
    /// The probe's own T-SQL query, translated: its rows must equal the SQLite probe's and the
    /// oracle's exactly.
    Exact,
    /// The query reads engine facts that cannot mean the same thing on SQLite (the text says
    /// which): the result's shape is compared — column names, JSON types, row count.
    Shape(&'static str),
    /// The probe is a whole procedure, not a query: an equivalent single T-SQL query written in
    /// this test (the text) is translated and compared exactly.
    Equivalent(&'static str),
}

/// Every probe of the catalog, and how this test covers it (a test keeps it complete).
const COVERAGE: &[(&str, Coverage)] = &[
    ("TEL_SiteList", Coverage::Exact),
    ("TEL_ClientVersions", Coverage::Exact),
    ("TEL_OSVersions", Coverage::Exact),
    ("TEL_WindowsBuilds", Coverage::Exact),
    (
        "TEL_SQLVersion",
        Coverage::Shape("SERVERPROPERTY (stand-in values)"),
    ),
    (
        "TEL_SchemaHash",
        Coverage::Shape("sys.tables (stand-in from sqlite_master)"),
    ),
    (
        "TEL_DatabaseSize",
        Coverage::Shape("sys.database_files, sys.tables (stand-ins)"),
    ),
    ("TEL_Settings", Coverage::Exact),
    ("TEL_AppTechnologies", Coverage::Exact),
    ("TEL_AppTotals", Coverage::Exact),
    ("TEL_RunStats", Coverage::Exact),
    ("TEL_ProbeRunTimes", Coverage::Exact),
    ("TEL_AppDeployments", Coverage::Exact),
    (
        "TEL_AppSupersedence",
        Coverage::Equivalent(APP_SUPERSEDENCE_AS_ONE_QUERY),
    ),
    ("TEL_CollectionTypes", Coverage::Exact),
    ("TEL_CollectionsWithoutDeployment", Coverage::Exact),
    ("TEL_BoundaryGroups", Coverage::Exact),
    ("TEL_BoundaryTypes", Coverage::Exact),
    ("TEL_ClientHealth", Coverage::Exact),
    ("TEL_BiosAge", Coverage::Exact),
    ("TEL_OSAge", Coverage::Exact),
    ("TEL_FirmwareSecurity", Coverage::Exact),
    ("TEL_VirtualMachines", Coverage::Exact),
    ("TEL_UpdateGroups", Coverage::Exact),
    ("TEL_UpdatesPerGroup", Coverage::Exact),
    ("TEL_UpdateCatalog", Coverage::Exact),
    ("TEL_LargestTables", Coverage::Exact),
    ("TEL_UpdateCompliance", Coverage::Exact),
    ("TEL_UpdateComplianceBySeverity", Coverage::Exact),
    ("TEL_UpdateErrors", Coverage::Exact),
    ("TEL_EndpointProtection", Coverage::Exact),
    ("TEL_TopCPUs", Coverage::Exact),
    ("TEL_MsiProductCodes", Coverage::Exact),
];

/// `TEL_AppSupersedence` (harness/sql/mssql/probes/tel_app_supersedence.sql) is a procedure: it
/// puts every application in `#chain` with Depth 0 and NextID = SupersededBy, then, while some
/// row's NextID is an application, moves every such row one hop (Depth + 1, NextID = that
/// application's SupersededBy); a row stops where NextID is NULL or names no application. Then
/// it counts applications per final Depth. The same as one query: a recursive CTE makes one row
/// per hop of each application's walk, the walk's last hop (the highest Depth) is the one the
/// loop ends with, and the rows are counted per that depth. (On SQL Server this form would stop
/// at MAXRECURSION, 100 hops by default; the loop has no such limit. The generated chains are
/// far shorter.) It stays a query of this test: the probe file could not be this query, since
/// `probe_procedure.sql` puts a probe's query in a derived table, where T-SQL allows no WITH.
const APP_SUPERSEDENCE_AS_ONE_QUERY: &str = "\
WITH chain (CI_ID, NextID, Depth) AS (
    SELECT CI_ID, SupersededBy, 0 FROM dbo.CI_Applications
    UNION ALL
    SELECT c.CI_ID, a.SupersededBy, c.Depth + 1
    FROM chain AS c
    INNER JOIN dbo.CI_Applications AS a ON a.CI_ID = c.NextID
)
SELECT Depth AS depth, COUNT(*) AS applications
FROM (SELECT CI_ID, MAX(Depth) AS Depth FROM chain GROUP BY CI_ID) AS walked
GROUP BY Depth";

/// The procedure text the query above was written from (`tel_hash` of the file). When the
/// procedure changes, re-read it, bring the query above in line, then record the new hash.
const APP_SUPERSEDENCE_PROCEDURE_HASH: &str = "hvQ5OVUPflCjyfUnmT25uXl/WtrnMAHzmBYh7+uaHFw=";

/// Wrong T-SQL planted on purpose: the differential must report each of them.
const PLANTED: &[(&str, &str, &str)] = &[
    // A changed WHERE clause: the servers' rows instead of the Windows clients'.
    (
        "TEL_WindowsBuilds",
        "WHERE OSBranch01 IS NOT NULL",
        "WHERE OSBranch01 IS NULL",
    ),
    // DATEDIFF's operands swapped: every age negative. Also shows the bridged DATEDIFF keeps
    // T-SQL's argument order.
    (
        "TEL_BiosAge",
        "DATEDIFF(DAY, BIOS_ReleaseDate0, @week_start)",
        "DATEDIFF(DAY, @week_start, BIOS_ReleaseDate0)",
    ),
];

/// The sites every probe is compared on: several sizes (an empty site, a one-of-each site,
/// small, medium and large), a few seeds each. Each runs two weeks at Full.
const SITES: &[(u64, &str)] = &[
    (
        1,
        "clients = 0\napps = 0\nupdates = 0\nupdates_per_client = 0\ncollections = 0\ncustom_tables = 0",
    ),
    (
        2,
        "clients = 1\napps = 1\nupdates = 1\nupdates_per_client = 1\ncollections = 1\ncustom_tables = 1",
    ),
    (
        3,
        "clients = 40\napps = 6\nupdates = 8\nupdates_per_client = 3\ncollections = 3\ncustom_tables = 1",
    ),
    (
        2026,
        "clients = 40\napps = 6\nupdates = 8\nupdates_per_client = 3\ncollections = 3\ncustom_tables = 0",
    ),
    (
        17,
        "clients = 150\napps = 14\nupdates = 16\nupdates_per_client = 5\ncollections = 7\ncustom_tables = 2",
    ),
    (
        0x5EED,
        "clients = 150\napps = 14\nupdates = 16\nupdates_per_client = 5\ncollections = 7\ncustom_tables = 0",
    ),
    (
        99,
        "clients = 399\napps = 24\nupdates = 29\nupdates_per_client = 7\ncollections = 11\ncustom_tables = 3",
    ),
    (
        u64::MAX - 3,
        "clients = 399\napps = 24\nupdates = 29\nupdates_per_client = 7\ncollections = 11\ncustom_tables = 3",
    ),
];

// ---------------------------------------------------------------------------------------------
// Output and skipping

/// A line on the test's stderr that `cargo test` shows even when the test passes (the test
/// harness captures `println!`/`eprintln!`, not writes to the stream itself).
fn say(line: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{line}");
}

/// Without python3 or the pinned sqlglot: a visible skip, or a failure when
/// HARNESS_REQUIRE_SQLGLOT=1.
fn unavailable(why: &str) {
    let required = std::env::var("HARNESS_REQUIRE_SQLGLOT").is_ok_and(|v| v == "1");
    assert!(
        !required,
        "dialect differential: {why}, and HARNESS_REQUIRE_SQLGLOT=1 requires it \
         (python3 -m pip install 'sqlglot=={SQLGLOT}')"
    );
    say(&format!(
        "SKIPPED: dialect differential: {why} (python3 -m pip install 'sqlglot=={SQLGLOT}'); \
         this check did not run"
    ));
}

// ---------------------------------------------------------------------------------------------
// Translation (one Python process for everything the tests translate)

#[derive(Debug)]
struct Translated {
    sql: String,
    bridged: Vec<String>,
}

#[derive(Debug)]
struct Translations {
    version: String,
    /// By key: a probe's name, or `planted:NAME` for a planted fault.
    by_key: BTreeMap<String, Result<Translated, String>>,
}

impl Translations {
    fn get(&self, key: &str) -> &Translated {
        match self.by_key.get(key) {
            Some(Ok(t)) => t,
            Some(Err(e)) => panic!("sqlglot could not translate {key}: {e}"),
            None => panic!("{key} was not sent for translation"),
        }
    }
}

/// Whether a probe's T-SQL file is a whole procedure rather than one query.
fn is_procedure(tsql: &str) -> bool {
    tsql.lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with("--"))
        .is_some_and(|l| l.to_ascii_uppercase().starts_with("CREATE"))
}

fn probe(name: &str) -> &'static Probe {
    probes::by_name(name).unwrap_or_else(|| panic!("{name} is not in the catalog"))
}

/// The T-SQL this test translates for a probe: its own query, or the equivalent query.
fn tsql_of(name: &str, coverage: Coverage) -> &'static str {
    match coverage {
        Coverage::Exact | Coverage::Shape(_) => probe(name).sql(Dialect::MsSql),
        Coverage::Equivalent(query) => query,
    }
}

/// The planted fault's T-SQL: the probe's text with one change.
fn planted_tsql(name: &str, from: &str, to: &str) -> String {
    let tsql = probe(name).sql(Dialect::MsSql);
    assert!(
        tsql.contains(from),
        "the planted fault for {name} no longer applies: its T-SQL has no `{from}`"
    );
    tsql.replacen(from, to, 1)
}

fn translate_all() -> Result<Translations, String> {
    let mut queries = serde_json::Map::new();
    for (name, coverage) in COVERAGE {
        queries.insert(name.to_string(), tsql_of(name, *coverage).into());
    }
    for (name, from, to) in PLANTED {
        queries.insert(
            format!("planted:{name}"),
            planted_tsql(name, from, to).into(),
        );
    }
    let input = serde_json::json!({ "queries": queries }).to_string();
    let mut child = match Command::new("python3")
        .arg(HELPER)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err("python3 is not installed".into());
        }
        Err(e) => panic!("cannot start python3 {HELPER}: {e}"),
    };
    {
        let mut stdin = child.stdin.take().expect("piped stdin");
        stdin
            .write_all(input.as_bytes())
            .expect("queries written to the helper");
    }
    let out = child.wait_with_output().expect("the helper ran");
    assert!(
        out.status.success(),
        "{HELPER} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{HELPER} wrote no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    if let Some(why) = answer.get("unavailable").and_then(Value::as_str) {
        return Err(why.to_string());
    }
    let version = answer["sqlglot"].as_str().unwrap_or_default().to_string();
    assert_eq!(version, SQLGLOT, "the helper must refuse another sqlglot");
    let results = answer["results"]
        .as_object()
        .expect("results by key")
        .iter()
        .map(|(key, r)| {
            let result = match (r.get("sql").and_then(Value::as_str), r.get("error")) {
                (Some(sql), _) => Ok(Translated {
                    sql: sql.to_string(),
                    bridged: r["bridged"]
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .filter_map(Value::as_str)
                                .map(String::from)
                                .collect()
                        })
                        .unwrap_or_default(),
                }),
                (None, Some(e)) => Err(e.as_str().unwrap_or("?").to_string()),
                (None, None) => Err(format!("no answer: {r}")),
            };
            (key.clone(), result)
        })
        .collect();
    Ok(Translations {
        version,
        by_key: results,
    })
}

/// The translations, made once for all the tests of this file; None (and a printed skip) when
/// python3 or the pinned sqlglot is missing.
fn translations() -> Option<&'static Translations> {
    static ONCE: OnceLock<Result<Translations, String>> = OnceLock::new();
    match ONCE.get_or_init(translate_all) {
        Ok(t) => Some(t),
        Err(why) => {
            unavailable(why);
            None
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The T-SQL side of SQLite: functions, names, parameters

fn user_error(message: String) -> rusqlite::Error {
    rusqlite::Error::UserFunctionError(message.into())
}

/// A date or datetime as T-SQL reads one from the site's text columns.
fn parse_datetime(text: &str) -> Option<NaiveDateTime> {
    let text = text.trim();
    for format in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, format) {
            return Some(t);
        }
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
}

/// T-SQL's DATEDIFF: how many `unit` boundaries lie between `start` and `end` (negative when
/// `end` is earlier), not the elapsed time truncated — DATEDIFF(YEAR, '2025-12-31',
/// '2026-01-01') is 1, and so is DATEDIFF(DAY, '… 23:59', 'next day 00:00'). Its result is an
/// INT; beyond that range SQL Server raises an overflow error, and so does this.
fn tsql_datediff(unit: &str, start: NaiveDateTime, end: NaiveDateTime) -> Result<i64, String> {
    let day = |t: NaiveDateTime| i64::from(t.date().num_days_from_ce());
    let second = |t: NaiveDateTime| day(t) * 86_400 + i64::from(t.num_seconds_from_midnight());
    let month = |t: NaiveDateTime| i64::from(t.year()) * 12 + i64::from(t.month0());
    let n = match unit.to_ascii_uppercase().as_str() {
        "YEAR" | "YY" | "YYYY" => i64::from(end.year()) - i64::from(start.year()),
        "QUARTER" | "QQ" | "Q" => month(end).div_euclid(3) - month(start).div_euclid(3),
        "MONTH" | "MM" | "M" => month(end) - month(start),
        "DAY" | "DD" | "D" | "DAYOFYEAR" | "DY" | "Y" => day(end) - day(start),
        "HOUR" | "HH" => second(end).div_euclid(3600) - second(start).div_euclid(3600),
        "MINUTE" | "MI" | "N" => second(end).div_euclid(60) - second(start).div_euclid(60),
        "SECOND" | "SS" | "S" => second(end) - second(start),
        other => {
            return Err(format!(
                "DATEDIFF datepart {other} is not bridged by this test"
            ));
        }
    };
    i32::try_from(n)
        .map(i64::from)
        .map_err(|_| format!("The datediff function resulted in an overflow ({unit}: {n})"))
}

/// What SERVERPROPERTY answers here: stand-ins of SQL Server's kind, so that TEL_SQLVersion's
/// shape can be compared. Not facts of any server; an unknown property is NULL, as on SQL Server.
fn server_property(name: &str) -> Option<&'static str> {
    match name.to_ascii_lowercase().as_str() {
        "productversion" => Some("16.0.1000.6"),
        "edition" => Some("Developer Edition (64-bit)"),
        "collation" => Some("SQL_Latin1_General_CP1_CI_AS"),
        _ => None,
    }
}

/// Registers the T-SQL functions the translated probes call, with T-SQL's meaning.
fn register_tsql_functions(conn: &Connection) -> rusqlite::Result<()> {
    let flags = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC;
    // dbo.fnTelHash(@value NVARCHAR(MAX)): the product's hash; NULL hashes to NULL. A number is
    // converted to NVARCHAR first, as T-SQL converts it implicitly.
    conn.create_scalar_function("fnTelHash", 1, flags, |ctx| {
        Ok(match ctx.get_raw(0) {
            ValueRef::Null => None,
            ValueRef::Text(t) => Some(tel_hash(&String::from_utf8_lossy(t))),
            ValueRef::Integer(i) => Some(tel_hash(&i.to_string())),
            other => {
                return Err(user_error(format!(
                    "fnTelHash of a {:?} value",
                    other.data_type()
                )));
            }
        })
    })?;
    conn.create_scalar_function("DATEDIFF", 3, flags, |ctx| {
        let unit: String = ctx.get(0)?;
        let start: Option<String> = ctx.get(1)?;
        let end: Option<String> = ctx.get(2)?;
        let (Some(start), Some(end)) = (start, end) else {
            return Ok(None);
        };
        let read = |text: &str| {
            parse_datetime(text).ok_or_else(|| {
                user_error(format!(
                    "Conversion failed when converting date and/or time from character string: {text}"
                ))
            })
        };
        tsql_datediff(&unit, read(&start)?, read(&end)?)
            .map(Some)
            .map_err(user_error)
    })?;
    conn.create_scalar_function("SERVERPROPERTY", 1, flags, |ctx| {
        let name: String = ctx.get(0)?;
        Ok(server_property(&name))
    })?;
    Ok(())
}

/// A connection on which translated T-SQL reads the site like the procedure would on SQL Server:
/// the site file as schema `dbo`, a stand-in catalog as schema `sys`, the T-SQL functions.
fn tsql_connection(site_file: &Path) -> Connection {
    let conn = Connection::open_in_memory().unwrap();
    conn.execute(
        "ATTACH DATABASE ?1 AS dbo",
        [site_file.to_str().expect("a UTF-8 path")],
    )
    .unwrap();
    conn.execute_batch(
        "ATTACH DATABASE ':memory:' AS sys;
         CREATE TABLE sys.tables (name TEXT NOT NULL, is_ms_shipped INTEGER NOT NULL);
         CREATE TABLE sys.database_files (size INTEGER NOT NULL);",
    )
    .unwrap();
    register_tsql_functions(&conn).unwrap();
    conn.create_collation(
        harness::engine::sqlite::SITE_COLLATION,
        harness::engine::sqlite::site_collation,
    )
    .unwrap();
    conn
}

/// Fills the stand-in catalog from the site file as it is now: its tables (none shipped by
/// Microsoft) and its size in 8 KB pages.
fn refresh_catalog(conn: &Connection) {
    let pages: i64 = conn
        .pragma_query_value(Some("dbo"), "page_count", |r| r.get(0))
        .unwrap();
    let page_size: i64 = conn
        .pragma_query_value(Some("dbo"), "page_size", |r| r.get(0))
        .unwrap();
    conn.execute_batch(
        "DELETE FROM sys.tables;
         DELETE FROM sys.database_files;
         INSERT INTO sys.tables (name, is_ms_shipped)
         SELECT name, 0 FROM dbo.sqlite_master
         WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\';",
    )
    .unwrap();
    conn.execute(
        "INSERT INTO sys.database_files (size) VALUES (?1)",
        [(pages * page_size + 8191) / 8192],
    )
    .unwrap();
}

/// The values of the T-SQL procedure's parameters for one weekly run.
struct Params {
    week: u32,
    week_start: String,
    site_hash: String,
    hierarchy_hash: String,
}

impl Params {
    fn value(&self, name: &str) -> Option<SqlValue> {
        match name.to_ascii_lowercase().as_str() {
            "week" => Some(SqlValue::Integer(self.week.into())),
            "week_start" => Some(SqlValue::Text(self.week_start.clone())),
            "site_hash" => Some(SqlValue::Text(self.site_hash.clone())),
            "hierarchy_hash" => Some(SqlValue::Text(self.hierarchy_hash.clone())),
            _ => None,
        }
    }
}

/// Runs one translated query with its `@parameters` bound; its rows as JSON objects, as the
/// SQLite engine stores a probe's rows.
fn run_translated(conn: &Connection, sql: &str, params: &Params) -> Result<Vec<Row>, String> {
    let mut stmt = conn.prepare(sql).map_err(|e| format!("prepare: {e}"))?;
    for index in 1..=stmt.parameter_count() {
        let name = stmt
            .parameter_name(index)
            .ok_or_else(|| format!("parameter {index} has no name"))?
            .to_string();
        let value = name
            .strip_prefix('@')
            .and_then(|n| params.value(n))
            .ok_or_else(|| format!("the probe procedure has no parameter {name}"))?;
        stmt.raw_bind_parameter(index, value)
            .map_err(|e| format!("bind {name}: {e}"))?;
    }
    let names: Vec<String> = stmt.column_names().map(String::from).collect();
    let mut rows = stmt.raw_query();
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(|e| format!("run: {e}"))? {
        let mut map = Row::new();
        for (i, name) in names.iter().enumerate() {
            map.insert(name.clone(), to_json(row.get_ref(i).unwrap()));
        }
        out.push(map);
    }
    Ok(out)
}

/// A column value as the SQLite engine writes it into a result row.
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

// ---------------------------------------------------------------------------------------------
// The comparison

fn masked(mut rows: Vec<Row>, probe: &Probe) -> Vec<Row> {
    probes::mask_volatile(&mut rows, probe.volatile);
    canonical(rows)
}

/// A result's shape: each row's column names and JSON types, as a sorted list.
fn shape(rows: &[Row]) -> Vec<Vec<(String, &'static str)>> {
    let kind = |v: &Value| match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "real",
        Value::Number(_) => "integer",
        Value::String(_) => "text",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    let mut shapes: Vec<_> = rows
        .iter()
        .map(|r| r.iter().map(|(k, v)| (k.clone(), kind(v))).collect())
        .collect();
    shapes.sort();
    shapes
}

fn brief(rows: &impl std::fmt::Debug) -> String {
    let text = format!("{rows:?}");
    if text.len() > 700 {
        format!("{}… ({} chars)", &text[..700], text.len())
    } else {
        text
    }
}

/// Compares the translated T-SQL's rows with the SQLite probe's and the oracle's; the reasons
/// they differ, if any.
fn compare(coverage: Coverage, tsql: &[Row], sqlite: &[Row], oracle: &[Row]) -> Vec<String> {
    let mut problems = Vec::new();
    match coverage {
        Coverage::Exact | Coverage::Equivalent(_) => {
            for (what, reference) in [("the SQLite probe", sqlite), ("the oracle", oracle)] {
                if tsql != reference {
                    problems.push(format!(
                        "T-SQL rows differ from {what}'s:\n      T-SQL: {}\n      {what}: {}",
                        brief(&tsql),
                        brief(&reference)
                    ));
                }
            }
        }
        Coverage::Shape(_) => {
            for (what, reference) in [("the SQLite probe", sqlite), ("the oracle", oracle)] {
                if shape(tsql) != shape(reference) {
                    problems.push(format!(
                        "T-SQL result's shape differs from {what}'s:\n      T-SQL: {}\n      {what}: {}",
                        brief(&shape(tsql)),
                        brief(&shape(reference))
                    ));
                }
            }
        }
    }
    problems
}

/// What one differential pass over the sites found.
#[derive(Default)]
struct Outcome {
    /// (probe, what differs).
    mismatches: Vec<(String, String)>,
    /// Probe-weeks compared, and how many of them had at least one row.
    compared: usize,
    with_rows: usize,
}

/// Seeds one site, runs two weekly cycles at Full and, after each, compares every probe's
/// translated T-SQL (`sql_of` gives the SQLite text by probe name) with the SQLite probe's stored
/// rows and the oracle's.
async fn differential_on_site(
    seed: u64,
    knobs: &str,
    sql_of: &dyn Fn(&str) -> String,
    outcome: &mut Outcome,
) {
    const WEEKS: u32 = 2;
    let text = format!(
        "name = \"dialect\"\nseed = {seed}\n[hierarchy]\ninstalled = \"2026-03-02\"\nlevel = \"full\"\n\
         [[hierarchy.primary]]\ncode = \"X9Z\"\n{knobs}\ntime_zone = \"Pacific Standard Time\"\n\
         [run]\nweeks = {WEEKS}\n"
    );
    let scenario = common::scenario(&text);
    let dir = tempfile::tempdir().unwrap();
    let (hierarchy, engine, sites) = common::seed_all(&scenario, dir.path()).await;
    let site = &sites[0];
    let facts = sites
        .iter()
        .map(|s| (s.model.code.clone(), s.facts.clone()))
        .collect();
    let expected = expected_weeks(
        &hierarchy,
        &facts,
        &vec![Level::Full; WEEKS as usize],
        &engine.info(),
    );
    let catalog = probes::for_level(Level::Full);
    let conn = tsql_connection(&SqliteEngine::path_of(dir.path(), &site.model.code));
    for week in 1..=WEEKS {
        let started_on = hierarchy.week_start(week);
        let run = site
            .db
            .run_weekly(&WeeklyRun {
                week,
                started_on,
                probes: &catalog,
            })
            .await
            .unwrap();
        assert!(
            run.probes.iter().all(|p| p.error.is_none()),
            "the SQLite probes failed: {:?}",
            run.probes
        );
        let stored = site.db.results_of_week(week).await.unwrap();
        let mut sqlite_rows: BTreeMap<String, Vec<Row>> = BTreeMap::new();
        for r in &stored {
            sqlite_rows
                .entry(r.probe.clone())
                .or_default()
                .push(serde_json::from_str(&r.data).unwrap());
        }
        let expected_site = expected[week as usize - 1]
            .sites
            .values()
            .next()
            .expect("one site expected");
        refresh_catalog(&conn);
        let params = Params {
            week,
            week_start: started_on.to_string(),
            site_hash: tel_hash(&site.model.code),
            hierarchy_hash: tel_hash(&hierarchy.id.to_string()),
        };
        for (name, coverage) in COVERAGE {
            let probe = probe(name);
            let sqlite = masked(sqlite_rows.get(*name).cloned().unwrap_or_default(), probe);
            let oracle = masked(
                expected_site
                    .probes
                    .get(*name)
                    .cloned()
                    .flatten()
                    .unwrap_or_default(),
                probe,
            );
            let place = format!("seed {seed}, week {week}, {}", knobs.replace('\n', ", "));
            match run_translated(&conn, &sql_of(name), &params) {
                Ok(rows) => {
                    let tsql = masked(rows, probe);
                    outcome.compared += 1;
                    outcome.with_rows += usize::from(!tsql.is_empty());
                    for problem in compare(*coverage, &tsql, &sqlite, &oracle) {
                        outcome
                            .mismatches
                            .push((name.to_string(), format!("[{place}] {problem}")));
                    }
                }
                Err(e) => outcome.mismatches.push((
                    name.to_string(),
                    format!("[{place}] the translated T-SQL did not run on SQLite: {e}"),
                )),
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The tests

#[tokio::test]
async fn every_tsql_probe_means_what_its_sqlite_probe_and_oracle_mean() {
    let Some(translations) = translations() else {
        return;
    };
    let (mut exact, mut shape_only, mut equivalent) = (0, 0, 0);
    say(&format!(
        "dialect differential: T-SQL translated by sqlglot {} to SQLite, compared on {} seeded sites × 2 weeks",
        translations.version,
        SITES.len()
    ));
    for (name, coverage) in COVERAGE {
        let t = translations.get(name);
        let how = match coverage {
            Coverage::Exact => {
                exact += 1;
                "exact rows".to_string()
            }
            Coverage::Shape(facts) => {
                shape_only += 1;
                format!("SHAPE ONLY (engine facts: {facts})")
            }
            Coverage::Equivalent(_) => {
                equivalent += 1;
                "exact rows, via an equivalent single query written in the test (a procedure)"
                    .to_string()
            }
        };
        let bridged = if t.bridged.is_empty() {
            String::new()
        } else {
            format!("; bridged: {}", t.bridged.join(", "))
        };
        say(&format!("  {name:<34} {how}{bridged}"));
    }
    let mut outcome = Outcome::default();
    let sql_of = |name: &str| translations.get(name).sql.clone();
    for (seed, knobs) in SITES {
        differential_on_site(*seed, knobs, &sql_of, &mut outcome).await;
    }
    say(&format!(
        "dialect differential: {exact} probes exact, {equivalent} exact through an equivalent query, \
         {shape_only} by shape only; {} probe-weeks compared, {} with rows",
        outcome.compared, outcome.with_rows
    ));
    let report: Vec<String> = outcome
        .mismatches
        .iter()
        .map(|(probe, what)| format!("{probe} {what}"))
        .collect();
    assert!(
        report.is_empty(),
        "the T-SQL probes differ from the SQLite probes or the oracles:\n{}",
        report.join("\n")
    );
    // The comparisons were not vacuous: most probe-weeks had rows to compare.
    assert!(
        outcome.with_rows * 2 > outcome.compared,
        "only {} of {} probe-weeks had rows",
        outcome.with_rows,
        outcome.compared
    );
}

#[tokio::test]
async fn a_planted_wrong_tsql_query_is_reported() {
    let Some(translations) = translations() else {
        return;
    };
    for (planted, _, _) in PLANTED {
        let key = format!("planted:{planted}");
        let sql_of = |name: &str| {
            if name == *planted {
                translations.get(&key).sql.clone()
            } else {
                translations.get(name).sql.clone()
            }
        };
        let mut outcome = Outcome::default();
        differential_on_site(
            7,
            "clients = 120\napps = 10\nupdates = 12\nupdates_per_client = 4\ncollections = 5\ncustom_tables = 1",
            &sql_of,
            &mut outcome,
        )
        .await;
        assert!(
            !outcome.mismatches.is_empty(),
            "the planted fault in {planted} went unnoticed"
        );
        let others: Vec<_> = outcome
            .mismatches
            .iter()
            .filter(|(probe, _)| probe != planted)
            .collect();
        assert!(
            others.is_empty(),
            "only {planted} was planted, yet: {others:?}"
        );
        // Against both references: the SQLite probe and the oracle.
        for reference in ["the SQLite probe", "the oracle"] {
            assert!(
                outcome
                    .mismatches
                    .iter()
                    .any(|(_, what)| what.contains(reference)),
                "{planted}: no mismatch against {reference}"
            );
        }
        say(&format!(
            "dialect differential: the planted fault in {planted} was reported ({} mismatches)",
            outcome.mismatches.len()
        ));
    }
}

#[test]
fn the_coverage_table_lists_every_probe_and_says_how() {
    // Every probe of the catalog once, and nothing else.
    let listed: Vec<&str> = COVERAGE.iter().map(|(n, _)| *n).collect();
    for p in probes::CATALOG {
        assert_eq!(
            listed.iter().filter(|n| **n == p.name).count(),
            1,
            "{} must be listed once in COVERAGE",
            p.name
        );
    }
    assert_eq!(
        listed.len(),
        probes::CATALOG.len(),
        "COVERAGE lists extra names"
    );
    for (name, coverage) in COVERAGE {
        let tsql = probe(name).sql(Dialect::MsSql);
        let upper = tsql.to_ascii_uppercase();
        let engine_facts = upper.contains("SERVERPROPERTY") || upper.contains("SYS.");
        match coverage {
            // A probe is compared by shape exactly when it reads engine facts: no probe that
            // could be compared row for row is let off with its shape.
            Coverage::Shape(_) => assert!(
                engine_facts && !is_procedure(tsql),
                "{name} is listed as shape-only but reads no engine facts"
            ),
            Coverage::Exact => assert!(
                !engine_facts && !is_procedure(tsql),
                "{name} is listed as exact but is a procedure or reads engine facts"
            ),
            Coverage::Equivalent(_) => {
                assert!(
                    is_procedure(tsql),
                    "{name} has a single query: cover it as it is"
                );
                assert!(
                    !engine_facts,
                    "{name}: its equivalent query could not be exact"
                );
            }
        }
    }
    // The equivalent query was written from the procedure as it is now.
    let procedure = probe("TEL_AppSupersedence").sql(Dialect::MsSql);
    assert_eq!(
        tel_hash(procedure),
        APP_SUPERSEDENCE_PROCEDURE_HASH,
        "tel_app_supersedence.sql changed: re-read it, bring APP_SUPERSEDENCE_AS_ONE_QUERY in \
         line, then record the new hash"
    );
}

#[test]
fn the_bridged_datediff_counts_boundaries_as_tsql_does() {
    let conn = Connection::open_in_memory().unwrap();
    register_tsql_functions(&conn).unwrap();
    let datediff = |unit: &str, a: &str, b: &str| -> Option<i64> {
        conn.query_row("SELECT DATEDIFF(?1, ?2, ?3)", [unit, a, b], |r| r.get(0))
            .unwrap()
    };
    // Dates: the difference in days, the end minus the start.
    assert_eq!(datediff("DAY", "2026-01-01", "2026-03-02"), Some(60));
    assert_eq!(datediff("DAY", "2026-03-02", "2026-01-01"), Some(-60));
    // Boundaries crossed, not elapsed time truncated.
    assert_eq!(
        datediff("DAY", "2026-01-01 23:59:59", "2026-01-02 00:00:00"),
        Some(1)
    );
    assert_eq!(
        datediff("DAY", "2026-01-01 00:00:00", "2026-01-01 23:59:59"),
        Some(0)
    );
    assert_eq!(datediff("YEAR", "2025-12-31", "2026-01-01"), Some(1));
    assert_eq!(datediff("MONTH", "2026-01-31", "2026-02-01"), Some(1));
    assert_eq!(datediff("QUARTER", "2026-03-31", "2026-04-01"), Some(1));
    assert_eq!(
        datediff("HOUR", "2026-01-01 10:59:59", "2026-01-01 11:00:00"),
        Some(1)
    );
    assert_eq!(
        datediff("MINUTE", "2026-01-01 10:00:59", "2026-01-01 09:59:00"),
        Some(-1)
    );
    // NULL in, NULL out; an INT overflow is an error, as on SQL Server.
    let null: Option<i64> = conn
        .query_row("SELECT DATEDIFF('DAY', NULL, '2026-01-01')", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(null, None);
    assert!(
        conn.query_row(
            "SELECT DATEDIFF('SECOND', '1900-01-01', '2026-01-01')",
            [],
            |r| r.get::<_, i64>(0)
        )
        .is_err()
    );
    // The hash under its T-SQL name is the product's hash.
    let hashed: String = conn
        .query_row("SELECT FNTELHASH('P01')", [], |r| r.get(0))
        .unwrap();
    assert_eq!(hashed, tel_hash("P01"));
}
