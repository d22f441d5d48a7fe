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

#[tokio::test]
async fn personal_data_from_your_own_probe_is_found() {
    // As other tools write the values: plain, in a name or URL, as words, in other formats.
    for leak in [
        "MIN(Netbios_Name0)",
        "MIN(Netbios_Name0) || '.corp.contoso.com'",
        "'http://' || MIN(Netbios_Name0) || ':8080/x'",
        "MIN(Netbios_Name0) || '_x'",
        "MIN(IP_Addresses0) || '/24'",
        "replace(MIN(MAC_Addresses0), ':', '-')",
        "replace(MIN(MAC_Addresses0), ':', '')",
        "replace(MIN(User_Name0), '.', ' ')",
        "upper(MIN(Mail0))",
    ] {
        let (dir, path) = example_copy();
        edit(&path, "level = \"full\"", "level = \"enhanced\"");
        edit(
            &dir.path().join("probes/TEL_ContentCounts.sqlite.sql"),
            "AS collections;",
            &format!("AS collections, (SELECT {leak} FROM System_DISC) AS first_computer;"),
        );
        std::fs::remove_file(dir.path().join("probes/TEL_ContentCounts.expected.json")).unwrap();
        let report = run(&path, &dir.path().join("out")).await;
        assert!(
            report
                .findings
                .iter()
                .any(|f| f.code == FindingCode::PiiLeak),
            "{leak} was not found: {:#?}",
            report.findings
        );
    }
}

/// The example's `TEL_VirtualMachineCpus` query, for tests that swap it.
const VM_CPUS: &str = "SELECT CPU_Name0 AS cpu, COUNT(*) AS clients\nFROM System_DISC\nWHERE Is_Virtual_Machine0 = 1\nGROUP BY CPU_Name0\nORDER BY clients DESC, cpu\nLIMIT 10;";

#[tokio::test]
async fn a_runaway_probe_is_stopped_and_reported() {
    let (dir, path) = example_copy();
    edit(
        &dir.path().join("probes/TEL_VirtualMachineCpus.sqlite.sql"),
        VM_CPUS,
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x AS cpu, 1 AS clients FROM c;",
    );
    let report = run(&path, &dir.path().join("out")).await;
    let errors: Vec<&str> = report
        .findings
        .iter()
        .filter(|f| f.code == FindingCode::ProbeError)
        .map(|f| f.message.as_str())
        .collect();
    assert!(!errors.is_empty(), "{:#?}", report.findings);
    assert!(
        errors.iter().all(|m| m.contains("rows and was stopped")),
        "{errors:?}"
    );
}

#[test]
fn a_probe_that_never_ends_is_stopped_at_its_time_limit() {
    let (dir, path) = example_copy();
    edit(
        &dir.path().join("probes/TEL_VirtualMachineCpus.sqlite.sql"),
        VM_CPUS,
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT max(x) AS cpu, 1 AS clients FROM c;",
    );
    edit(&path, "weeks = 2", "weeks = 1");
    let out = common::harness_command()
        .env("HARNESS_PROBE_TIME_LIMIT_S", "1")
        .args(["run", "--no-progress", "--out"])
        .arg(dir.path().join("out"))
        .arg(&path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("ran longer than 1 s and was stopped"),
        "{stdout}"
    );
}

#[tokio::test]
async fn harness_check_refuses_probes_changed_since_the_run() {
    let (dir, path) = example_copy();
    let out = dir.path().join("out");
    let report = run(&path, &out).await;
    assert!(report.met_expectations);
    edit(
        &dir.path().join("probes/TEL_VirtualMachineCpus.sqlite.sql"),
        "LIMIT 10",
        "LIMIT 5",
    );
    let layout = RunLayout::new(&out).scenario(&report.name);
    let err = harness::check::check_scenario(&layout)
        .await
        .expect_err("changed probes")
        .to_string();
    assert!(err.contains("changed since the run"), "{err}");
}

#[test]
fn what_a_probe_may_not_do_is_refused_before_the_run() {
    // T-SQL that writes, however it is dressed up.
    for writes in [
        "WITH x AS (SELECT 1 AS a) DELETE FROM dbo.System_DISC",
        "WITH x AS (SELECT 1 AS a) UPDATE dbo.Sites SET Status = 'x'",
        "SELECT 1 AS a INTO dbo.Pwned",
        "SELECT * FROM OPENQUERY(LinkedSrv, 'DELETE FROM x')",
    ] {
        refused(
            |d| std::fs::write(d.join("probes/TEL_AppTotals.mssql.sql"), writes).unwrap(),
            "TEL_AppTotals.mssql.sql:1: the query must only read",
        );
    }
    refused(
        |d| {
            edit(
                &d.join("probes/TEL_AppTotals.toml"),
                "level = \"basic\"",
                "level = \"full\"",
            )
        },
        "a replacement keeps the level",
    );
    refused(
        |d| {
            edit(
                &d.join("probes/TEL_ContentCounts.sqlite.sql"),
                "AS collections;",
                "AS applications;",
            )
        },
        "two columns are named `applications`",
    );
    refused(
        |d| {
            edit(
                &d.join("probes/TEL_ContentCounts.sqlite.sql"),
                "FROM Collections)",
                "FROM Collections WHERE CollectionType = :wek)",
            )
        },
        "parameter `:wek`",
    );
    refused(
        |d| std::fs::write(d.join("probes/TEL_Other.expect.json"), "[]").unwrap(),
        "no probe reads this file",
    );
    refused(
        |d| {
            edit(
                &d.join("probes/TEL_ContentCounts.expected.json"),
                "\"P02\"",
                "\"P03\"",
            )
        },
        "rows for site P03, which the scenario does not have",
    );
    refused(
        |d| std::os::unix::fs::symlink("/dev/zero", d.join("probes/TEL_New.toml")).unwrap(),
        "not a regular file",
    );
}

#[test]
fn a_byte_order_mark_is_read_past_in_every_probe_file() {
    let (dir, path) = example_copy();
    for file in [
        "TEL_ContentCounts.mssql.sql",
        "TEL_ContentCounts.expected.json",
        "TEL_ContentCounts.toml",
    ] {
        let file = dir.path().join("probes").join(file);
        let text = std::fs::read_to_string(&file).unwrap();
        std::fs::write(&file, format!("\u{feff}{text}")).unwrap();
    }
    let out = common::harness_command()
        .args(["scenario", "check"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A probe that fails at run time is reported once, as `probe_error`; the next week's run
/// statistics report its error as the site recorded it, and are not a mismatch.
#[tokio::test]
async fn a_failing_probe_is_reported_once_and_counted_by_the_next_run() {
    let (dir, path) = example_copy();
    edit(
        &dir.path().join("probes/TEL_VirtualMachineCpus.sqlite.sql"),
        VM_CPUS,
        "SELECT json_extract('not json', '$.a') AS cpu, 1 AS clients;",
    );
    let report = run(&path, &dir.path().join("out")).await;
    let codes: std::collections::BTreeSet<FindingCode> =
        report.findings.iter().map(|f| f.code).collect();
    assert_eq!(
        codes,
        [FindingCode::ProbeError].into(),
        "{:#?}",
        report.findings
    );
}
