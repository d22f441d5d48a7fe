//! Replication from child primaries to the CAS: complete, and idempotent however often a pass runs.

mod common;

use harness::engine::WeeklyRun;
use harness::pipeline::replicate::replicate;
use harness::probes;
use harness::scenario::Level;
use proptest::prelude::*;

const HIERARCHY: &str = r#"
name = "repl"
seed = 11
[hierarchy]
cas = true
installed = "2026-01-05"
[[hierarchy.primary]]
code = "P01"
clients = 50
[[hierarchy.primary]]
code = "P02"
clients = 20
[run]
weeks = 3
"#;

async fn count(db: &dyn harness::engine::SiteDatabase) -> usize {
    db.replication_batch(0).await.unwrap().rows.len()
}

#[tokio::test]
async fn a_repeated_pass_adds_nothing() {
    let scenario = common::scenario(HIERARCHY);
    let dir = tempfile::tempdir().unwrap();
    let (hierarchy, _engine, sites) = common::seed_all(&scenario, dir.path()).await;
    let catalog = probes::for_level(Level::Enhanced);
    for site in &sites {
        site.db
            .run_weekly(&WeeklyRun {
                week: 1,
                started_on: hierarchy.week_start(1),
                probes: &catalog,
            })
            .await
            .unwrap();
    }
    let (cas, primaries) = sites.split_first().unwrap();
    let own = count(cas.db.as_ref()).await;
    let mut child_rows = 0;
    for p in primaries {
        child_rows += count(p.db.as_ref()).await;
        let copied = replicate(cas.db.as_ref(), p.db.as_ref()).await.unwrap();
        assert_eq!(copied as usize, count(p.db.as_ref()).await);
    }
    assert_eq!(count(cas.db.as_ref()).await, own + child_rows);
    for p in primaries {
        assert_eq!(
            replicate(cas.db.as_ref(), p.db.as_ref()).await.unwrap(),
            0,
            "second pass copies nothing"
        );
    }
    assert_eq!(count(cas.db.as_ref()).await, own + child_rows);
}

/// The CAS's transaction dies at each point the schedule can pick: nothing of it remains (no
/// row, no probe run, no watermark), and the batch applied afterwards gives what a clean pass
/// gives.
#[tokio::test]
async fn a_replication_transaction_that_dies_leaves_nothing_half_applied() {
    use harness::engine::{Applied, CrashPoint};
    let scenario = common::scenario(HIERARCHY);
    let dir = tempfile::tempdir().unwrap();
    let (hierarchy, _engine, sites) = common::seed_all(&scenario, dir.path()).await;
    let catalog = probes::for_level(Level::Basic);
    let (cas, primaries) = sites.split_first().unwrap();
    let p = &primaries[0];
    for week in 1..=2 {
        p.db.run_weekly(&WeeklyRun {
            week,
            started_on: hierarchy.week_start(week),
            probes: &catalog,
        })
        .await
        .unwrap();
    }
    // Week 1 is at the CAS already, so a dying pass also has something to delete.
    let first = p.db.replication_batch(0).await.unwrap();
    let week_1_only = harness::engine::ReplicationBatch {
        rows: first.rows.iter().filter(|r| r.week == 1).cloned().collect(),
        runs: first.runs.iter().filter(|r| r.week == 1).cloned().collect(),
    };
    cas.db
        .apply_replicated(p.db.code(), &week_1_only, None)
        .await
        .unwrap();
    // Every row the CAS holds, whether or not a probe run names it.
    let db = cas.db.clone();
    let held = async move || {
        let mut rows = db.results_of_week(1).await.unwrap();
        rows.extend(db.results_of_week(2).await.unwrap());
        rows
    };
    let before = (held().await, cas.db.watermark(p.db.code()).await.unwrap());
    let at_cas_before = cas.db.replication_batch(0).await.unwrap();
    let batch = p.db.replication_batch(before.1).await.unwrap();
    assert!(!batch.rows.is_empty());
    for point in CrashPoint::ALL {
        let applied = cas
            .db
            .apply_replicated(p.db.code(), &batch, Some(point))
            .await
            .unwrap();
        assert_eq!(applied, Applied::Crashed, "{point:?}");
        let after = (held().await, cas.db.watermark(p.db.code()).await.unwrap());
        assert!(
            after == before,
            "{point:?}: something of the dead transaction remains: {} rows and watermark {} \
             before, {} rows and watermark {} after",
            before.0.len(),
            before.1,
            after.0.len(),
            after.1
        );
        assert_eq!(
            cas.db.replication_batch(0).await.unwrap(),
            at_cas_before,
            "{point:?}"
        );
    }
    let applied = cas
        .db
        .apply_replicated(p.db.code(), &batch, None)
        .await
        .unwrap();
    assert_eq!(applied, Applied::Committed);
    assert_eq!(held().await.len(), before.0.len() + batch.rows.len());
}

