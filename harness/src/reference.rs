//! The reference model of delivery: a pure function from a scenario — its hierarchy, its calendar
//! and its fault schedule — to the fate of every (site, weekly run, probe): which cycle's upload
//! carries it, or why none does — and to the cycles whose upload fails.
//!
//! It is written from the rules in the README ("How time and faults work", the fault tables)
//! and shares no code with the pipeline: it does not run a query, open a database or look at
//! what was sent. The random-schedule property test runs the pipeline and holds what arrived
//! upstream to it; a disagreement is a bug in one of the two.
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
//!    checks in ([`online_check`], [`offline_connect`]); a run of a probe that the level now in
//!    force does not allow is dropped instead of sent.
//!
//! A run's fate is set by the first upload the service stores it in, whether or not its answer
//! comes back: an upload stored but unanswered is sent again under its key and is not stored
//! twice.

use std::collections::{BTreeMap, BTreeSet};

use crate::probes::Catalog;
use crate::scenario::{FaultKind, FaultSpec, Level, Scenario, ScpMode};

/// What becomes of one probe's run at one site.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// Stored by the service in the upload built in this cycle.
    Carried { cycle: u32 },
    /// Dropped when it could first be sent: the level then in force does not allow its probe.
    Dropped { cycle: u32 },
    /// Still at its primary when the run ends: never replicated to the CAS.
    AtSite,
    /// At the top-level site when the run ends, not yet stored upstream.
    AtTop,
}

/// A probe run: the site's code (upper case), the week of the run, the probe's name.
pub type RunKey = (String, u32, &'static str);

/// What the model predicts for a scenario.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delivery {
    pub fates: BTreeMap<RunKey, Fate>,
    /// The cycles in which an upload (online) or the `-connect` (offline) failed: refused, out of
    /// attempts, or without a whole cabinet to send.
    pub failed: BTreeSet<u32>,
}

/// The service connection point's retry policy, as the README gives it: attempts per upload,
/// and the per-attempt timeout.
pub const ATTEMPTS: u32 = 8;
pub const TIMEOUT_MS: u64 = 5_000;

/// The most clients times cycles the model covers online, and the largest catalogs: a backlog
/// this size is one upload. Measured at Full, all eight weeks in one upload: 4 primaries of 1,000
/// clients with these catalogs were 0.94 MiB of JSON, and 2 of 16,000 clients with the default
/// catalogs 0.39 MiB; a part is up to 16 MiB.
pub const MAX_CLIENT_CYCLES: u64 = 32_000;
const MAX_APPS: u32 = 1_000;
const MAX_UPDATES: u32 = 5_000;
const MAX_COLLECTIONS: u32 = 1_000;
const MAX_CUSTOM_TABLES: u32 = 50;
const MAX_BOUNDARY_GROUPS: u32 = 1_000;
const MAX_UPDATE_GROUPS: u32 = 100;

/// Whether the model covers the scenario: the scenario's own hierarchy only, and online, a
/// backlog that always fits one upload.
pub fn covers(scenario: &Scenario) -> bool {
    let primaries = &scenario.hierarchy.primary;
    let clients: u64 = primaries
        .iter()
        .map(|p| u64::from(*p.clients.get_ref()))
        .sum();
    let one_upload = clients * u64::from(*scenario.run.weeks.get_ref()) <= MAX_CLIENT_CYCLES
        && primaries.iter().all(|p| {
            *p.apps.get_ref() <= MAX_APPS
                && *p.updates.get_ref() <= MAX_UPDATES
                && *p.collections.get_ref() <= MAX_COLLECTIONS
                && *p.custom_tables.get_ref() <= MAX_CUSTOM_TABLES
                && *p.boundary_groups.get_ref() <= MAX_BOUNDARY_GROUPS
                && *p.update_groups.get_ref() <= MAX_UPDATE_GROUPS
        });
    scenario.neighbors.is_empty() && (scenario.hierarchy.scp_mode == ScpMode::Offline || one_upload)
}

