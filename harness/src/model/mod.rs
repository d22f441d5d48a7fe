//! The simulated hierarchy: its sites and what each site's database holds, as the generator
//! produces it. Everything here is a pure function of the scenario and its seed.

use chrono::NaiveDate;
use sha2::{Digest, Sha256};

use crate::scenario::{Level, Scenario, ScpMode};

mod catalogs;
mod facts;
mod mix;
mod rows;

pub use catalogs::*;
pub use facts::SiteFacts;
pub use mix::{MixPlan, Shaped, apportion};
pub use rows::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SiteRole {
    /// Central administration site: tops a hierarchy, has no clients of its own.
    Cas,
    /// A primary site under a CAS.
    ChildPrimary,
    /// A primary site with no CAS above it.
    Standalone,
}

impl SiteRole {
    pub fn as_str(self) -> &'static str {
        match self {
            SiteRole::Cas => "cas",
            SiteRole::ChildPrimary => "primary",
            SiteRole::Standalone => "standalone",
        }
    }
}

#[derive(Debug, Clone)]
pub struct SiteModel {
    pub code: String,
    /// A realistic, identifying site name: it must never reach the upstream.
    pub name: String,
    pub role: SiteRole,
    pub parent: Option<String>,
    pub version: String,
    pub time_zone: String,
    pub clients: u32,
    pub apps: u32,
    pub updates: u32,
    pub updates_per_client: u32,
    pub collections: u32,
    pub custom_tables: u32,
    pub boundary_groups: u32,
    pub update_groups: u32,
    /// The seed of everything generated for this site.
    pub seed: u64,
    /// The day the site was installed; its run `n` is on `installed + 7n`.
    pub installed: NaiveDate,
    /// Whole cycles of the top-level site that pass before this site's first run falls in one:
    /// 0 when it was installed with the top-level site, 1 for up to 7 days later, and so on.
    pub cycle_offset: u32,
    /// The shaped mix of its clients (`[hierarchy.primary.mix]`), when the scenario gives one.
    pub mix: Option<std::sync::Arc<MixPlan>>,
}

impl SiteModel {
    /// The site's own run that falls in the top-level site's cycle `cycle` (whose days are
    /// `(top + 7(cycle − 1), top + 7·cycle]`): `cycle − cycle_offset`, if it has begun.
    pub fn run_in_cycle(&self, cycle: u32) -> Option<u32> {
        cycle.checked_sub(self.cycle_offset).filter(|run| *run >= 1)
    }

    /// The day of the site's run `run`.
    pub fn run_day(&self, run: u32) -> NaiveDate {
        self.installed + chrono::Days::new(7 * u64::from(run))
    }
}

#[derive(Debug, Clone)]
pub struct HierarchyModel {
    pub id: uuid::Uuid,
    pub level: Level,
    pub mode: ScpMode,
    pub version: String,
    pub installed: NaiveDate,
    /// The CAS first when there is one; the top-level site is always `sites[0]`.
    pub sites: Vec<SiteModel>,
    /// What the service connection tool names this hierarchy's cabinet.
    pub cab_name: String,
    pub seed: u64,
}

impl HierarchyModel {
    pub fn from_scenario(s: &Scenario) -> Self {
        Self::from_spec(&s.hierarchy, s.seed, 0)
    }

    /// Every hierarchy of a scenario: its own first, then its neighbors.
    pub fn all_of(s: &Scenario) -> Vec<Self> {
        std::iter::once(&s.hierarchy)
            .chain(&s.neighbors)
            .enumerate()
            .map(|(i, h)| Self::from_spec(h, s.seed, i))
            .collect()
    }

