//! The oracles: each computes, from the generated model alone, the rows its probe must return.
//! They never look at a database, which is what makes engine == oracle a real check.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde_json::{Value, json};
use usage_protocol::payload::Row;

use super::MEASURED;
use crate::hash::tel_hash;
use crate::model::{HierarchyModel, SiteFacts, SiteModel};
use crate::scenario::Level;

/// What an engine is, as its oracle expects the `TEL_SQLVersion` probe to report it. A kept run
/// records it (`harness check` has no engine to ask).
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
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
    /// The probes it ran.
    pub probe_names: Vec<&'static str>,
    /// Those that failed, with their errors.
    pub failed: BTreeMap<&'static str, String>,
}

pub struct OracleInput<'a> {
    pub hierarchy: &'a HierarchyModel,
    /// The probes the sites run (the run statistics count only those of the level in force).
    pub catalog: &'a super::Catalog,
    pub site: &'a SiteModel,
    pub facts: &'a SiteFacts,
    pub week: u32,
    /// The day the run starts: ages are counted to it.
    pub week_start: NaiveDate,
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
    collated(
        i.facts
            .os_versions
            .iter()
            .map(|((caption, version), n)| ((caption.clone(), version.clone()), *n)),
    )
    .into_iter()
    .map(|((caption, version), n)| {
        row([
            ("caption", json!(caption)),
            ("version", json!(version)),
            ("clients", json!(n)),
        ])
    })
    .collect()
}

/// Names grouped as SQL Server's `SQL_Latin1_General_CP1_CI_AS` groups them — ASCII case and
/// trailing spaces ignored — each group named as the probes name it: its binary-smallest
/// spelling, trailing spaces removed. `K` is the rest of the grouping key.
fn collated<K: Ord>(
    counts: impl IntoIterator<Item = ((String, K), u64)>,
) -> BTreeMap<(String, K), u64> {
    let mut groups: BTreeMap<(String, K), (String, u64)> = BTreeMap::new();
    for ((name, rest), n) in counts {
        let trimmed = name.trim_end_matches(' ');
        let group = groups
            .entry((trimmed.to_ascii_lowercase(), rest))
            .or_insert_with(|| (trimmed.to_string(), 0));
        if trimmed < group.0.as_str() {
            group.0 = trimmed.to_string();
        }
        group.1 += n;
    }
    groups
        .into_iter()
        .map(|((_, rest), (name, n))| ((name, rest), n))
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

pub fn probe_run_times(i: &OracleInput) -> Vec<Row> {
    // Only the probes allowed at the level in force now, whatever the previous run ran.
    let Some(previous) = &i.previous else {
        return Vec::new();
    };
    previous
        .probe_names
        .iter()
        .filter(|name| i.catalog.by_name(name).is_some_and(|p| p.level <= i.level))
        .map(|name| {
            row([
                ("probe", json!(name)),
                ("duration_ms", json!(MEASURED)),
                (
                    "error",
                    previous.failed.get(name).map_or(Value::Null, |e| json!(e)),
                ),
            ])
        })
        .collect()
}

pub fn database_size(i: &OracleInput) -> Vec<Row> {
    let tables = super::DEFAULT_TABLES.len() + i.facts.custom_tables.len();
    vec![row([
        ("size_kb", json!(MEASURED)),
        ("tables", json!(tables)),
    ])]
}

fn target_name(collection_type: u8) -> &'static str {
    if collection_type == 1 {
        "user"
    } else {
        "device"
    }
}

pub fn app_deployments(i: &OracleInput) -> Vec<Row> {
    i.facts
        .app_deployments
        .iter()
        .map(|((action, purpose, target), n)| {
            row([
                ("action", json!(action)),
                ("purpose", json!(purpose)),
                ("target", json!(target)),
                ("deployments", json!(n)),
            ])
        })
        .collect()
}

pub fn app_supersedence(i: &OracleInput) -> Vec<Row> {
    let mut by_depth: BTreeMap<u64, u64> = BTreeMap::new();
    for app in &i.facts.application_ids {
        let (mut depth, mut at) = (0u64, *app);
        while let Some(next) = i.facts.superseded_by.get(&at) {
            depth += 1;
            at = *next;
        }
        *by_depth.entry(depth).or_default() += 1;
    }
    by_depth
        .into_iter()
        .map(|(d, n)| row([("depth", json!(d)), ("applications", json!(n))]))
        .collect()
}