/// The fate of every probe run the scenario's own hierarchy makes, its sites running `catalog`,
/// and the cycles whose upload fails.
pub fn expected_delivery(scenario: &Scenario, catalog: &Catalog) -> Delivery {
    let h = &scenario.hierarchy;
    let weeks = *scenario.run.weeks.get_ref();
    let level_in = levels(scenario, weeks);
    let down = |kind: FaultKind, site: &str, week: u32| {
        scenario.faults_at(week, kind).any(|f| {
            f.site
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

    let mut delivery = Delivery::default();
    let mut scp = Scp::default();
    let mut at_site: Vec<RunKey> = Vec::new();
    for week in 1..=weeks {
        let level = level_in[week as usize - 1];
        for (site, offset) in &sites {
            if down(FaultKind::SiteDbDown, site, week) || week <= *offset {
                continue;
            }
            for probe in catalog.for_level(level) {
                let key = (site.clone(), week - offset, probe.name);
                if *site == top {
                    delivery.fates.insert(key.clone(), Fate::AtTop);
                    scp.waiting.push(key);
                } else {
                    delivery.fates.insert(key.clone(), Fate::AtSite);
                    at_site.push(key);
                }
            }
        }
        let top_down = down(FaultKind::SiteDbDown, &top, week);
        if h.cas && !top_down {
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
                    delivery.fates.insert(key.clone(), Fate::AtTop);
                    scp.waiting.push(key.clone());
                }
                blocked
            });
        }
        let scp_down = scenario
            .faults_at(week, FaultKind::ScpDown)
            .next()
            .is_some();
        if top_down || scp_down {
            continue;
        }
        let allowed = |key: &RunKey| catalog.by_name(key.2).is_some_and(|p| p.level <= level);
        let mut cycle = Cycle {
            week,
            allowed: &allowed,
            delivery: &mut delivery,
        };
        let ok = match h.scp_mode {
            ScpMode::Online => {
                let restart = scenario
                    .faults_at(week, FaultKind::ScpRestart)
                    .next()
                    .is_some();
                let mut upstream = Budgets::of(scenario, week);
                scp.online_check(&mut cycle, &mut upstream, restart)
            }
            ScpMode::Offline => {
                scp.offline_connect(&mut cycle, connect_gets_through(scenario, week))
            }
        };
        if !ok {
            delivery.failed.insert(week);
        }
    }
    delivery
}

/// The level in force during each week (index 0 is week 1): the hierarchy's, changed by each
/// `level_change` from the week after it.
fn levels(scenario: &Scenario, weeks: u32) -> Vec<Level> {
    let mut level = scenario.hierarchy.level;
    let mut by_week = Vec::new();
    for week in 1..=weeks {
        by_week.push(level);
        for f in scenario.faults_at(week, FaultKind::LevelChange) {
            let to = f.level.as_ref().expect("validated");
            level = Level::parse(to.get_ref()).expect("validated");
        }
    }
    by_week
}

/// One cycle's check, as the SCP's model sees it.
struct Cycle<'a> {
    week: u32,
    allowed: &'a dyn Fn(&RunKey) -> bool,
    delivery: &'a mut Delivery,
}

impl Cycle<'_> {
    /// Drops the runs the level in force does not allow (but not those the service stored
    /// already); returns the rest.
    fn drop_above_level(&mut self, runs: Vec<RunKey>) -> Vec<RunKey> {
        let (keep, drop): (Vec<_>, Vec<_>) = runs.into_iter().partition(|k| (self.allowed)(k));
        for key in drop {
            let fate = self.delivery.fates.entry(key).or_insert(Fate::AtTop);
            if !matches!(fate, Fate::Carried { .. }) {
                *fate = Fate::Dropped { cycle: self.week };
            }
        }
        keep
    }

    fn stored(&mut self, batch: &Batch) {
        for key in &batch.runs {
            self.delivery
                .fates
                .insert(key.clone(), Fate::Carried { cycle: batch.cycle });
        }
    }
}

