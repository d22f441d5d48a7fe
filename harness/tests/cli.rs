//! The command line as CI uses it: exit codes and messages.

use std::process::Command;

mod common;

use common::{harness_command as harness, smoke_text as smoke, write};

#[test]
fn smoke_passes_and_writes_reports() {
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("junit.xml");
    let file = write(dir.path(), "smoke.toml", &smoke());
    let out = harness()
        .args(["run", "--no-progress", "--out"])
        .arg(dir.path().join("out"))
        .arg("--junit")
        .arg(&junit)
        .arg(&file)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("1 met expectations"), "{stdout}");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("out/report.json")).unwrap())
            .unwrap();
    assert_eq!(report["scenarios"][0]["uploads_accepted"], 1);
    assert_eq!(report["scenarios"][0]["outcome"], "pass");
    // Where and when, and what it was held to beside what it measured.
    for key in ["created_at", "host", "git_commit", "harness_version"] {
        assert!(report[key].as_str().is_some_and(|v| !v.is_empty()), "{key}");
    }
    let budget = &report["scenarios"][0]["budgets"][0];
    assert_eq!(budget["budget"], "collect_ms_per_1k_clients");
    assert_eq!(budget["limit"], 250.0);
    assert!(budget["worst"].as_f64().unwrap() > 0.0);
    assert!(
        stdout.contains("budget collect_ms_per_1k_clients: worst"),
        "{stdout}"
    );
    assert!(report["scenarios"][0]["peak_rss_mib"].as_f64().unwrap() > 1.0);
    assert!(
        report["scenarios"][0]["timings"]["probes"]
            .as_array()
            .unwrap()
            .len()
            >= 10
    );
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("<testsuite name=\"smoke\""), "{xml}");
    assert!(
        dir.path().join("out/smoke/sites/P01.db").exists(),
        "site database is kept"
    );
}

#[test]
fn a_wrong_upload_expectation_exits_1_and_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "s.toml",
        &smoke().replace("uploads = 1", "uploads = 3"),
    );
    let out = harness()
        .args(["run", "--out"])
        .arg(dir.path())
        .arg(&file)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("upload_count"), "{stdout}");
    assert!(stdout.contains("expects 3"), "{stdout}");
}

#[test]
fn a_misspelled_key_exits_2_naming_key_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let text = smoke().replace("clients = 2000", "clientz = 2000");
    let line = text.lines().position(|l| l.starts_with("clientz")).unwrap() + 1;
    let file = write(dir.path(), "s.toml", &text);
    for args in [vec!["run"], vec!["scenario", "check"]] {
        let out = harness().args(&args).arg(&file).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains("clientz"), "{stderr}");
        assert!(stderr.contains(&format!("line {line}")), "{stderr}");
    }
}

#[test]
fn an_invalid_value_names_key_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let text = smoke().replace("code = \"P01\"", "code = \"P0001\"");
    let line = text.lines().position(|l| l.contains("P0001")).unwrap() + 1;
    let file = write(dir.path(), "s.toml", &text);
    let out = harness()
        .args(["scenario", "check"])
        .arg(&file)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr.contains(&format!("s.toml:{line}: `hierarchy.primary.code`")),
        "{stderr}"
    );
}

