//! Collect: a site's weekly run of the TEL queries of the level in force, into its own
//! `TEL_TelemetryResults`, timed per probe and held to the scenario's budget.

use super::seed::{SeededHierarchy, SeededSite};
use crate::engine::{EngineError, WeeklyRun};
use crate::finding::{Finding, FindingCode};
use crate::report::{ProbeTiming, median};

/// What collecting told: each probe's timing, and what went wrong.
#[derive(Debug, Default)]
pub struct Collected {
    pub timings: Vec<ProbeTiming>,
    pub findings: Vec<Finding>,
    /// What the budget was held to, per site run: (site, week, ms per 1,000 clients).
    pub per_1k_clients: Vec<(String, u32, f64)>,
    /// What each probe with a budget of its own was held to: (the budget's key, `probes.TEL_X`
    /// or `probe_steps.TEL_X`; site; week; ms or virtual-machine steps per 1,000 clients).
    pub probe_per_1k_clients: Vec<(String, String, u32, f64)>,
}

impl Collected {
    fn extend(&mut self, other: Collected) {
        self.timings.extend(other.timings);
        self.findings.extend(other.findings);
        self.per_1k_clients.extend(other.per_1k_clients);
        self.probe_per_1k_clients.extend(other.probe_per_1k_clients);
    }
}

/// How the weekly runs are made and held: the budget, and how many times each is run (the
/// run is idempotent: a repeat replaces the week's rows with the same rows).
#[derive(Debug, Clone, Copy)]
pub struct Collection<'a> {
    /// The scenario's `[budget]`: the collection's time, and each probe's time or
    /// virtual-machine steps (the noise-free figure a CI gate can hold on a shared machine),
    /// per 1,000 clients.
    pub budget: Option<&'a crate::scenario::Budget>,
    /// `--repeat N`: each site's weekly run made N times; timings are the medians.
    pub repeat: u32,
}

impl Default for Collection<'_> {
    fn default() -> Self {
        Self {
            budget: None,
            repeat: 1,
        }
    }
}

/// Every site of every hierarchy makes the weekly run that falls in the top-level site's cycle
/// `week` — its own run, on its own calendar (a primary installed later runs later) — but the
/// scenario's own sites in `down` (their database is down: no run, no record).
pub async fn collect_week(
    hierarchies: &[SeededHierarchy],
    week: u32,
    collection: &Collection<'_>,
    down: &[String],
) -> Result<Collected, EngineError> {
    use futures_util::stream::{self, StreamExt, TryStreamExt};
    let mut collected = Collected::default();
    for (index, hierarchy) in hierarchies.iter().enumerate() {
        let catalog = hierarchy.catalog.for_level(hierarchy.level_in(week));
        let due = hierarchy.sites.iter().filter_map(|site| {
            if index == 0 && down.contains(&site.model.code) {
                return None;
            }
            // None: installed too recently to have run yet.
            let own_run = site.model.run_in_cycle(week)?;
            Some((site, own_run))
        });
        // Sites run their queries at the same time (one per core), each on its own database;
        // their timings and findings are kept in the hierarchy's site order.
        let per_site: Vec<Collected> = stream::iter(due)
            .map(|(site, own_run)| {
                let catalog = &catalog;
                async move {
                    let run = WeeklyRun {
                        week: own_run,
                        started_on: site.model.run_day(own_run),
                        probes: catalog,
                    };
                    let label = hierarchy.site_label(&site.model.code);
                    collect_site(site, &label, &run, collection).await
                }
            })
            .buffered(super::seed::parallel_sites())
            .try_collect()
            .await?;
        for site in per_site {
            collected.extend(site);
        }
    }
    Ok(collected)
}