pub fn collection_types(i: &OracleInput) -> Vec<Row> {
    i.facts
        .collections_by_type
        .iter()
        .map(|(t, (count, members))| {
            row([
                ("type", json!(target_name(*t))),
                ("collections", json!(count)),
                ("members", json!(members)),
            ])
        })
        .collect()
}

pub fn collections_without_deployment(i: &OracleInput) -> Vec<Row> {
    let mut by_type: BTreeMap<u8, u64> = BTreeMap::new();
    for (id, t) in &i.facts.collection_types {
        if !i.facts.deployed_collections.contains(id) {
            *by_type.entry(*t).or_default() += 1;
        }
    }
    by_type
        .into_iter()
        .map(|(t, n)| row([("type", json!(target_name(t))), ("collections", json!(n))]))
        .collect()
}

pub fn boundary_groups(i: &OracleInput) -> Vec<Row> {
    let boundaries: u64 = i.facts.boundaries_by_type.values().sum();
    vec![row([
        ("boundary_groups", json!(i.facts.boundary_groups)),
        ("boundaries", json!(boundaries)),
        (
            "without_site_systems",
            json!(i.facts.boundary_groups_without_site_systems),
        ),
    ])]
}

pub fn boundary_types(i: &OracleInput) -> Vec<Row> {
    i.facts
        .boundaries_by_type
        .iter()
        .map(|(t, n)| row([("boundary_type", json!(t)), ("boundaries", json!(n))]))
        .collect()
}

pub fn client_health(i: &OracleInput) -> Vec<Row> {
    let mut buckets: BTreeMap<&str, u64> = BTreeMap::new();
    for (days, n) in &i.facts.activity_days {
        let bucket = match days {
            0..=7 => "active",
            8..=30 => "inactive_8_30_days",
            _ => "inactive_over_30_days",
        };
        *buckets.entry(bucket).or_default() += n;
    }
    buckets
        .into_iter()
        .map(|(b, n)| row([("activity", json!(b)), ("clients", json!(n))]))
        .collect()
}

/// Clients per whole number of `unit`-day periods between a date and the run's start (division
/// truncating toward zero, as both SQL dialects do).
fn ages(dates: &BTreeMap<NaiveDate, u64>, week_start: NaiveDate, unit: i64) -> BTreeMap<i64, u64> {
    let mut out = BTreeMap::new();
    for (date, n) in dates {
        *out.entry((week_start - *date).num_days() / unit)
            .or_default() += n;
    }
    out
}

pub fn bios_age(i: &OracleInput) -> Vec<Row> {
    ages(&i.facts.bios_dates, i.week_start, 365)
        .into_iter()
        .map(|(age, n)| row([("age_years", json!(age)), ("clients", json!(n))]))
        .collect()
}

pub fn os_age(i: &OracleInput) -> Vec<Row> {
    ages(&i.facts.os_install_dates, i.week_start, 30)
        .into_iter()
        .map(|(age, n)| row([("age_months", json!(age)), ("clients", json!(n))]))
        .collect()
}

pub fn firmware_security(i: &OracleInput) -> Vec<Row> {
    i.facts
        .firmware
        .iter()
        .map(|((uefi, secure_boot, tpm), n)| {
            row([
                ("uefi", json!(i64::from(*uefi))),
                ("secure_boot", json!(i64::from(*secure_boot))),
                ("tpm", json!(i64::from(*tpm))),
                ("clients", json!(n)),
            ])
        })
        .collect()
}

pub fn virtual_machines(i: &OracleInput) -> Vec<Row> {
    let physical = i.facts.clients - i.facts.virtual_machines;
    [
        ("virtual", i.facts.virtual_machines),
        ("physical", physical),
    ]
    .into_iter()
    .filter(|(_, n)| *n > 0)
    .map(|(kind, n)| row([("kind", json!(kind)), ("clients", json!(n))]))
    .collect()
}

pub fn update_groups(i: &OracleInput) -> Vec<Row> {
    let sizes = &i.facts.update_group_sizes;
    vec![row([
        ("update_groups", json!(sizes.len())),
        ("memberships", json!(sizes.iter().sum::<u64>())),
        ("largest", json!(sizes.iter().max().copied().unwrap_or(0))),
    ])]
}

pub fn updates_per_group(i: &OracleInput) -> Vec<Row> {
    let mut histogram: BTreeMap<u64, u64> = BTreeMap::new();
    for size in &i.facts.update_group_sizes {
        *histogram.entry(*size).or_default() += 1;
    }
    histogram
        .into_iter()
        .map(|(s, n)| row([("updates", json!(s)), ("update_groups", json!(n))]))
        .collect()
}