/// `scenario check` names every problem of a file at once, each with its line, not only the
/// first.
#[test]
fn every_problem_of_a_file_is_named_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let text = smoke()
        .replace("code = \"P01\"", "code = \"P0001\"")
        .replace("version = \"5.00.8540.1000\"", "version = \"banana\"")
        .replace("custom_tables = 2", "custom_tables = 2\napps = 100001")
        .replace(
            "findings = []",
            "findings = [\"late_delivery\", \"late_delivery\"]",
        )
        .replace(
            "collect_ms_per_1k_clients = 250",
            "collect_ms_per_1k_clients = -1",
        )
        + "\n[[faults]]\nkind = \"upstream_status\"\nweek = 1\nstatus = 200\n";
    let line_of = |needle: &str| text.lines().position(|l| l.contains(needle)).unwrap() + 1;
    let file = write(dir.path(), "s.toml", &text);
    let expected = [
        format!("s.toml:{}: `hierarchy.version`", line_of("banana")),
        format!("s.toml:{}: `hierarchy.primary.code`", line_of("P0001")),
        format!(
            "s.toml:{}: `hierarchy.primary.apps`",
            line_of("apps = 100001")
        ),
        format!("s.toml:{}: `expect.findings`", line_of("findings = [")),
        format!(
            "s.toml:{}: `budget.collect_ms_per_1k_clients`",
            line_of("= -1")
        ),
        format!("s.toml:{}: `faults.status`", line_of("status = 200")),
    ];
    for args in [vec!["run"], vec!["scenario", "check"]] {
        let out = harness().args(&args).arg(&file).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        // All of them, in the file's order.
        let at: Vec<usize> = expected
            .iter()
            .map(|said| {
                stderr
                    .find(said.as_str())
                    .unwrap_or_else(|| panic!("{said} missing from:\n{stderr}"))
            })
            .collect();
        assert!(at.windows(2).all(|w| w[0] < w[1]), "{stderr}");
    }
}

/// A mistyped command is answered with the one meant, at its own level, transposed letters too.
#[test]
fn a_mistyped_command_gets_a_suggestion() {
    for (args, meant) in [
        (vec!["rnu"], "'run'"),
        (vec!["scenario", "chekc"], "'check'"),
        (vec!["sct", "perpare"], "'prepare'"),
    ] {
        let out = harness().args(&args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(
            stderr.contains(&format!("a similar subcommand exists: {meant}")),
            "{args:?}: {stderr}"
        );
    }
    let far = harness().arg("zzzz").output().unwrap();
    assert!(!String::from_utf8_lossy(&far.stderr).contains("similar"));
}

/// A budget on a probe the run does not have, or never runs at the scenario's level, would be a
/// gate that does nothing: refused by `scenario check` and `run`, with its key and line.
#[test]
fn a_budget_on_a_probe_that_never_runs_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    for (budget, said) in [
        ("[budget.probes]\nTEL_Nope = 5", "no probe `TEL_Nope`"),
        (
            "[budget.probe_steps]\ntel_osversions = 5",
            "no probe `tel_osversions`",
        ),
        ("[budget.probes]\nTEL_TopCPUs = 5", "never reaches"),
        // Written inline, or dotted, it keeps its line too.
        ("probes = { TEL_Nope = 5 }", "no probe `TEL_Nope`"),
        ("probe_steps.TEL_Nope = 5", "no probe `TEL_Nope`"),
    ] {
        let text = smoke().replace(
            "collect_ms_per_1k_clients = 250",
            &format!("collect_ms_per_1k_clients = 250\n{budget}"),
        );
        let line = text.lines().count(); // the budget's key is the file's last line
        let file = write(dir.path(), "s.toml", &text);
        for args in [vec!["scenario", "check"], vec!["run", "--out"]] {
            let mut command = harness();
            command.args(&args);
            if args[0] == "run" {
                command.arg(dir.path().join("out"));
            }
            let out = command.arg(&file).output().unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert_eq!(
                out.status.code(),
                Some(2),
                "{args:?} {budget}: {stderr}{stdout}"
            );
            let told = format!("{stderr}{stdout}");
            assert!(told.contains(said), "{args:?}: {told}");
            assert!(
                told.contains(&format!("s.toml:{line}: `budget.")),
                "{args:?}: {told}"
            );
        }
    }
}

