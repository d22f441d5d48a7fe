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
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::model::*;

mod clients;
mod compliance;
mod inventory;

pub use clients::{client, clients};
use inventory::*;
pub use inventory::{custom_table_names, network_names};

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

fn weighted<T: Copy>(rng: &mut impl rand::Rng, table: &[(T, u32)]) -> T {
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

/// The oracle's facts of a site, generated again without keeping a row: the generator streams
/// into a sink that drops every batch (`harness check`).
pub fn site_facts(site: &SiteModel) -> SiteFacts {
    match stream_site(site, |_| Ok::<(), std::convert::Infallible>(())) {
        Ok(facts) => facts,
        Err(never) => match never {},
    }
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
    for i in 0..site.clients {
        let c = client(site, &domain, i);
        facts.observe_client(&c);
        batch.push(c);
        if batch.len() == BATCH_ROWS {
            emit(Batch::Clients(std::mem::take(&mut batch)), &mut facts)?;
        }
    }
    if !batch.is_empty() {
        emit(Batch::Clients(batch), &mut facts)?;
    }
    compliance::stream(site, |states| {
        facts.observe_compliance(&states);
        emit(Batch::Compliance(states), &mut facts)
    })?;
    Ok(facts)
}
