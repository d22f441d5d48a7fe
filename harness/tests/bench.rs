//! `harness bench` finds a query that went quadratic, and `[budget.probes]` holds one probe to
//! its own budget.

mod common;

use harness::pipeline::run_scenario;

/// A planted regression: every client compared with every other.
fn quadratic_probe(dir: &std::path::Path) -> std::path::PathBuf {
    let probes = dir.join("probes");
    std::fs::create_dir_all(&probes).unwrap();
    let sql = "SELECT COUNT(*) AS pairs\nFROM System_DISC AS a\nJOIN System_DISC AS b ON a.ItemKey <= b.ItemKey;\n";
    std::fs::write(probes.join("TEL_Quadratic.sqlite.sql"), sql).unwrap();
    std::fs::write(probes.join("TEL_Quadratic.mssql.sql"), sql).unwrap();
    std::fs::write(
        probes.join("TEL_Quadratic.toml"),
        "level = \"basic\"\ncategory = \"clients\"\ndescription = \"Pairs of clients\"\n",
    )
    .unwrap();
    probes
}

#[test]
fn a_query_that_went_quadratic_is_found() {
    let dir = tempfile::tempdir().unwrap();
    let probes = quadratic_probe(dir.path());
    let scenario = common::write(dir.path(), "smoke.toml", &common::smoke_text());
    let out = common::harness_command()
        .arg("bench")
        .arg(&scenario)
        .args([
            "--clients",
            "300,1000,3000",
            "--metric",
            "steps",
            "--repeat",
            "1",
        ])
        .arg("--probes")
        .arg(&probes)
        .arg("--out")
        .arg(dir.path().join("bench"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("1 probe(s) above the scaling exponent 1.2 (by steps): TEL_Quadratic"),
        "{stdout}"
    );
    let bench: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("bench/bench.json")).unwrap())
            .unwrap();
    let row = |name: &str| {
        bench["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .unwrap()
            .clone()
    };
    let quadratic = row("TEL_Quadratic")["steps_exponent"].as_f64().unwrap();
    assert!((1.9..2.1).contains(&quadratic), "{quadratic}");
    // A probe that counts per value grows linearly in its steps.
    let linear = row("TEL_ClientVersions")["steps_exponent"]
        .as_f64()
        .unwrap();
    assert!((0.9..1.1).contains(&linear), "{linear}");

    // A size the scenario could not be written with is refused.
    let out = common::harness_command()
        .arg("bench")
        .arg(&scenario)
        .args(["--clients", "100,200000"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("more than a stand-alone primary site supports")
    );

    // Without the planted probe, nothing is above: exit 0.
    let out = common::harness_command()
        .arg("bench")
        .arg(&scenario)
        .args([
            "--clients",
            "300,3000",
            "--metric",
            "steps",
            "--repeat",
            "1",
        ])
        .arg("--out")
        .arg(dir.path().join("bench2"))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[tokio::test]
async fn a_probe_over_its_own_budget_is_a_finding() {
    let dir = tempfile::tempdir().unwrap();
    let text = common::smoke_text()
        .replace("collect_ms_per_1k_clients = 250", "collect_ms_per_1k_clients = 250\n[budget.probes]\nTEL_OSVersions = 0.000001\nTEL_SiteList = 1000")
        .replace("findings = []", "findings = [\"budget_exceeded\"]");
    let scenario = common::scenario(&text);
    let report = run_scenario(&scenario, &common::options(dir.path()))
        .await
        .unwrap();
    assert!(report.met_expectations, "{:?}", report.expectation_failures);
    let over: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.code.as_str() == "budget_exceeded")
        .collect();
    assert_eq!(over.len(), 1, "{over:?}");
    assert_eq!(over[0].probe.as_deref(), Some("TEL_OSVersions"));
    // Each probe budget is reported beside the worst measured against it.
    let budget = report
        .budgets
        .iter()
        .find(|b| b.budget == "probes.TEL_OSVersions")
        .expect("the probe's budget is reported");
    assert!(budget.worst > budget.limit);
    assert!(
        report
            .budgets
            .iter()
            .any(|b| b.budget == "probes.TEL_SiteList")
    );
}

/// `[budget.probe_steps]` holds a probe to its virtual-machine steps, which do not vary from run
/// to run: a budget of exactly what a run took passes, one step less fails.
#[tokio::test]
async fn a_probe_over_its_steps_budget_is_a_finding_and_exactly_at_it_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let first = run_scenario(
        &common::scenario(&common::smoke_text()),
        &common::options(&dir.path().join("first")),
    )
    .await
    .unwrap();
    let per_1k = |probe: &str| {
        let t = first
            .timings
            .probes
            .iter()
            .find(|t| t.probe == probe)
            .unwrap();
        t.vm_steps.expect("the embedded engine counts steps") as f64 / 2.0 // 2,000 clients
    };
    let (versions, os) = (per_1k("TEL_ClientVersions"), per_1k("TEL_OSVersions"));
    let text = common::smoke_text()
        .replace(
            "collect_ms_per_1k_clients = 250",
            &format!(
                "collect_ms_per_1k_clients = 250\n[budget.probe_steps]\nTEL_ClientVersions = {versions}\nTEL_OSVersions = {}",
                os - 1.0
            ),
        )
        .replace("findings = []", "findings = [\"budget_exceeded\"]");
    let report = run_scenario(
        &common::scenario(&text),
        &common::options(&dir.path().join("second")),
    )
    .await
    .unwrap();
    assert!(report.met_expectations, "{:?}", report.expectation_failures);
    let over: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.code.as_str() == "budget_exceeded")
        .collect();
    assert_eq!(over.len(), 1, "{over:?}");
    assert_eq!(over[0].probe.as_deref(), Some("TEL_OSVersions"));
    let budget = |key: &str| report.budgets.iter().find(|b| b.budget == key).unwrap();
    assert_eq!(budget("probe_steps.TEL_ClientVersions").worst, versions);
    assert_eq!(budget("probe_steps.TEL_OSVersions").worst, os);
}

/// "Per 1,000 clients" counts a smaller site as 1,000: a one-client site's fixed costs are not
/// multiplied a thousandfold into a budget breach.
#[tokio::test]
async fn a_tiny_site_is_held_to_its_budget_as_a_thousand_clients() {
    let dir = tempfile::tempdir().unwrap();
    let text = common::smoke_text().replace("clients = 2000", "clients = 1");
    let report = run_scenario(&common::scenario(&text), &common::options(dir.path()))
        .await
        .unwrap();
    let budget = report
        .budgets
        .iter()
        .find(|b| b.budget == "collect_ms_per_1k_clients")
        .unwrap();
    let collected_ms = report.timings.stages.collect_ms;
    assert!(
        budget.worst <= collected_ms + 1e-9,
        "{} ms per 1,000 clients from a run of {collected_ms} ms",
        budget.worst
    );
}

/// A scenario whose only budget is on steps is held to it: the budgets check applies.
#[tokio::test]
async fn a_steps_budget_alone_makes_the_budgets_check_apply() {
    let dir = tempfile::tempdir().unwrap();
    let text = common::smoke_text().replace(
        "collect_ms_per_1k_clients = 250",
        "[budget.probe_steps]\nTEL_SiteList = 1000000000",
    );
    let report = run_scenario(&common::scenario(&text), &common::options(dir.path()))
        .await
        .unwrap();
    assert!(
        report
            .checks
            .iter()
            .any(|c| c.check == harness::finding::Check::Budgets),
        "{:?}",
        report.checks
    );
}
