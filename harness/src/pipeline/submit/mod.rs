//! Submit: the top-level site's service connection point builds each week's payload from its
//! `TEL_TelemetryResults` (kept on disk as the run's record), and sends it — online to the
//! upstream, or offline through the service connection tool's transfer folder.

mod offline;
mod online;

use usage_protocol::client::Upstream;

use super::RunError;
use super::seed::SeededHierarchy;
use crate::finding::Finding;
use crate::payload;
use crate::report::UploadAttempt;
use crate::scenario::{Scenario, ScpMode};

/// What submitting a week told.
#[derive(Debug, Default)]
pub struct Submitted {
    pub uploads: Vec<UploadAttempt>,
    pub findings: Vec<Finding>,
    /// Hashed IDs of the hierarchies whose data an offline `-connect` carried.
    pub connected: Vec<String>,
}

/// Builds and keeps each hierarchy's payload of `week`, then sends the scenario's own (online),
/// or every hierarchy's through one shared transfer folder (offline).
pub async fn submit_week(
    scenario: &Scenario,
    hierarchies: &[SeededHierarchy],
    week: u32,
    transfer: &std::path::Path,
    upstream: &Upstream,
) -> Result<Submitted, RunError> {
    // Each payload is built once: the kept file and the online upload share the bytes.
    let mut gzipped = Vec::new();
    for hierarchy in hierarchies {
        let built = payload::payload_for_week(hierarchy.top().db.as_ref(), Some(week))
            .await
            .map_err(|source| RunError::Payload { week, source })?;
        let (json, gzip) = payload::encode(&built);
        fs_err::write(hierarchy.layout.payload(week), &json)?;
        gzipped.push(gzip);
    }
    match scenario.hierarchy.scp_mode {
        ScpMode::Online => {
            let own = &hierarchies[0];
            let gzip = gzipped.swap_remove(0);
            Ok(online::upload_week(upstream, own, week, gzip).await)
        }
        ScpMode::Offline => {
            offline::connect_week(scenario, hierarchies, week, transfer, upstream).await
        }
    }
}
