//! `harness check DIR`: a kept run verified again, through the real binary.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn harness() -> Command {
    Command::new(env!("CARGO_BIN_EXE_harness"))
}

fn scenario(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../scenarios")
        .join(rel)
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs a shipped scenario into `out`; it must meet its expectations.
fn run(rel: &str, out: &Path) {
    let done = harness()
        .args(["run", "--no-progress", "--out"])
        .arg(out)
        .arg(scenario(rel))
        .output()
        .unwrap();
    assert_eq!(done.status.code(), Some(0), "{}", text(&done));
}

fn check(dir: &Path) -> Output {
    harness().arg("check").arg(dir).output().unwrap()
}

fn json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// Every file under `dir`, with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.insert(path.clone(), std::fs::read(&path).unwrap());
            }
        }
    }
    files
}

/// What check must reproduce of a run's report, scenario by scenario.
fn verdicts(report: &Value) -> Vec<Value> {
    report["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let attempts: Vec<&Value> = s["timings"]["uploads"]
                .as_array()
                .unwrap()
                .iter()
                .map(|u| &u["attempts"])
                .collect();
            serde_json::json!({
                "name": s["name"], "file": s["file"], "seed": s["seed"], "engine": s["engine"],
                "outcome": s["outcome"], "met_expectations": s["met_expectations"],
                "expectation_failures": s["expectation_failures"],
                "uploads_accepted": s["uploads_accepted"], "probes_checked": s["probes_checked"],
                "mismatches": s["mismatches"], "findings": s["findings"], "attempts": attempts,
            })
        })
        .collect()
}

fn assert_check_repeats_the_run(rel: &str, name: &str, finding: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    run(rel, &out);
    let run_report = std::fs::read(out.join("report.json")).unwrap();
    let store = snapshot(&out.join(name).join("upstream"));
    let manifest = json(&out.join(name).join("manifest.json"));
    assert_eq!(manifest["format"], 1);
    assert_eq!(manifest["harness_version"], env!("CARGO_PKG_VERSION"));
    assert!(
        manifest["git_commit"]
            .as_str()
            .is_some_and(|c| !c.is_empty())
    );
    assert_eq!(
        manifest["scenario"]["text"],
        std::fs::read_to_string(scenario(rel)).unwrap()
    );
    let attempts = std::fs::read_to_string(out.join(name).join("attempts.jsonl")).unwrap();
    for line in attempts.lines() {
        let line: Value = serde_json::from_str(line).unwrap();
        assert!(line["idempotency_key"].is_string(), "{line}");
        assert!(line["latency_ms"].is_number(), "{line}");
    }

    let checked = check(&out);
    let said = text(&checked);
    assert_eq!(checked.status.code(), Some(0), "{said}");
    assert!(said.contains("1 met expectations"), "{said}");
    assert!(said.contains("check-report.json"), "{said}");
    if let Some(code) = finding {
        assert!(said.contains(code), "{said}");
    }
    let run_value: Value = serde_json::from_slice(&run_report).unwrap();
    let check_value = json(&out.join("check-report.json"));
    assert_eq!(verdicts(&check_value), verdicts(&run_value));
    assert_eq!(
        std::fs::read(out.join("report.json")).unwrap(),
        run_report,
        "the run's report is left alone"
    );
    assert_eq!(
        snapshot(&out.join(name).join("upstream")),
        store,
        "the store is only read"
    );

    // One scenario's folder is a kept run too.
    let one = check(&out.join(name));
    assert_eq!(one.status.code(), Some(0), "{}", text(&one));
}

#[test]
fn an_untouched_smoke_run_checks_as_it_ran() {
    assert_check_repeats_the_run("smoke.toml", "smoke", None);
}

#[test]
fn an_untouched_replication_backlog_run_checks_as_it_ran() {
    assert_check_repeats_the_run(
        "field/replication-backlog.toml",
        "replication-backlog",
        Some("late_delivery"),
    );
}

