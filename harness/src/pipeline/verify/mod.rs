//! Verify: what arrived upstream against what the oracles computed from the model alone. Each
//! stored body against its receipt's digest; each upload on its own (hierarchy hash, level,
//! site list, entries once each); delivery over the whole run (every probe run of every site's
//! every week exactly once, or its absence explained, lateness reported); one upload per cycle
//! and part; and a scan of every received byte for personal and identifying values.

mod delivery;
mod expected;
mod packs;
mod payload;
mod pii;

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use usage_protocol::client::{Upstream, UpstreamError};
use usage_protocol::payload::{Row, UsagePayload};

use crate::finding::{Check, Finding, FindingCode};
use crate::hash::tel_hash;
use crate::model::{HierarchyModel, SiteFacts};
use crate::probes::{Catalog, EngineInfo};
use crate::scenario::{FaultKind, Level, Scenario};

pub use expected::{
    ExpectedSite, ExpectedWeek, MeasuredRows, Observed, expected_weeks, expected_weeks_without,
};
pub use pii::scan_for_personal_data;

/// One upload as the upstream stored it.
pub struct ReceivedUpload {
    pub receipt_id: String,
    /// When the service stored it (its receipt's `received_at`, seconds since the epoch).
    pub received_at: Option<f64>,
    /// The digest the receipt states for the body (hex SHA-256); checked against the body.
    pub body_sha256: Option<String>,
    pub json: Vec<u8>,
}

/// One hierarchy as verification sees it: what the oracles need, and no database — a run
/// builds it from its seeded sites, `harness check` by running the generator again.
#[derive(Debug, Clone)]
pub struct HierarchyFacts {
    pub model: HierarchyModel,
    /// The probes its sites ran.
    pub catalog: &'static Catalog,
    /// `""` for the scenario's own hierarchy, `neighbor-N/` for the others: prefixes site names
    /// in findings.
    pub label: String,
    /// The hashed hierarchy ID, as the upstream knows it.
    pub hash: String,
    /// The level in force during each week (index 0 is week 1).
    pub levels: Vec<Level>,
    /// Site code → the facts the generator observed.
    pub facts: BTreeMap<String, SiteFacts>,
    /// The IDs of the update packs the top-level site imported, as it lists them: read for an
    /// offline run, whose imports are checked; `None` online.
    pub imported_packs: Option<Vec<String>>,
}

impl HierarchyFacts {
    /// A site's name in findings.
    pub fn site_label(&self, code: &str) -> String {
        format!("{}{code}", self.label)
    }
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct CheckSummary {
    pub uploads_accepted: u32,
    pub probes_checked: u64,
    /// Probe runs of loaded probes without expected rows: delivered, rows not compared.
    pub unchecked: u64,
    /// Those probes, by name.
    pub unchecked_probes: BTreeSet<String>,
    /// Probe runs checked whose rows did not arrive as expected: different rows, or none (an
    /// explained absence counts too; its finding says why).
    pub mismatches: u64,
    pub findings: Vec<Finding>,
    /// The checks that ran, and how long each took, in milliseconds.
    pub check_ms: BTreeMap<Check, f64>,
}

impl CheckSummary {
    /// Runs `check`, adding its time to `which`'s.
    fn timed<T>(&mut self, which: Check, check: impl FnOnce(&mut Self) -> T) -> T {
        let started = std::time::Instant::now();
        let result = check(self);
        *self.check_ms.entry(which).or_default() += started.elapsed().as_secs_f64() * 1e3;
        result
    }
}

/// What in the run can explain a probe run that never arrived.
#[derive(Debug, Clone, Default)]
pub struct Explanations {
    /// Cycles whose upload (or `-connect`) failed or was struck by a fault on its way.
    pub transport_faults: BTreeSet<u32>,
    /// Site code → the weeks its replication was down.
    pub replication_down: BTreeMap<String, BTreeSet<u32>>,
    /// (site code, week) of the weeks a site did not run (its database was down).
    pub not_run: BTreeSet<(String, u32)>,
    /// (site code, week, probe) of the probes that failed: reported, never sent.
    /// Their errors, as the sites recorded them (the next run's statistics report them).
    pub failed_probes: BTreeMap<(String, u32, String), String>,
    /// Receipt id → the cycle whose check sent it (a batch re-sent from the outbox keeps its
    /// first cycle in its bytes); uploads not in it count as sent in their own cycle.
    pub sent_in: BTreeMap<String, u32>,
    /// Cycle → when its check began to upload (seconds since the epoch, wall clock).
    pub check_began: BTreeMap<u32, f64>,
    /// Cycle → the kind of fault that held its uploads back, for the message of an absence.
    pub held_back_by: BTreeMap<u32, &'static str>,
}

impl Explanations {
    /// The cycle whose check sent the upload `receipt` that says it is of `cycle`.
    pub fn sent_in(&self, receipt: &str, cycle: u32) -> u32 {
        self.sent_in.get(receipt).copied().unwrap_or(cycle)
    }

