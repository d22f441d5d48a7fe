//! `[hierarchy.primary.mix]`: a primary shaped as a customer's — the generator deals the shares
//! exactly (largest remainder), the probes report them, the oracles follow; a bad mix is refused
//! with its line.

mod common;

use harness::engine::{Engine, WeeklyRun};
use harness::pipeline::verify::expected_weeks;
use harness::probes::{self, canonical};
use harness::scenario::Level;
use usage_protocol::payload::Row;

const CLIENTS: u64 = 175_000;

const MIX: &str = r#"
[hierarchy.primary.mix]
client_versions = { "5.00.9128.1000" = 60, "5.00.9132.1000" = 30, "5.00.9135.1000" = 10 }
os = { "Microsoft Windows 11 Enterprise|10.0.26100" = 55, "Microsoft Windows 10 Enterprise|10.0.19045" = 35, "Microsoft Windows Server 2025 Datacenter|10.0.26100" = 10 }
cpus = { "Contoso C1 @ 2.0GHz" = 50, "Contoso C2 @ 3.0GHz" = 30, "Contoso S9" = 20 }
virtual_machines = 25
uefi = 90
secure_boot = 70
tpm = 95
last_active_days = { "0" = 50, "3" = 30, "20" = 15, "60" = 5 }
bios_age_years = { "1" = 20, "3" = 50, "7" = 30 }
"#;

/// Clients of `rows` whose `column` is `value` (summed over the other columns).
fn clients_where(rows: &[Row], column: &str, value: serde_json::Value) -> u64 {
    rows.iter()
        .filter(|r| r[column] == value)
        .map(|r| r["clients"].as_u64().unwrap())
        .sum()
}

fn assert_share(what: &str, got: u64, percent: f64) {
    let share = got as f64 * 100.0 / CLIENTS as f64;
    assert!(
        (share - percent).abs() <= 1.0,
        "{what}: {share:.2} %, the mix says {percent} %"
    );
}

#[tokio::test]
async fn a_shaped_primary_has_the_shares_it_was_given() {
    let scenario = common::standalone(5, CLIENTS as u32, MIX);
    let dir = tempfile::tempdir().unwrap();
    let (hierarchy, engine, sites) = common::seed_all(&scenario, dir.path()).await;
    let site = &sites[0];
    let catalog = probes::for_level(Level::Full);
    let run = WeeklyRun {
        week: 1,
        started_on: hierarchy.week_start(1),
        probes: &catalog,
    };
    site.db.set_level(Level::Full).await.unwrap();
    site.db.run_weekly(&run).await.unwrap();
    let rows = common::rows_by_probe(&site.db.results_of_week(1).await.unwrap());

    let versions = &rows["TEL_ClientVersions"];
    for (version, percent) in [
        ("5.00.9128.1000", 60.0),
        ("5.00.9132.1000", 30.0),
        ("5.00.9135.1000", 10.0),
    ] {
        assert_share(
            version,
            clients_where(versions, "client_version", version.into()),
            percent,
        );
    }
    let os = &rows["TEL_OSVersions"];
    // Captions are named by their binary-smallest spelling (the site collation groups others).
    let server: u64 = os
        .iter()
        .filter(|r| {
            r["caption"]
                .as_str()
                .unwrap()
                .eq_ignore_ascii_case("Microsoft Windows Server 2025 Datacenter")
        })
        .map(|r| r["clients"].as_u64().unwrap())
        .sum();
    assert_share("Server 2025", server, 10.0);
    assert_share(
        "Windows 11",
        clients_where(os, "version", "10.0.26100".into()) - server,
        55.0,
    );
    assert_share(
        "Windows 10",
        clients_where(os, "version", "10.0.19045".into()),
        35.0,
    );
    // Other spellings of one name are one group (the site collation): count by the name folded.
    let cpus = &rows["TEL_TopCPUs"];
    let cpu = |name: &str| -> u64 {
        cpus.iter()
            .filter(|r| r["cpu"].as_str().unwrap().eq_ignore_ascii_case(name))
            .map(|r| r["clients"].as_u64().unwrap())
            .sum()
    };
    assert_share("C1", cpu("Contoso C1 @ 2.0GHz"), 50.0);
    assert_share("C2", cpu("Contoso C2 @ 3.0GHz"), 30.0);
    assert_share("S9", cpu("Contoso S9"), 20.0);
    assert_share(
        "virtual machines",
        clients_where(&rows["TEL_VirtualMachines"], "kind", "virtual".into()),
        25.0,
    );
    let firmware = &rows["TEL_FirmwareSecurity"];
    assert_share("UEFI", clients_where(firmware, "uefi", 1.into()), 90.0);
    assert_share(
        "Secure Boot",
        clients_where(firmware, "secure_boot", 1.into()),
        70.0,
    );
    assert_share("TPM", clients_where(firmware, "tpm", 1.into()), 95.0);
    assert_eq!(
        firmware
            .iter()
            .filter(|r| r["uefi"] == 0 && r["secure_boot"] == 1)
            .count(),
        0,
        "Secure Boot without UEFI"
    );
    let health = &rows["TEL_ClientHealth"];
    assert_share(
        "active",
        clients_where(health, "activity", "active".into()),
        80.0,
    );
    assert_share(
        "8–30 days",
        clients_where(health, "activity", "inactive_8_30_days".into()),
        15.0,
    );
    assert_share(
        "over 30 days",
        clients_where(health, "activity", "inactive_over_30_days".into()),
        5.0,
    );
    let bios = &rows["TEL_BiosAge"];
    for (years, percent) in [(1, 20.0), (3, 50.0), (7, 30.0)] {
        assert_share(
            &format!("BIOS {years} years"),
            clients_where(bios, "age_years", years.into()),
            percent,
        );
    }

    // The oracles follow the shaped mix: every probe equals its oracle.
    let facts = sites
        .iter()
        .map(|s| (s.model.code.clone(), s.facts.clone()))
        .collect();
    let expected = expected_weeks(&hierarchy, &facts, &[Level::Full], &engine.info());
    let oracle = &expected[0].sites.values().next().unwrap().probes;
    for probe in &catalog {
        let mut got = rows.get(probe.name).cloned().unwrap_or_default();
        probes::mask_volatile(&mut got, probe.volatile);
        let want = oracle
            .get(probe.name)
            .cloned()
            .flatten()
            .unwrap_or_default();
        assert_eq!(canonical(got), want, "{}", probe.name);
    }
}

