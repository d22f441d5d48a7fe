//! The oracles: each computes, from the generated model alone, the rows its probe must return.
//! They never look at a database, which is what makes engine == oracle a real check.

use chrono::NaiveDate;
use mock_upstream::payload::Row;
use serde_json::{Value, json};

use crate::hash::tel_hash;
use crate::model::{HierarchyModel, SiteFacts, SiteModel};
use crate::scenario::Level;

/// What an engine is, as its oracle expects the `TEL_SQLVersion` probe to report it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineInfo {
    pub product: String,
    pub version: String,
    pub edition: String,
    pub collation: String,
}

/// The previous weekly run, as `TEL_RunHistory` should hold it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviousRun {
    pub week: u32,
    pub started_on: NaiveDate,
    pub probes: u64,
    pub errors: u64,
    pub rows: u64,
}

pub struct OracleInput<'a> {
    pub hierarchy: &'a HierarchyModel,
    pub site: &'a SiteModel,
    pub facts: &'a SiteFacts,
    pub week: u32,
    /// The level in force for this week's run.
    pub level: Level,
    pub engine: &'a EngineInfo,
    pub previous: Option<PreviousRun>,
}

fn row<const N: usize>(pairs: [(&str, Value); N]) -> Row {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

pub fn site_list(i: &OracleInput) -> Vec<Row> {
    vec![row([
        ("site", json!(tel_hash(&i.site.code))),
        ("type", json!(i.site.role.as_str())),
        ("version", json!(i.site.version)),
        ("status", json!("Active")),
        ("clients", json!(i.facts.clients)),
        ("time_zone", json!(i.site.time_zone)),
    ])]
}

pub fn client_versions(i: &OracleInput) -> Vec<Row> {
    i.facts
        .client_versions
        .iter()
        .map(|(v, n)| row([("client_version", json!(v)), ("clients", json!(n))]))
        .collect()
}

pub fn os_versions(i: &OracleInput) -> Vec<Row> {
    i.facts
        .os_versions
        .iter()
        .map(|((caption, version), n)| {
            row([
                ("caption", json!(caption)),
                ("version", json!(version)),
                ("clients", json!(n)),
            ])
        })
        .collect()
}

pub fn windows_builds(i: &OracleInput) -> Vec<Row> {
    i.facts
        .windows_builds
        .iter()
        .map(|((branch, build), n)| {
            let branch = ["CB", "CBB", "LTSB"][usize::from(*branch)];
            row([
                ("branch", json!(branch)),
                ("build", json!(build)),
                ("clients", json!(n)),
            ])
        })
        .collect()
}

pub fn sql_version(i: &OracleInput) -> Vec<Row> {
    vec![row([
        ("product", json!(i.engine.product)),
        ("version", json!(i.engine.version)),
        ("edition", json!(i.engine.edition)),
        ("collation", json!(i.engine.collation)),
    ])]
}

pub fn schema_hash(i: &OracleInput) -> Vec<Row> {
    super::DEFAULT_TABLES
        .iter()
        .map(|t| t.to_string())
        .chain(i.facts.custom_tables.iter().cloned())
        .map(|t| row([("table_hash", json!(tel_hash(&t)))]))
        .collect()
}

pub fn settings(i: &OracleInput) -> Vec<Row> {
    vec![row([
        ("level", json!(i.level.as_str())),
        ("mode", json!(i.hierarchy.mode.as_str())),
    ])]
}

pub fn app_technologies(i: &OracleInput) -> Vec<Row> {
    i.facts
        .technologies
        .iter()
        .map(|(t, (apps, dts))| {
            row([
                ("technology", json!(t)),
                ("applications", json!(apps)),
                ("deployment_types", json!(dts)),
            ])
        })
        .collect()
}

pub fn app_totals(i: &OracleInput) -> Vec<Row> {
    let dts: u64 = i.facts.technologies.values().map(|(_, d)| d).sum();
    vec![row([
        ("applications", json!(i.facts.applications)),
        ("deployment_types", json!(dts)),
    ])]
}

pub fn run_stats(i: &OracleInput) -> Vec<Row> {
    i.previous
        .iter()
        .map(|p| {
            row([
                ("week", json!(p.week)),
                ("started_on", json!(p.started_on.to_string())),
                ("probes", json!(p.probes)),
                ("errors", json!(p.errors)),
                ("rows", json!(p.rows)),
            ])
        })
        .collect()
}
