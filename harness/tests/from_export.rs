//! `harness scenario from-export`: run A → its cabinet (and the same payload as `sct export`
//! writes it) → a scenario → run B; B's count-per-value probes count exactly what A's did.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use harness::from_export;
use harness::hash::tel_hash;
use harness::pipeline::run_scenario;
use harness::scenario::Scenario;
use usage_protocol::payload::{Row, UsagePayload};
use usage_protocol::usage_cab;

/// A: a CAS with one primary on the default mix (55 processors, so the top-50 cut and its tail
/// run) and one shaped, in spellings and branches a real inventory has.
const A: &str = r#"
format = 2
name = "a"
seed = 9
[hierarchy]
cas = true
level = "full"
scp_mode = "offline"
installed = "2026-01-05"

[[hierarchy.primary]]
code = "P01"
clients = 1500
custom_tables = 3

[[hierarchy.primary]]
code = "P02"
clients = 400
apps = 30
updates = 80
updates_per_client = 5
collections = 12
boundary_groups = 4
update_groups = 3

[hierarchy.primary.mix]
cpus = { "Contoso C1" = 3, "CONTOSO C1 " = 1, "Fabrikam F2" = 2 }
os = { "Microsoft Windows 11 Enterprise|10.0.26100" = 5, "Microsoft Windows 11 Enterprise|10.0.26100|CBB" = 2, "Microsoft Windows 10 Enterprise LTSC 2021|10.0.19044" = 2, "Microsoft Windows Server 2022 Standard|10.0.20348" = 1 }
virtual_machines = 30
firmware = { "uefi+secure_boot+tpm" = 6, "uefi+tpm" = 2, "tpm" = 1, "none" = 1 }
endpoint_protection = { "protected" = 7, "unsupported" = 3 }
os_age_months = { "2" = 1, "14" = 3 }

[[hierarchy.primary]]
code = "P03"
clients = 120

[hierarchy.primary.mix]
cpus = { "Unlisted processor 0001" = 30, "unlisted processor 0002" = 30, OMEGA_CPUS }

[run]
weeks = 2
"#;

/// A's P03: 60 processors of one client each, named outside ASCII, so that `TEL_TopCPUs` cuts a
/// tie at its 50th place by name, beside names like the ones the tail would be given.
fn a_text() -> String {
    let omega: Vec<String> = (0..60).map(|i| format!("\"Ω CPU {i:02}\" = 1")).collect();
    A.replace("OMEGA_CPUS", &omega.join(", "))
}

/// The probes whose rows are counts of clients per value: the mix reproduces them exactly.
const COUNT_PER_VALUE: &[&str] = &[
    "TEL_ClientVersions",
    "TEL_OSVersions",
    "TEL_WindowsBuilds",
    "TEL_TopCPUs",
    "TEL_VirtualMachines",
    "TEL_FirmwareSecurity",
    "TEL_ClientHealth",
    "TEL_BiosAge",
    "TEL_OSAge",
    "TEL_EndpointProtection",
];

/// Object counts: (probe, column) whose value must be the same.
const COUNTS: &[(&str, &str)] = &[
    ("TEL_AppTotals", "applications"),
    ("TEL_BoundaryGroups", "boundary_groups"),
    ("TEL_UpdateGroups", "update_groups"),
    ("TEL_DatabaseSize", "tables"),
];

fn the_cab(dir: &Path) -> PathBuf {
    let cabs: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "cab"))
        .collect();
    assert_eq!(cabs.len(), 1, "{}: {cabs:?}", dir.display());
    cabs[0].clone()
}

fn payload_of(cab: &Path) -> UsagePayload {
    let cab = usage_cab::read(&std::fs::read(cab).unwrap(), 64 << 20).unwrap();
    UsagePayload::from_json(&cab.payload_json).unwrap()
}

/// (site hash, probe) → its rows, sorted, in `week`.
fn rows(payload: &UsagePayload, week: u32) -> BTreeMap<(String, String), Vec<Row>> {
    payload
        .results
        .iter()
        .filter(|r| r.week_in(payload) == week)
        .map(|r| {
            let mut rows = r.rows.clone();
            rows.sort_by_key(|row| serde_json::to_string(row).unwrap());
            ((r.site.clone(), r.probe.clone()), rows)
        })
        .collect()
}

