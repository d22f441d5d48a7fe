//! Offline mode: the service connection tool with real cabinet files, read back by independent
//! tools (cabextract, gcab) where they are installed. `.ci/run` installs them and sets
//! HARNESS_REQUIRE_CAB_TOOLS=1, which turns a missing tool into a failure instead of a skip.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use harness::engine::{SiteDatabase, WeeklyRun};
use harness::pipeline::run_scenario;
use harness::probes;
use harness::probes::Catalog;
use harness::scenario::Level;
use harness::sct::{self, Credentials, SctError};
use usage_protocol::client::{RetryPolicy, Upstream};
use usage_protocol::payload::UsagePayload;

/// The path of an external tool, or None (and a clear message) when it is not installed.
fn tool(name: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join(name))
        .find(|p| p.is_file());
    if found.is_none() {
        assert!(
            std::env::var_os("HARNESS_REQUIRE_CAB_TOOLS").is_none(),
            "{name} is required (HARNESS_REQUIRE_CAB_TOOLS is set) but not installed"
        );
        eprintln!(
            "SKIPPED: {name} is not installed (apt-get install cabextract gcab); this check did not run"
        );
    }
    found
}

/// A standalone primary seeded and run for `weeks` weeks, its database open.
async fn site_with_runs(dir: &Path, weeks: u32) -> std::sync::Arc<dyn SiteDatabase> {
    let scenario = common::scenario(
        "name = \"t\"\nseed = 77\n[hierarchy]\nscp_mode = \"offline\"\ninstalled = \"2026-01-05\"\n[[hierarchy.primary]]\ncode = \"P01\"\nclients = 120\n",
    );
    let (hierarchy, _engine, mut sites) = common::seed_all(&scenario, dir).await;
    let catalog = probes::for_level(Level::Enhanced);
    for week in 1..=weeks {
        sites[0]
            .db
            .run_weekly(&WeeklyRun {
                week,
                started_on: hierarchy.week_start(week),
                probes: &catalog,
            })
            .await
            .unwrap();
    }
    sites.remove(0).db
}

#[tokio::test]
async fn offline_scenarios_pass_and_each_hierarchy_imports_only_its_packs() {
    let dir = tempfile::tempdir().unwrap();
    for (file, uploads) in [("offline.toml", 2), ("offline-multi-hierarchy.toml", 4)] {
        let report = run_scenario(&common::shipped(file), &common::options(dir.path()))
            .await
            .unwrap();
        assert!(
            report.met_expectations,
            "{file}: {:?} {:?}",
            report.expectation_failures, report.findings
        );
        assert_eq!(report.uploads_accepted, uploads, "{file}");
        // Each upload's one attempt is the -connect that carried it, on the report's timeline.
        for u in &report.timings.uploads {
            assert_eq!(u.attempt_log.len(), 1, "{file}: {u:?}");
            assert_eq!(u.attempt_log[0].status, Some(200), "{file}: {u:?}");
        }
    }
    // A -connect the service refuses is an attempt too, with what went wrong.
    let corrupted = run_scenario(
        &common::shipped("field/cab-corrupted.toml"),
        &common::options(&dir.path().join("corrupted")),
    )
    .await
    .unwrap();
    let refused: Vec<_> = corrupted
        .timings
        .uploads
        .iter()
        .filter(|u| u.receipt.is_none())
        .collect();
    assert!(!refused.is_empty(), "{:?}", corrupted.timings.uploads);
    for u in refused {
        assert_eq!(u.attempt_log.len(), 1);
        assert!(u.attempt_log[0].error.is_some(), "{u:?}");
    }
    // The two hierarchies run different versions, so their packs differ; each imported its own.
    let own = harness::engine::sqlite::SqliteEngine::open_existing(
        &dir.path().join("offline-multi-hierarchy/sites/P01.db"),
    )
    .unwrap();
    let neighbor = harness::engine::sqlite::SqliteEngine::open_existing(
        &dir.path()
            .join("offline-multi-hierarchy/neighbor-1/sites/CAS.db"),
    )
    .unwrap();
    let ids = |packs: Vec<harness::engine::ImportedPack>| {
        packs.into_iter().map(|p| p.id).collect::<Vec<_>>()
    };
    assert_eq!(
        ids(own.update_packs().await.unwrap()),
        vec!["cm-2403", "cm-2409", "cm-2503"]
    );
    assert_eq!(ids(neighbor.update_packs().await.unwrap()), vec!["cm-2207"]);
}

