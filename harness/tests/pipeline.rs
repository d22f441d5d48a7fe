//! The whole pipeline through the library: retries land exactly once, a seed fixes the payload
//! bytes, and the checker catches what it exists to catch.

mod common;

use std::time::Duration;

use harness::payload;
use harness::pipeline::verify::{self as check, ReceivedUpload};
use harness::pipeline::{RunOptions, run_scenario};
use harness::probes::Catalog;
use harness::scenario::Outcome;
use usage_protocol::client::{RetryPolicy, Upstream};
use usage_protocol::fault::Fault;
use usage_protocol::payload::UsagePayload;

fn options(out: &std::path::Path) -> RunOptions {
    let mut options = common::options(out);
    options.retry.timeout = Duration::from_millis(500);
    options
}

fn fast_policy() -> RetryPolicy {
    RetryPolicy {
        first_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(50),
        timeout: Duration::from_millis(300),
        ..RetryPolicy::default()
    }
}

async fn upstream_with_token(
    dir: &std::path::Path,
) -> (mock_upstream::RunningServer, Upstream, String) {
    let server = mock_upstream::start(mock_upstream::Config::new(dir))
        .await
        .unwrap();
    let upstream = Upstream::new(server.base_url(), server.admin_token(), fast_policy());
    let hierarchy = harness::hash::tel_hash("6f1b3e2a-9c4d-4e7b-8a21-3f5c0d9e7b14");
    let token = upstream.register(&hierarchy).await.unwrap();
    (server, upstream, token)
}

fn sample_payload(week: u32) -> Vec<u8> {
    let h = harness::hash::tel_hash("6f1b3e2a-9c4d-4e7b-8a21-3f5c0d9e7b14");
    let site = harness::hash::tel_hash("P01");
    let json = format!(
        r#"{{"schema_version":1,"hierarchy_id":"{h}","product_version":"5.00.8540.1000","level":"basic","mode":"online","period":{{"week":{week},"start":"2026-01-12"}},"sites":[{{"site":"{site}","type":"standalone","version":"5.00.8540.1000","status":"Active","clients":1,"time_zone":"UTC"}}],"results":[]}}"#
    );
    let payload = usage_protocol::payload::UsagePayload::from_json(json.as_bytes()).unwrap();
    payload::encode(&payload).1
}

#[tokio::test]
async fn failing_first_attempts_store_exactly_one_upload() {
    let dir = tempfile::tempdir().unwrap();
    let (server, upstream, token) = upstream_with_token(dir.path()).await;
    upstream
        .add_fault(&Fault::Status {
            status: 503,
            count: 2,
        })
        .await
        .unwrap();
    upstream
        .add_fault(&Fault::Reset { count: 1 })
        .await
        .unwrap();
    let receipt = upstream
        .upload_usage(&token, "key-1", sample_payload(1))
        .await
        .unwrap();
    assert_eq!(
        receipt.attempts, 4,
        "one reset and two 503s before the upload lands"
    );
    assert_eq!(upstream.receipts().await.unwrap().len(), 1);
    // The SCP retrying after a lost acknowledgement gets the same receipt, and nothing new.
    let again = upstream
        .upload_usage(&token, "key-1", sample_payload(1))
        .await
        .unwrap();
    assert!(again.replayed);
    assert_eq!(again.receipt.id, receipt.receipt.id);
    assert_eq!(upstream.receipts().await.unwrap().len(), 1);
    server.stop().await;
}

#[tokio::test]
async fn a_slow_upstream_times_out_and_the_retry_lands_once() {
    let dir = tempfile::tempdir().unwrap();
    let (server, upstream, token) = upstream_with_token(dir.path()).await;
    // The first attempt is stored by the server but answered after the client gave up: the
    // retry must be recognised by its Idempotency-Key.
    upstream
        .add_fault(&Fault::Latency { ms: 800, count: 1 })
        .await
        .unwrap();
    let receipt = upstream
        .upload_usage(&token, "key-slow", sample_payload(2))
        .await
        .unwrap();
    assert!(receipt.attempts >= 2);
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert_eq!(upstream.receipts().await.unwrap().len(), 1);
    server.stop().await;
}

#[tokio::test]
async fn throttling_is_honoured_and_a_client_error_is_not_retried() {
    let dir = tempfile::tempdir().unwrap();
    let (server, upstream, token) = upstream_with_token(dir.path()).await;
    upstream
        .add_fault(&Fault::Throttle {
            retry_after_s: 1,
            count: 1,
        })
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let receipt = upstream
        .upload_usage(&token, "key-throttled", sample_payload(3))
        .await
        .unwrap();
    assert_eq!(receipt.attempts, 2);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After was not honoured"
    );
    let err = upstream
        .upload_usage("wrong-token", "key-x", sample_payload(4))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("401"), "{err}");
    server.stop().await;
}

/// A payload with every volatile column's value masked, serialised again.
fn masked(json: &[u8]) -> Vec<u8> {
    let mut payload = UsagePayload::from_json(json).unwrap();
    for result in &mut payload.results {
        let probe = harness::probes::by_name(&result.probe).unwrap();
        harness::probes::mask_volatile(&mut result.rows, probe.volatile);
    }
    payload::encode(&payload).0
}

