//! The deterministic generator of site data.
//!
//! Every row is a pure function of the site's seed and the row's index (each client has its own
//! RNG stream), so the same seed gives the same databases byte for byte, a row can be produced
//! again later without storing it (the privacy scan re-streams clients this way), and a 175,000
//! client site never has to be in memory: rows leave in batches through a sink while the
//! oracle's [`SiteFacts`] are accumulated on the way.

use chrono::NaiveDate;
use fake::Fake;
use fake::faker::company::en::CompanyName;
use fake::faker::lorem::en::Word;
use fake::faker::name::en::{FirstName, LastName};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::model::*;

/// Rows per batch handed to the engine: large enough for efficient transactions, small enough to
/// keep memory flat.
pub const BATCH_ROWS: usize = 4_096;

/// First resource ID of a site's clients, as the product numbers them.
const FIRST_ITEM_KEY: i64 = 16_777_216;

#[derive(Debug, Clone)]
pub enum Batch {
    Clients(Vec<Client>),
    Applications(Vec<Application>),
    Collections(Vec<Collection>),
    Updates(Vec<SoftwareUpdate>),
    Compliance(Vec<Compliance>),
    AppDeployments(Vec<AppDeployment>),
    UpdateGroups(Vec<UpdateGroup>),
    BoundaryGroups(Vec<BoundaryGroup>),
    CustomTable(CustomTable),
}

impl Batch {
    pub fn rows(&self) -> u64 {
        (match self {
            Batch::Clients(v) => v.len(),
            Batch::Applications(v) => {
                v.len() + v.iter().map(|a| a.deployment_types.len()).sum::<usize>()
            }
            Batch::Collections(v) => v.len(),
            Batch::Updates(v) => v.len(),
            Batch::Compliance(v) => v.len(),
            Batch::AppDeployments(v) => v.len(),
            Batch::UpdateGroups(v) => v
                .iter()
                .map(|g| 1 + g.members.len() + g.deployed_to.len())
                .sum(),
            Batch::BoundaryGroups(v) => v.iter().map(|g| 1 + g.boundaries.len()).sum(),
            Batch::CustomTable(t) => t.rows.len(),
        }) as u64
    }
}

fn rng(site: &SiteModel, stream: &str, index: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(site.seed ^ derive_seed(index, stream))
}

fn weighted<T: Copy>(rng: &mut ChaCha8Rng, table: &[(T, u32)]) -> T {
    let total: u32 = table.iter().map(|(_, w)| w).sum();
    let mut pick = rng.random_range(0..total);
    for (value, weight) in table {
        if pick < *weight {
            return *value;
        }
        pick -= weight;
    }
    unreachable!("pick is below the total weight")
}

fn date_between(rng: &mut ChaCha8Rng, from: NaiveDate, to: NaiveDate) -> NaiveDate {
    let span = (to - from).num_days().max(1) as u64;
    from + chrono::Days::new(rng.random_range(0..span))
}

fn ymd(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("valid constant date")
}

/// The e-mail domain of a site's organisation.
pub fn mail_domain(site: &SiteModel) -> String {
    let mut r = rng(site, "domain", 0);
    let company: String = CompanyName().fake_with_rng(&mut r);
    let word: String = company
        .split_whitespace()
        .next()
        .unwrap_or("contoso")
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    format!("{}.example", word.to_ascii_lowercase())
}

const ALNUM: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ0123456789";

/// Client `index` of a site (0-based).
pub fn client(site: &SiteModel, domain: &str, index: u32) -> Client {
    let mut r = rng(site, "client", u64::from(index));
    let os_table: Vec<(OsImage, u32)> = OS_IMAGES.iter().map(|o| (*o, o.weight)).collect();
    let os = weighted(&mut r, &os_table);
    let prefix = if !os.has_branch {
        "SRV-"
    } else if r.random_bool(0.6) {
        "LAPTOP-"
    } else {
        "DESKTOP-"
    };
    let suffix: String = (0..7)
        .map(|_| ALNUM[r.random_range(0..ALNUM.len())] as char)
        .collect();
    let first: String = FirstName().fake_with_rng(&mut r);
    let last: String = LastName().fake_with_rng(&mut r);
    let user_name: String = format!("{first}.{last}{}", r.random_range(10..100))
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '.')
        .collect::<String>()
        .to_ascii_lowercase();
    let ip_address = format!(
        "10.{}.{}.{}",
        r.random_range(16..250),
        r.random_range(0..256),
        r.random_range(2..255)
    );
    let mac_address = format!(
        "00:15:5D:{:02X}:{:02X}:{:02X}",
        r.random_range(0..256),
        r.random_range(0..256),
        r.random_range(0..256)
    );
    let uefi = r.random_bool(0.8);
    Client {
        item_key: FIRST_ITEM_KEY + i64::from(index),
        netbios_name: format!("{prefix}{suffix}"),
        email: format!("{user_name}@{domain}"),
        user_name,
        ip_address,
        mac_address,
        client_version: weighted(&mut r, CLIENT_VERSIONS),
        ubr: r.random_range(1000..6000),
        branch: os.has_branch.then(|| {
            if os.caption.contains("LTSC") {
                2
            } else {
                weighted(&mut r, &[(0u8, 85), (1, 15)])
            }
        }),
        os,
        bios_date: date_between(&mut r, ymd(2014, 1, 1), ymd(2025, 12, 31)),
        os_install_date: date_between(&mut r, ymd(2019, 1, 1), ymd(2025, 12, 31)),
        secure_boot: uefi && r.random_bool(0.85),
        uefi,
        tpm: r.random_bool(0.9),
        is_virtual: r.random_bool(if os.has_branch { 0.05 } else { 0.6 }),
        cpu: weighted(&mut r, CPUS),
        last_active_days: if r.random_bool(0.85) {
            r.random_range(0..8)
        } else {
            r.random_range(8..91)
        },
        ep_state: weighted(&mut r, &[(1u8, 80), (2, 8), (3, 7), (4, 5)]),
    }
}

