//! Replicate: a child primary's new `TEL_TelemetryResults` rows go up to the CAS. The CAS keeps a
//! watermark per primary and advances it in the same transaction as the rows, so a pass that is
//! interrupted or repeated never duplicates or loses a row.

use crate::engine::{EngineError, SiteDatabase};

/// Copies every row `primary` has beyond the CAS's watermark; returns how many were copied.
pub async fn replicate(
    cas: &dyn SiteDatabase,
    primary: &dyn SiteDatabase,
) -> Result<u64, EngineError> {
    let watermark = cas.watermark(primary.code()).await?;
    let rows = primary.results_after(watermark).await?;
    cas.apply_replicated(primary.code(), &rows).await?;
    Ok(rows.len() as u64)
}
