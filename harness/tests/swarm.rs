//! `harness swarm`: a short campaign passes on the pipeline as it is; with a bug planted behind
//! the test-only switch, the swarm finds it, writes the seed that reproduces it and shrinks it.
//! Both in one test: the planted bug is a switch for the whole process.

mod common;

use std::time::Duration;

use harness::planted::{self, PlantedBug};
use harness::swarm::{self, Limits, SeedDraw, SwarmOptions};

fn options(out: &std::path::Path, seeds: u64, start_seed: u64) -> SwarmOptions {
    SwarmOptions {
        seeds: Some(seeds),
        duration: None,
        start_seed,
        limits: Limits {
            max_primaries: 8,
            ..Limits::swarm(400)
        },
        probes: None,
        engine: None,
        out: out.to_path_buf(),
        jobs: 2,
        shrink_runs: 60,
        progress: false,
    }
}

/// The number of `[[faults]]`, primaries and weeks of a scenario file: what shrinking cuts.
fn size(text: &str) -> (usize, usize, i64) {
    let t: toml::Table = toml::from_str(text).unwrap();
    let n = |v: Option<&toml::Value>| v.and_then(|v| v.as_array()).map_or(0, Vec::len);
    (
        n(t.get("faults")),
        n(t["hierarchy"].get("primary")),
        t["run"]["weeks"].as_integer().unwrap(),
    )
}

#[test]
fn a_seed_draws_the_same_scenario_every_time() {
    for seed in [0, 1, 7, u64::MAX] {
        let limits = Limits::swarm(2000);
        assert_eq!(
            SeedDraw::new(seed, &limits).scenario_toml(),
            SeedDraw::new(seed, &limits).scenario_toml()
        );
    }
    let limits = Limits::swarm(2000);
    let drawn: std::collections::BTreeSet<String> = (0..20)
        .map(|s| SeedDraw::new(s, &limits).scenario_toml())
        .collect();
    assert_eq!(drawn.len(), 20, "twenty seeds, twenty scenarios");
    // Every draw is a valid scenario, and the swarm's subsets of fault kinds vary what is drawn.
    let mut kinds = std::collections::BTreeSet::new();
    for s in 0..200 {
        let text = SeedDraw::new(s, &limits).scenario_toml();
        // A TOML file any reader takes (its integers signed 64-bit), and a valid scenario.
        toml::from_str::<toml::Table>(&text).unwrap_or_else(|e| panic!("seed {s}: {e}"));
        let scenario = common::scenario(&text);
        kinds.extend(scenario.faults.iter().map(|f| f.kind.get_ref().name()));
    }
    assert!(kinds.len() >= 14, "fault kinds drawn: {kinds:?}");
}

#[test]
fn a_short_swarm_passes_and_a_planted_bug_is_found_and_shrunk() {
    let runtime = harness_runtime();
    let dir = tempfile::tempdir().unwrap();

    // The pipeline as it is: no seed fails.
    let clean = dir.path().join("clean");
    let summary = runtime
        .block_on(swarm::run_swarm(
            &options(&clean, 16, 0),
            std::future::pending(),
        ))
        .unwrap();
    eprintln!(
        "clean swarm: {} seeds in {:.1} s, {:.2} seeds/s",
        summary.seeds_run, summary.seconds, summary.seeds_per_s
    );
    assert_eq!(summary.seeds_run, 16);
    assert!(summary.failures.is_empty(), "{:#?}", summary.failures);
    let written: serde_json::Value =
        serde_json::from_slice(&std::fs::read(clean.join("swarm.json")).unwrap()).unwrap();
    assert_eq!(written["seeds_run"], 16);

    // The submit stage drops one late row: the swarm must find it.
    planted::plant(PlantedBug::DropLateRow);
    let planted_dir = dir.path().join("planted");
    let summary = runtime
        .block_on(swarm::run_swarm(
            &options(&planted_dir, 40, 100),
            std::future::pending(),
        ))
        .unwrap();
    assert!(
        !summary.failures.is_empty(),
        "40 seeds did not find the planted bug"
    );
    let failure = &summary.failures[0];
    assert_eq!(
        failure.violation.rule, "delivered_as_modelled",
        "{failure:#?}"
    );
    let original = std::fs::read_to_string(&failure.scenario).unwrap();
    assert_eq!(
        original,
        SeedDraw::new(failure.seed, &options(&planted_dir, 1, 0).limits).scenario_toml(),
        "the file is the seed's draw, byte for byte"
    );
    let shrunk_path = failure.shrunk.as_ref().expect("the failure shrank");
    let shrunk = std::fs::read_to_string(shrunk_path).unwrap();
    let (before, after) = (size(&original), size(&shrunk));
    eprintln!("shrunk {before:?} → {after:?} (faults, primaries, weeks)");
    assert!(
        after.0 <= before.0 && after.1 <= before.1 && after.2 <= before.2 && after != before,
        "{before:?} → {after:?}\n{shrunk}"
    );
    // The README's example: seed 105 shrinks to one primary, two weeks and one fault (the
    // service connection point down in week 1, so week 1's runs wait, late, for week 2).
    assert_eq!(failure.seed, 105);
    assert_eq!(after, (1, 1, 2), "{shrunk}");
    let t: toml::Table = toml::from_str(&shrunk).unwrap();
    assert_eq!(
        t["faults"][0]["kind"].as_str(),
        Some("scp_down"),
        "{shrunk}"
    );
    assert_eq!(t["faults"][0]["week"].as_integer(), Some(1), "{shrunk}");
    assert_eq!(
        t["hierarchy"]["primary"][0]["clients"].as_integer(),
        Some(1),
        "{shrunk}"
    );
    // Both files reproduce it from disk, and pass once the bug is gone.
    let replay = |path: &std::path::Path, out: &str| {
        let text = std::fs::read_to_string(path).unwrap();
        runtime.block_on(swarm::run_and_check(
            &text,
            path,
            &dir.path().join(out),
            &options(&planted_dir, 1, 0),
            swarm::Hold::Invariants,
        ))
    };
    for (path, out) in [(&failure.scenario, "r1"), (shrunk_path, "r2")] {
        let v = replay(path, out).expect_err("still fails");
        assert_eq!(v.rule, "delivered_as_modelled");
    }
    planted::clear();
    replay(shrunk_path, "r3").expect("passes without the planted bug");
}

