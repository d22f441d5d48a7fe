//! The run-wide invariants a swarm holds every run to, after it ran: what arrived upstream
//! against the reference model, the CAS against its primaries, and the checker's verdict
//! against the schedule. A violation names what broke, in one line first.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use usage_protocol::payload::UsagePayload;

use crate::engine::ResultRow;
use crate::engine::sqlite::SqliteEngine;
use crate::finding::FindingCode;
use crate::hash::tel_hash;
use crate::layout::ScenarioLayout;
use crate::probes::Catalog;
use crate::reference::{self, Delivery, Fate};
use crate::report::ScenarioReport;
use crate::scenario::{EngineKind, FaultKind, Scenario};

/// An invariant a run broke: which one (`rule`, stable, so that shrinking keeps to the same
/// failure) and the details.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Violation {
    pub rule: &'static str,
    pub detail: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.rule, self.detail)
    }
}

fn violation(rule: &'static str, detail: impl Into<String>) -> Violation {
    Violation {
        rule,
        detail: detail.into(),
    }
}

/// Findings no run may have, whatever its schedule: each is a bug in the pipeline or in the
/// checker.
const NEVER: [FindingCode; 10] = [
    FindingCode::DataLost,
    FindingCode::DuplicateEntry,
    FindingCode::DuplicateSite,
    FindingCode::PiiLeak,
    FindingCode::ProbeMismatch,
    FindingCode::ReceiptMismatch,
    FindingCode::UnexpectedProbe,
    FindingCode::MissingProbe,
    FindingCode::UploadFailed,
    FindingCode::ProbeError,
];

/// Holds a finished run to every invariant. `layout` is where it ran; `engine` the engine it
/// ran on (the CAS is compared with its primaries on the embedded engine, whose files outlive
/// the run).
pub async fn check(
    scenario: &Scenario,
    catalog: &Catalog,
    layout: &ScenarioLayout,
    engine: EngineKind,
    report: &ScenarioReport,
) -> Result<(), Violation> {
    let arrived = arrived(&layout.upstream())?;
    // The model's prediction, where it reaches: read by the delivery and the CAS checks.
    let expected =
        reference::covers(scenario).then(|| reference::expected_delivery(scenario, catalog));
    let undelivered = match &expected {
        Some(expected) => Some(delivery_as_modelled(&expected.fates, arrived)?),
        None => {
            at_most_once(arrived)?;
            None
        }
    };
    if scenario.hierarchy.cas && engine == EngineKind::Embedded {
        cas_converges(scenario, expected.as_ref(), layout).await?;
    }
    verdict_agrees(scenario, report, expected.as_ref(), undelivered)
}

/// For every (hierarchy hash, site hash, run week, probe): the cycles of the uploads that carried
/// it. Two hierarchies may have sites of the same code: the hierarchy tells them apart.
type Arrived = BTreeMap<(String, String, u32, String), Vec<u32>>;

fn arrived(store: &Path) -> Result<Arrived, Violation> {
    let mut arrived: Arrived = BTreeMap::new();
    let stored = crate::mock::stored_uploads(store)
        .map_err(|e| violation("store_readable", format!("the upstream's store: {e}")))?;
    for (receipt, body) in stored {
        let payload = UsagePayload::from_json(&body).map_err(|e| {
            violation(
                "payload_valid",
                format!("upload {} is not a valid payload: {e}", receipt.id),
            )
        })?;
        for entry in &payload.results {
            arrived
                .entry((
                    payload.hierarchy_id.clone(),
                    entry.site.clone(),
                    entry.week_in(&payload),
                    entry.probe.clone(),
                ))
                .or_default()
                .push(payload.period.week);
        }
    }
    Ok(arrived)
}

/// Every run the model says is carried arrived in exactly that cycle's upload, once; nothing
/// dropped or still on its way arrived; nothing else arrived. Returns how many runs the model
/// says never arrive. (The model covers one hierarchy: what arrived is all its own.)
fn delivery_as_modelled(
    expected: &BTreeMap<reference::RunKey, Fate>,
    arrived: Arrived,
) -> Result<usize, Violation> {
    let mut arrived: BTreeMap<(String, u32, String), Vec<u32>> = arrived.into_iter().fold(
        BTreeMap::new(),
        |mut runs, ((_, site, week, probe), cycles)| {
            runs.entry((site, week, probe)).or_default().extend(cycles);
            runs
        },
    );
    let mut undelivered = 0;
    for ((site, week, probe), fate) in expected {
        let key = (tel_hash(site), *week, probe.to_string());
        let got = arrived.remove(&key).unwrap_or_default();
        match fate {
            Fate::Carried { cycle } if got != vec![*cycle] => {
                return Err(violation(
                    "delivered_as_modelled",
                    format!(
                        "{site} week {week} {probe}: expected once in cycle {cycle}'s upload, arrived in {got:?}"
                    ),
                ));
            }
            Fate::Carried { .. } => {}
            Fate::Dropped { .. } | Fate::AtSite | Fate::AtTop => {
                undelivered += 1;
                if !got.is_empty() {
                    return Err(violation(
                        "delivered_as_modelled",
                        format!(
                            "{site} week {week} {probe}: expected {fate:?}, arrived in {got:?}"
                        ),
                    ));
                }
            }
        }
    }
    if let Some(key) = arrived.keys().next() {
        return Err(violation(
            "delivered_as_modelled",
            format!(
                "{} runs arrived that the model does not expect, the first {key:?}",
                arrived.len()
            ),
        ));
    }
    Ok(undelivered)
}

