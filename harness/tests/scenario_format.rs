//! Scenario format versions: an older file still runs and is upgraded in place on request,
//! keeping what the user wrote; a newer one is refused; the shipped files are current.

mod common;

use std::path::Path;

use harness::model::HierarchyModel;
use harness::scenario::{FORMAT, Scenario};

/// `smoke.toml` as a format-1 file: no `format` key, and a comment of the user's.
fn format_1_smoke() -> String {
    let text = common::smoke_text();
    let body: String = text
        .lines()
        .filter(|l| !l.starts_with("format ="))
        .map(|l| format!("{l}\n"))
        .collect();
    format!("# the customer's case, 2024\n{body}")
}

#[test]
fn an_older_file_still_runs_and_is_upgraded_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let old = format_1_smoke();
    let path = common::write(dir.path(), "case.toml", &old);
    let before = Scenario::load(&path).expect("a format-1 file still reads");
    assert_eq!(before.format(), 1);

    let check = common::harness_command()
        .args(["scenario", "check"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(check.status.code(), Some(0));
    let said = String::from_utf8_lossy(&check.stdout);
    assert!(said.contains("harness scenario upgrade"), "{said}");

    let upgrade = common::harness_command()
        .args(["scenario", "upgrade"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(upgrade.status.code(), Some(0));
    let new = std::fs::read_to_string(&path).unwrap();
    assert!(new.starts_with("# the customer's case, 2024\n"), "{new}");
    assert!(new.contains(&format!("\nformat = {FORMAT}\n")), "{new}");
    // Everything else exactly as written.
    let without: String = new
        .lines()
        .filter(|l| !l.starts_with("format ="))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(without, old);
    let after = Scenario::load(&path).unwrap();
    assert_eq!(after.format(), FORMAT);
    let model = |s: &Scenario| format!("{:?}", HierarchyModel::from_scenario(s));
    assert_eq!(model(&after), model(&before));
    assert_eq!(after.seed, before.seed);

    // A second upgrade changes nothing.
    let again = common::harness_command()
        .args(["scenario", "upgrade"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&again.stdout).starts_with("current"));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), new);
}

#[test]
fn a_newer_file_is_refused_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let text = common::smoke_text().replace(
        &format!("format = {FORMAT}"),
        &format!("format = {}", FORMAT + 1),
    );
    let path = common::write(dir.path(), "new.toml", &text);
    for verb in ["check", "upgrade"] {
        let out = common::harness_command()
            .args(["scenario", verb])
            .arg(&path)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains("new.toml:1: `format`"), "{stderr}");
        assert!(stderr.contains("newer harness"), "{stderr}");
    }
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        text,
        "left as it was"
    );
}

#[test]
fn every_shipped_scenario_is_of_the_current_format() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    for dir in [
        "scenarios",
        "scenarios/field",
        "scenarios/scale",
        "examples",
    ] {
        for entry in std::fs::read_dir(root.join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                files.push(path);
            }
        }
    }
    assert!(files.len() > 20);
    for path in files {
        let scenario = Scenario::load(&path).unwrap();
        assert_eq!(scenario.format(), FORMAT, "{}", path.display());
    }
}
