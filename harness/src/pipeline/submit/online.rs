//! The online service connection point's check: it sends every probe run not yet acknowledged —
//! first the batch left in the outbox (by a restart, or an upload that gave up), byte for byte,
//! then the backlog in parts — and marks each batch delivered only after its receipt.

use std::time::Instant;

use usage_protocol::client::{Attempt, Upstream};

use super::Submitted;
use crate::engine::{EntryKey, StagedBatch};
use crate::finding::{Finding, FindingCode};
use crate::payload::{self, MAX_PART_BYTES};
use crate::pipeline::RunError;
use crate::pipeline::seed::SeededHierarchy;
use crate::report::UploadAttempt;
use crate::scenario::Level;

/// One weekly check. With `restart`, the service connection point stops right after its first
/// receipt, before marking anything, and comes back: its next check starts from the outbox.
pub(super) async fn upload_week(
    upstream: &Upstream,
    hierarchy: &SeededHierarchy,
    week: u32,
    restart: bool,
) -> Result<Submitted, RunError> {
    let mut submitted = Submitted::default();
    let mut restart = restart;
    while let Check::Restarted =
        check(upstream, hierarchy, week, &mut restart, &mut submitted).await?
    {}
    Ok(submitted)
}

enum Check {
    Done,
    Restarted,
}

async fn check(
    upstream: &Upstream,
    hierarchy: &SeededHierarchy,
    week: u32,
    restart: &mut bool,
    submitted: &mut Submitted,
) -> Result<Check, RunError> {
    let db = hierarchy.top().db.as_ref();
    let mut first_part = 1;
    if let Some(staged) = outbox_at_level(hierarchy, week).await? {
        let Some(receipt) = send(upstream, hierarchy, week, &staged, true, submitted).await else {
            // The service is still out of reach: the backlog waits for the next check.
            return Ok(Check::Done);
        };
        if std::mem::take(restart) {
            return Ok(Check::Restarted);
        }
        db.mark_delivered(&staged.idempotency_key, &receipt).await?;
        // A batch of this same cycle was sent before the restart: new parts take new keys.
        while payload::idempotency_key(&hierarchy.hash, week, first_part) == staged.idempotency_key
        {
            first_part += 1;
        }
    }
    let mut backlog = payload::backlog(db, hierarchy.catalog, Some(week))
        .await
        .map_err(|source| RunError::Payload { week, source })?;
    crate::planted::drop_late_row(db, &mut backlog).await?;
    if !backlog.above_level.is_empty() {
        db.mark_dropped(&backlog.above_level, "level_change")
            .await?;
    }
    let parts = payload::parts(&backlog, MAX_PART_BYTES, first_part)
        .map_err(|source| RunError::Payload { week, source })?;
    for (index, part) in parts.into_iter().enumerate() {
        let part_no = first_part + index as u32;
        let (json, gzip) = payload::encode(&part.payload);
        fs_err::write(hierarchy.layout.payload_part(week, part_no), &json)?;
        let staged = StagedBatch {
            idempotency_key: payload::idempotency_key(&hierarchy.hash, week, part_no),
            entries: part.entries,
            body: gzip,
        };
        // Persisted before it leaves: a restart sends these bytes again under the same key.
        db.stage_outbox(&staged).await?;
        let Some(receipt) = send(upstream, hierarchy, week, &staged, false, submitted).await else {
            break;
        };
        if std::mem::take(restart) {
            return Ok(Check::Restarted);
        }
        db.mark_delivered(&staged.idempotency_key, &receipt).await?;
    }
    Ok(Check::Done)
}

/// The outbox's batch, as it may go now. When the level was lowered since it was staged, the
/// runs above the level are dropped and the batch is staged again without them, under the same
/// key: the batch may have been stored already by an attempt whose answer was lost, and the key
/// lets the service tell. It stores the changed batch if the first never arrived, or answers 409
/// with the first one's receipt, and then that batch, all of it, is delivered.
async fn outbox_at_level(
    hierarchy: &SeededHierarchy,
    week: u32,
) -> Result<Option<StagedBatch>, RunError> {
    let db = hierarchy.top().db.as_ref();
    let Some(staged) = db.outbox().await? else {
        return Ok(None);
    };
    let level = db.site_info().await?.level;
    let level = Level::parse(&level).map_err(|_| RunError::Payload {
        week,
        source: payload::PayloadBuildError::Level(level),
    })?;
    let catalog = hierarchy.catalog;
    let above_level = |probe: &str| catalog.by_name(probe).is_some_and(|p| p.level > level);
    if !staged.entries.iter().any(|e| above_level(&e.probe)) {
        return Ok(Some(staged));
    }
    let (_, body) = payload::at_lower_level(&staged.body, above_level)
        .map_err(|source| RunError::Payload { week, source })?;
    let (above, entries): (Vec<EntryKey>, Vec<EntryKey>) = staged
        .entries
        .into_iter()
        .partition(|e| above_level(&e.probe));
    let lowered = StagedBatch {
        idempotency_key: staged.idempotency_key,
        entries,
        body,
    };
    db.mark_dropped(&above, "level_change").await?;
    db.stage_outbox(&lowered).await?;
    Ok(Some(lowered))
}

