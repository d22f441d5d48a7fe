//! What every week's upload must contain, computed from the model alone: the oracles' rows for
//! every probe of the level at every site, and the site list.

use std::collections::{BTreeMap, BTreeSet};

use usage_protocol::payload::{Row, SiteEntry};

use crate::hash::tel_hash;
use crate::model::{HierarchyModel, SiteFacts};
use crate::probes::{self, EngineInfo, OracleInput, PreviousRun, canonical};
use crate::scenario::Level;

/// What one site must send for the run it makes in one cycle.
#[derive(Debug, Clone)]
pub struct ExpectedSite {
    pub code: String,
    /// The site's own run index (its `week` in the payload): the cycle, less the whole cycles
    /// between the top-level site's install and its own.
    pub run: u32,
    pub entry: SiteEntry,
    pub probes: BTreeMap<&'static str, Vec<Row>>,
}

#[derive(Debug, Clone)]
pub struct ExpectedWeek {
    pub week: u32,
    pub level: Level,
    /// By hashed site code.
    pub sites: BTreeMap<String, ExpectedSite>,
}

/// Computes, from the model alone, what every week's upload must contain.
pub fn expected_weeks(
    hierarchy: &HierarchyModel,
    facts: &BTreeMap<String, SiteFacts>,
    levels: &[Level],
    engine: &EngineInfo,
) -> Vec<ExpectedWeek> {
    expected_weeks_without(hierarchy, facts, levels, engine, &BTreeSet::new())
}

/// [`expected_weeks`] for a run in which the (site code, week) pairs of `not_run` did not run
/// (the site's database was down): those weeks expect nothing of the site, and its next run has
/// no previous run to report (the run statistics are of the week before).
pub fn expected_weeks_without(
    hierarchy: &HierarchyModel,
    facts: &BTreeMap<String, SiteFacts>,
    levels: &[Level],
    engine: &EngineInfo,
    not_run: &BTreeSet<(String, u32)>,
) -> Vec<ExpectedWeek> {
    let mut previous: BTreeMap<&str, PreviousRun> = BTreeMap::new();
    let mut weeks = Vec::new();
    for (index, level) in levels.iter().enumerate() {
        let week = index as u32 + 1;
        let catalog = probes::for_level(*level);
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
                site,
                facts: site_facts,
                week: run,
                week_start: site.run_day(run),
                level: *level,
                engine,
                previous: previous.get(site.code.as_str()).cloned(),
            };
            let results: BTreeMap<&'static str, Vec<Row>> = catalog
                .iter()
                .map(|p| (p.name, canonical((p.oracle)(&input))))
                .collect();
            let rows: u64 = results.values().map(|r| r.len() as u64).sum();
            previous.insert(
                &site.code,
                PreviousRun {
                    week: run,
                    started_on: site.run_day(run),
                    probes: catalog.len() as u64,
                    errors: 0,
                    rows,
                    probe_names: catalog.iter().map(|p| p.name).collect(),
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