#[tokio::test]
async fn prepare_before_the_first_weekly_run_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let db = site_with_runs(dir.path(), 0).await;
    let err = sct::prepare(
        db.as_ref(),
        Catalog::shipped(),
        None,
        &dir.path().join("UsageData.cab"),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("7 days after install"), "{err}");
    assert!(
        !dir.path().join("UsageData.cab").exists(),
        "nothing was written"
    );
    let err = sct::prepare(
        db.as_ref(),
        Catalog::shipped(),
        Some(3),
        &dir.path().join("UsageData.cab"),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("week 3 has not run"), "{err}");
}

#[tokio::test]
async fn a_prepared_cab_is_a_real_cabinet() {
    let dir = tempfile::tempdir().unwrap();
    let db = site_with_runs(dir.path(), 2).await;
    let cab_path = dir.path().join("usb").join("UsageData.cab");
    let prepared = sct::prepare(db.as_ref(), Catalog::shipped(), None, &cab_path)
        .await
        .unwrap();
    assert_eq!(prepared.week, 2);
    // Nothing is acknowledged yet: the cabinet carries both weeks, each entry with its own week.
    let expected = harness::payload::pending_payload(db.as_ref(), Catalog::shipped(), Some(2))
        .await
        .unwrap();
    let weeks: std::collections::BTreeSet<u32> =
        expected.results.iter().filter_map(|r| r.week).collect();
    assert_eq!(weeks, [1, 2].into());

    // Our own reader.
    let cab = usage_protocol::usage_cab::read(&std::fs::read(&cab_path).unwrap(), 1 << 26).unwrap();
    assert_eq!(
        UsagePayload::from_json(&cab.payload_json).unwrap(),
        expected
    );
    assert_eq!(cab.site_version, "5.00.8540.1000");

    // An independent one.
    let Some(cabextract) = tool("cabextract") else {
        return;
    };
    let listing = Command::new(&cabextract)
        .arg("-l")
        .arg(&cab_path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&listing.stdout);
    assert!(listing.status.success(), "{text}");
    assert!(
        text.contains("UsageData.json") && text.contains("SiteVersion"),
        "{text}"
    );
    let out = dir.path().join("extracted");
    let status = Command::new(&cabextract)
        .arg("-q")
        .arg("-d")
        .arg(&out)
        .arg(&cab_path)
        .status()
        .unwrap();
    assert!(status.success());
    let json = std::fs::read(out.join("UsageData.json")).unwrap();
    assert_eq!(UsagePayload::from_json(&json).unwrap(), expected);
    assert_eq!(
        std::fs::read_to_string(out.join("SiteVersion")).unwrap(),
        "5.00.8540.1000"
    );
    let test = Command::new(&cabextract)
        .arg("-t")
        .arg(&cab_path)
        .output()
        .unwrap();
    assert!(
        test.status.success(),
        "cabextract -t: {}",
        String::from_utf8_lossy(&test.stdout)
    );
}

#[tokio::test]
async fn the_tool_reads_a_cabinet_written_by_gcab_and_uploads_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = site_with_runs(dir.path(), 1).await;
    let payload = harness::payload::pending_payload(db.as_ref(), Catalog::shipped(), Some(1))
        .await
        .unwrap();
    let Some(gcab) = tool("gcab") else { return };
    let files = dir.path().join("files");
    std::fs::create_dir_all(&files).unwrap();
    std::fs::write(
        files.join("UsageData.json"),
        harness::payload::encode(&payload).0,
    )
    .unwrap();
    std::fs::write(files.join("SiteVersion"), "5.00.8540.1000").unwrap();
    let usb = dir.path().join("usb");
    std::fs::create_dir_all(&usb).unwrap();
    let status = Command::new(&gcab)
        .current_dir(&files)
        .args(["-c", "-z"])
        .arg(usb.join("FromGcab.cab"))
        .args(["UsageData.json", "SiteVersion"])
        .status()
        .unwrap();
    assert!(status.success());
    let cab =
        usage_protocol::usage_cab::read(&std::fs::read(usb.join("FromGcab.cab")).unwrap(), 1 << 26)
            .unwrap();
    assert_eq!(UsagePayload::from_json(&cab.payload_json).unwrap(), payload);

    let server = mock_upstream::start(mock_upstream::Config::new(dir.path().join("upstream")))
        .await
        .unwrap();
    let upstream = Upstream::new(
        server.base_url(),
        server.admin_token(),
        RetryPolicy::default(),
    );
    let token = upstream.register(&payload.hierarchy_id).await.unwrap();
    let done = sct::connect(
        &server.base_url(),
        &Credentials::Token(token),
        &usb,
        &usb.join("UpdatePacks"),
    )
    .await
    .unwrap();
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].file, "FromGcab.cab");
    assert_eq!(upstream.receipts().await.unwrap().len(), 1);
    server.stop().await;
}

