//! The CI workflow offered to users (`ci/github-actions.yml`) does what its header says, in a
//! user's repository: installs the harness, caches, bounds its time, runs the field library,
//! publishes JUnit, keeps the reports — and asks the harness only for flags it has.

mod common;

#[test]
fn the_users_workflow_does_what_it_says() {
    let workflow = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../ci/github-actions.yml"
    ))
    .unwrap();
    for needed in [
        "timeout-minutes:",
        "actions/cache@",
        "cargo install --locked --git",
        "scenarios/field/*.toml",
        "--junit harness-out/junit.xml",
        "mikepenz/action-junit-report@",
        "harness-out/report.html",
        "harness-out/report.json",
        "actions/upload-artifact@",
    ] {
        assert!(workflow.contains(needed), "the workflow lacks {needed}");
    }
    // The cache, the installed binary and the field library follow the commit the harness's
    // ref names now: a cached binary never outlives a new harness.
    let rev = "${{ steps.harness.outputs.rev }}";
    for line in [
        "key: harness-",
        "cargo install --locked --git",
        "fetch -q --depth 1",
    ] {
        let at = workflow
            .lines()
            .find(|l| l.contains(line))
            .unwrap_or_else(|| panic!("no `{line}`"));
        assert!(at.contains(rev), "`{at}` does not follow the commit");
    }
    assert!(
        workflow.contains("~/.cargo/.crates2.json"),
        "cargo's install record is cached"
    );
    // A user's repository is not this one: no workspace package, no cargo run.
    for assumed in ["-p harness", "cargo run"] {
        assert!(
            !workflow.contains(assumed),
            "the workflow assumes this repository: {assumed}"
        );
    }
    let help = common::harness_command()
        .args(["run", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    for flag in ["--probes", "--no-progress", "--out", "--junit"] {
        assert!(workflow.contains(flag) && help.contains(flag), "{flag}");
    }
}