/// A site's clients, in order, produced on demand.
pub fn clients(site: &SiteModel) -> impl Iterator<Item = Client> + '_ {
    let domain = mail_domain(site);
    (0..site.clients).map(move |i| client(site, &domain, i))
}

/// The compliance states of one client.
fn compliance(site: &SiteModel, client: &Client, index: u32) -> Vec<Compliance> {
    if site.updates == 0 || site.updates_per_client == 0 {
        return Vec::new();
    }
    let mut r = rng(site, "compliance", u64::from(index));
    let start = r.random_range(0..site.updates);
    (0..site.updates_per_client)
        .map(|k| {
            let status = weighted(&mut r, &[(3u8, 70), (2, 15), (1, 15)]);
            let error_code =
                (status == 2 && r.random_bool(0.3)).then(|| weighted(&mut r, UPDATE_ERRORS));
            Compliance {
                item_key: client.item_key,
                update_ci_id: update_ci_id((start + k) % site.updates),
                status,
                error_code,
            }
        })
        .collect()
}

/// Windows Update error codes (as the unsigned 32-bit values the client reports) and weights.
const UPDATE_ERRORS: &[(i64, u32)] = &[
    (0x8024_4022, 30), // WU_E_PT_HTTP_STATUS_SERVICE_UNAVAIL
    (0x8024_402C, 20), // WU_E_PT_WINHTTP_NAME_NOT_RESOLVED
    (0x8007_0005, 15), // E_ACCESSDENIED
    (0x800F_081F, 10), // CBS_E_SOURCE_MISSING
    (0x8024_0022, 15), // WU_E_ALL_UPDATES_FAILED
    (0x8007_0643, 10), // ERROR_INSTALL_FAILURE
];

fn update_ci_id(index: u32) -> i64 {
    16_800_000 + i64::from(index)
}

/// Product codes that many customers deploy (runtimes and common tools), so "common MSI product
/// codes" has something in common to find.
const COMMON_MSI_PRODUCT_CODES: &[&str] = &[
    "{23170F69-40C1-2702-2301-000001000000}",
    "{AC76BA86-7AD7-1033-7B44-AC0F074E4100}",
    "{90160000-008C-0000-1000-0000000FF1CE}",
    "{F8CFEB22-A2E7-3971-9EDA-4B11EDEFC185}",
    "{9A25302D-30C0-39D9-BD6F-21E6EC160475}",
    "{57F5A53E-4E8B-4C9F-8A4E-1B8C0D4A6E2F}",
];

const MANUFACTURERS: &[&str] = &[
    "Microsoft",
    "Adobe",
    "Google",
    "Mozilla",
    "Zoom",
    "Igor Pavlov",
    "Notepad++ Team",
    "Cisco",
    "VMware",
    "Citrix",
    "Oracle",
    "Python Software Foundation",
];