/// `--junit` never writes over the run's own files, the scenario it runs, or through an alias
/// of them: refused before anything runs. An .xml at the top of --out is fine.
#[test]
fn junit_never_replaces_what_the_run_reads_or_writes() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "smoke.toml", &smoke());
    let out_dir = dir.path().join("out");
    for target in [
        out_dir.join("report.json"),
        out_dir.join("report.html"),
        out_dir.join("../out/report.json"),
        out_dir.join("smoke/manifest.json"),
        file.clone(),
    ] {
        let out = harness()
            .args(["run", "--out"])
            .arg(&out_dir)
            .arg("--junit")
            .arg(&target)
            .arg(&file)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{}: {stderr}", target.display());
        assert!(!out_dir.join("smoke").exists(), "nothing ran");
    }
    assert_eq!(std::fs::read_to_string(&file).unwrap(), smoke());
    let ok = harness()
        .args(["run", "--out"])
        .arg(&out_dir)
        .arg("--junit")
        .arg(out_dir.join("junit.xml"))
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(ok.status.code(), Some(0));
    let check = harness()
        .arg("check")
        .arg(&out_dir)
        .arg("--junit")
        .arg(out_dir.join("smoke/attempts.jsonl"))
        .output()
        .unwrap();
    assert_eq!(check.status.code(), Some(2));
    assert!(
        std::fs::read_to_string(out_dir.join("smoke/attempts.jsonl"))
            .unwrap()
            .starts_with('{')
    );
}

