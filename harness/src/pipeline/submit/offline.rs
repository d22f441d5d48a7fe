//! The offline week: every hierarchy's service connection tool prepares its cabinet into the
//! shared transfer folder, the scheduled cabinet faults strike, one `-connect` uploads the folder
//! and fetches the update packs, and every hierarchy imports its own.

use std::path::Path;
use std::time::Instant;

use usage_protocol::client::{Attempt, Upstream, UpstreamError};

use super::Submitted;
use crate::finding::{Finding, FindingCode};
use crate::pipeline::RunError;
use crate::pipeline::faults::{self, CabFault};
use crate::pipeline::seed::SeededHierarchy;
use crate::report::UploadAttempt;
use crate::scenario::Scenario;
use crate::sct;

pub(super) async fn connect_week(
    scenario: &Scenario,
    hierarchies: &[SeededHierarchy],
    week: u32,
    transfer: &Path,
    upstream: &Upstream,
) -> Result<Submitted, RunError> {
    let mut submitted = Submitted::default();
    fs_err::create_dir_all(transfer)?;
    for hierarchy in hierarchies {
        let dest = transfer.join(&hierarchy.model.cab_name);
        match sct::prepare(
            hierarchy.top().db.as_ref(),
            hierarchy.catalog,
            Some(week),
            &dest,
        )
        .await
        {
            Ok(prepared) => {
                let (json, _) = crate::payload::encode(&prepared.payload);
                fs_err::write(hierarchy.layout.payload(week), &json)?;
            }
            Err(e @ sct::SctError::NameClash { .. }) => submitted.findings.push(
                Finding::new(FindingCode::CabNameClash, format!("week {week}: {e}"))
                    .week(week)
                    .site(&hierarchy.site_label(&hierarchy.top().model.code)),
            ),
            Err(e) => return Err(RunError::Sct { week, source: e }),
        }
    }
    // Faults of one week strike the cabinet one after another, wherever the last one left it
    // (a rename, then a cut copy, is the renamed file cut).
    let mut own = transfer.join(&hierarchies[0].model.cab_name);
    for fault in faults::cab_faults(scenario, week) {
        match fault {
            CabFault::Corrupted => {
                let bytes = fs_err::read(&own)?;
                fs_err::write(&own, &bytes[..bytes.len() / 2])?;
            }
            CabFault::Renamed(to) => {
                let to = transfer.join(to);
                fs_err::rename(&own, &to)?;
                own = to;
            }
        }
    }
    let packs = transfer.join("UpdatePacks");
    let started = Instant::now();
    let began_at = crate::report::unix_now();
    let ms = || started.elapsed().as_secs_f64() * 1e3;
    match sct::connect(
        upstream.base_url(),
        &sct::Credentials::Token(hierarchies[0].token.clone()),
        transfer,
        &packs,
    )
    .await
    {
        Ok(done) => {
            let took = ms();
            for u in done {
                submitted.uploads.push(UploadAttempt {
                    week,
                    attempts: 1,
                    ms: took,
                    receipt: Some(u.receipt),
                    error: None,
                    attempt_log: vec![connect_attempt(took, Some(200), None)],
                    waited_s: 0.0,
                    resent: false,
                    idempotency_key: None,
                    began_at: Some(began_at),
                });
                submitted.connected.push(u.hierarchy_hash);
            }
        }
        Err(e) => {
            let took = ms();
            let status = match &e {
                sct::SctError::Upstream(UpstreamError::Status { status, .. }) => Some(*status),
                _ => None,
            };
            submitted.findings.push(
                Finding::new(
                    FindingCode::UploadFailed,
                    format!("week {week}: service connection tool -connect: {e}"),
                )
                .week(week),
            );
            submitted.uploads.push(UploadAttempt {
                week,
                attempts: 1,
                ms: took,
                receipt: None,
                error: Some(e.to_string()),
                attempt_log: vec![connect_attempt(took, status, Some(e.to_string()))],
                waited_s: 0.0,
                resent: false,
                idempotency_key: None,
                began_at: Some(began_at),
            });
        }
    }
    if packs.exists() {
        for hierarchy in hierarchies {
            sct::import(hierarchy.top().db.as_ref(), &packs)
                .await
                .map_err(|source| RunError::Sct { week, source })?;
        }
    }
    Ok(submitted)
}

/// The one attempt of an offline upload: the service connection tool's `-connect`, which is not
/// retried (the next week's `-prepare` carries what it did not deliver).
fn connect_attempt(ms: f64, status: Option<u16>, error: Option<String>) -> Attempt {
    Attempt {
        number: 1,
        started_ms: 0.0,
        latency_ms: ms,
        status,
        retry_after_s: None,
        error,
        wait_after_ms: 0.0,
    }
}