#[tokio::test]
async fn one_seed_gives_identical_payload_bytes() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let scenario = common::shipped("hierarchy.toml");
    let ra = run_scenario(&scenario, &options(a.path())).await.unwrap();
    let rb = run_scenario(&scenario, &options(b.path())).await.unwrap();
    assert!(
        ra.met_expectations && rb.met_expectations,
        "{:?} {:?}",
        ra.findings,
        rb.findings
    );
    // Week 1 has nothing measured yet: identical to the byte, and so is the gzip on the wire.
    let week1 = "hierarchy/payloads/week-001.json";
    let pa = std::fs::read(a.path().join(week1)).unwrap();
    let pb = std::fs::read(b.path().join(week1)).unwrap();
    assert!(!pa.is_empty());
    assert!(
        pa == pb,
        "week 1 payload bytes differ between two runs of one seed"
    );
    let payload_a = UsagePayload::from_json(&pa).unwrap();
    let payload_b = UsagePayload::from_json(&pb).unwrap();
    assert_eq!(payload::encode(&payload_a).1, payload::encode(&payload_b).1);
    // From week 2 the previous run's probe durations are reported: the catalog declares them
    // volatile, and masking them must leave identical bytes.
    let week2 = "hierarchy/payloads/week-002.json";
    let masked_a = masked(&std::fs::read(a.path().join(week2)).unwrap());
    let masked_b = masked(&std::fs::read(b.path().join(week2)).unwrap());
    assert!(
        masked_a == masked_b,
        "week 2 payloads differ outside volatile columns"
    );
    // A different seed gives different data.
    let c = tempfile::tempdir().unwrap();
    let mut other = options(c.path());
    other.seed = Some(8);
    run_scenario(&scenario, &other).await.unwrap();
    let pa = std::fs::read(a.path().join("hierarchy/payloads/week-001.json")).unwrap();
    let pc = std::fs::read(c.path().join("hierarchy/payloads/week-001.json")).unwrap();
    assert_ne!(pa, pc);
}

#[tokio::test]
async fn replication_down_delivers_the_week_late_and_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = common::scenario(
        r#"
name = "repl-down"
seed = 5
[hierarchy]
cas = true
installed = "2026-01-05"
[[hierarchy.primary]]
code = "P01"
clients = 30
[[hierarchy.primary]]
code = "P02"
clients = 30
[run]
weeks = 2
[[faults]]
kind = "replication_down"
week = 1
site = "P02"
[expect]
outcome = "pass"
uploads = 2
findings = ["late_delivery"]
"#,
    );
    let report = run_scenario(&scenario, &options(dir.path())).await.unwrap();
    assert_eq!(report.outcome, Outcome::Pass);
    assert!(report.met_expectations, "{:?}", report.expectation_failures);
    // P02's week 1 was held back by the outage and went up, whole, with week 2's upload.
    let late: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.code.as_str() == "late_delivery")
        .collect();
    assert_eq!(late.len(), 1, "{:?}", report.findings);
    assert_eq!(
        (late[0].week, late[0].site.as_deref()),
        (Some(1), Some("P02"))
    );
    assert!(
        late[0].message.contains("1 upload(s) late"),
        "{}",
        late[0].message
    );
    let week2: UsagePayload = UsagePayload::from_json(
        &std::fs::read(dir.path().join("repl-down/payloads/week-002.json")).unwrap(),
    )
    .unwrap();
    let p02 = harness::hash::tel_hash("P02");
    let p02_weeks: std::collections::BTreeSet<u32> = week2
        .results
        .iter()
        .filter(|r| r.site == p02)
        .filter_map(|r| r.week)
        .collect();
    assert_eq!(p02_weeks, [1, 2].into());
}

