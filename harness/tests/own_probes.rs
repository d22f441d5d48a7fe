//! Your own TEL queries (`--probes DIR`, `[run] probes_dir`): the example under
//! `examples/probes/` runs and passes; a changed query is caught by its expected rows, a changed
//! catalog probe by the shipped oracle, personal data by the scan; a malformed probe file is
//! refused before the run with its file and line; `harness check` verifies the kept run again.

mod common;

use std::path::{Path, PathBuf};

use harness::finding::FindingCode;
use harness::layout::RunLayout;
use harness::pipeline::run_scenario;
use harness::report::ScenarioReport;
use harness::scenario::Scenario;

const EXAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples");

/// A copy of `examples/probes.toml` and `examples/probes/` in a folder of the test's own, so
/// that a test may change a probe.
fn example_copy() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("probes")).unwrap();
    for entry in std::fs::read_dir(Path::new(EXAMPLES).join("probes")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(
            &path,
            dir.path().join("probes").join(path.file_name().unwrap()),
        )
        .unwrap();
    }
    let scenario = dir.path().join("probes.toml");
    std::fs::copy(Path::new(EXAMPLES).join("probes.toml"), &scenario).unwrap();
    (dir, scenario)
}

fn edit(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{} has no `{from}`", path.display());
    std::fs::write(path, text.replace(from, to)).unwrap();
}

async fn run(scenario: &Path, out: &Path) -> ScenarioReport {
    let scenario = Scenario::load(scenario).expect("the example is valid");
    run_scenario(&scenario, &common::options(out))
        .await
        .expect("the run completes")
}

fn mismatched(report: &ScenarioReport, code: FindingCode) -> Vec<String> {
    report
        .findings
        .iter()
        .filter(|f| f.code == code)
        .filter_map(|f| f.probe.clone())
        .collect()
}

#[tokio::test]
async fn the_example_runs_its_own_probes_and_passes() {
    let (dir, path) = example_copy();
    let out = dir.path().join("out");
    let report = run(&path, &out).await;
    assert!(report.met_expectations, "{:#?}", report.findings);
    let scenario = Scenario::load(&path).unwrap();
    let sites = 1 + scenario.hierarchy.primary.len() as u64;
    let runs = sites * u64::from(scenario.weeks());
    // Every probe of the catalog plus the two new ones, at every site, every week.
    let catalog = harness::probes::Catalog::of_scenario(&scenario, None).unwrap();
    let probes = catalog.for_level(scenario.hierarchy.level).len() as u64;
    assert_eq!(probes, harness::probes::CATALOG.len() as u64 + 2);
    assert_eq!(report.probes_checked, probes * runs);
    // The probe without expected rows: delivered, timed, reported unchecked.
    assert_eq!(report.unchecked, runs);
    assert_eq!(report.unchecked_probes, ["TEL_VirtualMachineCpus"]);
    let timed = report
        .timings
        .probes
        .iter()
        .filter(|t| t.probe == "TEL_VirtualMachineCpus")
        .count() as u64;
    assert_eq!(timed, runs);

    // `harness check` finds the probes again from the run's record and agrees.
    let layout = RunLayout::new(&out).scenario(&report.name);
    let again = harness::check::check_scenario(&layout).await.unwrap();
    assert!(again.met_expectations, "{:#?}", again.findings);
    assert_eq!(again.unchecked, report.unchecked);
}

#[tokio::test]
async fn a_changed_query_is_caught_by_its_expected_rows() {
    let (dir, path) = example_copy();
    edit(
        &dir.path().join("probes/TEL_ContentCounts.sqlite.sql"),
        "(SELECT COUNT(*) FROM Collections)",
        "(SELECT COUNT(*) FROM Collections WHERE CollectionType = 2)",
    );
    let report = run(&path, &dir.path().join("out")).await;
    assert!(!report.met_expectations);
    let wrong = mismatched(&report, FindingCode::ProbeMismatch);
    assert!(!wrong.is_empty(), "{:#?}", report.findings);
    assert!(wrong.iter().all(|p| p == "TEL_ContentCounts"), "{wrong:?}");
}

