//! The simulated hierarchy: its sites and what each site's database holds, as the generator
//! produces it. Everything here is a pure function of the scenario and its seed.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use sha2::{Digest, Sha256};

use crate::scenario::{Level, Scenario, ScpMode};

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
            });
        }
        for p in &h.primary {
            let code = p.code.get_ref().to_ascii_uppercase();
            sites.push(SiteModel {
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
                apps: p.apps,
                updates: p.updates,
                updates_per_client: p.updates_per_client.min(p.updates),
                collections: p.collections,
                custom_tables: p.custom_tables,
                boundary_groups: p.boundary_groups,
                update_groups: p.update_groups.min(p.updates),
            });
        }
        Self {
            id: Scenario::id_of(h, scenario_seed, index),
            level: h.level,
            mode: h.scp_mode,
            version,
            installed: chrono::NaiveDate::parse_from_str(h.installed.get_ref(), "%Y-%m-%d")
                .expect("validated"),
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

    /// The day the weekly queries run in `week` (week 1 is seven days after install).
    pub fn week_start(&self, week: u32) -> NaiveDate {
        self.installed + chrono::Days::new(7 * u64::from(week))
    }

    pub fn total_clients(&self) -> u64 {
        self.sites.iter().map(|s| u64::from(s.clients)).sum()
    }
}

/// A stable per-site seed: the same scenario seed and site code always give the same data,
/// whatever other sites the hierarchy has.
pub fn derive_seed(seed: u64, label: &str) -> u64 {
    let digest = Sha256::digest(format!("{seed}/{label}").as_bytes());
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

/// Operating system images clients run; the generator draws from these with their weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OsImage {
    pub caption: &'static str,
    pub version: &'static str,
    pub build: u32,
    /// Windows 10/11 have a servicing branch; servers do not.
    pub has_branch: bool,
    pub weight: u32,
}

pub const OS_IMAGES: &[OsImage] = &[
    OsImage {
        caption: "Microsoft Windows 10 Enterprise",
        version: "10.0.19044",
        build: 19044,
        has_branch: true,
        weight: 10,
    },
    OsImage {
        caption: "Microsoft Windows 10 Enterprise",
        version: "10.0.19045",
        build: 19045,
        has_branch: true,
        weight: 35,
    },
    OsImage {
        caption: "Microsoft Windows 10 Pro",
        version: "10.0.19045",
        build: 19045,
        has_branch: true,
        weight: 8,
    },
    OsImage {
        caption: "Microsoft Windows 10 Enterprise LTSC",
        version: "10.0.17763",
        build: 17763,
        has_branch: true,
        weight: 4,
    },
    OsImage {
        caption: "Microsoft Windows 11 Enterprise",
        version: "10.0.22631",
        build: 22631,
        has_branch: true,
        weight: 25,
    },
    OsImage {
        caption: "Microsoft Windows 11 Enterprise",
        version: "10.0.26100",
        build: 26100,
        has_branch: true,
        weight: 8,
    },
    OsImage {
        caption: "Microsoft Windows Server 2019 Standard",
        version: "10.0.17763",
        build: 17763,
        has_branch: false,
        weight: 4,
    },
    OsImage {
        caption: "Microsoft Windows Server 2022 Datacenter",
        version: "10.0.20348",
        build: 20348,
        has_branch: false,
        weight: 6,
    },
];

/// Client agent versions and their weights.
pub const CLIENT_VERSIONS: &[(&str, u32)] = &[
    ("5.00.9106.1000", 5),
    ("5.00.9122.1000", 20),
    ("5.00.9128.1000", 45),
    ("5.00.9132.1000", 30),
];

pub const CPUS: &[(&str, u32)] = &[
    ("Intel(R) Core(TM) i5-8365U CPU @ 1.60GHz", 12),
    ("Intel(R) Core(TM) i7-10610U CPU @ 1.80GHz", 14),
    ("Intel(R) Core(TM) i5-1145G7 @ 2.60GHz", 16),
    ("Intel(R) Core(TM) i7-1265U", 15),
    ("AMD Ryzen 7 PRO 5850U with Radeon Graphics", 10),
    ("Intel(R) Xeon(R) Gold 6248R CPU @ 3.00GHz", 5),
    ("Intel(R) Xeon(R) Silver 4214 CPU @ 2.20GHz", 4),
    ("13th Gen Intel(R) Core(TM) i7-1365U", 14),
    ("AMD EPYC 7763 64-Core Processor", 3),
    ("Intel(R) Core(TM) Ultra 7 165U", 7),
];

/// Application deployment technologies, as the product names them.
pub const TECHNOLOGIES: &[(&str, u32)] = &[
    ("MSI", 40),
    ("Script", 30),
    ("AppV5", 8),
    ("MSIX", 12),
    ("WinGet", 10),
];