#[tokio::test]
async fn replaying_an_old_batch_is_ignored() {
    // A pass that read rows, lost its answer and is applied again (an at-least-once transport)
    // must not duplicate them: rows at or below the watermark are skipped.
    let scenario = common::scenario(HIERARCHY);
    let dir = tempfile::tempdir().unwrap();
    let (hierarchy, _engine, sites) = common::seed_all(&scenario, dir.path()).await;
    let catalog = probes::for_level(Level::Basic);
    let (cas, primaries) = sites.split_first().unwrap();
    let p = &primaries[0];
    p.db.run_weekly(&WeeklyRun {
        week: 1,
        started_on: hierarchy.week_start(1),
        probes: &catalog,
    })
    .await
    .unwrap();
    let batch = p.db.replication_batch(0).await.unwrap();
    cas.db
        .apply_replicated(p.db.code(), &batch, None)
        .await
        .unwrap();
    cas.db
        .apply_replicated(p.db.code(), &batch, None)
        .await
        .unwrap();
    assert_eq!(count(cas.db.as_ref()).await, batch.rows.len());
    assert_eq!(
        cas.db.watermark(p.db.code()).await.unwrap(),
        batch.runs.iter().map(|r| r.id).max().unwrap()
    );
    // The probe runs came up too, one per probe, and once.
    let at_cas = cas.db.replication_batch(0).await.unwrap();
    assert_eq!(at_cas.runs.len(), catalog.len());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// Any schedule of weekly runs and replication passes (some sites skipped some weeks, some
    /// passes repeated) ends, after a final catch-up pass, with the CAS holding every child row
    /// exactly once.
    #[test]
    fn any_schedule_converges_to_exactly_once(schedule in proptest::collection::vec((any::<bool>(), any::<bool>(), 0u8..3), 1..4)) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let scenario = common::scenario(HIERARCHY);
            let dir = tempfile::tempdir().unwrap();
            let (hierarchy, _engine, sites) = common::seed_all(&scenario, dir.path()).await;
            let catalog = probes::for_level(Level::Basic);
            let (cas, primaries) = sites.split_first().unwrap();
            for (week, (p1_up, p2_up, repeats)) in schedule.iter().enumerate() {
                let week = week as u32 + 1;
                for site in &sites {
                    site.db.run_weekly(&WeeklyRun { week, started_on: hierarchy.week_start(week), probes: &catalog }).await.unwrap();
                }
                for (p, up) in primaries.iter().zip([p1_up, p2_up]) {
                    if *up {
                        for _ in 0..=*repeats {
                            replicate(cas.db.as_ref(), p.db.as_ref()).await.unwrap();
                        }
                    }
                }
            }
            for p in primaries {
                replicate(cas.db.as_ref(), p.db.as_ref()).await.unwrap();
            }
            let cas_rows = cas.db.replication_batch(0).await.unwrap().rows;
            let mut child_rows: Vec<(u32, String, String, u32, String)> = Vec::new();
            for p in primaries {
                for r in p.db.replication_batch(0).await.unwrap().rows {
                    child_rows.push((r.week, r.probe, r.site_hash, r.row_no, r.data));
                }
            }
            let mut at_cas: Vec<_> = cas_rows
                .into_iter()
                .filter(|r| r.site_hash != harness::hash::tel_hash(cas.db.code()))
                .map(|r| (r.week, r.probe, r.site_hash, r.row_no, r.data))
                .collect();
            child_rows.sort();
            at_cas.sort();
            prop_assert_eq!(at_cas, child_rows);
            Ok(())
        })?;
    }
}