#[test]
fn an_unknown_engine_exits_2() {
    let out = harness()
        .args(["run", "--engine", "oracle", "x.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("embedded"));
}

#[test]
fn probes_lists_the_catalog() {
    let out = harness()
        .args(["probes", "--level", "basic"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout.contains("TEL_SiteList"));
    let out = harness()
        .args(["probes", "--level", "off"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot be turned off"));
}

#[test]
fn upstream_serves_until_terminated() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let mut child = harness()
        .args(["upstream", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    reader.read_line(&mut line).unwrap();
    assert!(line.starts_with("listening on http://127.0.0.1:"), "{line}");
    // SIGTERM stops it cleanly (exit 0), as a service manager would.
    let status = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(child.wait().unwrap().code(), Some(0));
}

#[test]
fn load_upstream_measures_uploads() {
    let dir = tempfile::tempdir().unwrap();
    let out = harness()
        .args([
            "load-upstream",
            "--requests",
            "40",
            "--concurrency",
            "4",
            "--payload-kb",
            "2",
            "--json",
            "--data-dir",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["succeeded"], 40);
    assert_eq!(report["failed"], 0);
    assert!(report["uploads_per_s"].as_f64().unwrap() > 0.0);
    assert!(report["p99_ms"].as_f64().unwrap() >= report["p50_ms"].as_f64().unwrap());
    let stored = mock_upstream::store::read_only(dir.path()).unwrap();
    assert_eq!(stored.len(), 40, "40 uploads on disk");
}

#[test]
fn view_prints_the_results_table() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "smoke.toml", &smoke());
    let out = dir.path().join("out");
    let run = harness()
        .args(["run", "--out"])
        .arg(&out)
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(0));
    let view_of = |args: &[&str]| {
        harness()
            .arg("view")
            .args(args)
            .arg("--out")
            .arg(&out)
            .output()
            .unwrap()
    };
    let view = view_of(&["--site", "p01", "--week", "1", "--probe", "TEL_Settings"]);
    let stdout = String::from_utf8_lossy(&view.stdout);
    assert_eq!(
        view.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&view.stderr)
    );
    // Every column of the table, as `SELECT *` shows them (ResultData moved last).
    let db = rusqlite::Connection::open(out.join("smoke/sites/P01.db")).unwrap();
    let mut table: Vec<String> = db
        .prepare("SELECT name FROM pragma_table_info('TEL_TelemetryResults')")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut shown: Vec<String> = stdout
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .map(String::from)
        .collect();
    table.sort();
    shown.sort();
    assert_eq!(shown, table, "{stdout}");
    assert!(
        stdout.contains(r#"{"level":"enhanced","mode":"online"}"#),
        "{stdout}"
    );
    assert!(stdout.contains("(1 rows)"), "{stdout}");
    assert!(
        !String::from_utf8_lossy(&view.stderr).contains("did not finish"),
        "a whole run gets no note"
    );
    // A run that stopped before its end has no manifest: the table comes with a note saying so.
    std::fs::remove_file(out.join("smoke/manifest.json")).unwrap();
    let unfinished = view_of(&["--site", "p01"]);
    assert_eq!(unfinished.status.code(), Some(0));
    let note = String::from_utf8_lossy(&unfinished.stderr);
    assert!(
        note.contains("has no manifest.json: its run did not finish") && note.contains("P01"),
        "{note}"
    );
    let missing = view_of(&["--site", "Q99"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("Q99"));
}

#[test]
fn a_sql_server_engine_without_a_server_exits_2_and_says_what_is_missing() {
    if harness::engine::provision::docker_reachable() {
        eprintln!(
            "SKIPPED: a Docker engine is reachable here, so --engine docker would start SQL Server"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "smoke.toml", &smoke());
    let out = harness()
        .args(["run", "--engine", "docker", "--out"])
        .arg(dir.path())
        .arg(&file)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("Docker") && stderr.contains("HARNESS_MSSQL_URL"),
        "{stderr}"
    );
    let out = harness()
        .args(["run", "--engine", "external", "--out"])
        .arg(dir.path())
        .arg(&file)
        .env_remove("HARNESS_MSSQL_URL")
        .env(
            "HARNESS_MSSQL_URL_P01",
            "server=tcp:127.0.0.1,1;user=sa;password=x;TrustServerCertificate=true",
        )
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("cannot reach SQL Server at 127.0.0.1:1"),
        "{stderr}"
    );
}

#[test]
fn two_scenarios_of_one_name_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let a = write(dir.path(), "a.toml", &smoke());
    let b = write(
        dir.path(),
        "b.toml",
        &smoke().replace("seed = 42", "seed = 43"),
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
    assert!(stderr.contains("both named `smoke`"), "{stderr}");
    assert!(!dir.path().join("out").exists(), "nothing ran");
}

/// The README's timeline is what `harness run --timeline` prints for that scenario.
#[test]
fn the_readme_timeline_is_what_the_program_prints() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let marker = "<!-- timeline:replication-outage-then-throttling -->\n```\n";
    let start = readme.find(marker).expect("the README shows a timeline") + marker.len();
    let shown = &readme[start..start + readme[start..].find("```").unwrap()];
    let dir = tempfile::tempdir().unwrap();
    let out = harness()
        .args(["run", "--timeline", "--no-progress", "--out"])
        .arg(dir.path())
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../scenarios/field/replication-outage-then-throttling.toml"
        ))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let printed = &stdout[stdout.find("timeline of").unwrap()..];
    let printed = &printed[..printed.find("\n\n").unwrap() + 1];
    assert_eq!(printed, shown);
}

/// The timeline tells offline weeks as the service connection tool's steps, and separates
/// attempts whatever their wait (found by an attack: `429 201` with `Retry-After: 0`).
#[test]
fn the_timeline_tells_offline_weeks_and_zero_waits() {
    let dir = tempfile::tempdir().unwrap();
    let throttled = write(
        dir.path(),
        "zero.toml",
        &(smoke().replace("name = \"smoke\"", "name = \"zero\"")
            + "\n[[faults]]\nkind = \"upstream_throttle\"\nweek = 1\nretry_after_s = 0\ncount = 1\n"),
    );
    let out = harness()
        .args(["run", "--timeline", "--no-progress", "--out"])
        .arg(dir.path().join("out"))
        .arg(&throttled)
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../scenarios/offline.toml"
        ))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("upload: 429; 201 — stored"), "{stdout}");
    assert!(
        stdout.contains("prepare, connect, import: the cabinet was stored"),
        "{stdout}"
    );
}

/// Each scenario's line is printed as it finishes: CI shows progress, not silence until the end.
#[test]
fn each_scenario_is_reported_as_soon_as_it_finishes() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let first = write(
        dir.path(),
        "first.toml",
        &smoke().replace("name = \"smoke\"", "name = \"first\""),
    );
    let slow = write(
        dir.path(),
        "slow.toml",
        &smoke()
            .replace("name = \"smoke\"", "name = \"slow\"")
            .replace("clients = 2000", "clients = 60000")
            .replace("weeks = 1", "weeks = 3")
            .replace("uploads = 1", "uploads = 3")
            .replace(
                "collect_ms_per_1k_clients = 250",
                "collect_ms_per_1k_clients = 100000",
            ),
    );
    let mut child = harness()
        .args(["run", "--no-progress", "--out"])
        .arg(dir.path().join("out"))
        .arg(&first)
        .arg(&slow)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let line = lines.next().unwrap().unwrap();
    assert!(line.starts_with("ok   first"), "{line}");
    assert!(
        child.try_wait().unwrap().is_none(),
        "the first scenario's line came only after the run ended"
    );
    let rest: Vec<String> = lines.map(Result::unwrap).collect();
    assert!(child.wait().unwrap().success(), "{rest:?}");
    assert!(rest.iter().any(|l| l.starts_with("ok   slow")), "{rest:?}");
}

