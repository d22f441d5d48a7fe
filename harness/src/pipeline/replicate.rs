//! Replicate: a child primary's new weekly runs — its `TEL_ProbeRuns` and their
//! `TEL_TelemetryResults` rows — go up to the CAS. The CAS keeps a watermark per primary (over
//! probe-run IDs) and advances it in the same transaction as the rows, so a pass that is
//! interrupted or repeated never duplicates or loses a row.

use super::seed::SeededHierarchy;
use crate::engine::{EngineError, SiteDatabase};

/// Copies every run `primary` has beyond the CAS's watermark; returns the result rows copied.
pub async fn replicate(
    cas: &dyn SiteDatabase,
    primary: &dyn SiteDatabase,
) -> Result<u64, EngineError> {
    let watermark = cas.watermark(primary.code()).await?;
    let batch = primary.replication_batch(watermark).await?;
    cas.apply_replicated(primary.code(), &batch).await?;
    Ok(batch.rows.len() as u64)
}

/// One replication pass of every hierarchy with a CAS: each primary not in `down` (site codes,
/// upper case, of the scenario's own hierarchy) sends its new rows up. Returns the rows copied.
pub async fn replicate_week(
    hierarchies: &[SeededHierarchy],
    down: &[String],
) -> Result<u64, EngineError> {
    let mut copied = 0;
    for (index, hierarchy) in hierarchies.iter().enumerate() {
        if !hierarchy.model.has_cas() {
            continue;
        }
        let (cas, primaries) = hierarchy
            .sites
            .split_first()
            .expect("a CAS and its primaries");
        for primary in primaries {
            if index == 0 && down.contains(&primary.model.code) {
                continue;
            }
            copied += replicate(cas.db.as_ref(), primary.db.as_ref()).await?;
        }
    }
    Ok(copied)
}
