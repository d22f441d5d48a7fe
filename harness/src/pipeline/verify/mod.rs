//! Verify: what arrived upstream against what the oracles computed from the model alone — every
//! probe's rows, the site list, the hierarchy hash, the level, one upload per week — and a scan
//! of every received byte for personal and identifying values.

mod expected;
mod packs;
mod payload;
mod pii;

use std::collections::BTreeMap;

use serde::Serialize;
use usage_protocol::client::Upstream;
use usage_protocol::payload::UsagePayload;

use super::RunError;
use super::seed::Seeded;
use crate::finding::{Finding, FindingCode};
use crate::hash::tel_hash;
use crate::model::{HierarchyModel, SiteFacts};

pub use expected::{ExpectedSite, ExpectedWeek, expected_weeks};
use payload::check_payload;
pub use pii::scan_for_personal_data;

/// One upload as the upstream stored it.
pub struct ReceivedUpload {
    pub receipt_id: String,
    pub json: Vec<u8>,
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct CheckSummary {
    pub uploads_accepted: u32,
    pub probes_checked: u64,
    pub mismatches: u64,
    pub findings: Vec<Finding>,
}

/// Compares what the upstream received with the expectation.
pub fn check_uploads(
    hierarchy: &HierarchyModel,
    expected: &[ExpectedWeek],
    uploads: &[ReceivedUpload],
) -> CheckSummary {
    let mut summary = CheckSummary {
        uploads_accepted: uploads.len() as u32,
        ..Default::default()
    };
    let hierarchy_hash = tel_hash(&hierarchy.id.to_string());
    let mut by_week: BTreeMap<u32, Vec<(&ReceivedUpload, UsagePayload)>> = BTreeMap::new();
    for upload in uploads {
        match UsagePayload::from_json(&upload.json) {
            Ok(payload) => by_week
                .entry(payload.period.week)
                .or_default()
                .push((upload, payload)),
            Err(e) => summary.findings.push(Finding::new(
                FindingCode::PayloadInvalid,
                format!("upload {}: {e}", upload.receipt_id),
            )),
        }
    }
    for week in expected {
        match by_week.remove(&week.week).as_deref() {
            None | Some([]) => summary.findings.push(
                Finding::new(
                    FindingCode::MissingUpload,
                    format!("no upload for week {}", week.week),
                )
                .week(week.week),
            ),
            Some(received) => {
                if received.len() > 1 {
                    summary.findings.push(
                        Finding::new(
                            FindingCode::UploadCount,
                            format!(
                                "week {} was stored {} times; one upload per hierarchy and week",
                                week.week,
                                received.len()
                            ),
                        )
                        .week(week.week),
                    );
                }
                for (_, payload) in received {
                    check_payload(&hierarchy_hash, week, payload, &mut summary);
                }
            }
        }
    }
    for (week, received) in by_week {
        summary.findings.push(
            Finding::new(
                FindingCode::UploadCount,
                format!(
                    "{} upload(s) for week {week}, which the run did not have",
                    received.len()
                ),
            )
            .week(week),
        );
    }
    summary
        .findings
        .extend(scan_for_personal_data(hierarchy, expected, uploads));
    summary
}

/// Reads back everything the upstream stored and checks it, hierarchy by hierarchy, against
/// the oracles; `connected` names the hierarchies an offline `-connect` carried (their update
/// packs are checked too when `offline`).
pub async fn verify_run(
    upstream: &Upstream,
    seeded: &Seeded,
    offline: bool,
    connected: &[String],
) -> Result<CheckSummary, RunError> {
    let mut received: BTreeMap<String, Vec<ReceivedUpload>> = BTreeMap::new();
    for receipt in upstream.receipts().await? {
        let json = upstream.upload_body(&receipt.id).await?;
        received
            .entry(receipt.hierarchy_id)
            .or_default()
            .push(ReceivedUpload {
                receipt_id: receipt.id,
                json,
            });
    }
    let mut total = CheckSummary::default();
    for hierarchy in &seeded.hierarchies {
        let facts: BTreeMap<String, SiteFacts> = hierarchy
            .sites
            .iter()
            .map(|s| (s.model.code.clone(), s.facts.clone()))
            .collect();
        let expected = expected_weeks(
            &hierarchy.model,
            &facts,
            &hierarchy.levels,
            &seeded.engine_info,
        );
        let summary = check_uploads(
            &hierarchy.model,
            &expected,
            received.get(&hierarchy.hash).map_or(&[][..], |v| &v[..]),
        );
        total.uploads_accepted += summary.uploads_accepted;
        total.probes_checked += summary.probes_checked;
        total.mismatches += summary.mismatches;
        total
            .findings
            .extend(summary.findings.into_iter().map(|mut f| {
                if !hierarchy.label.is_empty() {
                    f.site = Some(hierarchy.site_label(f.site.as_deref().unwrap_or("")));
                    f.message = format!("{}: {}", hierarchy.label.trim_end_matches('/'), f.message);
                }
                f
            }));
        if offline {
            let carried = connected.contains(&hierarchy.hash);
            total
                .findings
                .extend(packs::check_update_packs(hierarchy, carried).await?);
        }
    }
    for (hash, extra) in &received {
        if !seeded.hierarchies.iter().any(|h| &h.hash == hash) {
            total.uploads_accepted += extra.len() as u32;
            total.findings.push(Finding::new(
                FindingCode::UploadCount,
                format!("{} upload(s) of an unknown hierarchy {hash}", extra.len()),
            ));
        }
    }
    Ok(total)
}
