//! Random hierarchies, calendars and fault schedules, run through the whole pipeline and held to
//! the reference model (`harness::reference`), which predicts from the scenario alone the fate
//! of every probe run. The generator and the checks are `harness swarm`'s own
//! (`harness::swarm::schedule`, `harness::swarm::invariants`); per case they assert:
//!
//! - delivery: every run the model says is carried arrives in exactly that cycle's upload, once;
//!   nothing the model says is dropped or still on its way arrives; nothing else arrives;
//! - the CAS converges to the union of its primaries: for every primary week it holds, its rows
//!   are the primary's own, and it holds every week the model moved up;
//! - the checker agrees: no personal data, no duplicate, no loss, no mismatch; and it reports
//!   `data_not_delivered` exactly when the model has runs that never arrived.
//!
//! 1,000 cases in the ordinary test run, split between one runner per core (up to 4);
//! `PROPTEST_CASES=N` for longer runs. A failing case is
//! shrunk and printed as the scenario TOML that reproduces it (`harness run FILE`); proptest
//! keeps its seed in `random_schedules.proptest-regressions`, replayed first on every run. A seed
//! draws another scenario once the generator changes, so each failure found is also kept as the
//! scenario itself in `random_schedules/`, checked the same way on every run.

mod common;

use std::fmt;
use std::time::Instant;

use harness::layout::RunLayout;
use harness::pipeline::run_scenario;
use harness::probes::Catalog;
use harness::reference;
use harness::scenario::{EngineKind, Scenario};
use harness::swarm::{Limits, invariants, schedule};
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence, TestCaseError, TestRunner};

/// A generated scenario; printed as its TOML, so a failure reads as a file to run.
#[derive(Clone)]
struct Case(String);

impl fmt::Debug for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\n--- scenario that reproduces it ---\n{}---", self.0)
    }
}

fn case() -> impl Strategy<Value = Case> {
    schedule::draw(&Limits::model_test()).prop_map(|draw| Case(draw.scenario_toml("random")))
}

async fn check(case: &Case) -> Result<(), TestCaseError> {
    let scenario = Scenario::parse(&case.0, std::path::Path::new("random.toml")).map_err(|e| {
        TestCaseError::fail(format!("the generator wrote an invalid scenario: {e}"))
    })?;
    prop_assert!(reference::covers(&scenario), "outside the model");
    let dir = tempfile::tempdir().unwrap();
    let report = run_scenario(&scenario, &common::options(dir.path()))
        .await
        .map_err(|e| TestCaseError::fail(format!("the run failed: {e}")))?;
    let layout = RunLayout::new(dir.path()).scenario("random");
    invariants::check(
        &scenario,
        Catalog::shipped(),
        &layout,
        EngineKind::Embedded,
        &report,
    )
    .await
    .map_err(|v| TestCaseError::fail(v.to_string()))
}

/// The failures found before, as the scenarios that reproduced them.
#[test]
fn kept_schedules_deliver_what_the_reference_model_predicts() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/random_schedules");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut kept = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let case = Case(std::fs::read_to_string(&path).unwrap());
        if let Err(e) = runtime.block_on(check(&case)) {
            panic!("{}: {e}", path.display());
        }
        kept += 1;
    }
    assert!(kept >= 2, "the kept scenarios are there");
}

/// The cases are split between one runner per core, each drawing its own seeds: a case is a whole
/// pipeline run that keeps about one core busy, so one runner left the others idle for minutes.
/// Every runner replays the kept seeds first and keeps the seed of any failure it finds.
#[test]
fn random_schedules_deliver_what_the_reference_model_predicts() {
    let cases: u32 = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1000);
    let runners = std::thread::available_parallelism()
        .map_or(1, |n| n.get().min(4) as u32)
        .min(cases.max(1));
    let started = Instant::now();
    let failures: Vec<String> = std::thread::scope(|scope| {
        let shards: Vec<_> = (0..runners)
            .map(|i| {
                let share = cases * (i + 1) / runners - cases * i / runners;
                scope.spawn(move || run_cases(share))
            })
            .collect();
        shards
            .into_iter()
            .filter_map(|shard| shard.join().expect("a runner panicked").err())
            .collect()
    });
    let took = started.elapsed();
    eprintln!(
        "random schedules: {cases} cases on {runners} runner(s) in {:.1} s, {:.0} ms per case",
        took.as_secs_f64(),
        took.as_secs_f64() * 1e3 / f64::from(cases.max(1))
    );
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

fn run_cases(cases: u32) -> Result<(), String> {
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "tests/random_schedules.proptest-regressions",
        ))),
        ..Config::default()
    });
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runner
        .run(&case(), |case| runtime.block_on(check(&case)))
        .map_err(|e| e.to_string())
}
