//! The scenario's fault schedule, read per week: what the upstream is programmed to do, which
//! primaries cannot replicate, what happens to the week's cabinet.

use usage_protocol::fault::Fault;

use crate::engine::CrashPoint;
use crate::scenario::{FaultKind, FaultSpec, Scenario};

/// The fault programs the upstream must run during `week`.
pub fn upstream_programs(scenario: &Scenario, week: u32) -> Vec<Fault> {
    [
        FaultKind::UpstreamStatus,
        FaultKind::UpstreamLatency,
        FaultKind::UpstreamThrottle,
        FaultKind::UpstreamReset,
        FaultKind::UploadLostAck,
    ]
    .into_iter()
    .flat_map(|kind| scenario.faults_at(week, kind))
    .filter_map(upstream_program)
    .collect()
}

fn upstream_program(f: &FaultSpec) -> Option<Fault> {
    let count = f.count();
    Some(match *f.kind.get_ref() {
        FaultKind::UpstreamStatus => Fault::Status {
            status: *f.status.as_ref()?.get_ref(),
            count,
        },
        FaultKind::UpstreamLatency => Fault::Latency {
            ms: *f.ms.as_ref()?.get_ref(),
            count,
        },
        FaultKind::UpstreamThrottle => Fault::Throttle {
            retry_after_s: *f.retry_after_s.as_ref()?.get_ref(),
            count,
        },
        FaultKind::UpstreamReset => Fault::Reset { count },
        FaultKind::UploadLostAck => Fault::LostAck { count },
        FaultKind::ReplicationDown
        | FaultKind::LevelChange
        | FaultKind::CabCorrupted
        | FaultKind::CabRenamed
        | FaultKind::SiteDbDown
        | FaultKind::ScpDown
        | FaultKind::ScpRestart
        | FaultKind::ReplicationDuplicate
        | FaultKind::ReplicationCrash => return None,
    })
}

/// The sites (upper-case codes) a fault of `kind` strikes during `week`.
pub fn sites_struck(scenario: &Scenario, week: u32, kind: FaultKind) -> Vec<String> {
    scenario
        .faults_at(week, kind)
        .filter_map(|f| f.site.as_ref().map(|s| s.get_ref().to_ascii_uppercase()))
        .collect()
}

/// The primaries whose replication transaction dies during `week`, and where.
pub fn replication_crashes(scenario: &Scenario, week: u32) -> Vec<(String, CrashPoint)> {
    scenario
        .faults_at(week, FaultKind::ReplicationCrash)
        .filter_map(|f| {
            let site = f.site.as_ref()?.get_ref().to_ascii_uppercase();
            Some((site, f.crash_point()))
        })
        .collect()
}

/// The primaries whose replication is down during `week`.
pub fn replication_down(scenario: &Scenario, week: u32) -> Vec<String> {
    sites_struck(scenario, week, FaultKind::ReplicationDown)
}

/// Whether a site-less fault of `kind` strikes during `week`.
pub fn strikes(scenario: &Scenario, week: u32, kind: FaultKind) -> bool {
    scenario.faults_at(week, kind).next().is_some()
}

/// What happens to the scenario's own cabinet on its way to the connected machine in `week`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CabFault {
    /// The copy was interrupted: half a cabinet arrives.
    Corrupted,
    /// Someone renamed it.
    Renamed(String),
}

pub fn cab_faults(scenario: &Scenario, week: u32) -> Vec<CabFault> {
    let corrupted = scenario
        .faults_at(week, FaultKind::CabCorrupted)
        .map(|_| CabFault::Corrupted);
    let renamed = scenario.faults_at(week, FaultKind::CabRenamed).map(|f| {
        CabFault::Renamed(
            f.to.as_ref()
                .map_or("renamed.cab", |t| t.get_ref().as_str())
                .to_string(),
        )
    });
    corrupted.chain(renamed).collect()
}
