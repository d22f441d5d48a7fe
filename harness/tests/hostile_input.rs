//! Hostile and absurd inputs to the harness's command line: each test is named after the defect
//! an attack found, and reproduces it.

mod common;

use common::{harness_command as harness, write};

/// The shipped smoke scenario, smaller.
fn smoke() -> String {
    common::smoke_text().replace("clients = 2000", "clients = 300")
}

/// `apps = 4294967295` (and the other counts) passed `scenario check`, then `run` aborted
/// allocating 412 GB. Every count is refused past its hard cap, by `check` and `run` alike, with
/// exit 2 and file:line:key.
#[test]
fn huge_counts_abort_the_process() {
    let dir = tempfile::tempdir().unwrap();
    for key in [
        "apps",
        "updates",
        "updates_per_client",
        "collections",
        "custom_tables",
        "boundary_groups",
        "update_groups",
    ] {
        let text = smoke().replace("custom_tables = 2\n", "").replace(
            "clients = 300",
            &format!("clients = 300\n{key} = 4294967295"),
        );
        let line = text.lines().position(|l| l.starts_with(key)).unwrap() + 1;
        let file = write(dir.path(), "huge.toml", &text);
        for command in [
            &["scenario", "check"][..],
            &["run", "--no-progress", "--out"],
        ] {
            let mut cmd = harness();
            cmd.args(command);
            if command[0] == "run" {
                cmd.arg(dir.path().join("out"));
            }
            let out = cmd.arg(&file).output().unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{key} {command:?}: {stderr}");
            assert!(
                stderr.contains(&format!("huge.toml:{line}: `hierarchy.primary.{key}`")),
                "{key}: {stderr}"
            );
            assert!(stderr.contains("hard cap"), "{stderr}");
        }
    }
}

/// The product of clients and compliance states is bounded too: each count under its cap can
/// still ask for billions of rows together.
#[test]
fn counts_under_their_caps_cannot_multiply_past_the_row_bound() {
    let dir = tempfile::tempdir().unwrap();
    let text = smoke().replace(
        "clients = 300",
        "clients = 175000\nupdates = 500000\nupdates_per_client = 2000",
    );
    let file = write(dir.path(), "rows.toml", &text);
    let out = harness()
        .args(["scenario", "check"])
        .arg(&file)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("hierarchy.primary.updates_per_client"),
        "{stderr}"
    );
    assert!(stderr.contains("rows"), "{stderr}");
}

/// Above what is supported and under the hard cap, the run goes ahead and its report labels it.
#[test]
fn counts_beyond_support_run_and_are_labelled() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "big.toml",
        &smoke().replace("custom_tables = 2", "custom_tables = 201"),
    );
    let out = harness()
        .args(["run", "--no-progress", "--out"])
        .arg(dir.path().join("out"))
        .arg(&file)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let report = std::fs::read_to_string(dir.path().join("out/report.json")).unwrap();
    let report: serde_json::Value = serde_json::from_str(&report).unwrap();
    let findings = report["scenarios"][0]["findings"].as_array().unwrap();
    let labelled = findings
        .iter()
        .find(|f| f["code"] == "beyond_supported_scale")
        .expect("labelled beyond support");
    assert!(
        labelled["message"]
            .as_str()
            .unwrap()
            .contains("custom_tables = 201 (supported up to 200)"),
        "{labelled}"
    );
    assert_eq!(labelled["severity"], "info");
}

/// Install years 9999 and -1 exited 1: a bad date is a bad scenario (exit 2, naming the key).
#[test]
fn install_years_out_of_range_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    for date in ["9999-01-05", "-001-01-05", "2026-02-30"] {
        let file = write(
            dir.path(),
            "date.toml",
            &smoke().replace("2026-01-05", date),
        );
        for command in [
            &["scenario", "check"][..],
            &["run", "--no-progress", "--out"],
        ] {
            let mut cmd = harness();
            cmd.args(command);
            if command[0] == "run" {
                cmd.arg(dir.path().join("out"));
            }
            let out = cmd.arg(&file).output().unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{date} {command:?}: {stderr}");
            assert!(stderr.contains("hierarchy.installed"), "{stderr}");
        }
    }
}