    /// Records the uploads a run made: which cycle sent which receipt, and when each cycle's
    /// check began (wall clock).
    pub fn with_uploads(mut self, uploads: &[crate::report::UploadAttempt]) -> Self {
        for u in uploads {
            if let Some(receipt) = &u.receipt {
                self.sent_in.entry(receipt.clone()).or_insert(u.week);
            }
            if let Some(began) = u.began_at {
                let first = self.check_began.entry(u.week).or_insert(began);
                *first = first.min(began);
            }
        }
        self
    }

    /// The cycle whose check the service stored `upload` in: the last check that began before
    /// the service's receipt time. This holds even when no answer came back (all lost, or too
    /// late) and a later cycle's resend got the receipt; without times, the cycle that got the
    /// receipt, or the one the upload claims.
    pub fn stored_in(&self, upload: &ReceivedUpload, claimed: u32) -> u32 {
        let by_time = upload.received_at.and_then(|at| {
            self.check_began
                .iter()
                .filter(|(_, began)| **began <= at)
                .map(|(cycle, _)| *cycle)
                .max()
        });
        by_time.unwrap_or_else(|| self.sent_in(&upload.receipt_id, claimed))
    }
}

impl Explanations {
    /// Why the probe run of `site` in `week` may never have arrived; `None` when nothing in the
    /// run explains it.
    fn cause(
        &self,
        catalog: &Catalog,
        expected: &[ExpectedWeek],
        site: &str,
        week: u32,
        probe: &str,
    ) -> Option<&'static str> {
        let later = expected.iter().filter(|w| w.week >= week);
        if let Some(p) = catalog.by_name(probe)
            && later.clone().any(|w| w.level < p.level)
        {
            return Some("the level was lowered before it could be sent (level_change)");
        }
        if self
            .replication_down
            .get(site)
            .is_some_and(|weeks| weeks.range(week..).next().is_some())
        {
            return Some(
                "the site's replication did not get through (replication_down or replication_crash)",
            );
        }
        if let Some(week) = self.transport_faults.range(week..).next() {
            return Some(match self.held_back_by.get(week).copied() {
                Some("scp_down") => "the service connection point was down (scp_down)",
                Some("site_db_down") => "the top-level site's database was down (site_db_down)",
                Some("cab_name_clash") => "its cabinet was refused (cab_name_clash)",
                Some("cab_corrupted") => "its cabinet was damaged on its way (cab_corrupted)",
                _ => "the uploads that could carry it failed (upload_failed)",
            });
        }
        None
    }

    fn hold_back(&mut self, weeks: std::ops::RangeInclusive<u32>, cause: &'static str) {
        for week in weeks {
            self.transport_faults.insert(week);
            // The scenario's own fault names the cause better than the failure it caused.
            self.held_back_by.entry(week).or_insert(cause);
        }
    }

    /// The explanations of a scenario's run: its schedule, and what the run reported so far.
    pub fn of_run(scenario: &Scenario, findings: &[Finding]) -> Self {
        let mut why = Explanations::default();
        for f in &scenario.faults {
            let window = f.window();
            let weeks = window.first..=window.last;
            match *f.kind.get_ref() {
                FaultKind::ReplicationDown | FaultKind::ReplicationCrash => {
                    if let Some(site) = &f.site {
                        why.replication_down
                            .entry(site.get_ref().to_ascii_uppercase())
                            .or_default()
                            .extend(weeks);
                    }
                }
                FaultKind::SiteDbDown => {
                    if let Some(site) = &f.site {
                        let code = site.get_ref().to_ascii_uppercase();
                        why.not_run.extend(weeks.clone().map(|w| (code.clone(), w)));
                    }
                    // A down top-level site also holds back every upload of those weeks.
                    why.hold_back(weeks, "site_db_down");
                }
                FaultKind::LevelChange | FaultKind::ReplicationDuplicate => {}
                kind => why.hold_back(weeks, kind.name()),
            }
        }
        for f in findings {
            match (f.code, f.week) {
                (FindingCode::UploadFailed | FindingCode::CabNameClash, Some(week)) => {
                    why.hold_back(week..=week, f.code.as_str());
                }
                (FindingCode::ProbeError, Some(week)) => {
                    if let (Some(site), Some(probe)) = (&f.site, &f.probe) {
                        let error = f
                            .message
                            .strip_prefix(&format!("{probe} failed: "))
                            .unwrap_or(&f.message);
                        why.failed_probes
                            .insert((site.clone(), week, probe.clone()), error.to_string());
                    }
                }
                _ => {}
            }
        }
        why
    }
}