/// The product tables the largest-tables probe counts: the default tables but the telemetry's
/// own (which change every week) and the imported update packs.
pub fn counted_tables() -> impl Iterator<Item = &'static str> {
    super::DEFAULT_TABLES
        .iter()
        .copied()
        .filter(|t| !t.starts_with("TEL_") && *t != "UpdatePacks")
}

/// The first `n` of `(key, count)` pairs by count descending, ties by key ascending (bytewise, as
/// the SQL asks of either engine).
fn top<K: Ord + Clone>(counts: impl IntoIterator<Item = (K, u64)>, n: usize) -> Vec<(K, u64)> {
    let mut all: Vec<(K, u64)> = counts.into_iter().collect();
    all.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    all.truncate(n);
    all
}

pub fn largest_tables(i: &OracleInput) -> Vec<Row> {
    let counts =
        counted_tables().map(|t| (tel_hash(t), i.facts.table_rows.get(t).copied().unwrap_or(0)));
    top(counts, 10)
        .into_iter()
        .map(|(hash, rows)| row([("table_hash", json!(hash)), ("row_count", json!(rows))]))
        .collect()
}

pub fn update_catalog(i: &OracleInput) -> Vec<Row> {
    i.facts
        .update_catalog
        .iter()
        .map(|((severity, expired), n)| {
            row([
                ("severity", json!(severity)),
                ("expired", json!(i64::from(*expired))),
                ("updates", json!(n)),
            ])
        })
        .collect()
}

fn compliance_row(installed: u64, required: u64) -> [(&'static str, Value); 3] {
    // Nothing applicable counts as fully compliant, as the SQL says.
    let bp = (installed * 10_000)
        .checked_div(installed + required)
        .unwrap_or(10_000);
    [
        ("installed", json!(installed)),
        ("required", json!(required)),
        ("compliance_bp", json!(bp)),
    ]
}

pub fn update_compliance(i: &OracleInput) -> Vec<Row> {
    let count = |status: u8| {
        i.facts
            .compliance
            .iter()
            .filter(|((_, s), _)| *s == status)
            .map(|(_, n)| n)
            .sum::<u64>()
    };
    vec![row(compliance_row(count(3), count(2)))]
}

pub fn update_compliance_by_severity(i: &OracleInput) -> Vec<Row> {
    let mut by_severity: BTreeMap<u8, (u64, u64)> = BTreeMap::new();
    for ((severity, status), n) in &i.facts.compliance {
        let entry = by_severity.entry(*severity).or_default();
        match status {
            3 => entry.0 += n,
            2 => entry.1 += n,
            _ => {}
        }
    }
    by_severity
        .into_iter()
        .map(|(severity, (installed, required))| {
            let mut r = row(compliance_row(installed, required));
            r.insert("severity".into(), json!(severity));
            r
        })
        .collect()
}

pub fn update_errors(i: &OracleInput) -> Vec<Row> {
    i.facts
        .error_codes
        .iter()
        .map(|(code, n)| row([("error_code", json!(code)), ("occurrences", json!(n))]))
        .collect()
}

pub fn endpoint_protection(i: &OracleInput) -> Vec<Row> {
    i.facts
        .ep_states
        .iter()
        .map(|(state, n)| {
            let name = match state {
                1 => "protected",
                2 => "at_risk",
                3 => "unknown",
                _ => "unsupported",
            };
            row([("state", json!(name)), ("clients", json!(n))])
        })
        .collect()
}

pub fn top_cpus(i: &OracleInput) -> Vec<Row> {
    let cpus = collated(i.facts.cpus.iter().map(|(c, n)| ((c.clone(), ()), *n)));
    top(cpus.into_iter().map(|((cpu, ()), n)| (cpu, n)), 50)
        .into_iter()
        .map(|(cpu, n)| row([("cpu", json!(cpu)), ("clients", json!(n))]))
        .collect()
}

pub fn msi_product_codes(i: &OracleInput) -> Vec<Row> {
    top(
        i.facts
            .msi_product_codes
            .iter()
            .map(|(c, n)| (tel_hash(c), *n)),
        50,
    )
    .into_iter()
    .map(|(code, n)| {
        row([
            ("product_code", json!(code)),
            ("deployment_types", json!(n)),
        ])
    })
    .collect()
}