/// One client: a row of `System_DISC` and its inventory.
#[derive(Debug, Clone, PartialEq)]
pub struct Client {
    pub item_key: i64,
    pub netbios_name: String,
    pub user_name: String,
    pub ip_address: String,
    pub mac_address: String,
    pub email: String,
    pub client_version: &'static str,
    pub os: OsImage,
    /// Update build revision: the fourth part of the OS build.
    pub ubr: u32,
    /// 0 = current branch, 1 = current branch for business, 2 = long-term servicing.
    pub branch: Option<u8>,
    pub bios_date: NaiveDate,
    pub os_install_date: NaiveDate,
    pub uefi: bool,
    pub secure_boot: bool,
    pub tpm: bool,
    pub is_virtual: bool,
    pub cpu: &'static str,
    /// Days since the client last reported a heartbeat, counted back from install.
    pub last_active_days: u32,
    /// Endpoint Protection: 1 protected, 2 at risk, 3 unknown, 4 unsupported.
    pub ep_state: u8,
}

impl Client {
    /// The values that identify a person or machine; none may leave at Basic or Enhanced.
    pub fn personal_values(&self) -> [&str; 5] {
        [
            &self.netbios_name,
            &self.user_name,
            &self.ip_address,
            &self.mac_address,
            &self.email,
        ]
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Application {
    pub ci_id: i64,
    pub title: String,
    pub manufacturer: String,
    pub superseded_by: Option<i64>,
    pub deployment_types: Vec<DeploymentType>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DeploymentType {
    pub ci_id: i64,
    pub technology: &'static str,
    /// MSI deployment types install a product code (a GUID).
    pub product_code: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AppDeployment {
    pub deployment_id: i64,
    pub app_ci_id: i64,
    pub collection_id: String,
    /// `install` or `uninstall`.
    pub action: &'static str,
    /// `required` or `available`.
    pub purpose: &'static str,
}

#[derive(Debug, Clone, PartialEq)]
pub struct UpdateGroup {
    pub group_id: i64,
    pub name: String,
    pub members: Vec<i64>,
    /// Collections the group is deployed to.
    pub deployed_to: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BoundaryGroup {
    pub group_id: i64,
    /// Names a place of the customer's: identifying.
    pub name: String,
    pub site_systems: u32,
    pub boundaries: Vec<Boundary>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Boundary {
    pub boundary_id: i64,
    pub boundary_type: &'static str,
    /// A subnet, address range or AD site of the customer's network: identifying.
    pub value: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Collection {
    pub collection_id: String,
    pub name: String,
    /// 1 = user collection, 2 = device collection.
    pub collection_type: u8,
    pub member_count: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SoftwareUpdate {
    pub ci_id: i64,
    pub article_id: String,
    pub severity: u8,
    pub is_expired: bool,
}

/// One client's state for one update: 1 not required, 2 required, 3 installed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Compliance {
    pub item_key: i64,
    pub update_ci_id: i64,
    pub status: u8,
    /// The last install error of a required update.
    pub error_code: Option<i64>,
}

/// A table the customer added to their site database.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomTable {
    pub name: String,
    pub rows: Vec<(i64, String)>,
}

/// What the oracles need to know about a site, accumulated while its rows stream past so that
/// no probe's expectation needs the rows themselves. Everything here is small: counts by
/// category, never per-client data.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SiteFacts {
    pub clients: u64,
    pub client_versions: BTreeMap<String, u64>,
    pub os_versions: BTreeMap<(String, String), u64>,
    /// (branch, build) → clients, for Windows 10 and 11 clients.
    pub windows_builds: BTreeMap<(u8, u32), u64>,
    /// technology → (applications with at least one such deployment type, deployment types)
    pub technologies: BTreeMap<String, (u64, u64)>,
    pub applications: u64,
    /// application → the application that supersedes it
    pub superseded_by: BTreeMap<i64, i64>,
    pub application_ids: Vec<i64>,
    /// MSI product code → deployment types installing it
    pub msi_product_codes: BTreeMap<String, u64>,
    /// (action, purpose, target) → deployments
    pub app_deployments: BTreeMap<(String, String, String), u64>,
    /// collection ID → type (1 user, 2 device)
    pub collection_types: BTreeMap<String, u8>,
    /// type → (collections, members)
    pub collections_by_type: BTreeMap<u8, (u64, u64)>,
    /// collections some application or update group is deployed to
    pub deployed_collections: std::collections::BTreeSet<String>,
    pub boundary_groups: u64,
    pub boundary_groups_without_site_systems: u64,
    pub boundaries_by_type: BTreeMap<String, u64>,
    /// members of each software update group
    pub update_group_sizes: Vec<u64>,
    /// (severity, expired) → updates
    pub update_catalog: BTreeMap<(u8, bool), u64>,
    /// update CI_ID → severity, to attribute compliance rows
    pub update_severity: BTreeMap<i64, u8>,
    /// (severity, status) → compliance rows
    pub compliance: BTreeMap<(u8, u8), u64>,
    pub error_codes: BTreeMap<i64, u64>,
    pub activity_days: BTreeMap<u32, u64>,
    pub bios_dates: BTreeMap<chrono::NaiveDate, u64>,
    pub os_install_dates: BTreeMap<chrono::NaiveDate, u64>,
    /// (UEFI, Secure Boot, TPM) → clients
    pub firmware: BTreeMap<(bool, bool, bool), u64>,
    pub virtual_machines: u64,
    pub ep_states: BTreeMap<u8, u64>,
    pub cpus: BTreeMap<String, u64>,
    /// product table → rows, for the largest-tables probe
    pub table_rows: BTreeMap<&'static str, u64>,
    pub custom_tables: Vec<String>,
    pub rows_generated: u64,
}

impl SiteFacts {
    pub fn observe_client(&mut self, c: &Client) {
        self.clients += 1;
        *self
            .client_versions
            .entry(c.client_version.into())
            .or_default() += 1;
        *self
            .os_versions
            .entry((c.os.caption.into(), c.os.version.into()))
            .or_default() += 1;
        if let Some(branch) = c.branch {
            *self.windows_builds.entry((branch, c.os.build)).or_default() += 1;
        }
        *self.activity_days.entry(c.last_active_days).or_default() += 1;
        *self.bios_dates.entry(c.bios_date).or_default() += 1;
        *self.os_install_dates.entry(c.os_install_date).or_default() += 1;
        *self
            .firmware
            .entry((c.uefi, c.secure_boot, c.tpm))
            .or_default() += 1;
        self.virtual_machines += u64::from(c.is_virtual);
        *self.ep_states.entry(c.ep_state).or_default() += 1;
        *self.cpus.entry(c.cpu.into()).or_default() += 1;
        *self.table_rows.entry("System_DISC").or_default() += 1;
    }

    pub fn observe_compliance(&mut self, state: &Compliance) {
        let severity = self
            .update_severity
            .get(&state.update_ci_id)
            .copied()
            .unwrap_or_default();
        *self.compliance.entry((severity, state.status)).or_default() += 1;
        if let Some(code) = state.error_code {
            *self.error_codes.entry(code).or_default() += 1;
        }
        *self
            .table_rows
            .entry("Update_ComplianceStatus")
            .or_default() += 1;
    }

    pub fn observe_application(&mut self, app: &Application) {
        self.applications += 1;
        self.application_ids.push(app.ci_id);
        if let Some(newer) = app.superseded_by {
            self.superseded_by.insert(app.ci_id, newer);
        }
        *self.table_rows.entry("CI_Applications").or_default() += 1;
        let mut seen = std::collections::BTreeSet::new();
        for dt in &app.deployment_types {
            let entry = self.technologies.entry(dt.technology.into()).or_default();
            entry.1 += 1;
            if seen.insert(dt.technology) {
                entry.0 += 1;
            }
            if let Some(code) = &dt.product_code {
                *self.msi_product_codes.entry(code.clone()).or_default() += 1;
            }
            *self.table_rows.entry("CI_DeploymentTypes").or_default() += 1;
        }
    }

    pub fn observe_collection(&mut self, c: &Collection) {
        self.collection_types
            .insert(c.collection_id.clone(), c.collection_type);
        let entry = self
            .collections_by_type
            .entry(c.collection_type)
            .or_default();
        entry.0 += 1;
        entry.1 += u64::from(c.member_count);
        *self.table_rows.entry("Collections").or_default() += 1;
    }

    pub fn observe_app_deployment(&mut self, d: &AppDeployment) {
        let target = match self.collection_types.get(&d.collection_id) {
            Some(1) => "user",
            _ => "device",
        };
        *self
            .app_deployments
            .entry((d.action.into(), d.purpose.into(), target.into()))
            .or_default() += 1;
        self.deployed_collections.insert(d.collection_id.clone());
        *self.table_rows.entry("CI_AppDeployments").or_default() += 1;
    }

    pub fn observe_update(&mut self, u: &SoftwareUpdate) {
        *self
            .update_catalog
            .entry((u.severity, u.is_expired))
            .or_default() += 1;
        self.update_severity.insert(u.ci_id, u.severity);
        *self.table_rows.entry("CI_SoftwareUpdates").or_default() += 1;
    }

    pub fn observe_update_group(&mut self, g: &UpdateGroup) {
        self.update_group_sizes.push(g.members.len() as u64);
        self.deployed_collections
            .extend(g.deployed_to.iter().cloned());
        *self.table_rows.entry("CI_UpdateGroups").or_default() += 1;
        *self.table_rows.entry("CI_UpdateGroupMembers").or_default() += g.members.len() as u64;
        *self.table_rows.entry("UpdateDeployments").or_default() += g.deployed_to.len() as u64;
    }

    pub fn observe_boundary_group(&mut self, g: &BoundaryGroup) {
        self.boundary_groups += 1;
        self.boundary_groups_without_site_systems += u64::from(g.site_systems == 0);
        for b in &g.boundaries {
            *self
                .boundaries_by_type
                .entry(b.boundary_type.into())
                .or_default() += 1;
        }
        *self.table_rows.entry("BoundaryGroups").or_default() += 1;
        *self.table_rows.entry("Boundaries").or_default() += g.boundaries.len() as u64;
    }
}
