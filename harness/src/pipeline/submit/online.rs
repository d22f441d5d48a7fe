//! The online service connection point's weekly upload: gzip'd JSON with one `Idempotency-Key`
//! per hierarchy and week, retried by the client's policy.

use std::time::Instant;

use usage_protocol::client::{Attempt, Upstream};

use super::Submitted;
use crate::finding::{Finding, FindingCode};
use crate::payload;
use crate::pipeline::seed::SeededHierarchy;
use crate::report::UploadAttempt;

pub(super) async fn upload_week(
    upstream: &Upstream,
    hierarchy: &SeededHierarchy,
    week: u32,
    gzip: Vec<u8>,
) -> Submitted {
    let key = payload::idempotency_key(&hierarchy.hash, week);
    let started = Instant::now();
    let outcome = upstream
        .upload_usage_logged(&hierarchy.token, &key, gzip)
        .await;
    let mut submitted = Submitted::default();
    submitted
        .findings
        .extend(transport_findings(week, &outcome.attempts));
    let (receipt, error) = match outcome.result {
        Ok(receipt) => (Some(receipt.receipt.id), None),
        Err(e) => {
            submitted.findings.push(
                Finding::new(FindingCode::UploadFailed, format!("week {week}: {e}")).week(week),
            );
            (None, Some(e.to_string()))
        }
    };
    submitted.uploads.push(UploadAttempt {
        week,
        attempts: outcome.attempts.len() as u32,
        ms: started.elapsed().as_secs_f64() * 1e3,
        receipt,
        error,
        attempt_log: outcome.attempts,
    });
    submitted
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