#[tokio::test]
async fn a_damaged_cabinet_stops_connect_before_anything_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    let db = site_with_runs(dir.path(), 2).await;
    let usb = dir.path().join("usb");
    sct::prepare(db.as_ref(), Catalog::shipped(), Some(1), &usb.join("A.cab"))
        .await
        .unwrap();
    sct::prepare(db.as_ref(), Catalog::shipped(), Some(2), &usb.join("B.cab"))
        .await
        .unwrap();
    let b = std::fs::read(usb.join("B.cab")).unwrap();
    std::fs::write(usb.join("B.cab"), &b[..b.len() / 2]).unwrap();
    let server = mock_upstream::start(mock_upstream::Config::new(dir.path().join("upstream")))
        .await
        .unwrap();
    let upstream = Upstream::new(
        server.base_url(),
        server.admin_token(),
        RetryPolicy::default(),
    );
    let hash = harness::hash::tel_hash(&db.site_info().await.unwrap().hierarchy_id);
    let token = upstream.register(&hash).await.unwrap();
    let err = sct::connect(
        &server.base_url(),
        &Credentials::Token(token),
        &usb,
        &usb.join("UpdatePacks"),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, SctError::Cab { .. }), "{err}");
    assert!(err.to_string().contains("B.cab"), "{err}");
    assert!(
        upstream.receipts().await.unwrap().is_empty(),
        "nothing partially uploaded"
    );
    server.stop().await;
}

#[tokio::test]
async fn another_hierarchys_cabinet_is_not_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let db = site_with_runs(&dir.path().join("a"), 1).await;
    let other_scenario = common::standalone(78, 50, "");
    let (hierarchy, _e, sites) = common::seed_all(&other_scenario, &dir.path().join("b")).await;
    let catalog = probes::for_level(Level::Basic);
    sites[0]
        .db
        .run_weekly(&WeeklyRun {
            week: 1,
            started_on: hierarchy.week_start(1),
            probes: &catalog,
        })
        .await
        .unwrap();
    let dest = dir.path().join("UsageData.cab");
    sct::prepare(db.as_ref(), Catalog::shipped(), None, &dest)
        .await
        .unwrap();
    let before = std::fs::read(&dest).unwrap();
    let err = sct::prepare(sites[0].db.as_ref(), Catalog::shipped(), None, &dest)
        .await
        .unwrap_err();
    assert!(matches!(err, SctError::NameClash { .. }), "{err}");
    assert_eq!(
        std::fs::read(&dest).unwrap(),
        before,
        "the first hierarchy's cabinet is intact"
    );
}

#[tokio::test]
async fn the_csv_export_parses() {
    let dir = tempfile::tempdir().unwrap();
    let db = site_with_runs(dir.path(), 1).await;
    let dest = dir.path().join("UsageData.csv");
    let rows = sct::export(db.as_ref(), Catalog::shipped(), None, &dest)
        .await
        .unwrap();
    let payload = harness::payload::pending_payload(db.as_ref(), Catalog::shipped(), None)
        .await
        .unwrap();
    assert_eq!(
        rows,
        payload.results.iter().map(|r| r.rows.len()).sum::<usize>()
    );
    let mut reader = csv::Reader::from_path(&dest).unwrap();
    assert_eq!(
        reader.headers().unwrap().iter().collect::<Vec<_>>(),
        [
            "hierarchy_id",
            "week",
            "period_start",
            "level",
            "site",
            "probe",
            "row_no",
            "data"
        ]
    );
    let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(records.len(), rows);
    for r in &records {
        let data: serde_json::Value = serde_json::from_str(&r[7]).unwrap();
        assert!(data.is_object());
        // A hash beginning with `+` is neutralised for spreadsheets with a leading `'`.
        assert_eq!(r[0].trim_start_matches('\''), payload.hierarchy_id);
    }
}
