//! The reference model of delivery: a pure function from a scenario — its hierarchy, its calendar
//! and its fault schedule — to the fate of every (site, weekly run, probe): which cycle's upload
//! carries it, or why none does.
//!
//! It is written from the rules in the README ("How time and faults work", the fault table) and
//! shares no code with the pipeline: it does not run a query, open a database or look at what
//! was sent. The random-schedule property test runs the pipeline and holds what arrived upstream
//! to it; a disagreement is a bug in one of the two.
//!
//! The rules, per cycle `w` (a week of the top-level site's calendar: the days after day
//! `top + 7(w − 1)` up to day `top + 7w`), in order:
//! 1. every site whose database is up makes the run of its own calendar that falls in the cycle
//!    (a site installed `d` days after the top-level site makes its run `n` on day
//!    `installed + 7n`, in cycle `n + ⌈d / 7⌉`), of the probes allowed at the level in force (a
//!    level change during cycle `c` applies from the cycle after);
//! 2. every child primary whose database is up, whose replication is neither down nor crashing,
//!    and whose CAS is up sends all its runs not yet at the CAS;
//! 3. unless the top-level site's database or its service connection point is down, the SCP
//!    uploads every run at the top-level site not yet delivered; a run of a probe that the level
//!    now in force does not allow is dropped instead.
//!
//! Upstream faults (status, throttle, reset, latency, lost answer), a restart of the SCP and a
//! batch replicated twice change no fate as long as each upload gets through within its
//! attempts; the model covers schedules where it does (`covers`).

use std::collections::BTreeMap;

use crate::probes::Catalog;
use crate::scenario::{FaultKind, Level, Scenario, ScpMode};

/// What becomes of one probe's run at one site.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// Carried by the upload of this cycle.
    Carried { cycle: u32 },
    /// Dropped when it could first be sent: the level then in force does not allow its probe.
    Dropped { cycle: u32 },
    /// Still on its way when the run ends (replication or uploads held back to the last week).
    Pending,
}

/// A probe run: the site's code (upper case), the week of the run, the probe's name.
pub type RunKey = (String, u32, &'static str);

/// The fate of every probe run the scenario's own hierarchy makes, its sites running `catalog`.
pub fn expected_delivery(scenario: &Scenario, catalog: &Catalog) -> BTreeMap<RunKey, Fate> {
    let h = &scenario.hierarchy;
    let weeks = *scenario.run.weeks.get_ref();
    let level_in = levels(scenario, weeks);
    let down = |kind: FaultKind, site: &str, week: u32| {
        scenario.faults.iter().any(|f| {
            *f.kind.get_ref() == kind
                && f.window().first <= week
                && week <= f.window().last
                && f.site
                    .as_ref()
                    .is_none_or(|s| s.get_ref().eq_ignore_ascii_case(site))
        })
    };
    let top = if h.cas {
        h.cas_code.get_ref().to_ascii_uppercase()
    } else {
        h.primary[0].code.get_ref().to_ascii_uppercase()
    };
    // Each site with the cycles that pass before its first run falls in one.
    let top_installed = crate::scenario::parse_date(h.installed.get_ref()).expect("validated");
    let mut sites = vec![(top.clone(), 0)];
    if h.cas {
        sites.extend(h.primary.iter().map(|p| {
            let installed = p.installed.as_ref().map_or(top_installed, |d| {
                crate::scenario::parse_date(d.get_ref()).expect("validated")
            });
            let days = (installed - top_installed).num_days();
            let cycles = (days + 6) / 7;
            (p.code.get_ref().to_ascii_uppercase(), cycles as u32)
        }));
    }

    // Where each run is: at its site, at the top-level site, delivered or dropped.
    let mut at_site: Vec<RunKey> = Vec::new();
    let mut at_top: Vec<RunKey> = Vec::new();
    let mut fate = BTreeMap::new();
    for week in 1..=weeks {
        let level = level_in[week as usize - 1];
        for (site, offset) in &sites {
            if down(FaultKind::SiteDbDown, site, week) || week <= *offset {
                continue;
            }
            for probe in catalog.for_level(level) {
                let key = (site.clone(), week - offset, probe.name);
                fate.insert(key.clone(), Fate::Pending);
                if *site == top {
                    at_top.push(key);
                } else {
                    at_site.push(key);
                }
            }
        }
        if h.cas && !down(FaultKind::SiteDbDown, &top, week) {
            at_site.retain(|key| {
                let site = &key.0;
                let blocked = [
                    FaultKind::SiteDbDown,
                    FaultKind::ReplicationDown,
                    FaultKind::ReplicationCrash,
                ]
                .into_iter()
                .any(|kind| down(kind, site, week));
                if !blocked {
                    at_top.push(key.clone());
                }
                blocked
            });
        }
        let top_down = down(FaultKind::SiteDbDown, &top, week);
        let scp_down = h.scp_mode == ScpMode::Online && down(FaultKind::ScpDown, "", week);
        let uploads = !top_down && !scp_down;
        if uploads {
            for key in at_top.drain(..) {
                let allowed = catalog.by_name(key.2).is_some_and(|p| p.level <= level);
                let f = if allowed {
                    Fate::Carried { cycle: week }
                } else {
                    Fate::Dropped { cycle: week }
                };
                fate.insert(key, f);
            }
        }
    }
    fate
}

/// The level in force during each week (index 0 is week 1): the hierarchy's, changed by each
/// `level_change` from the week after it.
fn levels(scenario: &Scenario, weeks: u32) -> Vec<Level> {
    let mut level = scenario.hierarchy.level;
    let mut by_week = Vec::new();
    for week in 1..=weeks {
        by_week.push(level);
        for f in &scenario.faults {
            if *f.kind.get_ref() == FaultKind::LevelChange && f.window().first == week {
                let to = f.level.as_ref().expect("validated");
                level = Level::parse(to.get_ref()).expect("validated");
            }
        }
    }
    by_week
}

/// The most attempts an upload makes (the SCP's retry policy): a per-cycle fault budget below it
/// lets every upload through, which is what the model assumes.
pub const ATTEMPTS: u32 = 8;

/// Whether the model covers the scenario: one hierarchy, online, and no cycle whose upstream
/// faults could outlast an upload's attempts or refuse it for good.
pub fn covers(scenario: &Scenario) -> bool {
    let weeks = *scenario.run.weeks.get_ref();
    scenario.neighbors.is_empty()
        && scenario.hierarchy.scp_mode == ScpMode::Online
        && (1..=weeks).all(|week| {
            let mut budget = 0;
            for f in scenario
                .faults
                .iter()
                .filter(|f| f.window().first <= week && week <= f.window().last)
            {
                match *f.kind.get_ref() {
                    FaultKind::UpstreamStatus => {
                        let status = f.status.as_ref().map_or(503, |s| *s.get_ref());
                        if !(status >= 500 || status == 408 || status == 429) {
                            return false;
                        }
                        budget += f.count();
                    }
                    FaultKind::UpstreamThrottle
                    | FaultKind::UpstreamReset
                    | FaultKind::UpstreamLatency
                    | FaultKind::UploadLostAck => budget += f.count(),
                    FaultKind::CabCorrupted | FaultKind::CabRenamed => return false,
                    _ => {}
                }
            }
            budget < ATTEMPTS
        })
}
