//! The SQL Server integration suite: the same differential probe check and the same scenarios as
//! the embedded engine, on real SQL Server. It needs a server — `HARNESS_MSSQL_URL` (an ADO.NET
//! connection string) or a Docker engine for testcontainers — so its tests are `#[ignore]`d with
//! the reason, and cargo reports them as ignored, never as passed. Run them with
//! `cargo test -p harness --test mssql_engine -- --ignored`; without a server they then fail and
//! say what is missing. A build without the `mssql` feature has no SQL Server engine, and no
//! such tests.

#![cfg(feature = "mssql")]

mod common;

use std::time::Duration;

use harness::engine::provision::{MSSQL_URL_ENV, docker_reachable};
use harness::pipeline::{RunOptions, run_scenario};
use harness::scenario::EngineKind;
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
