//! Delivery, checked by planting each defect the checker exists to catch, and the service
//! connection point's outbox across a restart between storing and marking.

mod common;

use std::collections::BTreeSet;

use harness::engine::StagedBatch;
use harness::payload;
use harness::pipeline::verify::{self as check, ExpectedWeek, Explanations, ReceivedUpload};
use harness::pipeline::{run_scenario, seed, submit};
use harness::probes::Catalog;
use harness::scenario::{EngineKind, Scenario};
use serde_json::Value;
use usage_protocol::client::Upstream;

/// Runs a scenario and returns, for each week, its kept payload as JSON, and the expectations.
async fn kept_run(scenario: &Scenario) -> (Vec<Value>, Vec<ExpectedWeek>, Explanations) {
    let dir = tempfile::tempdir().unwrap();
    let report = run_scenario(scenario, &common::options(dir.path()))
        .await
        .unwrap();
    assert!(report.met_expectations, "{:?}", report.expectation_failures);
    let uploads = (1..=scenario.weeks())
        .map(|w| {
            let path = dir
                .path()
                .join(&scenario.name)
                .join(format!("payloads/week-{w:03}.json"));
            serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
        })
        .collect();
    let (_, expected) = common::expected(scenario).await;
    (uploads, expected, Explanations::of_run(scenario, &[]))
}

fn received(uploads: &[Value]) -> Vec<ReceivedUpload> {
    uploads
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let json = serde_json::to_vec(v).unwrap();
            ReceivedUpload {
                receipt_id: format!("r{}", i + 1),
                received_at: None,
                body_sha256: Some(usage_protocol::sha256_hex(&json)),
                json,
            }
        })
        .collect()
}

fn codes(summary: &check::CheckSummary) -> BTreeSet<&str> {
    summary.findings.iter().map(|f| f.code.as_str()).collect()
}

#[tokio::test]
async fn each_planted_defect_is_named() {
    let scenario = common::shipped("field/replication-backlog.toml");
    let hierarchy = harness::model::HierarchyModel::from_scenario(&scenario);
    let (uploads, expected, why) = kept_run(&scenario).await;
    let check = |uploads: &[ReceivedUpload]| {
        check::check_uploads(&hierarchy, Catalog::shipped(), &expected, uploads, &why)
    };
    let clean = check(&received(&uploads));
    assert_eq!(
        codes(&clean),
        BTreeSet::from(["late_delivery"]),
        "{:?}",
        clean.findings
    );
    let p02 = harness::hash::tel_hash("P02");
    let entry_of = |v: &Value, site: &str, week: u64, pred: &dyn Fn(&Value) -> bool| {
        v["results"]
            .as_array()
            .unwrap()
            .iter()
            .position(|r| r["site"] == site && r["week"] == week && pred(r))
            .expect("such an entry")
    };

    // One row of a late entry (P02's week 1, which rode in week 2's upload) goes missing.
    let mut dropped = uploads.clone();
    let i = entry_of(&dropped[1], &p02, 1, &|r| {
        !r["rows"].as_array().unwrap().is_empty()
    });
    let probe = dropped[1]["results"][i]["probe"]
        .as_str()
        .unwrap()
        .to_string();
    dropped[1]["results"][i]["rows"]
        .as_array_mut()
        .unwrap()
        .pop();
    let found = check(&received(&dropped));
    let mismatch = found
        .findings
        .iter()
        .find(|f| f.code.as_str() == "probe_mismatch")
        .expect("the dropped row is named");
    assert_eq!(
        (
            mismatch.site.as_deref(),
            mismatch.week,
            mismatch.probe.as_deref()
        ),
        (Some("P02"), Some(1), Some(probe.as_str()))
    );

    // One entry sent twice in an upload.
    let mut twice = uploads.clone();
    let entry = twice[0]["results"][0].clone();
    twice[0]["results"].as_array_mut().unwrap().push(entry);
    assert!(codes(&check(&received(&twice))).contains("duplicate_entry"));

    // A site listed twice.
    let mut sites = uploads.clone();
    let site = sites[0]["sites"][0].clone();
    sites[0]["sites"].as_array_mut().unwrap().push(site);
    assert!(codes(&check(&received(&sites))).contains("duplicate_site"));

    // An empty result (week 1 has no previous run to report) skipped: empty is not missing.
    let mut skipped = uploads.clone();
    let p01 = harness::hash::tel_hash("P01");
    let i = entry_of(&skipped[0], &p01, 1, &|r| {
        r["rows"].as_array().unwrap().is_empty()
    });
    let probe = skipped[0]["results"][i]["probe"]
        .as_str()
        .unwrap()
        .to_string();
    skipped[0]["results"].as_array_mut().unwrap().remove(i);
    let found = check(&received(&skipped));
    let lost = found
        .findings
        .iter()
        .find(|f| f.code.as_str() == "data_lost")
        .expect("the skipped empty result is lost data");
    assert!(lost.message.contains(&probe), "{}", lost.message);

    // A stored body that is not what its receipt says.
    let mut altered = received(&uploads);
    let text = String::from_utf8(altered[0].json.clone()).unwrap();
    altered[0].json = text.replacen("\"Active\"", "\"Activ3\"", 1).into_bytes();
    assert!(codes(&check(&altered)).contains("receipt_mismatch"));

    // A whole late entry that never arrives, with the outage in the schedule: explained.
    let mut gone = uploads.clone();
    let i = entry_of(&gone[1], &p02, 1, &|_| true);
    gone[1]["results"].as_array_mut().unwrap().remove(i);
    let found = check(&received(&gone));
    assert!(
        codes(&found).contains("data_not_delivered"),
        "{:?}",
        found.findings
    );
    assert!(!codes(&found).contains("data_lost"));
}

