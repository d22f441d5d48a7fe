//! `harness fleet`: hierarchies derived from one scenario against the in-process mock upstream,
//! every one verified to have arrived exactly once.

mod common;

use std::path::Path;

/// `harness fleet SCENARIO ARGS... --json --no-progress --out OUT`: its exit code and report.
fn fleet_json(scenario: &Path, args: &[&str], out: &Path) -> (Option<i32>, serde_json::Value) {
    let output = common::harness_command()
        .arg("fleet")
        .arg(scenario)
        .args(args)
        .args(["--json", "--no-progress", "--out"])
        .arg(out)
        .output()
        .unwrap();
    let report = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!("{e}: {}", String::from_utf8_lossy(&output.stderr));
    });
    (output.status.code(), report)
}

#[test]
fn a_fleet_of_the_smoke_scenario_arrives_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let smoke = common::write(dir.path(), "smoke.toml", &common::smoke_text());
    let out = dir.path().join("out");
    let (code, report) = fleet_json(&smoke, &["--hierarchies", "300", "--weeks", "2"], &out);
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(report["hierarchies"], 300);
    assert_eq!(report["weeks"], 2);
    let per = report["uploads_per_hierarchy"].as_u64().unwrap();
    assert!(per >= 2, "{report}");
    assert_eq!(report["uploads"].as_u64(), Some(300 * per));
    assert_eq!(report["succeeded"], report["uploads"]);
    assert_eq!(report["verified"]["hierarchies_verified"], 300);
    assert_eq!(report["verified"]["missing"], 0);
    // What the upstream stored: one upload per hierarchy and week, each under its own hierarchy.
    let stored = harness::mock::stored_uploads(&out.join("fleet-upstream")).unwrap();
    assert_eq!(stored.len() as u64, 300 * per);
    let hierarchies: std::collections::BTreeSet<_> =
        stored.iter().map(|(r, _)| r.hierarchy_id.clone()).collect();
    assert_eq!(hierarchies.len(), 300);
    assert!(out.join("fleet.json").is_file());

    // --no-verify measures without verifying, and says so.
    let out = dir.path().join("unverified");
    let (code, report) = fleet_json(&smoke, &["--hierarchies", "3", "--no-verify"], &out);
    assert_eq!(code, Some(0), "{report}");
    assert!(report["verified"].is_null());
    assert_eq!(report["not_verified"], "--no-verify");
}

#[test]
fn a_fleet_refuses_an_offline_scenario_and_a_zero_rate() {
    let dir = tempfile::tempdir().unwrap();
    let offline = concat!(env!("CARGO_MANIFEST_DIR"), "/../scenarios/offline.toml");
    let output = common::harness_command()
        .args(["fleet", offline, "--hierarchies", "2", "--no-progress"])
        .args(["--out", dir.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("offline"));
    let smoke = common::write(dir.path(), "smoke.toml", &common::smoke_text());
    let output = common::harness_command()
        .args([
            "fleet",
            smoke.to_str().unwrap(),
            "--rate",
            "0",
            "--no-progress",
        ])
        .args(["--out", dir.path().join("o").to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--rate"));
}
