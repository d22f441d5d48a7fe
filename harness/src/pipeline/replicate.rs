//! Replicate: a child primary's new weekly runs — its `TEL_ProbeRuns` and their
//! `TEL_TelemetryResults` rows — go up to the CAS. The CAS keeps a watermark per primary (over
//! probe-run IDs) and advances it in the same transaction as the rows, so a pass that is
//! interrupted or repeated never duplicates or loses a row.

use super::seed::SeededHierarchy;
use crate::engine::{CrashPoint, EngineError, SiteDatabase};

/// Copies every run `primary` has beyond the CAS's watermark; returns the result rows copied.
pub async fn replicate(
    cas: &dyn SiteDatabase,
    primary: &dyn SiteDatabase,
) -> Result<u64, EngineError> {
    replicate_times(cas, primary, 1).await
}

/// [`replicate`], with the batch reaching the CAS `times` times (a network that delivers twice).
async fn replicate_times(
    cas: &dyn SiteDatabase,
    primary: &dyn SiteDatabase,
    times: u32,
) -> Result<u64, EngineError> {
    let watermark = cas.watermark(primary.code()).await?;
    let batch = primary.replication_batch(watermark).await?;
    for _ in 0..times {
        cas.apply_replicated(primary.code(), &batch, None).await?;
    }
    Ok(batch.rows.len() as u64)
}

/// A pass whose transaction at the CAS dies at `point`: nothing of the batch may remain, so
/// the watermark must not have moved. Copies nothing.
async fn replicate_crashing(
    cas: &dyn SiteDatabase,
    primary: &dyn SiteDatabase,
    point: CrashPoint,
) -> Result<u64, EngineError> {
    let watermark = cas.watermark(primary.code()).await?;
    let batch = primary.replication_batch(watermark).await?;
    cas.apply_replicated(primary.code(), &batch, Some(point))
        .await?;
    let after = cas.watermark(primary.code()).await?;
    if after != watermark {
        return Err(EngineError::site(
            cas.code(),
            "apply replicated rows",
            format!(
                "a transaction that died at {} moved the watermark of {} from {watermark} to {after}",
                point.as_str(),
                primary.code()
            ),
        ));
    }
    Ok(0)
}

/// What strikes one replication pass of the scenario's own hierarchy (site codes, upper case).
#[derive(Debug, Clone, Default)]
pub struct PassFaults {
    /// Primaries whose replication is down.
    pub down: Vec<String>,
    /// Sites whose database is down (a down CAS receives nothing).
    pub db_down: Vec<String>,
    /// Primaries whose batch reaches the CAS twice.
    pub duplicated: Vec<String>,
    /// Primaries whose batch's transaction at the CAS dies, and where.
    pub crashed: Vec<(String, CrashPoint)>,
}

/// One replication pass of every hierarchy with a CAS: each primary sends its new runs up,
/// unless the pass's faults stop it. Returns the result rows copied.
pub async fn replicate_week(
    hierarchies: &[SeededHierarchy],
    faults: &PassFaults,
) -> Result<u64, EngineError> {
    let mut copied = 0;
    for (index, hierarchy) in hierarchies.iter().enumerate() {
        if !hierarchy.model.has_cas() {
            continue;
        }
        let own = index == 0;
        let (cas, primaries) = hierarchy
            .sites
            .split_first()
            .expect("a CAS and its primaries");
        if own && faults.db_down.contains(&cas.model.code) {
            continue;
        }
        for primary in primaries {
            let code = &primary.model.code;
            if own && (faults.down.contains(code) || faults.db_down.contains(code)) {
                continue;
            }
            if let Some((_, point)) = faults.crashed.iter().find(|(c, _)| own && c == code) {
                replicate_crashing(cas.db.as_ref(), primary.db.as_ref(), *point).await?;
                continue;
            }
            let times = if own && faults.duplicated.contains(code) {
                2
            } else {
                1
            };
            copied += replicate_times(cas.db.as_ref(), primary.db.as_ref(), times).await?;
        }
    }
    Ok(copied)
}
