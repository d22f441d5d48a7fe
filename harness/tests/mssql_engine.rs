//! The SQL Server integration suite: the same differential probe check and the same scenarios as
//! the embedded engine, on real SQL Server. It needs a server — `HARNESS_MSSQL_URL` (an ADO.NET
//! connection string) or a Docker engine for testcontainers — so its tests are `#[ignore]`d with
//! the reason, and cargo reports them as ignored, never as passed. Run them with
//! `cargo test -p harness --test mssql_engine -- --ignored`; without a server they then fail and
//! say what is missing. The tests that need no server (how an unreachable server fails) run
//! always. A build without the `mssql` feature has no SQL Server engine, and no such tests.

#![cfg(feature = "mssql")]

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use harness::engine::provision::{MSSQL_URL_ENV, docker_reachable};
use harness::engine::{Engine, SiteDatabase, WeeklyRun, engine_for};
use harness::model::HierarchyModel;
use harness::pipeline::seed::seed_site;
use harness::pipeline::{RunOptions, run_scenario};
use harness::probes;
use harness::scenario::{EngineKind, Level};
use usage_protocol::client::RetryPolicy;

fn engine() -> EngineKind {
    if std::env::var_os(MSSQL_URL_ENV).is_some() {
        EngineKind::External
    } else if docker_reachable() {
        EngineKind::Docker
    } else {
        panic!(
            "no SQL Server reachable: set {MSSQL_URL_ENV} to an ADO.NET connection string, or start a Docker engine"
        );
    }
}

fn options(out: &std::path::Path) -> RunOptions {
    RunOptions {
        out: out.to_path_buf(),
        engine: Some(engine()),
        seed: None,
        retry: RetryPolicy {
            first_backoff: Duration::from_millis(10),
            ..RetryPolicy::default()
        },
        progress: false,
        probes: None,
        repeat: 1,
    }
}

/// Every probe of every level against its oracle, on SQL Server, over a few random small sites.
#[tokio::test]
#[ignore = "needs SQL Server: set HARNESS_MSSQL_URL or run a Docker engine, then pass --ignored"]
async fn every_probe_equals_its_oracle_on_sql_server() {
    for seed in [1u64, 2, 3] {
        let dir = tempfile::tempdir().unwrap();
        let scenario = common::scenario(&format!(
            "name = \"mssql-prop-{seed}\"\nseed = {seed}\n[hierarchy]\nlevel = \"full\"\ninstalled = \"2026-01-05\"\n\
             [[hierarchy.primary]]\ncode = \"P01\"\nclients = {}\ncustom_tables = {}\n[run]\nweeks = 2\n",
            50 + seed * 37,
            seed % 3
        ));
        let report = run_scenario(&scenario, &options(dir.path()))
            .await
            .expect("the scenario runs");
        assert!(
            report.met_expectations,
            "seed {seed}: {:?}",
            report.findings
        );
        assert!(report.probes_checked >= 60);
    }
}

#[tokio::test]
#[ignore = "needs SQL Server: set HARNESS_MSSQL_URL or run a Docker engine, then pass --ignored"]
async fn the_shipped_scenarios_pass_on_sql_server() {
    for file in [
        "smoke.toml",
        "hierarchy.toml",
        "levels-full.toml",
        "offline.toml",
    ] {
        let dir = tempfile::tempdir().unwrap();
        let report = run_scenario(&common::shipped(file), &options(dir.path()))
            .await
            .expect("the scenario runs");
        assert!(
            report.met_expectations,
            "{file}: {:?} {:?}",
            report.expectation_failures, report.findings
        );
    }
}

