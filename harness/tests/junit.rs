//! JUnit XML that tells the truth: a case per check that applied, each with its own time; a
//! failure typed by its finding code with every message in its text; a scenario that could not
//! run as one case in error. Checked against the rules of the JUnit schema CI servers read
//! (Jenkins' and Surefire's): element nesting, the required attributes, counts that add up.

mod common;

use harness::pipeline::run_scenario;
use harness::report::{RunReport, ScenarioReport};
use harness::scenario::Scenario;

fn attr<'a>(node: roxmltree::Node<'a, 'a>, name: &str) -> &'a str {
    node.attribute(name)
        .unwrap_or_else(|| panic!("<{}> lacks `{name}`", node.tag_name().name()))
}

fn number(node: roxmltree::Node, name: &str) -> f64 {
    let value: f64 = attr(node, name)
        .parse()
        .unwrap_or_else(|_| panic!("`{name}` of <{}> is not a number", node.tag_name().name()));
    assert!(value >= 0.0);
    value
}

/// A test case: its name, time (s), and outcome (element, type, text) when it did not pass.
type Case = (String, f64, Option<(String, String, String)>);

/// Validates `xml` against the JUnit schema Jenkins' xUnit plugin uses (junit-10.xsd), with
/// `xmllint`, when `HARNESS_JUNIT_XSD` names the schema (`ci/junit-xsd.sh` fetches it; `.ci/run`
/// sets it, and then a missing schema or `xmllint` fails the test).
fn validate_against_the_xsd(xml: &str) {
    let Some(xsd) = std::env::var_os("HARNESS_JUNIT_XSD") else {
        eprintln!(
            "SKIPPED: the JUnit XSD validation: HARNESS_JUNIT_XSD is not set (ci/junit-xsd.sh \
             fetches the schema); the structural rules below still run"
        );
        return;
    };
    assert!(
        std::path::Path::new(&xsd).is_file(),
        "HARNESS_JUNIT_XSD={} is not a file",
        xsd.to_string_lossy()
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("junit.xml");
    std::fs::write(&file, xml).unwrap();
    let out = std::process::Command::new("xmllint")
        .args(["--noout", "--schema"])
        .arg(&xsd)
        .arg(&file)
        .output()
        .expect("xmllint runs (libxml2-utils)");
    assert!(
        out.status.success(),
        "the JUnit XML does not validate against {}:\n{}\n{xml}",
        xsd.to_string_lossy(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every rule of the schema this report relies on; the suites by name.
fn validate(xml: &str) -> std::collections::BTreeMap<String, Vec<Case>> {
    validate_against_the_xsd(xml);
    let doc = roxmltree::Document::parse(xml).expect("well-formed XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    let (mut tests, mut failures, mut errors) = (0.0, 0.0, 0.0);
    let mut suites = std::collections::BTreeMap::new();
    for suite in root.children().filter(|n| n.is_element()) {
        assert_eq!(suite.tag_name().name(), "testsuite");
        let name = attr(suite, "name").to_string();
        let suite_time = number(suite, "time");
        let mut cases = Vec::new();
        let (mut failed, mut errored, mut case_time) = (0.0, 0.0, 0.0);
        for case in suite.children().filter(|n| n.is_element()) {
            assert_eq!(
                case.tag_name().name(),
                "testcase",
                "only test cases in a suite"
            );
            let case_name = attr(case, "name").to_string();
            attr(case, "classname");
            let time = number(case, "time");
            case_time += time;
            let outcomes: Vec<_> = case.children().filter(|n| n.is_element()).collect();
            assert!(outcomes.len() <= 1, "{case_name}: one outcome at most");
            let outcome = outcomes.first().map(|o| {
                let kind = o.tag_name().name().to_string();
                assert!(kind == "failure" || kind == "error", "{kind}");
                if kind == "failure" {
                    failed += 1.0;
                } else {
                    errored += 1.0;
                }
                let text = o.text().unwrap_or_default().to_string();
                assert!(
                    !text.trim().is_empty(),
                    "{case_name}: the failure says why in its text"
                );
                attr(*o, "message");
                (kind, attr(*o, "type").to_string(), text)
            });
            cases.push((case_name, time, outcome));
        }
        assert_eq!(number(suite, "tests"), cases.len() as f64, "{name}: tests");
        assert_eq!(number(suite, "failures"), failed, "{name}: failures");
        assert_eq!(number(suite, "errors"), errored, "{name}: errors");
        // Each case has its own time: together they fit in the scenario's.
        assert!(
            case_time <= suite_time + 0.01,
            "{name}: {case_time} s in cases, {suite_time} s in all"
        );
        tests += cases.len() as f64;
        failures += failed;
        errors += errored;
        suites.insert(name, cases);
    }
    assert_eq!(number(root, "tests"), tests);
    assert_eq!(number(root, "failures"), failures);
    assert_eq!(number(root, "errors"), errors);
    suites
}

async fn report_of(text: &str, out: &std::path::Path) -> ScenarioReport {
    let scenario = Scenario::parse(text, std::path::Path::new("s.toml")).unwrap();
    run_scenario(&scenario, &common::options(out))
        .await
        .unwrap()
}

#[tokio::test]
async fn each_check_that_applies_is_a_case_with_its_own_time_and_its_reasons() {
    let dir = tempfile::tempdir().unwrap();
    let smoke = common::smoke_text();
    let passing = report_of(&smoke, &dir.path().join("a")).await;
    let wrong_count = report_of(
        &smoke
            .replace("name = \"smoke\"", "name = \"count\"")
            .replace("uploads = 1", "uploads = 3"),
        &dir.path().join("b"),
    )
    .await;
    let missing_finding = report_of(
        &smoke
            .replace("name = \"smoke\"", "name = \"late\"")
            .replace("findings = []", "findings = [\"late_delivery\"]"),
        &dir.path().join("c"),
    )
    .await;
    let offline = run_scenario(
        &common::shipped("field/cab-name-clash.toml"),
        &common::options(&dir.path().join("d")),
    )
    .await
    .unwrap();
    // A scenario that reproduces a failure on purpose: its errors are what it expects.
    let expected_failure = report_of(
        &smoke
            .replace("name = \"smoke\"", "name = \"reproduces\"")
            .replace("outcome = \"pass\"", "outcome = \"fail\"")
            .replace(
                "collect_ms_per_1k_clients = 250",
                "collect_ms_per_1k_clients = 0.0001",
            ),
        &dir.path().join("e"),
    )
    .await;
    assert!(
        expected_failure.met_expectations,
        "{:?}",
        expected_failure.expectation_failures
    );
    // A listed finding whose check did not apply at all (no site is beyond support).
    let unscaled = report_of(
        &smoke
            .replace("name = \"smoke\"", "name = \"unscaled\"")
            .replace("findings = []", "findings = [\"beyond_supported_scale\"]"),
        &dir.path().join("f"),
    )
    .await;
    // report.json lists that check too, as JUnit does.
    assert!(
        unscaled
            .checks
            .iter()
            .any(|c| c.check == harness::finding::Check::Scale),
        "{:?}",
        unscaled.checks
    );
    let unreachable = ScenarioReport::errored(
        "unreachable",
        "u.toml",
        "the SQL Server at tcp:db:1433 cannot be reached: connection refused".into(),
    );
    let reports = vec![
        passing,
        wrong_count,
        missing_finding,
        offline,
        expected_failure,
        unscaled,
        unreachable,
    ];
    let verdicts: Vec<(String, bool)> = reports
        .iter()
        .map(|r| (r.name.clone(), r.met_expectations))
        .collect();
    let xml = RunReport::new(reports).junit();
    let suites = validate(&xml);
    // JUnit agrees with the run: a scenario that did not meet its expectations has a case that
    // did not pass, and one that did has none.
    for (name, met) in verdicts {
        let not_passed = suites[&name].iter().any(|c| c.2.is_some());
        assert_eq!(not_passed, !met, "{name}: met {met}, JUnit {not_passed}");
    }
    let (_, kind, text) = suites["unscaled"]
        .iter()
        .find(|c| c.0 == "check scale")
        .and_then(|c| c.2.clone())
        .expect("the scale check fails: its listed finding was not reported");
    assert_eq!(kind, "beyond_supported_scale");
    assert!(text.contains("was not reported"), "{text}");

    let names =
        |suite: &str| -> Vec<String> { suites[suite].iter().map(|c| c.0.clone()).collect() };
    // Online: no update packs; the smoke scenario has a budget.
    assert_eq!(
        names("smoke"),
        [
            "expectations",
            "check receipts",
            "check payloads",
            "check contents",
            "check cycles",
            "check delivery",
            "check personal_data",
            "check transport",
            "check budgets"
        ]
    );
    assert!(suites["smoke"].iter().all(|c| c.2.is_none()));
    assert!(names("cab-name-clash").contains(&"check update_packs".to_string()));
    // The times are the checks' own, not the scenario's repeated.
    let times: std::collections::BTreeSet<u64> =
        suites["smoke"].iter().map(|c| (c.1 * 1e6) as u64).collect();
    assert!(times.len() > 2, "{times:?}");

    let failure = |suite: &str, case: &str| -> (String, String, String) {
        suites[suite]
            .iter()
            .find(|c| c.0 == case)
            .unwrap()
            .2
            .clone()
            .unwrap_or_else(|| panic!("{suite}/{case} passed"))
    };
    let (kind, _, text) = failure("count", "expectations");
    assert_eq!(kind, "failure");
    assert!(text.contains("expects 3"), "{text}");
    let (_, kind, text) = failure("late", "check delivery");
    assert_eq!(kind, "late_delivery");
    assert!(
        text.contains("expected finding `late_delivery` was not reported"),
        "{text}"
    );
    // Only the failing check fails.
    assert!(suites["late"].iter().filter(|c| c.2.is_some()).count() == 1);

    assert!(
        suites["reproduces"].iter().all(|c| c.2.is_none()),
        "a scenario that met its expectations fails no case: {:?}",
        suites["reproduces"]
    );
    assert_eq!(
        suites["unreachable"].len(),
        1,
        "nothing ran, nothing passed"
    );
    let (kind, error_type, text) = failure("unreachable", "run");
    assert_eq!((kind.as_str(), error_type.as_str()), ("error", "not_run"));
    assert!(text.contains("cannot be reached"));
}
