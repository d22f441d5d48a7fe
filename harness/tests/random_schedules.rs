//! Random hierarchies, calendars and fault schedules, run through the whole pipeline and held to
//! the reference model (`harness::reference`), which predicts from the scenario alone the fate
//! of every probe run. Per case it asserts:
//!
//! - delivery: every run the model says is carried arrives in exactly that cycle's upload, once;
//!   nothing the model says is dropped or still on its way arrives; nothing else arrives;
//! - the CAS converges to the union of its primaries: for every primary week it holds, its rows
//!   are the primary's own, and it holds every week the model moved up;
//! - the checker agrees: no personal data, no duplicate, no loss, no mismatch; and it reports
//!   `data_not_delivered` exactly when the model has runs that never arrived.
//!
//! 1,000 cases in the ordinary test run; `PROPTEST_CASES=N` for longer ones. A failing case is
//! shrunk and printed as the scenario TOML that reproduces it (`harness run FILE`); proptest
//! keeps its seed in `random_schedules.proptest-regressions`, replayed first on every run.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Instant;

use harness::finding::FindingCode;
use harness::hash::tel_hash;
use harness::layout::RunLayout;
use harness::pipeline::run_scenario;
use harness::reference::{self, Fate};
use harness::scenario::Scenario;
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence, TestCaseError, TestRunner};
use usage_protocol::payload::UsagePayload;

/// A generated scenario; printed as its TOML, so a failure reads as a file to run.
#[derive(Clone)]
struct Case(String);

impl fmt::Debug for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\n--- scenario that reproduces it ---\n{}---", self.0)
    }
}