/// The same seed gives the same upload on SQL Server as on the embedded engine, but for what
/// is a fact of the engine (`TEL_SQLVersion`) and the measured columns.
#[tokio::test]
#[ignore = "needs SQL Server: set HARNESS_MSSQL_URL or run a Docker engine, then pass --ignored"]
async fn the_payload_equals_the_embedded_engines() {
    let scenario = common::shipped("hierarchy.toml");
    let embedded = tempfile::tempdir().unwrap();
    let server = tempfile::tempdir().unwrap();
    run_scenario(&scenario, &common::options(embedded.path()))
        .await
        .expect("runs on the embedded engine");
    run_scenario(&scenario, &options(server.path()))
        .await
        .expect("runs on SQL Server");
    let comparable = |dir: &std::path::Path| {
        let json = std::fs::read(dir.join("hierarchy/payloads/week-001.json")).unwrap();
        let mut payload = usage_protocol::payload::UsagePayload::from_json(&json).unwrap();
        payload.results.retain(|r| r.probe != "TEL_SQLVersion");
        for result in &mut payload.results {
            let probe = probes::by_name(&result.probe).unwrap();
            probes::mask_volatile(&mut result.rows, probe.volatile);
        }
        harness::payload::encode(&payload).0
    };
    assert!(
        comparable(embedded.path()) == comparable(server.path()),
        "the week-1 payloads differ beyond TEL_SQLVersion and the measured columns"
    );
}

/// One small seeded site on SQL Server, in a database named after `name`.
async fn seeded_site(name: &str) -> (HierarchyModel, Box<dyn Engine>, Arc<dyn SiteDatabase>) {
    let scenario = common::scenario(&format!(
        "name = \"{name}\"\nseed = 4\n[hierarchy]\ninstalled = \"2026-01-05\"\n\
         [[hierarchy.primary]]\ncode = \"P01\"\nclients = 40\n"
    ));
    let hierarchy = HierarchyModel::from_scenario(&scenario);
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_for(
        engine(),
        dir.path(),
        &mut None,
        &scenario.run,
        &format!("cm_{name}_"),
    )
    .expect("a SQL Server engine");
    let bar = indicatif::ProgressBar::hidden();
    let seeded = seed_site(
        engine.as_ref(),
        &hierarchy,
        &hierarchy.sites[0],
        probes::Catalog::shipped(),
        &bar,
    )
    .await
    .expect("the site seeds");
    (hierarchy, engine, seeded.db)
}

#[tokio::test]
#[ignore = "needs SQL Server: set HARNESS_MSSQL_URL or run a Docker engine, then pass --ignored"]
async fn a_week_run_again_replaces_the_sites_rows_on_sql_server() {
    let (hierarchy, _engine, db) = seeded_site("rerun").await;
    let catalog = probes::for_level(Level::Full);
    let run = WeeklyRun {
        week: 1,
        started_on: hierarchy.week_start(1),
        probes: &catalog,
    };
    let copies = |rows: Vec<harness::engine::ResultRow>| {
        let mut copies: BTreeMap<(String, u32), usize> = BTreeMap::new();
        for r in rows {
            *copies.entry((r.probe, r.row_no)).or_default() += 1;
        }
        copies
    };
    let first = db.run_weekly(&run).await.expect("the first run");
    assert!(first.probes.iter().all(|p| p.error.is_none()), "{first:?}");
    let once = copies(db.results_of_week(1).await.unwrap());
    db.run_weekly(&run).await.expect("the same week again");
    let twice = copies(db.results_of_week(1).await.unwrap());
    assert_eq!(twice, once);
    assert!(twice.values().all(|n| *n == 1), "one copy of each row");
    assert_eq!(db.site_info().await.unwrap().runs.len(), 1);
}

/// No server needed: a SQL Server that cannot be reached (here a listener whose queue is full,
/// so the kernel leaves connection attempts unanswered) fails the run within the connection
/// string's `Connect Timeout`, with exit code 2 and a message, instead of hanging.
#[tokio::test]
async fn an_unreachable_external_server_fails_fast_with_exit_code_2() {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let port = socket.local_addr().unwrap().port();
    let _listener = socket.listen(0).unwrap();
    let _queued = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("unreachable.toml");
    std::fs::write(
        &scenario,
        "name = \"unreachable\"\nseed = 1\n[hierarchy]\ninstalled = \"2026-01-05\"\n\
         [[hierarchy.primary]]\ncode = \"P01\"\nclients = 10\n",
    )
    .unwrap();
    let started = std::time::Instant::now();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_harness"))
        .args(["run", "--no-progress", "--engine", "external", "--out"])
        .arg(dir.path().join("out"))
        .arg(&scenario)
        .env_remove(MSSQL_URL_ENV)
        .env(
            format!("{MSSQL_URL_ENV}_P01"),
            format!("server=tcp:127.0.0.1,{port};user=sa;password=x;Connect Timeout=2"),
        )
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("cannot reach SQL Server at 127.0.0.1:{port}"))
            && stderr.contains("within 2 s"),
        "{stderr}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "{:?}",
        started.elapsed()
    );
}

