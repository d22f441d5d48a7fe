//! The schedule generator: a random hierarchy, calendar, level and fault schedule, written as a
//! scenario file. One generator serves the random-schedule property test and `harness swarm`;
//! proptest draws from it and shrinks what it drew (fewer sites, weeks, clients and faults).
//!
//! Swarm testing: each draw first enables a random subset of the fault kinds, and only those
//! are scheduled, so that rare combinations (a crash beside a level change, say) get weight
//! instead of being averaged away by every kind at once.

use std::collections::BTreeSet;

use proptest::prelude::*;

use crate::scenario::{
    FORMAT, MAX_CLIENTS_CHILD_PRIMARY, MAX_CLIENTS_HIERARCHY, MAX_CLIENTS_STANDALONE,
};

/// How large and how varied the drawn scenarios may be.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Primaries, at most (1 to 25).
    pub max_primaries: usize,
    /// Clients per primary: from `min_clients` to `max_clients`.
    pub min_clients: u32,
    pub max_clients: u32,
    /// Weekly cycles, at most.
    pub max_weeks: u32,
    /// Faults drawn, at most (some are then left out: see [`scenario_toml`]).
    pub max_faults: usize,
    /// Whether the service connection point may be offline.
    pub offline: bool,
}

impl Limits {
    /// What the random-schedule property test draws: small hierarchies, online and offline,
    /// all within the reference model.
    pub fn model_test() -> Self {
        Self {
            max_primaries: 4,
            min_clients: 20,
            max_clients: 300,
            max_weeks: 8,
            max_faults: 8,
            offline: true,
        }
    }

    /// What `harness swarm` draws by default: up to the supported 25 primaries, online and
    /// offline.
    pub fn swarm(max_clients: u32) -> Self {
        Self {
            max_primaries: 25,
            min_clients: 20,
            max_clients: max_clients.max(20),
            max_weeks: 6,
            max_faults: 8,
            offline: true,
        }
    }
}

