//! What a site administers: applications and their deployments, collections, software updates
//! and update groups, boundary groups, and the customer's own tables.

use fake::Fake;
use fake::faker::lorem::en::Word;
use rand::RngExt;

use super::clients::update_ci_id;
use super::{mail_domain, rng, weighted};
use crate::model::*;

/// Product codes that many customers deploy (runtimes and common tools), so "common MSI product
/// codes" has something in common to find.
pub(super) const COMMON_MSI_PRODUCT_CODES: &[&str] = &[
    "{23170F69-40C1-2702-2301-000001000000}",
    "{AC76BA86-7AD7-1033-7B44-AC0F074E4100}",
    "{90160000-008C-0000-1000-0000000FF1CE}",
    "{F8CFEB22-A2E7-3971-9EDA-4B11EDEFC185}",
    "{9A25302D-30C0-39D9-BD6F-21E6EC160475}",
    "{57F5A53E-4E8B-4C9F-8A4E-1B8C0D4A6E2F}",
];

pub(super) const MANUFACTURERS: &[&str] = &[
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

pub(super) fn applications(site: &SiteModel) -> Vec<Application> {
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

pub(super) fn collections(site: &SiteModel) -> Vec<Collection> {
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

pub(super) fn updates(site: &SiteModel) -> Vec<SoftwareUpdate> {
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

pub(super) fn app_deployments(
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

pub(super) fn update_groups(site: &SiteModel, collections: &[Collection]) -> Vec<UpdateGroup> {
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

pub(super) const BOUNDARY_TYPES: &[(&str, u32)] = &[
    ("IPSubnet", 40),
    ("IPRange", 25),
    ("ADSite", 20),
    ("IPv6Prefix", 10),
    ("VPN", 5),
];

pub(super) fn boundary_groups(site: &SiteModel) -> Vec<BoundaryGroup> {
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

pub(super) fn custom_table(site: &SiteModel, name: String, index: u32) -> CustomTable {
    let mut r = rng(site, "custom_rows", u64::from(index));
    let rows = (0..5)
        .map(|k| {
            let word: String = Word().fake_with_rng(&mut r);
            (k, format!("{name} {word}"))
        })
        .collect();
    CustomTable { name, rows }
}