/// One site's weekly run. A probe that fails is a finding, not an error of the run.
pub async fn collect_site(
    site: &SeededSite,
    label: &str,
    run: &WeeklyRun<'_>,
    collection: &Collection<'_>,
) -> Result<Collected, EngineError> {
    let mut outcomes = Vec::new();
    for _ in 0..collection.repeat.max(1) {
        outcomes.push(site.db.run_weekly(run).await?);
    }
    let repeated = outcomes.len() > 1;
    let mut collected = Collected::default();
    // The last run's rows are the ones kept; every run returns the same.
    let last = outcomes.last().expect("at least one run");
    for (k, p) in last.probes.iter().enumerate() {
        if let Some(error) = &p.error {
            collected.findings.push(
                Finding::new(
                    FindingCode::ProbeError,
                    format!("{} failed: {error}", p.probe),
                )
                .week(run.week)
                .site(label)
                .probe(p.probe),
            );
        }
        let mut samples: Vec<f64> = outcomes
            .iter()
            .map(|o| o.probes[k].elapsed.as_secs_f64() * 1e3)
            .collect();
        let cpu: Vec<f64> = outcomes
            .iter()
            .filter_map(|o| Some(o.probes[k].cpu?.as_secs_f64() * 1e3))
            .collect();
        let ms = median(&mut samples.clone());
        let per_1k = |value: f64| value / thousands_of_clients(site.model.clients);
        let own_budgets = collection
            .budget
            .into_iter()
            .flat_map(|b| b.per_probe())
            .filter(|(_, probe, _)| *probe == p.probe);
        for (table, _, limit) in own_budgets {
            let (measured, unit) = match table {
                "probes" => (Some(ms), "ms per 1,000 clients"),
                _ => (
                    p.vm_steps.map(|steps| steps as f64),
                    "virtual-machine steps per 1,000 clients",
                ),
            };
            let Some(measured) = measured else {
                continue;
            };
            let value = per_1k(measured);
            collected.probe_per_1k_clients.push((
                format!("{table}.{}", p.probe),
                label.to_string(),
                run.week,
                value,
            ));
            if value > limit {
                collected.findings.push(
                    Finding::new(
                        FindingCode::BudgetExceeded,
                        format!("{} took {value:.2} {unit}; its budget is {limit}", p.probe),
                    )
                    .week(run.week)
                    .site(label)
                    .probe(p.probe),
                );
            }
        }
        collected.timings.push(ProbeTiming {
            week: run.week,
            site: label.to_string(),
            probe: p.probe.to_string(),
            rows: p.rows,
            ms,
            samples_ms: if repeated {
                std::mem::take(&mut samples)
            } else {
                Vec::new()
            },
            cpu_ms: (!cpu.is_empty()).then(|| median(&mut cpu.clone())),
            cpu_samples_ms: if repeated { cpu } else { Vec::new() },
            failed: p.error.is_some(),
            vm_steps: p.vm_steps,
        });
    }
    if let Some(budget) = collection.budget.and_then(|b| b.collect_ms_per_1k_clients) {
        let mut elapsed: Vec<f64> = outcomes
            .iter()
            .map(|o| o.elapsed.as_secs_f64() * 1e3)
            .collect();
        let per_1k = median(&mut elapsed) / thousands_of_clients(site.model.clients);
        collected
            .per_1k_clients
            .push((label.to_string(), run.week, per_1k));
        if per_1k > budget {
            collected.findings.push(
                Finding::new(
                    FindingCode::BudgetExceeded,
                    format!(
                        "collection took {per_1k:.1} ms per 1,000 clients; the budget is {budget}"
                    ),
                )
                .week(run.week)
                .site(label),
            );
        }
    }
    Ok(collected)
}

/// A level changed during `week` is what the sites run with from the next week on.
pub async fn apply_level_changes(
    hierarchies: &[SeededHierarchy],
    week: u32,
) -> Result<(), EngineError> {
    for hierarchy in hierarchies {
        let level = hierarchy.level_in(week);
        if let Some(next) = hierarchy.levels.get(week as usize)
            && *next != level
        {
            for site in &hierarchy.sites {
                site.db.set_level(*next).await?;
            }
        }
    }
    Ok(())
}

/// The clients of a site in thousands, for budgets "per 1,000 clients": a site of fewer counts
/// as 1,000, or its fixed costs (a query's plan, a run's bookkeeping) would be multiplied by a
/// thousand for a one-client site.
fn thousands_of_clients(clients: u32) -> f64 {
    f64::from(clients.max(1000)) / 1000.0
}