/// One fault of the schedule, before it is written as TOML.
#[derive(Clone, Debug)]
pub enum Kind {
    ReplicationDown,
    ReplicationCrash(&'static str),
    ReplicationDuplicate,
    SiteDbDown,
    ScpDown,
    ScpRestart,
    Status(u16, u32),
    Throttle(u64, u32),
    Reset(u32),
    LostAck(u32),
    Latency(u64, u32),
    LevelChange(&'static str),
    CabCorrupted,
    CabRenamed(&'static str),
}

impl Kind {
    /// The kind's place in the enabled-kinds mask.
    fn bit(&self) -> u32 {
        match self {
            Kind::ReplicationDown => 0,
            Kind::ReplicationCrash(_) => 1,
            Kind::ReplicationDuplicate => 2,
            Kind::SiteDbDown => 3,
            Kind::ScpDown => 4,
            Kind::ScpRestart => 5,
            Kind::Status(..) => 6,
            Kind::Throttle(..) => 7,
            Kind::Reset(_) => 8,
            Kind::LostAck(_) => 9,
            Kind::Latency(..) => 10,
            Kind::LevelChange(_) => 11,
            Kind::CabCorrupted => 12,
            Kind::CabRenamed(_) => 13,
        }
    }
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        Just(Kind::ReplicationDown),
        prop::sample::select(vec!["after_delete", "mid_rows", "before_watermark"])
            .prop_map(Kind::ReplicationCrash),
        Just(Kind::ReplicationDuplicate),
        Just(Kind::SiteDbDown),
        Just(Kind::ScpDown),
        Just(Kind::ScpRestart),
        (
            prop::sample::select(vec![500u16, 503, 408, 429, 400, 403, 413]),
            count()
        )
            .prop_map(|(s, c)| Kind::Status(s, c)),
        (1..=7200u64, count()).prop_map(|(r, c)| Kind::Throttle(r, c)),
        count().prop_map(Kind::Reset),
        count().prop_map(Kind::LostAck),
        (prop::sample::select(vec![250u64, 90_000]), count())
            .prop_map(|(ms, c)| Kind::Latency(ms, c)),
        prop::sample::select(vec!["basic", "enhanced", "full"]).prop_map(Kind::LevelChange),
        Just(Kind::CabCorrupted),
        prop::sample::select(vec!["usage-renamed.cab", "UsageData.cab.partial"])
            .prop_map(Kind::CabRenamed),
    ]
}

/// How many times an upstream fault strikes in a cycle: mostly fewer than an upload's attempts,
/// sometimes enough to outlast them.
fn count() -> impl Strategy<Value = u32> {
    prop_oneof![3 => 1..=3u32, 1 => 4..=10u32]
}

/// What one draw decided, before it is written as a scenario.
#[derive(Clone, Debug)]
pub struct Draw {
    pub cas: bool,
    /// Per primary: its clients, and how many days after the CAS it was installed.
    pub primaries: Vec<(u32, Option<u32>)>,
    pub weeks: u32,
    pub level: &'static str,
    pub offline: bool,
    /// The fault kinds this draw enables (a bit per [`Kind`]).
    pub enabled: u32,
    /// (kind, first week, span, site index)
    pub faults: Vec<(Kind, u32, u32, usize)>,
    pub seed: u64,
}

/// Draws within `limits`. Primaries lean small (most draws have a handful; a few up to the
/// limit), and so do sizes: half the primaries are tiny, the rest anywhere up to the cap.
///
/// The order of the parts is the order proptest shrinks them in: faults first (each removed,
/// then made simpler), then primaries (removed, then made smaller), then weeks. The data seed
/// and the enabled kinds do not shrink: a smaller seed is not a simpler case, and removing
/// faults already removes kinds.
pub fn draw(limits: &Limits) -> impl Strategy<Value = Draw> + use<> {
    let max_primaries = limits.max_primaries.max(1);
    let tiny = limits.min_clients..=limits.max_clients.min(limits.min_clients.max(200));
    let any_size = limits.min_clients..=limits.max_clients;
    let primary = (
        prop_oneof![tiny, any_size],
        prop::option::weighted(0.3, 1..=20u32),
    );
    let primaries = prop_oneof![
        3 => prop::collection::vec(primary.clone(), 1..=max_primaries.min(4)),
        1 => prop::collection::vec(primary, 1..=max_primaries),
    ];
    let weeks = limits.max_weeks.max(1);
    (
        prop::collection::vec(
            (kind(), 1..=weeks, 0..weeks, 0..26usize),
            0..=limits.max_faults,
        ),
        primaries,
        1..=weeks,
        any::<bool>(),
        prop::sample::select(vec!["basic", "enhanced", "full"]),
        prop::bool::weighted(if limits.offline { 0.25 } else { 0.0 }),
        any::<u32>().no_shrink(),
        // TOML's integers are signed 64-bit: a larger seed would not be a TOML file.
        (0..=i64::MAX as u64).no_shrink(),
    )
        .prop_map(
            |(faults, primaries, weeks, cas, level, offline, enabled, seed)| Draw {
                cas: cas || primaries.len() > 1,
                primaries,
                weeks,
                level,
                offline,
                enabled,
                faults,
                seed,
            },
        )
}

impl Draw {
    /// The scenario file this draw is: valid by construction. Faults of a kind the draw did not
    /// enable are left out, and so are faults that need a CAS in a stand-alone hierarchy, cabinet
    /// faults online, faults of the online service connection point offline, and more than one
    /// level change a week or one crash point per site and cycle.
    pub fn scenario_toml(&self, name: &str) -> String {
        let Draw {
            cas,
            weeks,
            level,
            offline,
            seed,
            ..
        } = *self;
        let mode = if offline { "offline" } else { "online" };
        let mut t = format!(
            "format = {FORMAT}\nname = \"{name}\"\nseed = {seed}\n[hierarchy]\ncas = {cas}\nlevel = \"{level}\"\nscp_mode = \"{mode}\"\ninstalled = \"2026-01-05\"\n"
        );
        let codes: Vec<String> = (1..=self.primaries.len())
            .map(|i| format!("P{i:02}"))
            .collect();
        let installed = chrono::NaiveDate::from_ymd_opt(2026, 1, 5).expect("a date");
        // Within what the product supports (and the scenario accepts): a stand-alone primary's
        // maximum, or a child primary's and the hierarchy's share of its maximum.
        let cap = if cas {
            let share = MAX_CLIENTS_HIERARCHY / codes.len() as u64;
            MAX_CLIENTS_CHILD_PRIMARY.min(u32::try_from(share).unwrap_or(u32::MAX))
        } else {
            MAX_CLIENTS_STANDALONE
        };
        for (code, (clients, days_later)) in codes.iter().zip(&self.primaries) {
            let clients = (*clients).min(cap);
            t += &format!("[[hierarchy.primary]]\ncode = \"{code}\"\nclients = {clients}\n");
            // A child primary may be installed days after its CAS, on a calendar of its own
            // (early enough to run at least once: the scenario refuses a site that never would).
            if let Some(days) = days_later.filter(|d| cas && *d <= 7 * (weeks - 1)) {
                let date = installed + chrono::Days::new(u64::from(days));
                t += &format!("installed = \"{date}\"\n");
            }
        }
        t += &format!("[run]\nweeks = {weeks}\n");
        let mut level_weeks = BTreeSet::new();
        let mut crashes: Vec<(&str, u32, u32)> = Vec::new();
        for (kind, first, span, site) in &self.faults {
            if self.enabled & (1 << kind.bit()) == 0 {
                continue;
            }
            // Drawn before the weeks were: a week past them wraps into them.
            let first = &((first - 1) % weeks + 1);
            let last = (first + span).min(weeks);
            // Both spellings of a window, so that both stay read alike.
            let window = if last == *first {
                format!("week = {first}\n")
            } else if (first + last) % 2 == 0 {
                format!("weeks = [{first}, {last}]\n")
            } else {
                format!("weeks = \"{first}..={last}\"\n")
            };
            let primary = &codes[site % codes.len()];
            let any_site = if cas && site % (codes.len() + 1) == codes.len() {
                "CAS"
            } else {
                primary
            };
            let body = match kind {
                Kind::ReplicationDown | Kind::ReplicationCrash(_) | Kind::ReplicationDuplicate
                    if !cas =>
                {
                    continue;
                }
                Kind::CabCorrupted | Kind::CabRenamed(_) if !offline => continue,
                Kind::ScpDown | Kind::ScpRestart | Kind::LostAck(_) if offline => continue,
                Kind::ReplicationDown => {
                    format!("kind = \"replication_down\"\nsite = \"{primary}\"\n")
                }
                Kind::ReplicationCrash(at) => {
                    if crashes
                        .iter()
                        .any(|(s, f, l)| s == primary && *f <= last && *first <= *l)
                    {
                        continue;
                    }
                    crashes.push((primary, *first, last));
                    format!("kind = \"replication_crash\"\nsite = \"{primary}\"\nat = \"{at}\"\n")
                }
                Kind::ReplicationDuplicate => {
                    format!("kind = \"replication_duplicate\"\nsite = \"{primary}\"\n")
                }
                Kind::SiteDbDown => format!("kind = \"site_db_down\"\nsite = \"{any_site}\"\n"),
                Kind::ScpDown => "kind = \"scp_down\"\n".into(),
                Kind::ScpRestart => "kind = \"scp_restart\"\n".into(),
                Kind::CabCorrupted => "kind = \"cab_corrupted\"\n".into(),
                Kind::CabRenamed(to) => format!("kind = \"cab_renamed\"\nto = \"{to}\"\n"),
                Kind::LevelChange(to) => {
                    if !level_weeks.insert(*first) {
                        continue;
                    }
                    t += &format!(
                        "[[faults]]\nkind = \"level_change\"\nweek = {first}\nlevel = \"{to}\"\n"
                    );
                    continue;
                }
                upstream_fault => match upstream_fault {
                    Kind::Status(status, count) => {
                        format!("kind = \"upstream_status\"\nstatus = {status}\ncount = {count}\n")
                    }
                    Kind::Throttle(after, count) => format!(
                        "kind = \"upstream_throttle\"\nretry_after_s = {after}\ncount = {count}\n"
                    ),
                    Kind::Reset(count) => {
                        format!("kind = \"upstream_reset\"\ncount = {count}\n")
                    }
                    Kind::LostAck(count) => {
                        format!("kind = \"upload_lost_ack\"\ncount = {count}\n")
                    }
                    Kind::Latency(ms, count) => {
                        format!("kind = \"upstream_latency\"\nms = {ms}\ncount = {count}\n")
                    }
                    _ => unreachable!("the other kinds are matched above"),
                },
            };
            t += &format!("[[faults]]\n{body}{window}");
        }
        t
    }
}
