//! The online service connection point's check: it sends every probe run not yet acknowledged —
//! first the batch a restart left in the outbox, byte for byte, then the backlog in parts —
//! and marks each batch delivered only after its receipt.

use std::time::Instant;

use usage_protocol::client::{Attempt, Upstream};

use super::Submitted;
use crate::engine::StagedBatch;
use crate::finding::{Finding, FindingCode};
use crate::payload::{self, MAX_PART_BYTES};
use crate::pipeline::RunError;
use crate::pipeline::seed::SeededHierarchy;
use crate::report::UploadAttempt;

pub(super) async fn upload_week(
    upstream: &Upstream,
    hierarchy: &SeededHierarchy,
    week: u32,
) -> Result<Submitted, RunError> {
    let db = hierarchy.top().db.as_ref();
    let mut submitted = Submitted::default();
    if let Some(staged) = db.outbox().await?
        && !send(upstream, hierarchy, week, &staged, &mut submitted).await?
    {
        // The service is still out of reach: the backlog waits for the next check.
        return Ok(submitted);
    }
    let backlog = payload::backlog(db, Some(week))
        .await
        .map_err(|source| RunError::Payload { week, source })?;
    if !backlog.above_level.is_empty() {
        db.mark_dropped(&backlog.above_level, "level_change")
            .await?;
    }
    let parts = payload::parts(&backlog, MAX_PART_BYTES)
        .map_err(|source| RunError::Payload { week, source })?;
    for (index, part) in parts.into_iter().enumerate() {
        let part_no = index as u32 + 1;
        let (json, gzip) = payload::encode(&part.payload);
        fs_err::write(hierarchy.layout.payload_part(week, part_no), &json)?;
        let staged = StagedBatch {
            idempotency_key: payload::idempotency_key(&hierarchy.hash, week, part_no),
            entries: part.entries,
            body: gzip,
        };
        // Persisted before it leaves: a restart sends these bytes again under the same key.
        db.stage_outbox(&staged).await?;
        if !send(upstream, hierarchy, week, &staged, &mut submitted).await? {
            break;
        }
    }
    Ok(submitted)
}

/// Uploads a staged batch; on its receipt the batch's entries are delivered. False when the
/// upload gave up (the batch stays in the outbox).
async fn send(
    upstream: &Upstream,
    hierarchy: &SeededHierarchy,
    week: u32,
    staged: &StagedBatch,
    submitted: &mut Submitted,
) -> Result<bool, RunError> {
    let started = Instant::now();
    let outcome = upstream
        .upload_usage_logged(
            &hierarchy.token,
            &staged.idempotency_key,
            staged.body.clone(),
        )
        .await;
    submitted
        .findings
        .extend(transport_findings(week, &outcome.attempts));
    let (receipt, error) = match outcome.result {
        Ok(receipt) => {
            hierarchy
                .top()
                .db
                .mark_delivered(&staged.idempotency_key, &receipt.receipt.id)
                .await?;
            (Some(receipt.receipt.id), None)
        }
        Err(e) => {
            submitted.findings.push(
                Finding::new(FindingCode::UploadFailed, format!("week {week}: {e}")).week(week),
            );
            (None, Some(e.to_string()))
        }
    };
    let delivered = receipt.is_some();
    submitted.uploads.push(UploadAttempt {
        week,
        attempts: outcome.attempts.len() as u32,
        ms: started.elapsed().as_secs_f64() * 1e3,
        receipt,
        error,
        attempt_log: outcome.attempts,
        idempotency_key: Some(staged.idempotency_key.clone()),
    });
    Ok(delivered)
}

/// What the attempts of a delivered or failed upload tell: retried, throttled (info).
fn transport_findings(week: u32, attempts: &[Attempt]) -> Vec<Finding> {
    let mut findings = Vec::new();
    if attempts.len() > 1 {
        let failures: Vec<String> = attempts[..attempts.len() - 1]
            .iter()
            .map(|a| match (a.status, &a.error) {
                (Some(status), _) => status.to_string(),
                (None, Some(error)) => error.clone(),
                (None, None) => "no answer".into(),
            })
            .collect();
        findings.push(
            Finding::new(
                FindingCode::UploadRetried,
                format!(
                    "week {week}: {} attempts; before the last: {}",
                    attempts.len(),
                    failures.join(", ")
                ),
            )
            .week(week),
        );
    }
    let throttled: Vec<&Attempt> = attempts.iter().filter(|a| a.status == Some(429)).collect();
    if !throttled.is_empty() {
        let waits: Vec<String> = throttled
            .iter()
            .map(|a| {
                a.retry_after_s
                    .map_or("no Retry-After".into(), |s| format!("Retry-After {s} s"))
            })
            .collect();
        findings.push(
            Finding::new(
                FindingCode::UploadThrottled,
                format!(
                    "week {week}: throttled {} time(s) ({})",
                    throttled.len(),
                    waits.join(", ")
                ),
            )
            .week(week),
        );
    }
    findings
}