#[tokio::test]
async fn a_scenario_from_an_export_counts_what_the_export_counted() {
    let dir = tempfile::tempdir().unwrap();
    let a = common::scenario(&a_text());
    let report = run_scenario(&a, &common::options(&dir.path().join("a")))
        .await
        .unwrap();
    assert!(report.met_expectations, "{:?}", report.expectation_failures);
    let a_cab = the_cab(&dir.path().join("a/a/usb/week-002"));
    let a_payload = payload_of(&a_cab);

    let derived = from_export::derive(&from_export::read(&a_cab).unwrap(), "b").unwrap();
    assert!(derived.notes.is_empty(), "{:?}", derived.notes);
    // The CSV `sct export` writes of the same payload says the same.
    let csv = dir.path().join("a.csv");
    harness::sct::write_csv(&a_payload, &csv).unwrap();
    let from_csv = from_export::derive(&from_export::read(&csv).unwrap(), "b").unwrap();
    let after_first_line = |text: &str| text.split_once('\n').unwrap().1.to_string();
    assert_eq!(
        after_first_line(&from_csv.text),
        after_first_line(&derived.text)
    );

    let b_file = common::write(dir.path(), "b.toml", &derived.text);
    let b = Scenario::load(&b_file).unwrap();
    assert!(b.hierarchy.cas);
    assert_eq!(b.hierarchy.primary.len(), 3);
    let report = run_scenario(&b, &common::options(&dir.path().join("b")))
        .await
        .unwrap();
    assert!(report.met_expectations, "{:?}", report.expectation_failures);
    let b_payload = payload_of(&the_cab(&dir.path().join("b/b/usb/week-001")));

    let (a_rows, b_rows) = (rows(&a_payload, 2), rows(&b_payload, 1));
    let mut compared = 0;
    for (a_site, code) in &derived.sites {
        let b_site = tel_hash(code);
        let of = |rows: &BTreeMap<(String, String), Vec<Row>>, site: &str, probe: &str| {
            rows.get(&(site.to_string(), probe.to_string())).cloned()
        };
        for probe in COUNT_PER_VALUE {
            let (a, b) = (of(&a_rows, a_site, probe), of(&b_rows, &b_site, probe));
            if code == "CAS" && a.as_ref().is_none_or(Vec::is_empty) {
                continue;
            }
            assert!(a.is_some(), "{code}: A has no {probe}");
            assert_eq!(a, b, "{code}: {probe} differs");
            compared += 1;
        }
        for (probe, column) in COUNTS.iter().copied().chain([("TEL_SiteList", "clients")]) {
            let value = |rows: Option<Vec<Row>>| rows.and_then(|r| r.first()?.get(column).cloned());
            assert_eq!(
                value(of(&a_rows, a_site, probe)),
                value(of(&b_rows, &b_site, probe)),
                "{code}: {probe}.{column}"
            );
        }
        let collections = |rows: Option<Vec<Row>>| -> u64 {
            rows.unwrap_or_default()
                .iter()
                .map(|r| r["collections"].as_u64().unwrap())
                .sum()
        };
        assert_eq!(
            collections(of(&a_rows, a_site, "TEL_CollectionTypes")),
            collections(of(&b_rows, &b_site, "TEL_CollectionTypes")),
            "{code}: collections"
        );
    }
    assert_eq!(compared, 3 * COUNT_PER_VALUE.len());
}

#[test]
fn the_command_writes_a_scenario_that_loads_and_refuses_what_is_not_an_export() {
    let dir = tempfile::tempdir().unwrap();
    let not_export = common::write(dir.path(), "x.csv", "a,b\n1,2\n");
    let out = common::harness_command()
        .args(["scenario", "from-export"])
        .arg(&not_export)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("x.csv, line 1") && stderr.contains("not an export"),
        "{stderr}"
    );

    let damaged = dir.path().join("y.cab");
    std::fs::write(&damaged, b"MSCF\0\0\0\0garbage").unwrap();
    let out = common::harness_command()
        .args(["scenario", "from-export"])
        .arg(&damaged)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a usable usage cabinet"));

    // A one-site export, written as `sct export` writes it.
    let payload = serde_json::json!({
        "schema_version": 1, "hierarchy_id": "h", "product_version": "5.00.9132.1000",
        "level": "basic", "mode": "online",
        "period": { "week": 3, "start": "2026-02-02" },
        "sites": [], "results": [
            { "probe": "TEL_SiteList", "site": "+s1", "rows": [
                { "site": "+s1", "type": "standalone", "version": "5.00.9132.1000",
                  "status": "Active", "clients": 10, "time_zone": "UTC" } ] },
            { "probe": "TEL_ClientVersions", "site": "+s1", "rows": [
                { "client_version": "5.00.9132.1000", "clients": 7 },
                { "client_version": "=cmd|' /C calc'!A0", "clients": 3 } ] }
        ]
    });
    let payload: UsagePayload = serde_json::from_value(payload).unwrap();
    let csv = dir.path().join("one.csv");
    harness::sct::write_csv(&payload, &csv).unwrap();
    let scenario = dir.path().join("one.toml");
    let out = common::harness_command()
        .args(["scenario", "from-export"])
        .arg(&csv)
        .arg("--out")
        .arg(&scenario)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let loaded = Scenario::load(&scenario).unwrap();
    let p01 = &loaded.hierarchy.primary[0];
    assert_eq!(*p01.clients.get_ref(), 10);
    let mix = p01.mix.as_ref().unwrap().get_ref();
    assert_eq!(mix.client_versions["=cmd|' /C calc'!A0"], 3);
    // Week 3's period starts on 2026-02-02: its run was on 02-09, 21 days after install.
    assert_eq!(loaded.hierarchy.installed.get_ref(), "2026-01-19");
    // An existing file is not replaced without --force.
    let again = common::harness_command()
        .args(["scenario", "from-export"])
        .arg(&csv)
        .arg("--out")
        .arg(&scenario)
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(2));
}