/// The checker must fail on what it exists to catch; a checker that passes everything passes
/// every other test too.
#[tokio::test]
async fn the_checker_catches_tampering_and_leaks() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = common::standalone(21, 120, "custom_tables = 1");
    let report = run_scenario(&scenario, &options(dir.path())).await.unwrap();
    assert!(report.met_expectations, "{:?}", report.findings);
    let json = std::fs::read(dir.path().join("t/payloads/week-001.json")).unwrap();
    let hierarchy = harness::model::HierarchyModel::from_scenario(&scenario);
    let (_, _, sites) = common::seed_all(&scenario, tempfile::tempdir().unwrap().path()).await;
    let facts = sites
        .iter()
        .map(|s| (s.model.code.clone(), s.facts.clone()))
        .collect();
    let engine = harness::engine::sqlite::SqliteEngine::new(dir.path());
    let expected = check::expected_weeks(
        &hierarchy,
        &facts,
        &[hierarchy.level],
        &harness::engine::Engine::info(&engine),
    );
    let why = check::Explanations::default();
    let upload = |json: Vec<u8>| {
        vec![ReceivedUpload {
            received_at: None,
            receipt_id: "r".into(),
            body_sha256: None,
            json,
        }]
    };

    let clean = check::check_uploads(
        &hierarchy,
        Catalog::shipped(),
        &expected,
        &upload(json.clone()),
        &why,
    );
    assert!(clean.findings.is_empty(), "{:?}", clean.findings);
    assert!(clean.probes_checked >= 10);

    let text = String::from_utf8(json.clone()).unwrap();
    let tampered = text.replacen("\"clients\":", "\"clients\":1", 2);
    let codes = |s: &check::CheckSummary| {
        s.findings
            .iter()
            .map(|f| f.code.as_str())
            .collect::<Vec<_>>()
    };
    let found = check::check_uploads(
        &hierarchy,
        Catalog::shipped(),
        &expected,
        &upload(tampered.into_bytes()),
        &why,
    );
    assert!(
        codes(&found).contains(&"probe_mismatch"),
        "{:?}",
        found.findings
    );

    let client = harness::generate::clients(&hierarchy.sites[0])
        .nth(7)
        .unwrap();
    for leaked in client.personal_values() {
        let leaky = text.replacen(
            "\"status\":\"Active\"",
            &format!("\"status\":\"{leaked}\""),
            1,
        );
        let found = check::check_uploads(
            &hierarchy,
            Catalog::shipped(),
            &expected,
            &upload(leaky.into_bytes()),
            &why,
        );
        assert!(
            codes(&found).contains(&"pii_leak"),
            "{leaked} was not caught: {:?}",
            found.findings
        );
    }
    let table = harness::generate::custom_table_names(&hierarchy.sites[0]).remove(0);
    let leaky = text.replacen(
        "\"time_zone\":\"UTC\"",
        &format!("\"time_zone\":\"{table}\""),
        1,
    );
    let found = check::check_uploads(
        &hierarchy,
        Catalog::shipped(),
        &expected,
        &upload(leaky.into_bytes()),
        &why,
    );
    assert!(
        codes(&found).contains(&"pii_leak"),
        "custom table name was not caught"
    );
    let leaky = text.replacen("\"time_zone\":\"UTC\"", "\"time_zone\":\"P01\"", 1);
    let found = check::check_uploads(
        &hierarchy,
        Catalog::shipped(),
        &expected,
        &upload(leaky.into_bytes()),
        &why,
    );
    assert!(
        codes(&found).contains(&"pii_leak"),
        "site code was not caught"
    );

    let other_hierarchy = text.replace(
        &harness::hash::tel_hash(&hierarchy.id.to_string()),
        &harness::hash::tel_hash("x"),
    );
    let found = check::check_uploads(
        &hierarchy,
        Catalog::shipped(),
        &expected,
        &upload(other_hierarchy.into_bytes()),
        &why,
    );
    assert!(codes(&found).contains(&"hierarchy_hash"));

    // Nothing arrived and nothing explains it: the week is missing and its data lost.
    let found = check::check_uploads(&hierarchy, Catalog::shipped(), &expected, &[], &why);
    assert_eq!(codes(&found), vec!["missing_upload", "data_lost"]);
    let twice = check::check_uploads(
        &hierarchy,
        Catalog::shipped(),
        &expected,
        &[upload(json.clone()).remove(0), upload(json).remove(0)],
        &why,
    );
    assert!(codes(&twice).contains(&"duplicate_entry"));
}

/// Transport is visible: a survived 503 is an info finding and a logged attempt; a scenario can
/// raise its severity or bound the attempts, and then the same run fails.
#[tokio::test]
async fn retries_are_visible_and_expectations_can_bound_them() {
    use harness::finding::Severity;
    let dir = tempfile::tempdir().unwrap();
    let scenario = common::shipped("hierarchy.toml");
    let report = run_scenario(&scenario, &options(dir.path())).await.unwrap();
    assert!(report.met_expectations, "{:?}", report.expectation_failures);
    let retried: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.code.as_str() == "upload_retried")
        .collect();
    assert_eq!(retried.len(), 1, "{:?}", report.findings);
    assert_eq!(retried[0].severity, Severity::Info);
    assert_eq!(retried[0].week, Some(2));
    let week2 = report.timings.uploads.iter().find(|u| u.week == 2).unwrap();
    assert_eq!(week2.attempts, 3);
    let statuses: Vec<Option<u16>> = week2.attempt_log.iter().map(|a| a.status).collect();
    assert_eq!(statuses, [Some(503), Some(503), Some(201)]);

    let mut strict = scenario.clone();
    strict
        .expect
        .severity
        .insert("upload_retried".into(), Severity::Error);
    let report = run_scenario(&strict, &options(dir.path())).await.unwrap();
    assert!(!report.met_expectations);
    assert!(
        report
            .expectation_failures
            .iter()
            .any(|f| f.contains("upload_retried")),
        "{:?}",
        report.expectation_failures
    );

    let mut bounded = scenario.clone();
    bounded.expect.max_attempts = Some(2);
    let report = run_scenario(&bounded, &options(dir.path())).await.unwrap();
    assert!(!report.met_expectations);
    assert!(
        report.expectation_failures[0].contains("3 attempts"),
        "{:?}",
        report.expectation_failures
    );
}