/// A batch built for upload: the cycle it was built in, its runs, and whether the service
/// stored it (although the SCP may not know) — and whether what is sent under its key now is
/// what was stored (`changed`: the level was lowered since, and runs were taken out).
#[derive(Debug, Clone)]
struct Batch {
    cycle: u32,
    runs: Vec<RunKey>,
    stored: bool,
    changed: bool,
}

impl Batch {
    fn new(cycle: u32, runs: Vec<RunKey>) -> Self {
        Self {
            cycle,
            runs,
            stored: false,
            changed: false,
        }
    }
}

/// The top-level site's service connection point: the runs waiting at its site, and the batch
/// it built but has no receipt for (online, its outbox; offline, its last cabinet).
#[derive(Debug, Default)]
struct Scp {
    waiting: Vec<RunKey>,
    unacknowledged: Option<Batch>,
}

impl Scp {
    /// The online check: first the batch without a receipt, sent again under its key (without
    /// the runs the level no longer allows, which are dropped — unless the service stored them
    /// already: a batch stored under a key is delivered, whatever is sent under it later), then
    /// one batch of every run waiting. The check stops at the first upload that fails. A restart
    /// comes right after the first receipt, before the SCP records it, and the check starts
    /// again. Returns false when an upload failed.
    fn online_check(&mut self, cycle: &mut Cycle, upstream: &mut Budgets, restart: bool) -> bool {
        let mut restart = restart;
        loop {
            if let Some(mut batch) = self.unacknowledged.take() {
                let before = batch.runs.len();
                batch.runs = cycle.drop_above_level(batch.runs);
                // Changed after it was stored, the batch is refused with the stored one's
                // receipt; changed before, the changed one is what the service stores.
                batch.changed |= batch.stored && batch.runs.len() < before;
                let ok = upload(&mut batch, cycle, upstream);
                if !ok {
                    self.unacknowledged = Some(batch);
                    return false;
                }
                if std::mem::take(&mut restart) {
                    self.unacknowledged = Some(batch);
                    continue;
                }
            }
            let runs = cycle.drop_above_level(std::mem::take(&mut self.waiting));
            if runs.is_empty() {
                return true;
            }
            let mut batch = Batch::new(cycle.week, runs);
            let ok = upload(&mut batch, cycle, upstream);
            if !ok {
                self.unacknowledged = Some(batch);
                return false;
            }
            if std::mem::take(&mut restart) {
                self.unacknowledged = Some(batch);
                continue;
            }
            return true;
        }
    }

    /// The offline week: a cabinet of every run without a receipt (the last cabinet's too),
    /// without those the level no longer allows; stored when the `-connect` gets through.
    fn offline_connect(&mut self, cycle: &mut Cycle, gets_through: bool) -> bool {
        let mut runs = self
            .unacknowledged
            .take()
            .map(|b| b.runs)
            .unwrap_or_default();
        runs.append(&mut self.waiting);
        let runs = cycle.drop_above_level(runs);
        let batch = Batch::new(cycle.week, runs);
        if gets_through {
            cycle.stored(&batch);
        } else {
            self.unacknowledged = Some(batch);
        }
        gets_through
    }
}

/// One upload of `batch` with its retries. Returns whether a receipt came back; records the
/// batch's runs as carried when the service stored it.
fn upload(batch: &mut Batch, cycle: &mut Cycle, upstream: &mut Budgets) -> bool {
    let mut ok = false;
    for _ in 0..ATTEMPTS {
        let answer = upstream.attempt(batch.changed);
        if answer.stored && !batch.stored {
            batch.stored = true;
            cycle.stored(batch);
        }
        match answer.outcome {
            Outcome::Receipt => {
                ok = true;
                break;
            }
            Outcome::Refused => break,
            Outcome::Retry => {}
        }
    }
    ok
}

