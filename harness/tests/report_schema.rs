//! `docs/report.schema.json` is the JSON Schema of report.json, generated from the report's
//! types (schemars) and kept in the repository for the people and tools that read reports. It
//! must be the one the types give today, and real reports must validate against it.
//! `HARNESS_UPDATE_SCHEMA=1 cargo test -p harness --test report_schema` rewrites it.

mod common;

use std::path::Path;

use harness::pipeline::run_scenario;
use harness::report::{RunReport, ScenarioReport};

fn schema_file() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/report.schema.json")
}

#[test]
fn the_checked_in_schema_is_the_one_the_types_give() {
    let generated = serde_json::to_string_pretty(&schemars::schema_for!(RunReport)).unwrap() + "\n";
    if std::env::var_os("HARNESS_UPDATE_SCHEMA").is_some() {
        std::fs::write(schema_file(), &generated).unwrap();
    }
    let checked_in = std::fs::read_to_string(schema_file()).unwrap_or_default();
    assert!(
        checked_in == generated,
        "docs/report.schema.json is not the schema of today's report types: rerun with HARNESS_UPDATE_SCHEMA=1"
    );
}

#[tokio::test]
async fn real_reports_validate_against_it() {
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(schema_file()).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).expect("a valid JSON Schema");
    let dir = tempfile::tempdir().unwrap();
    let mut reports = Vec::new();
    for (i, file) in [
        "smoke.toml",
        "field/replication-outage-then-throttling.toml",
        "field/cab-corrupted.toml",
    ]
    .iter()
    .enumerate()
    {
        let mut options = common::options(&dir.path().join(i.to_string()));
        options.repeat = 2;
        reports.push(
            run_scenario(&common::shipped(file), &options)
                .await
                .unwrap(),
        );
    }
    reports.push(ScenarioReport::errored(
        "unreachable",
        "u.toml",
        "no server".into(),
    ));
    let report = serde_json::to_value(RunReport::new(reports)).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&report)
        .map(|e| format!("{e} at {}", e.instance_path))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");

    // A report that breaks the schema is caught.
    let mut broken = report.clone();
    broken["scenarios"][0]["outcome"] = "maybe".into();
    broken["scenarios"][1]["findings"][0]["code"] = "no_such_code".into();
    assert!(validator.iter_errors(&broken).count() >= 2);
}