#[test]
fn the_same_seed_deals_the_same_clients() {
    let scenario = common::standalone(5, 1000, MIX);
    let model = harness::model::HierarchyModel::from_scenario(&scenario);
    let site = &model.sites[0];
    let a: Vec<_> = harness::generate::clients(site)
        .map(|c| (c.cpu, c.client_version, c.is_virtual))
        .collect();
    let b: Vec<_> = harness::generate::clients(site)
        .map(|c| (c.cpu, c.client_version, c.is_virtual))
        .collect();
    assert_eq!(a, b);
}

#[test]
fn a_bad_mix_is_refused_with_its_line() {
    for (mix, says) in [
        (
            "[hierarchy.primary.mix]\ncpus = { \"X\" = 0 }\n",
            "mix.cpus",
        ),
        (
            "[hierarchy.primary.mix]\nos = { \"Windows 11\" = 5 }\n",
            "mix.os",
        ),
        (
            "[hierarchy.primary.mix]\nuefi = 50\nsecure_boot = 60\n",
            "mix.secure_boot",
        ),
        (
            "[hierarchy.primary.mix]\nsecure_boot = 60\n",
            "mix.secure_boot",
        ),
        ("[hierarchy.primary.mix]\ntpm = 101\n", "mix.tpm"),
        (
            "[hierarchy.primary.mix]\nbios_age_years = { \"old\" = 1 }\n",
            "mix.bios_age_years",
        ),
        (
            "[hierarchy.primary.mix]\nos = { \"Microsoft Windows Server 2022 Standard|10.0.20348|CB\" = 5 }\n",
            "mix.os",
        ),
        (
            "[hierarchy.primary.mix]\nos = { \"Microsoft Windows 11 Pro|10.0.26100|LTSC\" = 5 }\n",
            "mix.os",
        ),
        (
            "[hierarchy.primary.mix]\nfirmware = { \"secure_boot+tpm\" = 5 }\n",
            "mix.firmware",
        ),
        (
            "[hierarchy.primary.mix]\nfirmware = { \"uefi\" = 5 }\ntpm = 10\n",
            "mix.tpm",
        ),
        (
            "[hierarchy.primary.mix]\nendpoint_protection = { \"safe\" = 5 }\n",
            "mix.endpoint_protection",
        ),
        (
            "[hierarchy.primary.mix]\nos_age_months = { \"601\" = 5 }\n",
            "mix.os_age_months",
        ),
        ("[hierarchy.primary.mix]\ncolour = \"blue\"\n", "colour"),
    ] {
        let text = format!(
            "name = \"t\"\nseed = 1\n[hierarchy]\ninstalled = \"2026-01-05\"\n[[hierarchy.primary]]\ncode = \"P01\"\nclients = 10\n{mix}"
        );
        let err = harness::scenario::Scenario::parse(&text, std::path::Path::new("m.toml"))
            .expect_err(mix)
            .to_string();
        assert!(err.contains(says), "{mix}: {err}");
        assert!(err.starts_with("m.toml:"), "{err}");
        // The line is the bad key's (the mix begins on line 8).
        if mix.contains("uefi = 50\nsecure_boot = 60") {
            assert!(err.starts_with("m.toml:10:"), "{err}");
        }
    }
}

/// The default mix is wider than the top-N probes, so that their cut and tie-breaking run.
#[test]
fn the_default_processor_catalog_is_wider_than_the_top_50() {
    assert!(harness::model::CPUS.len() > 50);
}
