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

/// What a run observed that the model cannot know, and the next runs' statistics report.
#[derive(Debug, Default)]
pub struct Observed {
    /// (site code, week) of the weeks a site did not run (its database was down).
    pub not_run: BTreeSet<(String, u32)>,
    pub measured: MeasuredRows,
    /// (site code, run, probe) of the probes that failed, with their errors.
    pub failed: BTreeMap<(String, u32, String), String>,
}

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
        &Observed::default(),
    )
}

/// [`expected_weeks`] for a run in which the (site code, week) pairs of `not_run` did not run
/// (the site's database was down): those weeks expect nothing of the site, and its next run has
/// no previous run to report (the run statistics are of the week before). `observed` also has
/// the row counts of the unchecked probes and the probes that failed.
pub fn expected_weeks_without(
    hierarchy: &HierarchyModel,
    catalog: &Catalog,
    facts: &BTreeMap<String, SiteFacts>,
    levels: &[Level],
    engine: &EngineInfo,
    observed: &Observed,
) -> Vec<ExpectedWeek> {
    let Observed {
        not_run,
        measured,
        failed,
    } = observed;
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
            let failed_here: BTreeMap<&'static str, String> = probes
                .iter()
                .filter_map(|p| {
                    failed
                        .get(&(site.code.clone(), run, p.name.to_string()))
                        .map(|e| (p.name, e.clone()))
                })
                .collect();
            let rows: u64 = results
                .iter()
                .filter(|(probe, _)| !failed_here.contains_key(*probe))
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
                    errors: failed_here.len() as u64,
                    rows,
                    probe_names: probes.iter().map(|p| p.name).collect(),
                    failed: failed_here,
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