    /// Hierarchy `index` of a scenario; neighbors get seeds of their own so their data differs.
    pub fn from_spec(h: &crate::scenario::HierarchySpec, scenario_seed: u64, index: usize) -> Self {
        let seed = if index == 0 {
            scenario_seed
        } else {
            derive_seed(scenario_seed, &format!("neighbor/{index}"))
        };
        let version = h.version.get_ref().clone();
        let installed = crate::scenario::parse_date(h.installed.get_ref()).expect("validated");
        let mut sites = Vec::new();
        if h.cas {
            let code = h.cas_code.get_ref().to_ascii_uppercase();
            sites.push(SiteModel {
                name: site_name(seed, &code, "Central Administration Site"),
                seed: derive_seed(seed, &code),
                code,
                role: SiteRole::Cas,
                parent: None,
                version: version.clone(),
                time_zone: h.primary[0].time_zone.clone(),
                clients: 0,
                apps: 0,
                updates: 0,
                updates_per_client: 0,
                collections: 0,
                custom_tables: 0,
                boundary_groups: 0,
                update_groups: 0,
                installed,
                cycle_offset: 0,
                mix: None,
            });
        }
        for p in &h.primary {
            let code = p.code.get_ref().to_ascii_uppercase();
            let site_installed = p.installed.as_ref().map_or(installed, |d| {
                crate::scenario::parse_date(d.get_ref()).expect("validated")
            });
            let days_after_top = (site_installed - installed).num_days().max(0) as u32;
            let code_for_mix = format!("{code}/mix");
            sites.push(SiteModel {
                installed: site_installed,
                cycle_offset: days_after_top.div_ceil(7),
                name: site_name(seed, &code, "Primary Site"),
                seed: derive_seed(seed, &code),
                role: if h.cas {
                    SiteRole::ChildPrimary
                } else {
                    SiteRole::Standalone
                },
                parent: h.cas.then(|| h.cas_code.get_ref().to_ascii_uppercase()),
                code,
                version: version.clone(),
                time_zone: p.time_zone.clone(),
                clients: *p.clients.get_ref(),
                apps: *p.apps.get_ref(),
                updates: *p.updates.get_ref(),
                updates_per_client: *p.updates_per_client.get_ref().min(p.updates.get_ref()),
                collections: *p.collections.get_ref(),
                custom_tables: *p.custom_tables.get_ref(),
                boundary_groups: *p.boundary_groups.get_ref(),
                update_groups: *p.update_groups.get_ref().min(p.updates.get_ref()),
                mix: p.mix.as_ref().map(|m| {
                    std::sync::Arc::new(MixPlan::new(
                        m.get_ref(),
                        *p.clients.get_ref(),
                        derive_seed(seed, &code_for_mix),
                    ))
                }),
            });
        }
        Self {
            id: Scenario::id_of(h, scenario_seed, index),
            level: h.level,
            mode: h.scp_mode,
            version,
            installed,
            cab_name: h.cab_name.get_ref().clone(),
            sites,
            seed,
        }
    }

    pub fn top(&self) -> &SiteModel {
        &self.sites[0]
    }

    pub fn site(&self, code: &str) -> Option<&SiteModel> {
        self.sites
            .iter()
            .find(|s| s.code.eq_ignore_ascii_case(code))
    }

    pub fn has_cas(&self) -> bool {
        self.top().role == SiteRole::Cas
    }

    /// The day the top-level site's weekly queries run in `week` (week 1 is seven days after
    /// its install): the day of cycle `week`'s upload.
    pub fn week_start(&self, week: u32) -> NaiveDate {
        self.installed + chrono::Days::new(7 * u64::from(week))
    }

    pub fn total_clients(&self) -> u64 {
        self.sites.iter().map(|s| u64::from(s.clients)).sum()
    }
}

/// A stable per-site seed: the same scenario seed and site code always give the same data,
/// whatever other sites the hierarchy has.
///
/// The digest of `"{seed}/{label}"`, hashed in pieces: the generator derives two seeds a client,
/// and formatting the text into a new `String` each time cost about as much as the hash.
pub fn derive_seed(seed: u64, label: &str) -> u64 {
    let digest = Sha256::new()
        .chain_update(itoa::Buffer::new().format(seed))
        .chain_update(b"/")
        .chain_update(label.as_bytes())
        .finalize();
    u64::from_le_bytes(digest[..8].try_into().expect("8 bytes"))
}

fn site_name(seed: u64, code: &str, suffix: &str) -> String {
    use fake::Fake;
    use fake::faker::address::en::CityName;
    use rand::SeedableRng;
    let mut rng =
        rand_chacha::ChaCha8Rng::seed_from_u64(derive_seed(seed, &format!("{code}/name")));
    let city: String = CityName().fake_with_rng(&mut rng);
    format!("{city} {suffix} {code}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hashed in pieces, the seed is still the digest of the formatted text: every generated
    /// value depends on it.
    #[test]
    fn a_derived_seed_is_the_digest_of_seed_slash_label() {
        for (seed, label) in [
            (0, "client"),
            (9, ""),
            (10, "compliance"),
            (1_000_000, "P01"),
            (u64::MAX, "mix/cpu/a"),
        ] {
            let digest = Sha256::digest(format!("{seed}/{label}").as_bytes());
            let expected = u64::from_le_bytes(digest[..8].try_into().unwrap());
            assert_eq!(derive_seed(seed, label), expected, "{seed}/{label}");
        }
    }
}
