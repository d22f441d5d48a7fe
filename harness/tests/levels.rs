//! Level semantics and privacy across the catalog: a run at level L sends exactly the probes of
//! the levels up to L, a level change takes effect from the next weekly run, custom tables show
//! only as unknown hashes, and a probe above the level is caught.

mod common;

use std::collections::BTreeSet;

use harness::hash::tel_hash;
use harness::pipeline::run_scenario;
use harness::pipeline::verify::{self as check, ReceivedUpload};
use harness::probes::{self, DEFAULT_TABLES};
use harness::scenario::Level;
use usage_protocol::payload::UsagePayload;

fn payload(out: &std::path::Path, scenario: &str, week: u32) -> UsagePayload {
    let path = out
        .join(scenario)
        .join("payloads")
        .join(format!("week-{week:03}.json"));
    UsagePayload::from_json(&std::fs::read(path).unwrap()).unwrap()
}

fn probe_names(p: &UsagePayload) -> BTreeSet<String> {
    p.results.iter().map(|r| r.probe.clone()).collect()
}

fn names_up_to(level: Level) -> BTreeSet<String> {
    probes::for_level(level)
        .iter()
        .map(|p| p.name.to_string())
        .collect()
}

#[test]
fn the_catalog_spans_three_levels_with_thirty_probes() {
    assert!(probes::CATALOG.len() >= 30);
    for level in [Level::Basic, Level::Enhanced, Level::Full] {
        assert!(
            probes::CATALOG.iter().any(|p| p.level == level),
            "no {level} probe"
        );
    }
    let names: BTreeSet<&str> = probes::CATALOG.iter().map(|p| p.name).collect();
    assert_eq!(names.len(), probes::CATALOG.len(), "probe names are unique");
}

#[tokio::test]
async fn each_level_sends_exactly_its_probes() {
    let dir = tempfile::tempdir().unwrap();
    for (file, name, level) in [
        ("levels-basic.toml", "levels-basic", Level::Basic),
        ("smoke.toml", "smoke", Level::Enhanced),
        ("levels-full.toml", "levels-full", Level::Full),
    ] {
        let report = run_scenario(&common::shipped(file), &common::options(dir.path()))
            .await
            .unwrap();
        assert!(report.met_expectations, "{name}: {:?}", report.findings);
        let sent = payload(dir.path(), name, 1);
        assert_eq!(sent.level, level.as_str());
        // Every site sends every probe with rows; a probe with no rows may be absent.
        assert!(
            probe_names(&sent).is_subset(&names_up_to(level)),
            "{name} sent probes above {level}"
        );
        assert!(probe_names(&sent).contains("TEL_SiteList"));
        if level == Level::Full {
            assert!(probe_names(&sent).contains("TEL_EndpointProtection"));
        }
    }
}

#[tokio::test]
async fn a_level_change_takes_effect_from_the_next_run() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = common::shipped("level-change.toml");
    assert_eq!(
        scenario.levels(),
        vec![Level::Enhanced, Level::Basic, Level::Full]
    );
    let report = run_scenario(&scenario, &common::options(dir.path()))
        .await
        .unwrap();
    assert!(report.met_expectations, "{:?}", report.findings);
    for (week, level) in [(1, Level::Enhanced), (2, Level::Basic), (3, Level::Full)] {
        let sent = payload(dir.path(), "level-change", week);
        assert_eq!(sent.level, level.as_str(), "week {week}");
        assert!(
            probe_names(&sent).is_subset(&names_up_to(level)),
            "week {week}"
        );
        let settings = sent
            .results
            .iter()
            .find(|r| r.probe == "TEL_Settings")
            .unwrap();
        assert_eq!(
            settings.rows[0]["level"],
            level.as_str(),
            "week {week}: TEL_Settings"
        );
    }
    // Week 2 reports week 1's (Enhanced) run, but at the level in force now: only its Basic
    // probes, each with a measured duration — nothing above Basic is named after the drop.
    let week2 = payload(dir.path(), "level-change", 2);
    let times = week2
        .results
        .iter()
        .find(|r| r.probe == "TEL_ProbeRunTimes")
        .unwrap();
    assert_eq!(times.rows.len(), probes::for_level(Level::Basic).len());
    let basic: BTreeSet<&str> = probes::for_level(Level::Basic)
        .iter()
        .map(|p| p.name)
        .collect();
    assert!(
        times
            .rows
            .iter()
            .all(|r| basic.contains(r["probe"].as_str().unwrap()))
    );
    assert!(
        times
            .rows
            .iter()
            .all(|r| r["duration_ms"].is_u64() && r["error"].is_null())
    );
}

#[tokio::test]
async fn custom_tables_show_as_unknown_hashes_only() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = common::standalone(9, 50, "custom_tables = 4");
    let report = run_scenario(&scenario, &common::options(dir.path()))
        .await
        .unwrap();
    assert!(report.met_expectations, "{:?}", report.findings);
    let sent = payload(dir.path(), "t", 1);
    let hashes = &sent
        .results
        .iter()
        .find(|r| r.probe == "TEL_SchemaHash")
        .unwrap()
        .rows;
    let defaults: BTreeSet<String> = DEFAULT_TABLES.iter().map(|t| tel_hash(t)).collect();
    let unknown = hashes
        .iter()
        .filter(|r| !defaults.contains(r["table_hash"].as_str().unwrap()))
        .count();
    assert_eq!(unknown, 4);
    let json = serde_json::to_string(&sent).unwrap();
    let hierarchy = harness::model::HierarchyModel::from_scenario(&scenario);
    for name in harness::generate::custom_table_names(&hierarchy.sites[0]) {
        assert!(!json.contains(&name), "custom table name {name} was sent");
    }
}

#[tokio::test]
async fn a_probe_above_the_level_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = common::standalone(4, 40, "");
    let report = run_scenario(&scenario, &common::options(dir.path()))
        .await
        .unwrap();
    assert!(report.met_expectations);
    let mut sent = payload(dir.path(), "t", 1);
    let site = sent.sites[0].site.clone();
    let period_start = Some(sent.period.start.clone());
    sent.results.push(usage_protocol::payload::ProbeResult {
        probe: "TEL_TopCPUs".into(),
        site,
        week: Some(1),
        period_start,
        rows: vec![
            [
                ("cpu".to_string(), serde_json::json!("x")),
                ("clients".to_string(), serde_json::json!(1)),
            ]
            .into_iter()
            .collect(),
        ],
    });
    let (hierarchy, expected) = common::expected(&scenario).await;
    let upload = ReceivedUpload {
        received_at: None,
        receipt_id: "r".into(),
        body_sha256: None,
        json: serde_json::to_vec(&sent).unwrap(),
    };
    let summary = check::check_uploads(
        &hierarchy,
        probes::Catalog::shipped(),
        &expected,
        &[upload],
        &Default::default(),
    );
    let codes: BTreeSet<&str> = summary.findings.iter().map(|f| f.code.as_str()).collect();
    assert_eq!(
        codes,
        BTreeSet::from(["unexpected_probe"]),
        "{:?}",
        summary.findings
    );
}