/// `RUST_LOG=info` narrates the stages, and a log written to a file or a pipe has no colour
/// codes.
#[test]
fn the_log_narrates_the_stages_without_colour_codes_off_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "smoke.toml", &smoke());
    let out = harness()
        .env("RUST_LOG", "info")
        .args(["run", "--no-progress", "--out"])
        .arg(dir.path().join("out"))
        .arg(&file)
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    for stage in [
        "seeding the site databases",
        "collect:",
        "replicate:",
        "submit:",
        "submitted",
        "checking",
    ] {
        assert!(log.contains(stage), "{stage}: {log}");
    }
    assert!(
        !log.contains('\u{1b}'),
        "colour codes in a piped log: {log}"
    );
}

/// On a terminal, a progress line says which scenario is in which stage (run under `script`,
/// which gives the harness a terminal).
#[test]
fn on_a_terminal_the_progress_names_the_scenario_and_its_stage() {
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("SKIPPED: `script` (util-linux) is not installed; no terminal to draw on");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "smoke.toml", &smoke());
    let command = format!(
        "{} run {} --out {}",
        env!("CARGO_BIN_EXE_harness"),
        file.display(),
        dir.path().join("out").display()
    );
    let out = Command::new("script")
        .args(["-qc", &command, "/dev/null"])
        .output()
        .unwrap();
    let screen = String::from_utf8_lossy(&out.stdout);
    assert!(screen.contains("smoke: seeding"), "{screen}");
    assert!(screen.contains("1 met expectations"), "{screen}");
}

/// A scenario's name is printed on terminals: escape codes and line breaks in it are refused.
#[test]
fn a_name_with_control_characters_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "s.toml",
        &smoke().replace("name = \"smoke\"", "name = \"a\\u001b[31m\\nok   fake\""),
    );
    let out = harness()
        .args(["scenario", "check"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("printable"));
    // Nor text that reorders or hides what follows it on a terminal.
    for invisible in ["\\u202E", "\\u200B"] {
        let file = write(
            dir.path(),
            "s.toml",
            &smoke().replace("name = \"smoke\"", &format!("name = \"a{invisible}b\"")),
        );
        let out = harness()
            .args(["scenario", "check"])
            .arg(&file)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{invisible}");
    }
    // It names a folder: one longer than a file system allows is refused by the check too.
    let long = write(
        dir.path(),
        "long.toml",
        &smoke().replace(
            "name = \"smoke\"",
            &format!("name = \"{}\"", "n".repeat(300)),
        ),
    );
    let out = harness()
        .args(["scenario", "check"])
        .arg(&long)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("at most 128 bytes"));
}

/// `--jobs 2` runs scenarios together; the report keeps the order they were given in.
#[test]
fn jobs_run_scenarios_together_and_the_report_keeps_their_order() {
    let dir = tempfile::tempdir().unwrap();
    let first = write(
        dir.path(),
        "a.toml",
        &smoke().replace("name = \"smoke\"", "name = \"first\""),
    );
    let second = write(
        dir.path(),
        "b.toml",
        &smoke().replace("name = \"smoke\"", "name = \"second\""),
    );
    let out = harness()
        .args(["run", "--jobs", "2", "--out"])
        .arg(dir.path().join("out"))
        .arg(&first)
        .arg(&second)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("2 met expectations"), "{stdout}");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("out/report.json")).unwrap())
            .unwrap();
    assert_eq!(report["scenarios"][0]["name"], "first");
    assert_eq!(report["scenarios"][1]["name"], "second");
}