#[test]
fn a_duplicated_entry_in_a_stored_body_fails_the_check() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    run("smoke.toml", &out);
    // The store's log rewritten with the first upload's body altered, its receipt kept.
    use mock_upstream::upload_log::{self, Digests};
    let log = out
        .join("smoke/upstream/uploads")
        .join(upload_log::LOG_FILE);
    let records = upload_log::read(&log, Digests::Verify, true)
        .unwrap()
        .records;
    assert!(!records.is_empty(), "a stored upload");
    let mut rewritten = Vec::new();
    for (i, (receipt, _, body)) in records.iter().enumerate() {
        let body = if i == 0 {
            let mut payload: Value = serde_json::from_slice(body).unwrap();
            let results = payload["results"].as_array_mut().unwrap();
            let first = results[0].clone();
            results.push(first);
            serde_json::to_vec(&payload).unwrap()
        } else {
            body.to_vec()
        };
        rewritten.extend(upload_log::encode(receipt, &body));
    }
    std::fs::write(&log, rewritten).unwrap();

    let checked = check(&out);
    let said = text(&checked);
    assert_eq!(checked.status.code(), Some(1), "{said}");
    assert!(said.contains("duplicate_entry"), "{said}");
    assert!(said.contains("receipt_mismatch"), "{said}");
    assert!(said.contains("0 met expectations, 1 did not"), "{said}");
}

#[test]
fn a_manifest_of_another_format_exits_2_naming_both_versions() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    run("smoke.toml", &out);
    let path = out.join("smoke/manifest.json");
    let mut manifest = json(&path);
    manifest["format"] = 999.into();
    std::fs::write(&path, serde_json::to_vec_pretty(&manifest).unwrap()).unwrap();

    let checked = check(&out);
    let said = text(&checked);
    assert_eq!(checked.status.code(), Some(2), "{said}");
    assert!(said.contains("manifest.json is format 999"), "{said}");
    assert!(said.contains("reads format 1 only"), "{said}");

    std::fs::write(&path, b"{ not json").unwrap();
    let unreadable = check(&out);
    assert_eq!(unreadable.status.code(), Some(2), "{}", text(&unreadable));
    assert!(text(&unreadable).contains("manifest.json"));
}

#[test]
fn a_folder_that_is_not_a_run_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("something")).unwrap();
    for target in [dir.path().to_path_buf(), dir.path().join("absent")] {
        let checked = check(&target);
        let said = text(&checked);
        assert_eq!(checked.status.code(), Some(2), "{said}");
        assert!(said.contains("is not a kept run"), "{said}");
    }
}

#[test]
fn an_offline_run_checks_its_imports_and_needs_its_site_database() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    run("offline.toml", &out);
    let cas = out.join("offline/sites/CAS.db");
    let before = std::fs::read(&cas).unwrap();
    let checked = check(&out);
    assert_eq!(checked.status.code(), Some(0), "{}", text(&checked));
    assert_eq!(
        std::fs::read(&cas).unwrap(),
        before,
        "the site database is only read"
    );

    std::fs::remove_file(&cas).unwrap();
    let gone = check(&out);
    let said = text(&gone);
    assert_eq!(gone.status.code(), Some(2), "{said}");
    assert!(said.contains("CAS.db is gone"), "{said}");
}

#[test]
fn check_applies_the_seed_the_run_was_given_and_writes_junit() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let done = harness()
        .args(["run", "--no-progress", "--seed", "7", "--out"])
        .arg(&out)
        .arg(scenario("smoke.toml"))
        .output()
        .unwrap();
    assert_eq!(done.status.code(), Some(0), "{}", text(&done));
    let manifest = json(&out.join("smoke/manifest.json"));
    assert_eq!(manifest["seed"], 7);
    assert_eq!(manifest["options"]["seed_override"], 7);

    let junit = dir.path().join("junit.xml");
    let checked = harness()
        .arg("check")
        .arg(&out)
        .arg("--junit")
        .arg(&junit)
        .output()
        .unwrap();
    assert_eq!(checked.status.code(), Some(0), "{}", text(&checked));
    let report = json(&out.join("check-report.json"));
    assert_eq!(report["scenarios"][0]["seed"], 7);
    assert_eq!(report["scenarios"][0]["probes_checked"], 27);
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("<testsuite name=\"smoke\""), "{xml}");
}

/// A scenario the run's report lists but whose record is gone cannot be verified: `check` says
/// so and exits 2, rather than pass the rest as if it were all.
#[test]
fn a_listed_scenario_without_its_record_is_not_passed_over() {
    let dir = tempfile::tempdir().unwrap();
    let done = harness()
        .args(["run", "--no-progress", "--out"])
        .arg(dir.path())
        .arg(scenario("smoke.toml"))
        .arg(scenario("levels-basic.toml"))
        .output()
        .unwrap();
    assert_eq!(done.status.code(), Some(0), "{}", text(&done));
    std::fs::remove_file(dir.path().join("smoke/manifest.json")).unwrap();
    let out = check(dir.path());
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("no kept record"), "{}", text(&out));
}