/// One fault of the schedule, before it is written as TOML.
#[derive(Clone, Debug)]
enum Kind {
    ReplicationDown,
    ReplicationCrash(&'static str),
    ReplicationDuplicate,
    SiteDbDown,
    ScpDown,
    ScpRestart,
    Status(u16, u32),
    Throttle(u64, u32),
    Reset(u32),
    LostAck(u32),
    Latency(u64, u32),
    LevelChange(&'static str),
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        Just(Kind::ReplicationDown),
        prop::sample::select(vec!["after_delete", "mid_rows", "before_watermark"])
            .prop_map(Kind::ReplicationCrash),
        Just(Kind::ReplicationDuplicate),
        Just(Kind::SiteDbDown),
        Just(Kind::ScpDown),
        Just(Kind::ScpRestart),
        (prop::sample::select(vec![500u16, 503, 408, 429]), 1..=3u32)
            .prop_map(|(s, c)| Kind::Status(s, c)),
        (1..=7200u64, 1..=3u32).prop_map(|(r, c)| Kind::Throttle(r, c)),
        (1..=2u32).prop_map(Kind::Reset),
        (1..=2u32).prop_map(Kind::LostAck),
        (prop::sample::select(vec![250u64, 90_000]), 1..=2u32)
            .prop_map(|(ms, c)| Kind::Latency(ms, c)),
        prop::sample::select(vec!["basic", "enhanced", "full"]).prop_map(Kind::LevelChange),
    ]
}

fn case() -> impl Strategy<Value = Case> {
    (1..=4usize, any::<bool>(), 1..=6u32)
        .prop_flat_map(|(primaries, cas, weeks)| {
            let cas = cas || primaries > 1;
            (
                Just(cas),
                prop::collection::vec(
                    (20..=200u32, prop::option::weighted(0.3, 1..=20u32)),
                    primaries,
                ),
                Just(weeks),
                prop::sample::select(vec!["basic", "enhanced", "full"]),
                prop::collection::vec((kind(), 1..=weeks, 0..weeks, 0..5usize), 0..=5),
                any::<u64>(),
            )
        })
        .prop_map(|(cas, clients, weeks, level, faults, seed)| {
            Case(scenario_toml(cas, &clients, weeks, level, &faults, seed))
        })
}

/// Writes a valid scenario: faults that need a CAS are left out of a stand-alone hierarchy, at
/// most one level change a week, and at most two upstream faults so that every upload gets
/// through within its attempts (what the model covers).
fn scenario_toml(
    cas: bool,
    clients: &[(u32, Option<u32>)],
    weeks: u32,
    level: &str,
    faults: &[(Kind, u32, u32, usize)],
    seed: u64,
) -> String {
    let mut t = format!(
        "name = \"random\"\nseed = {seed}\n[hierarchy]\ncas = {cas}\nlevel = \"{level}\"\ninstalled = \"2026-01-05\"\n"
    );
    let codes: Vec<String> = (1..=clients.len()).map(|i| format!("P{i:02}")).collect();
    let installed = chrono::NaiveDate::from_ymd_opt(2026, 1, 5).unwrap();
    for (code, (clients, days_later)) in codes.iter().zip(clients) {
        t += &format!("[[hierarchy.primary]]\ncode = \"{code}\"\nclients = {clients}\n");
        // A child primary may be installed days after its CAS, on a calendar of its own.
        // (Installed early enough to run at least once: the scenario refuses a site that never
        // would.)
        if let Some(days) = days_later.filter(|d| cas && *d <= 7 * (weeks - 1)) {
            let date = installed + chrono::Days::new(u64::from(days));
            t += &format!("installed = \"{date}\"\n");
        }
    }
    t += &format!("[run]\nweeks = {weeks}\n");
    let mut level_weeks = BTreeSet::new();
    let mut crashes: Vec<(&str, u32, u32)> = Vec::new();
    let mut upstream = 0;
    for (kind, first, span, site) in faults {
        let last = (first + span).min(weeks);
        let window = if last == *first {
            format!("week = {first}\n")
        } else {
            format!("weeks = \"{first}..={last}\"\n")
        };
        let primary = &codes[site % codes.len()];
        let any_site = if cas && site % (codes.len() + 1) == codes.len() {
            "CAS"
        } else {
            primary
        };
        let body = match kind {
            Kind::ReplicationDown | Kind::ReplicationCrash(_) | Kind::ReplicationDuplicate
                if !cas =>
            {
                continue;
            }
            Kind::ReplicationDown => format!("kind = \"replication_down\"\nsite = \"{primary}\"\n"),
            Kind::ReplicationCrash(at) => {
                // One crash point per site and cycle.
                if crashes
                    .iter()
                    .any(|(s, f, l)| s == primary && *f <= last && *first <= *l)
                {
                    continue;
                }
                crashes.push((primary, *first, last));
                format!("kind = \"replication_crash\"\nsite = \"{primary}\"\nat = \"{at}\"\n")
            }
            Kind::ReplicationDuplicate => {
                format!("kind = \"replication_duplicate\"\nsite = \"{primary}\"\n")
            }
            Kind::SiteDbDown => format!("kind = \"site_db_down\"\nsite = \"{any_site}\"\n"),
            Kind::ScpDown => "kind = \"scp_down\"\n".into(),
            Kind::ScpRestart => "kind = \"scp_restart\"\n".into(),
            Kind::LevelChange(to) => {
                if !level_weeks.insert(*first) {
                    continue;
                }
                t += &format!(
                    "[[faults]]\nkind = \"level_change\"\nweek = {first}\nlevel = \"{to}\"\n"
                );
                continue;
            }
            upstream_fault => {
                upstream += 1;
                if upstream > 2 {
                    continue;
                }
                match upstream_fault {
                    Kind::Status(status, count) => {
                        format!("kind = \"upstream_status\"\nstatus = {status}\ncount = {count}\n")
                    }
                    Kind::Throttle(after, count) => format!(
                        "kind = \"upstream_throttle\"\nretry_after_s = {after}\ncount = {count}\n"
                    ),
                    Kind::Reset(count) => format!("kind = \"upstream_reset\"\ncount = {count}\n"),
                    Kind::LostAck(count) => {
                        format!("kind = \"upload_lost_ack\"\ncount = {count}\n")
                    }
                    Kind::Latency(ms, count) => {
                        format!("kind = \"upstream_latency\"\nms = {ms}\ncount = {count}\n")
                    }
                    _ => unreachable!("the other kinds are matched above"),
                }
            }
        };
        t += &format!("[[faults]]\n{body}{window}");
    }
    t
}

/// What arrived upstream: for every (site hash, run week, probe), the cycles of the uploads
/// that carried it.
fn arrived(dir: &std::path::Path) -> BTreeMap<(String, u32, String), Vec<u32>> {
    let mut arrived: BTreeMap<_, Vec<u32>> = BTreeMap::new();
    let store = RunLayout::new(dir).scenario("random").upstream();
    for (_, body) in harness::mock::stored_uploads(&store).unwrap_or_default() {
        let payload = UsagePayload::from_json(&body).expect("stored uploads are valid");
        for entry in &payload.results {
            arrived
                .entry((
                    entry.site.clone(),
                    entry.week_in(&payload),
                    entry.probe.clone(),
                ))
                .or_default()
                .push(payload.period.week);
        }
    }
    arrived
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

    // Delivery, exactly as the model predicts.
    let expected = reference::expected_delivery(&scenario, harness::probes::Catalog::shipped());
    let mut arrived = arrived(dir.path());
    let mut undelivered = 0;
    for ((site, week, probe), fate) in &expected {
        let key = (tel_hash(site), *week, probe.to_string());
        let got = arrived.remove(&key).unwrap_or_default();
        match fate {
            Fate::Carried { cycle } => prop_assert_eq!(
                &got,
                &vec![*cycle],
                "{} week {} {}: expected in cycle {}'s upload",
                site,
                week,
                probe,
                cycle
            ),
            Fate::Dropped { .. } | Fate::Pending => {
                undelivered += 1;
                prop_assert!(
                    got.is_empty(),
                    "{} week {} {}: expected {:?}, arrived in {:?}",
                    site,
                    week,
                    probe,
                    fate,
                    got
                );
            }
        }
    }
    prop_assert!(
        arrived.is_empty(),
        "arrived without the model expecting it: {:?}",
        arrived.keys().take(5).collect::<Vec<_>>()
    );

    // The CAS holds each primary's weeks as the primary has them.
    if scenario.hierarchy.cas {
        let layout = RunLayout::new(dir.path()).scenario("random").hierarchy("");
        let cas =
            harness::engine::sqlite::SqliteEngine::open_existing(&layout.site_db("CAS")).unwrap();
        for primary in &scenario.hierarchy.primary {
            let code = primary.code.get_ref();
            let db = harness::engine::sqlite::SqliteEngine::open_existing(&layout.site_db(code))
                .unwrap();
            let hash = tel_hash(code);
            for week in 1..=*scenario.run.weeks.get_ref() {
                let rows = |rows: Vec<harness::engine::ResultRow>| -> Vec<(String, u32, String)> {
                    let mut rows: Vec<_> = rows
                        .into_iter()
                        .filter(|r| r.site_hash == hash)
                        .map(|r| (r.probe, r.row_no, r.data))
                        .collect();
                    rows.sort();
                    rows
                };
                let at_cas = rows(cas.results_of_week(week).await.unwrap());
                let own = rows(db.results_of_week(week).await.unwrap());
                let moved_up = expected.iter().any(|((s, w, _), fate)| {
                    s == code && *w == week && !matches!(fate, Fate::Pending)
                });
                if moved_up || !at_cas.is_empty() {
                    prop_assert_eq!(&at_cas, &own, "{} week {} at the CAS", code, week);
                }
            }
        }
    }

    // The checker's verdict agrees.
    let codes: BTreeSet<FindingCode> = report.findings.iter().map(|f| f.code).collect();
    for bad in [
        FindingCode::DataLost,
        FindingCode::DuplicateEntry,
        FindingCode::DuplicateSite,
        FindingCode::PiiLeak,
        FindingCode::ProbeMismatch,
        FindingCode::ReceiptMismatch,
        FindingCode::UnexpectedProbe,
        FindingCode::MissingProbe,
        FindingCode::UploadFailed,
        FindingCode::ProbeError,
    ] {
        prop_assert!(!codes.contains(&bad), "{}: {:?}", bad, report.findings);
    }
    prop_assert_eq!(
        codes.contains(&FindingCode::DataNotDelivered),
        undelivered > 0,
        "data_not_delivered vs {} runs the model says never arrive: {:?}",
        undelivered,
        report.findings
    );
    Ok(())
}

#[test]
fn random_schedules_deliver_what_the_reference_model_predicts() {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1000);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "tests/random_schedules.proptest-regressions",
        ))),
        ..Config::default()
    });
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let started = Instant::now();
    let result = runner.run(&case(), |case| runtime.block_on(check(&case)));
    let took = started.elapsed();
    eprintln!(
        "random schedules: {cases} cases in {:.1} s, {:.0} ms per case",
        took.as_secs_f64(),
        took.as_secs_f64() * 1e3 / f64::from(cases)
    );
    if let Err(e) = result {
        panic!("{e}");
    }
}