/// Compares what the upstream received for one hierarchy with the expectation.
pub fn check_uploads(
    hierarchy: &HierarchyModel,
    catalog: &Catalog,
    expected: &[ExpectedWeek],
    uploads: &[ReceivedUpload],
    why: &Explanations,
) -> CheckSummary {
    let mut summary = CheckSummary {
        uploads_accepted: uploads.len() as u32,
        ..Default::default()
    };
    let hierarchy_hash = tel_hash(&hierarchy.id.to_string());
    summary.timed(Check::Receipts, |summary| {
        for upload in uploads {
            if let Some(stated) = &upload.body_sha256
                && *stated != usage_protocol::sha256_hex(&upload.json)
            {
                summary.findings.push(Finding::new(
                    FindingCode::ReceiptMismatch,
                    format!(
                        "upload {}: the stored body's SHA-256 is not the {stated} its receipt states",
                        upload.receipt_id
                    ),
                ));
            }
        }
    });
    let parsed = summary.timed(Check::Payloads, |summary| {
        let mut parsed = Vec::new();
        for upload in uploads {
            match UsagePayload::from_json(&upload.json) {
                Ok(payload) => parsed.push((upload, payload)),
                Err(e) => summary.findings.push(Finding::new(
                    FindingCode::PayloadInvalid,
                    format!("upload {}: {e}", upload.receipt_id),
                )),
            }
        }
        parsed
    });
    summary.timed(Check::Contents, |summary| {
        for (upload, payload) in &parsed {
            payload::check_upload(
                catalog,
                &hierarchy_hash,
                expected,
                &upload.receipt_id,
                payload,
                why.stored_in(upload, payload.period.week),
                summary,
            );
        }
    });
    summary.timed(Check::Cycles, |summary| {
        check_cycles(expected, &parsed, why, summary)
    });
    summary.timed(Check::Delivery, |summary| {
        delivery::check_delivery(catalog, expected, &parsed, why, summary)
    });
    summary.timed(Check::PersonalData, |summary| {
        let found = scan_for_personal_data(hierarchy, expected, &parsed);
        summary.findings.extend(found);
    });
    summary
}

/// An upload sent in every cycle the run had, and none for a cycle it did not have. (Several uploads
/// of one cycle are parts of its backlog; anything they carry twice is a duplicate entry.)
fn check_cycles(
    expected: &[ExpectedWeek],
    parsed: &[(&ReceivedUpload, UsagePayload)],
    why: &Explanations,
    summary: &mut CheckSummary,
) {
    let mut by_cycle: BTreeMap<u32, usize> = BTreeMap::new();
    for (upload, payload) in parsed {
        let cycle = why.stored_in(upload, payload.period.week);
        *by_cycle.entry(cycle).or_default() += 1;
    }
    for week in expected {
        if by_cycle.remove(&week.week).is_none() {
            summary.findings.push(
                Finding::new(
                    FindingCode::MissingUpload,
                    format!(
                        "no upload for week {}: nothing the service stored was sent in its check",
                        week.week
                    ),
                )
                .week(week.week),
            );
        }
    }
    for (week, received) in by_cycle {
        summary.findings.push(
            Finding::new(
                FindingCode::UploadCount,
                format!("{received} upload(s) for week {week}, which the run did not have"),
            )
            .week(week),
        );
    }
}

/// A few rows on each side of a difference between two multisets of rows.
fn describe_difference(sent: &[Row], oracle: &[Row]) -> String {
    let as_text = |rows: &[Row]| -> BTreeSet<String> {
        rows.iter()
            .map(|r| serde_json::to_string(r).unwrap_or_default())
            .collect()
    };
    let (sent_set, oracle_set) = (as_text(sent), as_text(oracle));
    let extra: Vec<_> = sent_set.difference(&oracle_set).take(3).cloned().collect();
    let missing: Vec<_> = oracle_set.difference(&sent_set).take(3).cloned().collect();
    format!(
        "{} row(s) sent, {} expected; unexpected: [{}]; missing: [{}]",
        sent.len(),
        oracle.len(),
        extra.join(", "),
        missing.join(", ")
    )
}