/// The upstream faults of one cycle, as the README's fault table gives them: each a budget of
/// the next `count` connections (resets) or answers. Of the faults that answer with a status,
/// the status faults strike first, then the throttles, each in the scenario's order, one per
/// answer; a latency fault delays the answer it strikes, whatever that answer is.
#[derive(Debug, Default)]
struct Budgets {
    resets: u32,
    lost_answers: u32,
    latencies: Vec<(u64, u32)>,
    statuses: Vec<(u16, u32)>,
}

struct Answer {
    stored: bool,
    outcome: Outcome,
}

enum Outcome {
    Receipt,
    Refused,
    Retry,
}

impl Budgets {
    fn of(scenario: &Scenario, week: u32) -> Self {
        let active = |kind| scenario.faults_at(week, kind);
        Budgets {
            resets: active(FaultKind::UpstreamReset).map(FaultSpec::count).sum(),
            lost_answers: active(FaultKind::UploadLostAck).map(FaultSpec::count).sum(),
            latencies: active(FaultKind::UpstreamLatency)
                .map(|f| (*f.ms.as_ref().expect("validated").get_ref(), f.count()))
                .collect(),
            statuses: active(FaultKind::UpstreamStatus)
                .map(|f| (f.status.as_ref().map_or(503, |s| *s.get_ref()), f.count()))
                .chain(active(FaultKind::UpstreamThrottle).map(|f| (429, f.count())))
                .collect(),
        }
    }

    /// One attempt: a fresh connection, then the request. `conflict`: the key holds another
    /// body, and the service refuses this one naming the stored one's receipt (a 409, whose
    /// answer no lost answer strikes: that fault strikes uploads stored or replayed).
    fn attempt(&mut self, conflict: bool) -> Answer {
        let retry = |stored| Answer {
            stored,
            outcome: Outcome::Retry,
        };
        if take(&mut self.resets) {
            return retry(false);
        }
        let late = first_due(&mut self.latencies).is_some_and(|ms| ms >= TIMEOUT_MS);
        if let Some(status) = first_due(&mut self.statuses) {
            let transient = status >= 500 || status == 408 || status == 429;
            return if late || transient {
                retry(false)
            } else {
                Answer {
                    stored: false,
                    outcome: Outcome::Refused,
                }
            };
        }
        if conflict {
            return if late {
                retry(false)
            } else {
                Answer {
                    stored: false,
                    outcome: Outcome::Receipt,
                }
            };
        }
        // Stored; the answer may still be lost on its way, or come after the client gave up.
        let lost = take(&mut self.lost_answers);
        if lost || late {
            return retry(true);
        }
        Answer {
            stored: true,
            outcome: Outcome::Receipt,
        }
    }
}

fn take(count: &mut u32) -> bool {
    let due = *count > 0;
    *count = count.saturating_sub(1);
    due
}

/// The value of the first budget still due, which it spends.
fn first_due<T: Copy>(budgets: &mut [(T, u32)]) -> Option<T> {
    let (value, count) = budgets.iter_mut().find(|(_, count)| *count > 0)?;
    *count -= 1;
    Some(*value)
}

/// Offline, the service connection tool's `-connect` makes one request with the whole transfer
/// folder: it gets through when the week's cabinet is whole and still named `*.cab` (after its
/// last rename, the renames striking in the file's order), and no status, throttle or reset
/// strikes (a late answer is waited for; the lost answer strikes online uploads only).
fn connect_gets_through(scenario: &Scenario, week: u32) -> bool {
    let last_name = scenario
        .faults_at(week, FaultKind::CabRenamed)
        .next_back()
        .map(|f| {
            f.to.as_ref()
                .map_or("renamed.cab", |to| to.get_ref().as_str())
        });
    let still_a_cab = last_name.is_none_or(|name| {
        std::path::Path::new(name)
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("cab"))
    });
    still_a_cab
        && [
            FaultKind::CabCorrupted,
            FaultKind::UpstreamStatus,
            FaultKind::UpstreamThrottle,
            FaultKind::UpstreamReset,
        ]
        .into_iter()
        .all(|kind| scenario.faults_at(week, kind).next().is_none())
}
