//! The online service connection point's weekly upload: gzip'd JSON with one `Idempotency-Key`
//! per hierarchy and week, retried by the client's policy.

use std::time::Instant;

use usage_protocol::client::Upstream;

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
    let mut submitted = Submitted::default();
    match upstream.upload_usage(&hierarchy.token, &key, gzip).await {
        Ok(receipt) => submitted.uploads.push(UploadAttempt {
            week,
            attempts: receipt.attempts,
            ms: started.elapsed().as_secs_f64() * 1e3,
            receipt: Some(receipt.receipt.id),
            error: None,
        }),
        Err(e) => {
            submitted.findings.push(
                Finding::new(FindingCode::UploadFailed, format!("week {week}: {e}")).week(week),
            );
            submitted.uploads.push(UploadAttempt {
                week,
                attempts: 0,
                ms: started.elapsed().as_secs_f64() * 1e3,
                receipt: None,
                error: Some(e.to_string()),
            });
        }
    }
    submitted
}