/// Everything the upstream stored, read back through its admin API: each upload's hashed
/// hierarchy ID and body, in the order it stored them.
pub async fn received_from(
    upstream: &Upstream,
) -> Result<Vec<(String, ReceivedUpload)>, UpstreamError> {
    let mut received = Vec::new();
    for receipt in upstream.receipts().await? {
        let json = upstream.upload_body(&receipt.id).await?;
        received.push((
            receipt.hierarchy_id,
            ReceivedUpload {
                received_at: receipt.received_at.parse().ok(),
                receipt_id: receipt.id,
                body_sha256: Some(receipt.body_sha256),
                json,
            },
        ));
    }
    Ok(received)
}

/// The row counts of every probe run that arrived, by (hashed site, run, probe): what the model
/// cannot know of a loaded probe without expected rows, and a site's next run statistics count.
fn measured_rows(uploads: &[ReceivedUpload]) -> MeasuredRows {
    let mut measured = MeasuredRows::new();
    for upload in uploads {
        let Ok(payload) = UsagePayload::from_json(&upload.json) else {
            continue; // reported as payload_invalid by the check
        };
        for r in &payload.results {
            measured.insert(
                (r.site.clone(), r.week_in(&payload), r.probe.clone()),
                r.rows.len() as u64,
            );
        }
    }
    measured
}

/// Checks everything the upstream stored (`received`: hashed hierarchy ID and upload, in the
/// order it stored them), hierarchy by hierarchy, against the oracles; `connected` names the
/// hierarchies an offline `-connect` carried (the update packs of a hierarchy are checked when
/// its `imported_packs` were read). A run and `harness check` both end here.
pub fn verify_run(
    received: Vec<(String, ReceivedUpload)>,
    hierarchies: &[HierarchyFacts],
    engine_info: &EngineInfo,
    why: &Explanations,
    connected: &[String],
) -> CheckSummary {
    let mut by_hierarchy: BTreeMap<String, Vec<ReceivedUpload>> = BTreeMap::new();
    for (hash, upload) in received {
        by_hierarchy.entry(hash).or_default().push(upload);
    }
    let mut total = CheckSummary::default();
    for hierarchy in hierarchies {
        let not_run = if hierarchy.label.is_empty() {
            why.not_run.clone()
        } else {
            BTreeSet::new()
        };
        let uploads = by_hierarchy
            .get(&hierarchy.hash)
            .map_or(&[][..], |v| &v[..]);
        let measured = if hierarchy.catalog.loaded_from().is_some() {
            measured_rows(uploads)
        } else {
            MeasuredRows::new()
        };
        let expected = expected::expected_weeks_without(
            &hierarchy.model,
            hierarchy.catalog,
            &hierarchy.facts,
            &hierarchy.levels,
            engine_info,
            &Observed {
                not_run,
                measured,
                failed: if hierarchy.label.is_empty() {
                    why.failed_probes.clone()
                } else {
                    BTreeMap::new()
                },
            },
        );
        // Faults of the schedule strike the scenario's own hierarchy; a failed transfer, all.
        let own_why;
        let why = if hierarchy.label.is_empty() {
            why
        } else {
            own_why = Explanations {
                replication_down: BTreeMap::new(),
                ..why.clone()
            };
            &own_why
        };
        let summary = check_uploads(&hierarchy.model, hierarchy.catalog, &expected, uploads, why);
        total.uploads_accepted += summary.uploads_accepted;
        total.probes_checked += summary.probes_checked;
        total.unchecked += summary.unchecked;
        total.unchecked_probes.extend(summary.unchecked_probes);
        total.mismatches += summary.mismatches;
        for (check, ms) in summary.check_ms {
            *total.check_ms.entry(check).or_default() += ms;
        }
        total
            .findings
            .extend(summary.findings.into_iter().map(|mut f| {
                if !hierarchy.label.is_empty() {
                    f.site = Some(hierarchy.site_label(f.site.as_deref().unwrap_or("")));
                    f.message = format!("{}: {}", hierarchy.label.trim_end_matches('/'), f.message);
                }
                f
            }));
        if let Some(imported) = &hierarchy.imported_packs {
            let carried = connected.contains(&hierarchy.hash);
            total.timed(Check::UpdatePacks, |total| {
                let found = packs::check_update_packs(hierarchy, imported, carried);
                total.findings.extend(found);
            });
        }
    }
    total.check_ms.entry(Check::Cycles).or_default();
    for (hash, extra) in &by_hierarchy {
        if !hierarchies.iter().any(|h| &h.hash == hash) {
            total.uploads_accepted += extra.len() as u32;
            total.findings.push(Finding::new(
                FindingCode::UploadCount,
                format!("{} upload(s) of an unknown hierarchy {hash}", extra.len()),
            ));
        }
    }
    total
}
