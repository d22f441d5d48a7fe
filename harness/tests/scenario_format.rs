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

#[test]
fn a_newer_file_with_keys_of_its_own_hears_about_its_format() {
    let dir = tempfile::tempdir().unwrap();
    let text = common::smoke_text()
        .replace(
            &format!("format = {FORMAT}"),
            &format!("format = {}", FORMAT + 1),
        )
        .replace("[run]\n", "[run]\nretention_days = 30\n");
    let path = common::write(dir.path(), "new.toml", &text);
    let err = Scenario::load(&path).unwrap_err().to_string();
    assert!(err.contains("new.toml:1: `format`"), "{err}");
    assert!(err.contains("newer harness"), "{err}");
    let zero = common::write(
        dir.path(),
        "zero.toml",
        &common::smoke_text().replace(&format!("format = {FORMAT}"), "format = 0"),
    );
    let err = Scenario::load(&zero).unwrap_err().to_string();
    assert!(err.contains("there is no format 0"), "{err}");
}

#[test]
fn upgrade_rewrites_what_is_there_and_keeps_what_the_file_is() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let upgrade = |path: &Path| {
        common::harness_command()
            .args(["scenario", "upgrade"])
            .arg(path)
            .output()
            .unwrap()
    };
    // An explicit older format is rewritten, not repeated.
    let explicit = common::write(
        dir.path(),
        "explicit.toml",
        &common::smoke_text().replace(&format!("format = {FORMAT}"), "format = 1"),
    );
    assert_eq!(upgrade(&explicit).status.code(), Some(0));
    assert_eq!(Scenario::load(&explicit).unwrap().format(), FORMAT);

    // CRLF stays CRLF; the file keeps its permissions.
    let crlf = common::write(
        dir.path(),
        "crlf.toml",
        &format_1_smoke().replace('\n', "\r\n"),
    );
    std::fs::set_permissions(&crlf, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert_eq!(upgrade(&crlf).status.code(), Some(0));
    let text = std::fs::read_to_string(&crlf).unwrap();
    assert_eq!(text.matches('\n').count(), text.matches("\r\n").count());
    let mode = std::fs::metadata(&crlf).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o644);

    // A link stays a link; the file it points to is upgraded.
    let target = common::write(dir.path(), "target.toml", &format_1_smoke());
    let link = dir.path().join("link.toml");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    assert_eq!(upgrade(&link).status.code(), Some(0));
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(Scenario::load(&target).unwrap().format(), FORMAT);

    // A read-only file is left alone, and the user is told.
    let locked = common::write(dir.path(), "locked.toml", &format_1_smoke());
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o444)).unwrap();
    let out = upgrade(&locked);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("read-only"));
    assert_eq!(Scenario::load(&locked).unwrap().format(), 1);
}