/// Uploads a staged batch; returns its receipt's id — or that of the body stored before under
/// its key, which the service names when it refuses a changed one — or `None` when the upload
/// gave up (the batch stays in the outbox). Marking it delivered is the caller's next step.
async fn send(
    upstream: &Upstream,
    hierarchy: &SeededHierarchy,
    week: u32,
    staged: &StagedBatch,
    resent: bool,
    submitted: &mut Submitted,
) -> Option<String> {
    let started = Instant::now();
    let began_at = crate::report::unix_now();
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
    let (receipt, error) = match &outcome.result {
        Ok(receipt) => (Some(receipt.receipt.id.clone()), None),
        Err(e) if let Some(first) = e.stored_before() => (Some(first.id), None),
        Err(e) => {
            submitted.findings.push(
                Finding::new(FindingCode::UploadFailed, format!("week {week}: {e}")).week(week),
            );
            (None, Some(e.to_string()))
        }
    };
    let waited_s = outcome.waited().as_secs_f64();
    submitted.uploads.push(UploadAttempt {
        week,
        attempts: outcome.attempts.len() as u32,
        ms: started.elapsed().as_secs_f64() * 1e3,
        receipt: receipt.clone(),
        error,
        attempt_log: outcome.attempts,
        waited_s,
        resent,
        idempotency_key: Some(staged.idempotency_key.clone()),
        began_at: Some(began_at),
    });
    receipt
}

/// What the attempts of a delivered or failed upload tell: retried, throttled (info).
fn transport_findings(week: u32, attempts: &[Attempt]) -> Vec<Finding> {
    let mut findings = Vec::new();
    if attempts.len() > 1 {
        let failures: Vec<String> = attempts[..attempts.len() - 1]
            .iter()
            .map(|a| match (a.status, &a.error) {
                // The service answered, but after the client had given up: a timeout to the
                // client, whatever the status.
                (Some(status), Some(error)) if error.starts_with("timed out") => {
                    format!("{error}; its {status} came too late")
                }
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
    // A 429 that came after the client had given up on it was a timeout, not a throttle.
    let throttled: Vec<&Attempt> = attempts
        .iter()
        .filter(|a| {
            a.status == Some(429) && !a.error.as_ref().is_some_and(|e| e.starts_with("timed out"))
        })
        .collect();
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

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt(number: u32, status: Option<u16>, error: Option<&str>) -> Attempt {
        Attempt {
            number,
            started_ms: 0.0,
            latency_ms: 1.0,
            status,
            retry_after_s: None,
            error: error.map(String::from),
            wait_after_ms: 0.0,
        }
    }

    /// A 429 the client saw only after its timeout was a timeout to it: not a throttle.
    #[test]
    fn a_late_429_is_a_timeout_not_a_throttle() {
        let attempts = [
            attempt(1, Some(429), Some("timed out after 5.0 s (simulated)")),
            attempt(2, Some(429), Some("{\"error\":{}}")),
            attempt(3, Some(201), None),
        ];
        let findings = transport_findings(1, &attempts);
        let throttled: Vec<&Finding> = findings
            .iter()
            .filter(|f| f.code == FindingCode::UploadThrottled)
            .collect();
        assert_eq!(throttled.len(), 1);
        assert!(
            throttled[0].message.contains("throttled 1 time(s)"),
            "{}",
            throttled[0].message
        );
        let retried = findings
            .iter()
            .find(|f| f.code == FindingCode::UploadRetried)
            .unwrap();
        assert!(
            retried.message.contains("came too late"),
            "{}",
            retried.message
        );
    }
}