#[tokio::test]
async fn a_changed_catalog_probe_is_held_to_the_shipped_oracle() {
    let (dir, path) = example_copy();
    // Counting joined rows counts an application once per deployment type.
    edit(
        &dir.path().join("probes/TEL_AppTotals.sqlite.sql"),
        "COUNT(DISTINCT a.CI_ID)",
        "COUNT(a.CI_ID)",
    );
    let report = run(&path, &dir.path().join("out")).await;
    let wrong = mismatched(&report, FindingCode::ProbeMismatch);
    assert!(!wrong.is_empty(), "{:#?}", report.findings);
    assert!(wrong.iter().all(|p| p == "TEL_AppTotals"), "{wrong:?}");
}

#[tokio::test]
async fn personal_data_from_your_own_probe_is_found() {
    let (dir, path) = example_copy();
    edit(&path, "level = \"full\"", "level = \"enhanced\"");
    edit(
        &dir.path().join("probes/TEL_ContentCounts.sqlite.sql"),
        "AS collections;",
        "AS collections, (SELECT MIN(Netbios_Name0) FROM System_DISC) AS first_computer;",
    );
    std::fs::remove_file(dir.path().join("probes/TEL_ContentCounts.expected.json")).unwrap();
    let report = run(&path, &dir.path().join("out")).await;
    assert!(
        report
            .findings
            .iter()
            .any(|f| f.code == FindingCode::PiiLeak),
        "{:#?}",
        report.findings
    );
}

/// `harness scenario check` on the copy after `change`: exit 2, and stderr names `place`.
fn refused(change: impl FnOnce(&Path), place: &str) {
    let (dir, path) = example_copy();
    change(dir.path());
    let out = common::harness_command()
        .args(["scenario", "check"])
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(place), "`{place}` not in: {stderr}");
}

#[test]
fn a_malformed_probe_file_is_refused_with_its_file_and_line() {
    refused(
        |d| {
            edit(
                &d.join("probes/TEL_ContentCounts.sqlite.sql"),
                "FROM Collections)",
                "FORM Collections)",
            )
        },
        "TEL_ContentCounts.sqlite.sql:3",
    );
    refused(
        |d| {
            edit(
                &d.join("probes/TEL_VirtualMachineCpus.sqlite.sql"),
                "System_DISC",
                "Systems",
            )
        },
        "TEL_VirtualMachineCpus.sqlite.sql",
    );
    refused(
        |d| {
            edit(
                &d.join("probes/TEL_VirtualMachineCpus.mssql.sql"),
                "GROUP BY",
                "GROUP",
            )
        },
        "TEL_VirtualMachineCpus.mssql.sql:4",
    );
    refused(
        |d| edit(&d.join("probes/TEL_ContentCounts.toml"), "level", "levle"),
        "TEL_ContentCounts.toml:2",
    );
    refused(
        |d| {
            edit(
                &d.join("probes/TEL_ContentCounts.expected.json"),
                "\"P02\": [",
                "\"P02\": ",
            )
        },
        "TEL_ContentCounts.expected.json:4",
    );
    refused(
        |d| {
            edit(
                &d.join("probes/TEL_AppTotals.toml"),
                "\"TEL_AppTotals\"",
                "\"TEL_AppTotal\"",
            )
        },
        "no shipped probe",
    );
    refused(
        |d| std::fs::remove_file(d.join("probes/TEL_AppTotals.mssql.sql")).unwrap(),
        "TEL_AppTotals.mssql.sql",
    );
    refused(
        |d| {
            edit(
                &d.join("probes.toml"),
                "probes_dir = \"probes\"",
                "probes_dir = \"nowhere\"",
            )
        },
        "probes.toml:25",
    );
}