/// Found by the swarm (seed 32, shrunk): two cabinet faults in one week made the run fail, the
/// second looking for the cabinet where the first had moved it from.
#[test]
fn cabinet_faults_of_one_week_strike_the_cabinet_in_turn() {
    let text = r#"name = "cabinet-faults"
seed = 0
[hierarchy]
cas = true
level = "basic"
scp_mode = "offline"
installed = "2026-01-05"
[[hierarchy.primary]]
code = "P01"
clients = 20
[run]
weeks = 2
[[faults]]
kind = "cab_renamed"
to = "usage-renamed.cab"
week = 1
[[faults]]
kind = "cab_renamed"
to = "usage-renamed.cab"
week = 1
[[faults]]
kind = "cab_corrupted"
week = 1
"#;
    let dir = tempfile::tempdir().unwrap();
    let options = options(dir.path(), 1, 0);
    harness_runtime()
        .block_on(swarm::run_and_check(
            text,
            std::path::Path::new("cabinet-faults.toml"),
            dir.path(),
            &options,
            swarm::Hold::Invariants,
        ))
        .unwrap();
}

fn harness_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(3)
        .enable_all()
        .thread_keep_alive(Duration::from_secs(1))
        .build()
        .unwrap()
}

/// `harness scenario shrink` on a file written by hand: its expectations unmet (P02's weeks
/// never reach the CAS, so they are never delivered), it is cut while it still fails that way.
#[test]
fn scenario_shrink_cuts_a_hand_written_file_to_what_still_fails() {
    let dir = tempfile::tempdir().unwrap();
    let file = common::write(
        dir.path(),
        "outage.toml",
        r#"name = "outage"
seed = 1
[hierarchy]
cas = true
installed = "2026-01-05"
[[hierarchy.primary]]
code = "P01"
clients = 40
[[hierarchy.primary]]
code = "P02"
clients = 40
[[hierarchy.primary]]
code = "P03"
clients = 40
[run]
weeks = 3
[[faults]]
kind = "replication_down"
site = "P02"
weeks = "2..=3"
[[faults]]
kind = "scp_restart"
week = 1
"#,
    );
    let out = common::harness_command()
        .args(["scenario", "shrink", "--max-runs", "40"])
        .arg(&file)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("expectations_met"), "{stdout}");
    let shrunk = std::fs::read_to_string(dir.path().join("outage.shrunk.toml")).unwrap();
    let t: toml::Table = toml::from_str(&shrunk).unwrap();
    let primaries = t["hierarchy"]["primary"].as_array().unwrap();
    assert_eq!(primaries.len(), 1, "{shrunk}");
    assert_eq!(primaries[0]["code"].as_str(), Some("P02"), "{shrunk}");
    assert_eq!(t["run"]["weeks"].as_integer(), Some(2), "{shrunk}");
    let faults = t["faults"].as_array().unwrap();
    assert_eq!(faults.len(), 1, "{shrunk}");
    assert_eq!(faults[0]["kind"].as_str(), Some("replication_down"));
    assert_eq!(faults[0]["weeks"].as_str(), Some("2..=2"));
    // What passes has nothing to shrink.
    let passing = common::write(dir.path(), "smoke.toml", &common::smoke_text());
    let out = common::harness_command()
        .args(["scenario", "shrink"])
        .arg(&passing)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("nothing to shrink"));
}

/// Ctrl-C stops a swarm with its summary written; `--print` and `--replay` show and replay a
/// seed.
#[test]
fn the_swarm_command_stops_on_ctrl_c_and_replays_a_seed() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("swarm");
    let child = common::harness_command()
        .args([
            "swarm",
            "--for",
            "1h",
            "--max-clients",
            "100",
            "--no-progress",
            "--out",
        ])
        .arg(&out)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let summary = out.join("swarm.json");
    let started = std::time::Instant::now();
    while !summary.exists() && started.elapsed() < Duration::from_secs(120) {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(summary.exists(), "no seed finished in two minutes");
    let killed = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(130),
        "cut short, nothing found: {stdout}"
    );
    assert!(stdout.contains("stopped by Ctrl-C"), "{stdout}");
    let written: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&summary).unwrap()).unwrap();
    assert_eq!(written["interrupted"], true);
    assert!(written["seeds_run"].as_u64().unwrap() >= 1);

    let printed = common::harness_command()
        .args(["swarm", "--print", "3", "--max-clients", "100"])
        .output()
        .unwrap();
    assert_eq!(printed.status.code(), Some(0));
    let text = String::from_utf8(printed.stdout).unwrap();
    assert_eq!(
        text,
        SeedDraw::new(3, &Limits::swarm(100)).scenario_toml(),
        "the CLI prints the library's draw"
    );
    let file = common::write(dir.path(), "seed-3.toml", &text);
    let replayed = common::harness_command()
        .args(["swarm", "--replay"])
        .arg(&file)
        .arg("--out")
        .arg(dir.path().join("replay"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&replayed.stdout);
    assert_eq!(replayed.status.code(), Some(0), "{stdout}");
    assert!(stdout.starts_with("ok "), "{stdout}");
}
