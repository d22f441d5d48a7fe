//! Submit: the top-level site's service connection point builds each week's payload from its
//! `TEL_TelemetryResults` (kept on disk as the run's record), and sends it — online to the
//! upstream, or offline through the service connection tool's transfer folder.

mod offline;
mod online;

use usage_protocol::client::Upstream;

use super::RunError;
use super::faults;
use super::seed::SeededHierarchy;
use crate::finding::Finding;
use crate::report::UploadAttempt;
use crate::scenario::{FaultKind, Scenario, ScpMode};

/// What submitting a week told.
#[derive(Debug, Default)]
pub struct Submitted {
    pub uploads: Vec<UploadAttempt>,
    pub findings: Vec<Finding>,
    /// Hashed IDs of the hierarchies whose data an offline `-connect` carried.
    pub connected: Vec<String>,
}

/// The service connection point's weekly check: online, the scenario's own hierarchy uploads
/// its backlog; offline, every hierarchy prepares its cabinet into one shared transfer folder.
/// What is sent is kept under `payloads/`.
pub async fn submit_week(
    scenario: &Scenario,
    hierarchies: &[SeededHierarchy],
    week: u32,
    transfer: &std::path::Path,
    upstream: &Upstream,
) -> Result<Submitted, RunError> {
    match scenario.hierarchy.scp_mode {
        ScpMode::Online => {
            let restart = faults::strikes(scenario, week, FaultKind::ScpRestart);
            online::upload_week(upstream, &hierarchies[0], week, restart).await
        }
        ScpMode::Offline => {
            offline::connect_week(scenario, hierarchies, week, transfer, upstream).await
        }
    }
}
