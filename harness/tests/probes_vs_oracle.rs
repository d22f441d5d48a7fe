//! The differential heart of the harness: for every probe, on random small sites, the rows the
//! embedded engine's SQL returns equal the rows the Rust oracle computes from the model.

mod common;

use std::collections::BTreeMap;

use harness::engine::{Engine, WeeklyRun};
use harness::pipeline::verify::expected_weeks;
use harness::probes::{self, canonical};
use harness::scenario::Level;
use proptest::prelude::*;
use usage_protocol::payload::Row;

/// A week's rows by probe, volatile columns masked, in canonical order.
fn rows_by_probe(rows: &[harness::engine::ResultRow]) -> BTreeMap<String, Vec<Row>> {
    common::rows_by_probe(rows)
        .into_iter()
        .map(|(k, mut v)| {
            probes::mask_volatile(&mut v, probes::by_name(&k).unwrap().volatile);
            (k, canonical(v))
        })
        .collect()
}

/// Seeds one site, runs `weeks` weekly cycles at `level` and compares every probe of every week
/// with its oracle.
async fn engine_matches_oracle(
    seed: u64,
    knobs: String,
    weeks: u32,
    level: Level,
) -> Result<(), TestCaseError> {
    let text = format!(
        r#"
name = "prop"
seed = {seed}
[hierarchy]
installed = "2026-03-02"
level = "{level}"
[[hierarchy.primary]]
code = "X9Z"
{knobs}
[run]
weeks = {weeks}
"#
    );
    let scenario = common::scenario(&text);
    let dir = tempfile::tempdir().unwrap();
    let (hierarchy, engine, sites) = common::seed_all(&scenario, dir.path()).await;
    let levels = vec![level; weeks as usize];
    let facts = sites
        .iter()
        .map(|s| (s.model.code.clone(), s.facts.clone()))
        .collect();
    let expected = expected_weeks(&hierarchy, &facts, &levels, &engine.info());
    let catalog = probes::for_level(level);
    for week in 1..=weeks {
        let site = &sites[0];
        let outcome = site
            .db
            .run_weekly(&WeeklyRun {
                week,
                started_on: hierarchy.week_start(week),
                probes: &catalog,
            })
            .await
            .unwrap();
        prop_assert!(
            outcome.probes.iter().all(|p| p.error.is_none()),
            "probe errors: {:?}",
            outcome.probes
        );
        let actual = rows_by_probe(&site.db.results_of_week(week).await.unwrap());
        let oracle = &expected[week as usize - 1]
            .sites
            .values()
            .next()
            .unwrap()
            .probes;
        for probe in &catalog {
            let got = actual.get(probe.name).cloned().unwrap_or_default();
            let want = oracle
                .get(probe.name)
                .cloned()
                .flatten()
                .unwrap_or_default();
            prop_assert_eq!(got, want, "probe {} week {} ({})", probe.name, week, knobs);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn every_probe_equals_its_oracle_on_random_sites(
        seed in any::<u64>(),
        clients in 0u32..400,
        apps in 0u32..25,
        updates in 0u32..30,
        updates_per_client in 0u32..8,
        collections in 0u32..12,
        custom_tables in 0u32..4,
        level in prop_oneof![Just(Level::Basic), Just(Level::Enhanced), Just(Level::Full)],
    ) {
        let knobs = format!(
            "clients = {clients}\napps = {apps}\nupdates = {updates}\nupdates_per_client = {updates_per_client}\ncollections = {collections}\ncustom_tables = {custom_tables}\ntime_zone = \"Pacific Standard Time\""
        );
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(engine_matches_oracle(seed, knobs, 2, level))?;
    }
}

#[test]
fn every_probe_has_sql_and_an_oracle_that_ran() {
    // The proptest above compares every probe of the catalog; make sure the catalog is not empty
    // and every probe's SQL file has a statement in it.
    assert!(probes::CATALOG.len() >= 30);
    for p in probes::CATALOG {
        assert!(
            p.sql(probes::Dialect::Sqlite).contains("SELECT"),
            "{} has no SELECT",
            p.name
        );
    }
}

#[tokio::test]
async fn schema_defaults_are_exactly_the_installed_tables() {
    let scenario = common::standalone(3, 5, "custom_tables = 0");
    let dir = tempfile::tempdir().unwrap();
    let (_, _, _sites) = common::seed_all(&scenario, dir.path()).await;
    drop(_sites);
    let conn = rusqlite::Connection::open(dir.path().join("P01.db")).unwrap();
    let mut stmt = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name")
        .unwrap();
    let tables: Vec<String> = stmt
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut defaults: Vec<String> = probes::DEFAULT_TABLES
        .iter()
        .map(|s| s.to_string())
        .collect();
    defaults.sort();
    assert_eq!(tables, defaults);
}

/// SQL Server's site collation (`SQL_Latin1_General_CP1_CI_AS`) groups a processor or OS
/// caption spelled in other cases or with trailing spaces as one: the generator writes such
/// variants, and the probes — and their oracles — count each name once.
#[tokio::test]
async fn spellings_of_one_name_are_one_group_as_on_sql_server() {
    let scenario = common::standalone(11, 3000, "");
    let dir = tempfile::tempdir().unwrap();
    let (hierarchy, _engine, sites) = common::seed_all(&scenario, dir.path()).await;
    let site = &sites[0];
    let folded = |s: &str| s.trim_end_matches(' ').to_ascii_lowercase();
    let spellings = |names: Vec<&String>| {
        let raw: std::collections::BTreeSet<&String> = names.iter().copied().collect();
        let groups: std::collections::BTreeSet<String> = raw.iter().map(|s| folded(s)).collect();
        (raw.len(), groups.len())
    };
    let (cpu_spellings, cpu_names) = spellings(site.facts.cpus.keys().collect());
    let (os_spellings, os_names) =
        spellings(site.facts.os_versions.keys().map(|(c, _)| c).collect());
    assert!(
        cpu_spellings > cpu_names,
        "the generator wrote no CPU variants"
    );
    assert!(
        os_spellings > os_names,
        "the generator wrote no OS variants"
    );

    let run = WeeklyRun {
        week: 1,
        started_on: hierarchy.week_start(1),
        probes: &probes::for_level(Level::Full),
    };
    site.db.run_weekly(&run).await.unwrap();
    let rows = rows_by_probe(&site.db.results_of_week(1).await.unwrap());
    let cpus = &rows["TEL_TopCPUs"];
    assert_eq!(cpus.len(), cpu_names.min(50), "{cpus:?}");
    // Each row counts every spelling of its name: the top 50 names' clients, spellings folded.
    let mut by_name: BTreeMap<String, u64> = BTreeMap::new();
    for (name, n) in &site.facts.cpus {
        *by_name.entry(folded(name)).or_default() += n;
    }
    let mut counts: Vec<u64> = by_name.into_values().collect();
    counts.sort_unstable_by(|a, b| b.cmp(a));
    let clients: u64 = cpus.iter().map(|r| r["clients"].as_u64().unwrap()).sum();
    assert_eq!(clients, counts.iter().take(50).sum::<u64>());
    for r in cpus {
        let name = r["cpu"].as_str().unwrap();
        assert_eq!(name, name.trim_end(), "named without trailing spaces");
    }
    let captions: std::collections::BTreeSet<String> = rows["TEL_OSVersions"]
        .iter()
        .map(|r| folded(r["caption"].as_str().unwrap()))
        .collect();
    assert_eq!(captions.len(), os_names);
}