/// Where the model does not reach (neighbouring hierarchies, a backlog past one upload): nothing
/// arrived twice.
fn at_most_once(arrived: Arrived) -> Result<(), Violation> {
    match arrived.iter().find(|(_, cycles)| cycles.len() > 1) {
        Some((key, cycles)) => Err(violation(
            "exactly_once",
            format!(
                "{key:?} arrived {} times, in cycles {cycles:?}",
                cycles.len()
            ),
        )),
        None => Ok(()),
    }
}

/// The CAS holds each primary's weeks as the primary has them: every week it holds of a
/// primary is that primary's own rows, and it holds every week the primary sent up.
async fn cas_converges(
    scenario: &Scenario,
    expected: Option<&Delivery>,
    layout: &ScenarioLayout,
) -> Result<(), Violation> {
    let sites = layout.hierarchy("");
    let open = |code: &str| {
        SqliteEngine::open_existing(&sites.site_db(code))
            .map_err(|e| violation("site_db_readable", format!("{code}: {e}")))
    };
    let cas = open(scenario.hierarchy.cas_code.get_ref())?;
    let rows_of = |rows: Vec<ResultRow>, hash: &str| -> Vec<(String, u32, String)> {
        let mut rows: Vec<_> = rows
            .into_iter()
            .filter(|r| r.site_hash == hash)
            .map(|r| (r.probe, r.row_no, r.data))
            .collect();
        rows.sort();
        rows
    };
    let read = |e: crate::engine::EngineError| violation("site_db_readable", e.to_string());
    for primary in &scenario.hierarchy.primary {
        let code = primary.code.get_ref();
        let db = open(code)?;
        let hash = tel_hash(code);
        for week in 1..=*scenario.run.weeks.get_ref() {
            let at_cas = rows_of(cas.results_of_week(week).await.map_err(read)?, &hash);
            let own = rows_of(db.results_of_week(week).await.map_err(read)?, &hash);
            let moved_up = expected.is_some_and(|expected| {
                expected.fates.iter().any(|((s, w, _), fate)| {
                    s.eq_ignore_ascii_case(code) && *w == week && *fate != Fate::AtSite
                })
            });
            if (moved_up || !at_cas.is_empty()) && at_cas != own {
                return Err(violation(
                    "cas_converges",
                    format!(
                        "{code} week {week}: the CAS holds {} rows of it, the primary {}",
                        at_cas.len(),
                        own.len()
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// The checker's verdict agrees with the schedule: none of the findings no run may have; where
/// the model reaches, `upload_failed` in exactly the cycles it says an upload fails and
/// `data_not_delivered` exactly when some run never arrives; where it does not, an upload that
/// failed only where an upstream or cabinet fault explains it.
fn verdict_agrees(
    scenario: &Scenario,
    report: &ScenarioReport,
    expected: Option<&Delivery>,
    undelivered: Option<usize>,
) -> Result<(), Violation> {
    let codes: BTreeSet<FindingCode> = report.findings.iter().map(|f| f.code).collect();
    let failed_weeks: BTreeSet<u32> = report
        .findings
        .iter()
        .filter(|f| f.code == FindingCode::UploadFailed)
        .filter_map(|f| f.week)
        .collect();
    let upload_can_fail = match expected {
        Some(expected) => {
            if failed_weeks != expected.failed {
                return Err(violation(
                    "checker_agrees",
                    format!(
                        "uploads failed in cycles {failed_weeks:?}, the model says {:?}",
                        expected.failed
                    ),
                ));
            }
            true
        }
        None => scenario.faults.iter().any(|f| {
            matches!(
                f.kind.get_ref(),
                FaultKind::CabCorrupted
                    | FaultKind::CabRenamed
                    | FaultKind::UpstreamStatus
                    | FaultKind::UpstreamThrottle
                    | FaultKind::UpstreamReset
                    | FaultKind::UpstreamLatency
                    | FaultKind::UploadLostAck
            )
        }),
    };
    for bad in NEVER {
        if bad == FindingCode::UploadFailed && upload_can_fail {
            continue;
        }
        if let Some(f) = report.findings.iter().find(|f| f.code == bad) {
            return Err(violation(
                "checker_agrees",
                format!("the checker reports {bad}: {}", f.message),
            ));
        }
    }
    if let Some(undelivered) = undelivered
        && codes.contains(&FindingCode::DataNotDelivered) != (undelivered > 0)
    {
        return Err(violation(
            "checker_agrees",
            format!(
                "data_not_delivered is {}reported, and the model says {undelivered} runs never arrive",
                if undelivered > 0 { "not " } else { "" }
            ),
        ));
    }
    Ok(())
}