/// A replicated result row longer than a TDS bulk insert carries (32,767 UTF-16 code units)
/// arrives whole, in its place among the others.
#[tokio::test]
#[ignore = "needs SQL Server: set HARNESS_MSSQL_URL or run a Docker engine, then pass --ignored"]
async fn replicated_rows_with_long_text_arrive_whole() {
    let (_hierarchy, _engine, cas) = seeded_site("longtext").await;
    let long = format!("{{\"note\":\"{}\"}}", "é".repeat(40_000));
    let rows: Vec<harness::engine::ResultRow> = (1..=3)
        .map(|id| harness::engine::ResultRow {
            id,
            week: 1,
            probe: "TEL_SiteList".into(),
            site_hash: harness::hash::tel_hash("P02"),
            hierarchy_hash: harness::hash::tel_hash("h"),
            row_no: id as u32,
            data: if id == 2 { long.clone() } else { "{}".into() },
            collected_on: "2026-01-05".into(),
        })
        .collect();
    let batch = harness::engine::ReplicationBatch {
        runs: vec![harness::engine::ProbeRunRecord {
            id: 1,
            site_hash: rows[0].site_hash.clone(),
            week: 1,
            period_start: "2026-01-05".into(),
            probe: "TEL_SiteList".into(),
            rows: 3,
            error: None,
        }],
        rows: rows.clone(),
    };
    cas.apply_replicated("P02", &batch, None)
        .await
        .expect("stored");
    let stored: Vec<_> = cas
        .results_of_week(1)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.site_hash == rows[0].site_hash)
        .map(|r| (r.row_no, r.data))
        .collect();
    let sent: Vec<_> = rows.into_iter().map(|r| (r.row_no, r.data)).collect();
    assert_eq!(stored, sent);
}

/// The shared vector table (`harness/sql/hash_vectors.csv`, which the Rust hash meets in its
/// unit tests) against `dbo.fnTelHash` on a server.
#[tokio::test]
#[ignore = "needs SQL Server: set HARNESS_MSSQL_URL or run a Docker engine, then pass --ignored"]
async fn fn_tel_hash_meets_every_shared_vector() {
    let scenario = common::scenario(
        "name = \"hashvectors\"\nseed = 1\n[hierarchy]\ninstalled = \"2026-01-05\"\n\
         [[hierarchy.primary]]\ncode = \"P01\"\nclients = 1\n",
    );
    let hierarchy = HierarchyModel::from_scenario(&scenario);
    let dir = tempfile::tempdir().unwrap();
    let mut provisioner = None;
    let engine = engine_for(
        engine(),
        dir.path(),
        &mut provisioner,
        &scenario.run,
        "cm_hashvectors_",
    )
    .expect("a SQL Server engine");
    let site = &hierarchy.sites[0];
    let db = engine.open_site(site).await.expect("a site database");
    db.install(&hierarchy, site, probes::Catalog::shipped())
        .await
        .expect("the schema installs");
    let server = provisioner
        .expect("a SQL Server engine has a provisioner")
        .server_for(&site.code)
        .await
        .unwrap();
    let mut conn = harness::engine::mssql::connect(&server, Some("cm_hashvectors_P01"))
        .await
        .unwrap();
    let mut wrong = Vec::new();
    for v in harness::hash::vectors().unwrap() {
        let row = conn
            .query("SELECT dbo.fnTelHash(@P1)", &[&v.value])
            .await
            .unwrap()
            .into_row()
            .await
            .unwrap()
            .expect("a row");
        let hash: Option<&str> = row.get(0);
        if hash != Some(v.hash.as_str()) {
            wrong.push(format!(
                "{} ({}): {hash:?}, listed {}",
                v.input, v.note, v.hash
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    let row = conn
        .simple_query("SELECT dbo.fnTelHash(NULL)")
        .await
        .unwrap()
        .into_row()
        .await
        .unwrap()
        .expect("a row");
    assert_eq!(row.get::<&str, _>(0), None, "NULL hashes to NULL");
}