fn applications(site: &SiteModel) -> Vec<Application> {
    (0..site.apps)
        .map(|i| {
            let mut r = rng(site, "application", u64::from(i));
            let manufacturer = MANUFACTURERS[r.random_range(0..MANUFACTURERS.len())];
            let product: String = Word().fake_with_rng(&mut r);
            let ci_id = 16_900_000 + i64::from(i);
            let superseded_by = (i + 1 < site.apps && r.random_bool(0.15))
                .then(|| 16_900_000 + i64::from(r.random_range(i + 1..site.apps)));
            let dts = r.random_range(1..=3u32);
            Application {
                ci_id,
                title: format!(
                    "{manufacturer} {product} {}.{}",
                    r.random_range(1..30),
                    r.random_range(0..10)
                ),
                manufacturer: manufacturer.to_string(),
                superseded_by,
                deployment_types: (0..dts)
                    .map(|k| {
                        let technology = weighted(&mut r, TECHNOLOGIES);
                        let product_code = (technology == "MSI").then(|| {
                            if r.random_bool(0.4) {
                                COMMON_MSI_PRODUCT_CODES
                                    [r.random_range(0..COMMON_MSI_PRODUCT_CODES.len())]
                                .to_string()
                            } else {
                                uuid::Builder::from_random_bytes(r.random())
                                    .into_uuid()
                                    .braced()
                                    .to_string()
                                    .to_uppercase()
                            }
                        });
                        DeploymentType {
                            ci_id: 17_000_000 + i64::from(i) * 4 + i64::from(k),
                            technology,
                            product_code,
                        }
                    })
                    .collect(),
            }
        })
        .collect()
}

fn collections(site: &SiteModel) -> Vec<Collection> {
    (0..site.collections)
        .map(|i| {
            let mut r = rng(site, "collection", u64::from(i));
            let collection_type = if r.random_bool(0.7) { 2 } else { 1 };
            let noun: String = Word().fake_with_rng(&mut r);
            Collection {
                collection_id: format!("{}{:05X}", site.code, 0x100 + i),
                name: format!(
                    "{} {noun}",
                    if collection_type == 2 {
                        "Devices"
                    } else {
                        "Users"
                    }
                ),
                collection_type,
                member_count: r.random_range(0..=site.clients.max(1)),
            }
        })
        .collect()
}

fn updates(site: &SiteModel) -> Vec<SoftwareUpdate> {
    (0..site.updates)
        .map(|i| {
            let mut r = rng(site, "update", u64::from(i));
            SoftwareUpdate {
                ci_id: update_ci_id(i),
                article_id: format!("KB{}", 5_000_000 + i * 37),
                severity: weighted(&mut r, &[(0u8, 20), (6, 20), (8, 40), (10, 20)]),
                is_expired: r.random_bool(0.1),
            }
        })
        .collect()
}

fn app_deployments(
    site: &SiteModel,
    apps: &[Application],
    collections: &[Collection],
) -> Vec<AppDeployment> {
    if collections.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::new();
    for (i, app) in apps.iter().enumerate() {
        let mut r = rng(site, "app_deployment", i as u64);
        for _ in 0..r.random_range(0..=2u32) {
            out.push(AppDeployment {
                deployment_id: 18_000_000 + out.len() as i64,
                app_ci_id: app.ci_id,
                collection_id: collections[r.random_range(0..collections.len())]
                    .collection_id
                    .clone(),
                action: if r.random_bool(0.85) {
                    "install"
                } else {
                    "uninstall"
                },
                purpose: if r.random_bool(0.4) {
                    "required"
                } else {
                    "available"
                },
            });
        }
    }
    out
}

fn update_groups(site: &SiteModel, collections: &[Collection]) -> Vec<UpdateGroup> {
    (0..site.update_groups)
        .map(|i| {
            let mut r = rng(site, "update_group", u64::from(i));
            let size = r.random_range(1..=site.updates.clamp(1, 60));
            let start = r.random_range(0..site.updates.max(1));
            let month: String = Word().fake_with_rng(&mut r);
            UpdateGroup {
                group_id: 19_000_000 + i64::from(i),
                name: format!("Updates {month} {i}"),
                members: (0..size)
                    .map(|k| update_ci_id((start + k) % site.updates.max(1)))
                    .collect(),
                deployed_to: if collections.is_empty() {
                    Vec::new()
                } else {
                    (0..r.random_range(0..=2u32))
                        .map(|_| {
                            collections[r.random_range(0..collections.len())]
                                .collection_id
                                .clone()
                        })
                        .collect::<std::collections::BTreeSet<_>>()
                        .into_iter()
                        .collect()
                },
            }
        })
        .collect()
}

const BOUNDARY_TYPES: &[(&str, u32)] = &[
    ("IPSubnet", 40),
    ("IPRange", 25),
    ("ADSite", 20),
    ("IPv6Prefix", 10),
    ("VPN", 5),
];