/// The service connection point stores a batch upstream, then restarts before it marks the
/// batch delivered (or the answer was lost): its next check sends the same bytes under the same
/// key first — the service answers with the same receipt — and nothing is stored twice.
#[tokio::test]
async fn a_restart_between_storing_and_marking_sends_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = common::standalone(31, 40, "[run]\nweeks = 2");
    let layout = harness::layout::RunLayout::new(dir.path()).scenario(&scenario.name);
    let server = harness::mock::start(&layout.upstream(), true)
        .await
        .unwrap();
    let upstream = Upstream::new(
        server.base_url(),
        server.admin_token(),
        common::options(dir.path()).retry,
    );
    let seeded = seed::seed_scenario(
        &scenario,
        Catalog::shipped(),
        EngineKind::Embedded,
        &layout,
        &upstream,
        &seed::hidden_progress(),
    )
    .await
    .unwrap();
    let hierarchies = &seeded.hierarchies;
    let own = &hierarchies[0];
    let db = own.top().db.as_ref();
    harness::pipeline::collect::collect_week(hierarchies, 1, &Default::default(), &[])
        .await
        .unwrap();

    // The SCP stages its batch and uploads it; the service stores it; the SCP stops there.
    let backlog = payload::backlog(db, Catalog::shipped(), Some(1))
        .await
        .unwrap();
    let part = payload::parts(&backlog, payload::MAX_PART_BYTES, 1)
        .unwrap()
        .remove(0);
    let staged = StagedBatch {
        idempotency_key: payload::idempotency_key(&own.hash, 1, 1),
        entries: part.entries.clone(),
        body: payload::encode(&part.payload).1,
    };
    db.stage_outbox(&staged).await.unwrap();
    upstream
        .upload_usage(&own.token, &staged.idempotency_key, staged.body.clone())
        .await
        .unwrap();
    assert_eq!(
        db.outbox().await.unwrap(),
        Some(staged.clone()),
        "not yet marked"
    );

    // After the restart, the same cycle's check: the outbox goes first, then nothing is left.
    let transfer = layout.transfer(1);
    let submitted = submit::submit_week(&scenario, hierarchies, 1, &transfer, &upstream)
        .await
        .unwrap();
    assert_eq!(submitted.uploads.len(), 1, "{:?}", submitted.uploads);
    assert!(submitted.findings.is_empty(), "{:?}", submitted.findings);
    assert_eq!(db.outbox().await.unwrap(), None);
    assert!(db.pending_entries().await.unwrap().is_empty());
    assert_eq!(upstream.receipts().await.unwrap().len(), 1, "stored once");

    // Week 2: only week 2's runs go.
    harness::pipeline::collect::collect_week(hierarchies, 2, &Default::default(), &[])
        .await
        .unwrap();
    submit::submit_week(&scenario, hierarchies, 2, &layout.transfer(2), &upstream)
        .await
        .unwrap();
    let why = Explanations::default();
    let received = check::received_from(&upstream).await.unwrap();
    let mut inputs = Vec::new();
    for hierarchy in &seeded.hierarchies {
        inputs.push(hierarchy.verify_input(false).await.unwrap());
    }
    let verified = check::verify_run(received, &inputs, &seeded.engine_info, &why, &[]);
    let found: Vec<&str> = verified.findings.iter().map(|f| f.code.as_str()).collect();
    assert!(found.is_empty(), "{:?}", verified.findings);
    assert_eq!(verified.uploads_accepted, 2);
    server.stop().await;
}
