//! What every week's upload must contain, computed from the model alone: the oracles' rows for
//! every probe of the level at every site, and the site list.

use std::collections::{BTreeMap, BTreeSet};

use usage_protocol::payload::{Row, SiteEntry};

use crate::hash::tel_hash;
use crate::model::{HierarchyModel, SiteFacts};
use crate::probes::{Catalog, Check, EngineInfo, OracleInput, PreviousRun, canonical};
use crate::scenario::Level;

/// What one site must send for the run it makes in one cycle.
#[derive(Debug, Clone)]
pub struct ExpectedSite {
    pub code: String,
    /// The site's own run index (its `week` in the payload): the cycle, less the whole cycles
    /// between the top-level site's install and its own.
    pub run: u32,
    pub entry: SiteEntry,
    /// The rows each probe must return; `None` for a loaded probe without expected rows (it
    /// must arrive, once, but its rows are not checked).
    pub probes: BTreeMap<&'static str, Option<Vec<Row>>>,
}

/// How many rows each (hashed site, run, probe) of an unchecked probe returned, as measured: a
/// site's next `TEL_RunStats` counts them, and no model knows them.
pub type MeasuredRows = BTreeMap<(String, u32, String), u64>;

#[derive(Debug, Clone)]
pub struct ExpectedWeek {
    pub week: u32,
    pub level: Level,
    /// By hashed site code.
    pub sites: BTreeMap<String, ExpectedSite>,
}

/// Computes, from the model alone, what every week's upload must contain when the sites run the
/// shipped probes.
pub fn expected_weeks(
    hierarchy: &HierarchyModel,
    facts: &BTreeMap<String, SiteFacts>,
    levels: &[Level],
    engine: &EngineInfo,
) -> Vec<ExpectedWeek> {
    expected_weeks_without(
        hierarchy,
        Catalog::shipped(),
        facts,
        levels,
        engine,
        &BTreeSet::new(),
        &MeasuredRows::new(),
    )
}

/// [`expected_weeks`] for a run in which the (site code, week) pairs of `not_run` did not run
/// (the site's database was down): those weeks expect nothing of the site, and its next run has
/// no previous run to report (the run statistics are of the week before). `measured` has the
/// row counts of the unchecked probes.
pub fn expected_weeks_without(
    hierarchy: &HierarchyModel,
    catalog: &Catalog,
    facts: &BTreeMap<String, SiteFacts>,
    levels: &[Level],
    engine: &EngineInfo,
    not_run: &BTreeSet<(String, u32)>,
    measured: &MeasuredRows,
) -> Vec<ExpectedWeek> {
    let mut previous: BTreeMap<&str, PreviousRun> = BTreeMap::new();
    let mut weeks = Vec::new();
    for (index, level) in levels.iter().enumerate() {
        let week = index as u32 + 1;
        let probes = catalog.for_level(*level);
        let mut sites = BTreeMap::new();
        for site in &hierarchy.sites {
            if not_run.contains(&(site.code.clone(), week)) {
                // Its next run has no run the week before to report.
                previous.remove(site.code.as_str());
                continue;
            }
            let Some(run) = site.run_in_cycle(week) else {
                continue;
            };
            let site_facts = &facts[&site.code];
            let input = OracleInput {
                hierarchy,
                catalog,
                site,
                facts: site_facts,
                week: run,
                week_start: site.run_day(run),
                level: *level,
                engine,
                previous: previous.get(site.code.as_str()).cloned(),
            };
            let results: BTreeMap<&'static str, Option<Vec<Row>>> = probes
                .iter()
                .map(|p| {
                    let rows = match p.check {
                        Check::Oracle(oracle) => Some(oracle(&input)),
                        Check::Expected(rows) => rows.for_site(&site.code).map(<[Row]>::to_vec),
                        Check::Unchecked => None,
                    };
                    (p.name, rows.map(canonical))
                })
                .collect();
            let hash = tel_hash(&site.code);
            let rows: u64 = results
                .iter()
                .map(|(probe, rows)| match rows {
                    Some(rows) => rows.len() as u64,
                    None => measured
                        .get(&(hash.clone(), run, probe.to_string()))
                        .copied()
                        .unwrap_or(0),
                })
                .sum();
            previous.insert(
                &site.code,
                PreviousRun {
                    week: run,
                    started_on: site.run_day(run),
                    probes: probes.len() as u64,
                    errors: 0,
                    rows,
                    probe_names: probes.iter().map(|p| p.name).collect(),
                },
            );
            let entry = SiteEntry {
                site: tel_hash(&site.code),
                site_type: site.role.as_str().into(),
                version: site.version.clone(),
                status: "Active".into(),
                clients: site_facts.clients,
                time_zone: site.time_zone.clone(),
            };
            sites.insert(
                entry.site.clone(),
                ExpectedSite {
                    code: site.code.clone(),
                    run,
                    entry,
                    probes: results,
                },
            );
        }
        weeks.push(ExpectedWeek {
            week,
            level: *level,
            sites,
        });
    }
    weeks
}