/// A site that sent nothing in the exported week (its database was down) is still in the
/// cabinet's site list: the scenario keeps it, with its clients, and says so.
#[tokio::test]
async fn a_site_silent_in_the_exported_week_is_kept_from_the_site_list() {
    let dir = tempfile::tempdir().unwrap();
    let a = common::scenario(
        r#"
name = "silent"
seed = 3
[hierarchy]
cas = true
scp_mode = "offline"
installed = "2026-01-05"
[[hierarchy.primary]]
code = "P01"
clients = 50
[[hierarchy.primary]]
code = "P02"
clients = 30
[[faults]]
kind = "site_db_down"
week = 2
site = "P02"
[run]
weeks = 2
[expect]
findings = ["missing_probe", "data_not_delivered"]
"#,
    );
    run_scenario(&a, &common::options(dir.path()))
        .await
        .unwrap();
    let cab = the_cab(&dir.path().join("silent/usb/week-002"));
    let derived = from_export::derive(&from_export::read(&cab).unwrap(), "b").unwrap();
    let b = Scenario::parse(&derived.text, Path::new("b.toml")).unwrap();
    let clients: Vec<u32> = b
        .hierarchy
        .primary
        .iter()
        .map(|p| *p.clients.get_ref())
        .collect();
    assert_eq!(clients, vec![50, 30]);
    assert!(
        derived
            .notes
            .iter()
            .any(|n| n.contains(&tel_hash("P02")) && n.contains("sent nothing")),
        "{:?}",
        derived.notes
    );
}

/// Exports that lie about a site or a count are refused with their line, not read as zero.
#[test]
fn a_broken_row_is_refused_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let site_list = |kind: &str, clients: &str| {
        format!(
            "{{ \"probe\": \"TEL_SiteList\", \"site\": \"s1\", \"rows\": [ {{ \"site\": \"s1\", \"type\": \"{kind}\", \"version\": \"5.00.9132.1000\", \"status\": \"Active\", \"clients\": {clients}, \"time_zone\": \"UTC\" }} ] }}"
        )
    };
    let versions = |clients: &str| {
        format!(
            "{{ \"probe\": \"TEL_ClientVersions\", \"site\": \"s1\", \"rows\": [ {{ \"client_version\": \"5.00.9132.1000\", \"clients\": 4 }}, {{ \"client_version\": \"5.00.9128.1000\", \"clients\": {clients} }} ] }}"
        )
    };
    for (results, says) in [
        (
            format!("{}, {}", site_list("martian", "10"), versions("6")),
            "line 2: TEL_SiteList of site s1: type",
        ),
        (
            format!("{}, {}", site_list("standalone", "-1"), versions("6")),
            "line 2: TEL_SiteList of site s1: clients",
        ),
        (
            format!("{}, {}", site_list("standalone", "10"), versions("-5")),
            "line 4: TEL_ClientVersions of site s1: clients",
        ),
        (
            format!("{}, {}", site_list("standalone", "10"), versions("\"6\"")),
            "line 4: TEL_ClientVersions of site s1: clients",
        ),
    ] {
        let json = format!(
            "{{ \"schema_version\": 1, \"hierarchy_id\": \"h\", \"product_version\": \"5.00.9132.1000\", \"level\": \"basic\", \"mode\": \"online\", \"period\": {{ \"week\": 1, \"start\": \"2026-01-05\" }}, \"sites\": [], \"results\": [ {results} ] }}"
        );
        let payload: UsagePayload = serde_json::from_str(&json).unwrap();
        let csv = dir.path().join("bad.csv");
        harness::sct::write_csv(&payload, &csv).unwrap();
        let err = from_export::read(&csv)
            .and_then(|e| from_export::derive(&e, "b"))
            .unwrap_err()
            .to_string();
        assert!(err.contains(says), "{says}: {err}");
    }
}
