//! The field library: every scenario in `scenarios/field/` names the symptom an administrator
//! reports and the findings it expects, and the README's table says the same as the files.

use std::collections::BTreeMap;
use std::path::Path;

use harness::scenario::Scenario;

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

/// Each field scenario's symptom (the quoted opening of its description) and expected findings,
/// by file name.
fn library() -> BTreeMap<String, (String, Vec<String>)> {
    let mut library = BTreeMap::new();
    for entry in std::fs::read_dir(Path::new(ROOT).join("scenarios/field")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let scenario = Scenario::parse(&text, &path)
            .unwrap_or_else(|e| panic!("{} is not a valid scenario: {e}", path.display()));
        let symptom = scenario
            .description
            .strip_prefix("field issue: \"")
            .and_then(|rest| rest.split_once("\" — "))
            .map(|(symptom, cause)| {
                assert!(
                    cause.len() >= 40,
                    "{}: the cause after the symptom is missing",
                    path.display()
                );
                symptom.to_string()
            })
            .unwrap_or_else(|| {
                panic!(
                    "{}: the description must read `field issue: \"<symptom>\" — <cause>`",
                    path.display()
                )
            });
        let mut findings: Vec<String> = scenario
            .expect
            .findings
            .iter()
            .map(|f| f.to_string())
            .collect();
        findings.sort();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        library.insert(name, (symptom, findings));
    }
    library
}

/// The README's field table: file name → (symptom, findings).
fn readme_table() -> BTreeMap<String, (String, Vec<String>)> {
    let readme = std::fs::read_to_string(Path::new(ROOT).join("README.md")).unwrap();
    let start = readme
        .find("<!-- field-library -->")
        .expect("the README has the field library table");
    let end = readme
        .find("<!-- /field-library -->")
        .expect("the table is closed");
    let mut table = BTreeMap::new();
    for row in readme[start..end].lines().skip(3) {
        let cells: Vec<&str> = row.trim_matches('|').split(" | ").map(str::trim).collect();
        assert_eq!(cells.len(), 4, "a row of four cells: {row}");
        let symptom = cells[0].trim_start_matches('“').trim_end_matches('”');
        let file = cells[1]
            .trim_matches('`')
            .strip_prefix("field/")
            .unwrap_or_else(|| panic!("the scenario cell names field/FILE: {row}"));
        let mut findings: Vec<String> = if cells[3] == "none" {
            Vec::new()
        } else {
            cells[3]
                .split(", ")
                .map(|f| f.trim_matches('`').to_string())
                .collect()
        };
        findings.sort();
        table.insert(file.to_string(), (symptom.to_string(), findings));
    }
    table
}

#[test]
fn the_field_library_names_symptoms_and_the_readme_indexes_every_one() {
    let library = library();
    assert!(
        library.len() >= 12,
        "the field library has {} scenarios",
        library.len()
    );
    assert_eq!(readme_table(), library);
}

#[test]
fn the_field_library_covers_the_issues_customers_report() {
    let library = library();
    for name in [
        "replication-backlog.toml",
        "upstream-throttling.toml",
        "cab-renamed.toml",
        "cab-name-clash.toml",
        "level-lowered-mid-week.toml",
        "custom-tables.toml",
        "primary-down-for-weeks.toml",
        "scp-down-for-weeks.toml",
        "lost-ack-retry.toml",
        "primary-at-maximum.toml",
        "site-db-unreachable-week.toml",
        "primaries-installed-later.toml",
    ] {
        assert!(library.contains_key(name), "{name} is missing");
    }
}