fn boundary_groups(site: &SiteModel) -> Vec<BoundaryGroup> {
    let mut next_boundary = 0i64;
    (0..site.boundary_groups)
        .map(|i| {
            let mut r = rng(site, "boundary_group", u64::from(i));
            let city: String = fake::faker::address::en::CityName().fake_with_rng(&mut r);
            let boundaries = (0..r.random_range(1..=5u32))
                .map(|_| {
                    let boundary_type = weighted(&mut r, BOUNDARY_TYPES);
                    let (a, b) = (r.random_range(16..250u32), r.random_range(0..256u32));
                    let value = match boundary_type {
                        "IPSubnet" => format!("10.{a}.{b}.0"),
                        "IPRange" => format!("10.{a}.{b}.1-10.{a}.{b}.254"),
                        "ADSite" => format!("{}-Site-{a}", city.replace(' ', "")),
                        "IPv6Prefix" => format!("fd00:{a:x}:{b:x}::"),
                        _ => format!("VPN-{}-{a}", city.replace(' ', "")),
                    };
                    next_boundary += 1;
                    Boundary {
                        boundary_id: 20_000_000 + i64::from(i) * 16 + next_boundary,
                        boundary_type,
                        value,
                    }
                })
                .collect();
            BoundaryGroup {
                group_id: 21_000_000 + i64::from(i),
                name: format!("{city} {}", site.code),
                site_systems: r.random_range(0..=3),
                boundaries,
            }
        })
        .collect()
}

/// Boundary group names and boundary values of a site: they describe the customer's network and
/// places, so they must never leave.
pub fn network_names(site: &SiteModel) -> Vec<String> {
    boundary_groups(site)
        .into_iter()
        .flat_map(|g| std::iter::once(g.name).chain(g.boundaries.into_iter().map(|b| b.value)))
        .collect()
}

/// Names of the customer's own tables; identifying, so they must only ever leave hashed.
pub fn custom_table_names(site: &SiteModel) -> Vec<String> {
    let domain = mail_domain(site);
    let org = domain.split('.').next().unwrap_or("org");
    (0..site.custom_tables)
        .map(|i| {
            let mut r = rng(site, "custom_table", u64::from(i));
            let word: String = Word().fake_with_rng(&mut r);
            format!("{org}_{word}_{i}")
        })
        .collect()
}

fn custom_table(site: &SiteModel, name: String, index: u32) -> CustomTable {
    let mut r = rng(site, "custom_rows", u64::from(index));
    let rows = (0..5)
        .map(|k| {
            let word: String = Word().fake_with_rng(&mut r);
            (k, format!("{name} {word}"))
        })
        .collect();
    CustomTable { name, rows }
}

/// Generates a whole site, handing rows to `sink` in batches, and returns the oracle's facts.
pub fn stream_site<E>(
    site: &SiteModel,
    mut sink: impl FnMut(Batch) -> Result<(), E>,
) -> Result<SiteFacts, E> {
    let mut facts = SiteFacts::default();
    facts.table_rows.insert("Sites", 1);
    let mut emit = |batch: Batch, facts: &mut SiteFacts| {
        facts.rows_generated += batch.rows();
        sink(batch)
    };
    let apps = applications(site);
    let collections = collections(site);
    for app in &apps {
        facts.observe_application(app);
    }
    for c in &collections {
        facts.observe_collection(c);
    }
    let deployments = app_deployments(site, &apps, &collections);
    for d in &deployments {
        facts.observe_app_deployment(d);
    }
    let updates = updates(site);
    for u in &updates {
        facts.observe_update(u);
    }
    let groups = update_groups(site, &collections);
    for g in &groups {
        facts.observe_update_group(g);
    }
    let boundaries = boundary_groups(site);
    for g in &boundaries {
        facts.observe_boundary_group(g);
    }
    emit(Batch::Applications(apps), &mut facts)?;
    emit(Batch::Collections(collections), &mut facts)?;
    emit(Batch::AppDeployments(deployments), &mut facts)?;
    emit(Batch::Updates(updates), &mut facts)?;
    emit(Batch::UpdateGroups(groups), &mut facts)?;
    emit(Batch::BoundaryGroups(boundaries), &mut facts)?;
    for (i, name) in custom_table_names(site).into_iter().enumerate() {
        facts.custom_tables.push(name.clone());
        emit(
            Batch::CustomTable(custom_table(site, name, i as u32)),
            &mut facts,
        )?;
    }
    let domain = mail_domain(site);
    let mut batch = Vec::with_capacity(BATCH_ROWS);
    let mut states = Vec::with_capacity(BATCH_ROWS);
    for i in 0..site.clients {
        let c = client(site, &domain, i);
        facts.observe_client(&c);
        for state in compliance(site, &c, i) {
            facts.observe_compliance(&state);
            states.push(state);
        }
        batch.push(c);
        if states.len() >= BATCH_ROWS {
            emit(Batch::Compliance(std::mem::take(&mut states)), &mut facts)?;
        }
        if batch.len() == BATCH_ROWS {
            emit(Batch::Clients(std::mem::take(&mut batch)), &mut facts)?;
        }
    }
    if !batch.is_empty() {
        emit(Batch::Clients(batch), &mut facts)?;
    }
    if !states.is_empty() {
        emit(Batch::Compliance(states), &mut facts)?;
    }
    Ok(facts)
}
