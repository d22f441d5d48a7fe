//! Helpers shared by the integration tests: small scenarios and seeded sites.
#![allow(dead_code)]

use std::path::Path;

use harness::engine::sqlite::SqliteEngine;
use harness::model::HierarchyModel;
use harness::pipeline::RunOptions;
use harness::pipeline::seed::{self, SeededSite};
use harness::scenario::Scenario;

/// The `harness` binary, for tests of the command line.
pub fn harness_command() -> std::process::Command {
    std::process::Command::new(env!("CARGO_BIN_EXE_harness"))
}

/// The text of the shipped `smoke.toml`.
pub fn smoke_text() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../scenarios/smoke.toml"
    ))
    .unwrap()
}

/// Writes `text` to `dir/name` and returns the path.
pub fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// A scenario from TOML text, validated like a file.
pub fn scenario(text: &str) -> Scenario {
    Scenario::parse(text, Path::new("test.toml")).expect("test scenario is valid")
}

/// A stand-alone primary with the given knobs.
pub fn standalone(seed: u64, clients: u32, extra: &str) -> Scenario {
    scenario(&format!(
        r#"
name = "t"
seed = {seed}
[hierarchy]
installed = "2026-01-05"
[[hierarchy.primary]]
code = "P01"
clients = {clients}
{extra}
"#
    ))
}

/// Seeds every site of a scenario into SQLite files under `dir`.
pub async fn seed_all(
    scenario: &Scenario,
    dir: &Path,
) -> (HierarchyModel, SqliteEngine, Vec<SeededSite>) {
    let hierarchy = HierarchyModel::from_scenario(scenario);
    let engine = SqliteEngine::new(dir);
    let sites = seed::seed_hierarchy(
        &engine,
        &hierarchy,
        harness::probes::Catalog::shipped(),
        &seed::hidden_progress(),
    )
    .await
    .expect("seeding works");
    (hierarchy, engine, sites)
}

/// What the checker expects of a scenario's run, from the model: its hierarchy and weeks.
pub async fn expected(
    scenario: &Scenario,
) -> (HierarchyModel, Vec<harness::pipeline::verify::ExpectedWeek>) {
    let hierarchy = HierarchyModel::from_scenario(scenario);
    let dir = tempfile::tempdir().expect("temp dir");
    let (_, engine, sites) = seed_all(scenario, dir.path()).await;
    let facts = sites
        .iter()
        .map(|s| (s.model.code.clone(), s.facts.clone()))
        .collect();
    let expected = harness::pipeline::verify::expected_weeks(
        &hierarchy,
        &facts,
        &scenario.levels(),
        &harness::engine::Engine::info(&engine),
    );
    (hierarchy, expected)
}

/// A scenario shipped in `scenarios/`.
pub fn shipped(name: &str) -> Scenario {
    Scenario::load(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../scenarios")
            .join(name),
    )
    .expect("shipped scenarios are valid")
}

/// Run options for tests: output under `out`, quick retries, no progress bars.
pub fn options(out: &Path) -> RunOptions {
    RunOptions::simulated(out)
}

/// A site's result rows (`results_of_week`) grouped by probe, as JSON objects.
pub fn rows_by_probe(
    rows: &[harness::engine::ResultRow],
) -> std::collections::BTreeMap<String, Vec<usage_protocol::payload::Row>> {
    let mut out: std::collections::BTreeMap<String, Vec<_>> = std::collections::BTreeMap::new();
    for r in rows {
        out.entry(r.probe.clone())
            .or_default()
            .push(serde_json::from_str(&r.data).unwrap());
    }
    out
}