/// `--upload-timeout-ms 0` exited 1; a bad flag is a usage error.
#[test]
fn a_zero_upload_timeout_exits_1() {
    let out = harness()
        .args(["run", "--upload-timeout-ms", "0", "x.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// Two upstreams on one data dir both stored the same key and lost a token. The second is
/// refused (exit 2) and told who holds the folder.
#[test]
fn no_lock_on_data_dir() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let mut first = harness()
        .args(["upstream", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(first.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.starts_with("listening on"), "{line}");
    let second = harness()
        .args(["upstream", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    first.kill().unwrap();
    first.wait().unwrap();
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("in use by another process (pid {}", first.id())),
        "{stderr}"
    );
}

/// Two runs into one `--out` failed or left two bodies under one key: the second is refused.
#[test]
fn no_lock_on_out() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let held = usage_protocol::dir_lock::DirLock::acquire(&out, "a test holding it").unwrap();
    let file = write(dir.path(), "s.toml", &smoke());
    let run = harness()
        .args(["run", "--no-progress", "--out"])
        .arg(&out)
        .arg(&file)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("a test holding it"), "{stderr}");
    assert!(!out.join("smoke").exists(), "nothing ran");
    drop(held);
}

/// `cab_renamed to = ".."` passed `scenario check` and failed only at run time.
#[test]
fn cab_renamed_to_dot_dot_fails_only_at_run_time() {
    let dir = tempfile::tempdir().unwrap();
    for to in ["..", ".", "a/b", ""] {
        let text = smoke().replace("scp_mode = \"online\"", "scp_mode = \"offline\"")
            + &format!("\n[[faults]]\nkind = \"cab_renamed\"\nweek = 1\nto = \"{to}\"\n");
        let file = write(dir.path(), "renamed.toml", &text);
        let out = harness()
            .args(["scenario", "check"])
            .arg(&file)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{to:?}: {stderr}");
        assert!(stderr.contains("`faults.to`"), "{stderr}");
    }
}

/// Scenario names that sanitise to the same folder overwrote each other's runs: refused.
#[test]
fn scenario_names_that_sanitise_to_one_folder_overwrite_each_other() {
    let dir = tempfile::tempdir().unwrap();
    let a = write(
        dir.path(),
        "a.toml",
        &smoke().replace("name = \"smoke\"", "name = \"smoke/1\""),
    );
    let b = write(
        dir.path(),
        "b.toml",
        &smoke().replace("name = \"smoke\"", "name = \"smoke:1\""),
    );
    let out = harness()
        .args(["run", "--no-progress", "--out"])
        .arg(dir.path().join("out"))
        .arg(&a)
        .arg(&b)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("share one output folder"), "{stderr}");
}

/// Found by an attack on the time and faults: dates that only look like dates, a TOML date
/// without quotes, a primary that would never run, two crash points for one pass.
#[test]
fn calendar_and_schedule_mistakes_are_refused_with_their_key() {
    let dir = tempfile::tempdir().unwrap();
    let cas = smoke()
        .replace("cas = false", "cas = true")
        .replace("custom_tables = 2\n", "");
    let cases = [
        (
            smoke().replace("\"2026-01-05\"", "\"2026-1-5\""),
            "hierarchy.installed",
        ),
        (
            smoke().replace("\"2026-01-05\"", "\"+2026-01-05\""),
            "hierarchy.installed",
        ),
        (
            smoke().replace("\"2026-01-05\"", "2026-01-05"),
            "dates are strings here",
        ),
        (
            cas.replace("clients = 300", "clients = 300\ninstalled = \"2099-01-08\""),
            "would never run",
        ),
        (
            cas.clone()
                + "[[hierarchy.primary]]\ncode = \"P02\"\nclients = 10\n\
                   [[faults]]\nkind = \"replication_crash\"\nweek = 1\nsite = \"P02\"\n\
                   [[faults]]\nkind = \"replication_crash\"\nweek = 1\nsite = \"P02\"\nat = \"after_delete\"\n",
            "one crash point",
        ),
        // Found by a later attack on the service: faults that hold an answer, or ask a client
        // to wait, for ever. The service refuses them; so does the scenario.
        (
            smoke()
                + "[[faults]]\nkind = \"upstream_latency\"\nweek = 1\nms = 18446744073709551615\n",
            "faults.ms",
        ),
        (
            smoke() + "[[faults]]\nkind = \"upstream_throttle\"\nweek = 1\nretry_after_s = 86401\n",
            "faults.retry_after_s",
        ),
    ];
    for (text, expected) in cases {
        let file = write(dir.path(), "cal.toml", &text);
        let out = harness()
            .args(["scenario", "check"])
            .arg(&file)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{expected}: {stderr}");
        assert!(stderr.contains(expected), "{expected}: {stderr}");
    }
}
