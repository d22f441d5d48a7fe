//! `harness bench SCENARIO --clients 10000,50000,175000`: runs a scenario at each size (every
//! primary given that many clients) and fits, per probe, the exponent of its time against the
//! clients — the slope of log(time) on log(clients): 1.0 grows linearly, 2.0 quadratically. A
//! probe above the scenario's `[budget] probe_scaling_exponent` (1.2 by default) is reported:
//! a query that went quadratic is found at 10,000 clients before a customer finds it at 150,000.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::compare::Metric;
use crate::pipeline::{RunError, RunOptions, run_scenario};
use crate::report::{ScenarioReport, median};
use crate::scenario::Scenario;

/// The exponent a probe may reach when the scenario sets none.
pub const DEFAULT_SCALING_EXPONENT: f64 = 1.2;
/// A probe faster than this at the largest size is not judged on time: its time is mostly
/// the noise of the machine, not the work of the query.
pub const MIN_JUDGED_MS: f64 = 1.0;

/// A figure at each size, where it was measured.
type PerSize = Vec<Option<f64>>;

/// One probe (or seeding) at every size.
#[derive(Debug, Clone, Serialize)]
pub struct Scaling {
    pub name: String,
    /// Median wall time per site run at each size, in ms.
    pub ms: Vec<Option<f64>>,
    /// Median virtual-machine steps per site run at each size.
    pub steps: Vec<Option<f64>>,
    pub time_exponent: Option<f64>,
    pub steps_exponent: Option<f64>,
    /// Above the limit by the metric judged.
    pub above: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Bench {
    pub scenario: String,
    pub sizes: Vec<u32>,
    pub metric: &'static str,
    pub limit: f64,
    /// Seeding one primary, then each probe.
    pub rows: Vec<Scaling>,
}

impl Bench {
    pub fn above(&self) -> impl Iterator<Item = &Scaling> {
        self.rows.iter().filter(|r| r.above)
    }

    /// The table for people.
    pub fn summary(&self) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let _ = write!(out, "{:<34}", "probe (median ms per site run)");
        for size in &self.sizes {
            let _ = write!(out, "{:>12}", format!("{size} cl."));
        }
        let _ = writeln!(out, "{:>11}{:>11}", "exp. time", "exp. steps");
        let fmt = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.2}"));
        for row in &self.rows {
            let _ = write!(out, "{:<34}", row.name);
            for ms in &row.ms {
                let _ = write!(out, "{:>12}", fmt(*ms));
            }
            let _ = writeln!(
                out,
                "{:>11}{:>11}{}",
                fmt(row.time_exponent),
                fmt(row.steps_exponent),
                if row.above { "  ABOVE" } else { "" }
            );
        }
        let above: Vec<&str> = self.above().map(|r| r.name.as_str()).collect();
        let _ = writeln!(
            out,
            "{} probe(s) above the scaling exponent {} (by {}){}{}",
            above.len(),
            self.limit,
            self.metric,
            if above.is_empty() { "" } else { ": " },
            above.join(", ")
        );
        out
    }
}

/// The slope of log(y) on log(x) over the sizes that have a positive value; None with fewer
/// than two.
pub fn exponent(sizes: &[u32], values: &[Option<f64>]) -> Option<f64> {
    let points: Vec<(f64, f64)> = sizes
        .iter()
        .zip(values)
        .filter_map(|(x, y)| Some((f64::from(*x).ln(), y.filter(|y| *y > 0.0)?.ln())))
        .collect();
    if points.len() < 2 {
        return None;
    }
    let n = points.len() as f64;
    let (mx, my) = (
        points.iter().map(|p| p.0).sum::<f64>() / n,
        points.iter().map(|p| p.1).sum::<f64>() / n,
    );
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    (sxx > 0.0).then(|| sxy / sxx)
}

/// The scenario with every primary at `clients` clients, named for its size.
fn at_size(scenario: &Scenario, clients: u32) -> Scenario {
    let mut sized = scenario.clone();
    sized.name = format!("{}-{clients}", scenario.name);
    for primary in &mut sized.hierarchy.primary {
        *primary.clients.get_mut() = clients;
    }
    sized
}

/// Runs `scenario` at each of `sizes` and fits the exponents; `metric` decides what is judged
/// against the limit (time, or the deterministic steps).
pub async fn bench(
    scenario: &Scenario,
    sizes: &[u32],
    metric: Metric,
    options: &RunOptions,
    mut progress: impl FnMut(u32, &ScenarioReport),
) -> Result<Bench, RunError> {
    let mut reports = Vec::new();
    for size in sizes {
        let report = run_scenario(&at_size(scenario, *size), options).await?;
        progress(*size, &report);
        reports.push(report);
    }
    let limit = scenario
        .budget
        .probe_scaling_exponent
        .unwrap_or(DEFAULT_SCALING_EXPONENT);
    let mut rows = Vec::new();
    let seeding: Vec<Option<f64>> = reports
        .iter()
        .zip(sizes)
        .map(|(r, size)| {
            let mut ms: Vec<f64> = r
                .timings
                .seeding
                .iter()
                .filter(|s| s.clients == *size)
                .map(|s| s.ms)
                .collect();
            (!ms.is_empty()).then(|| median(&mut ms))
        })
        .collect();
    rows.push(Scaling {
        name: "seeding one primary".into(),
        time_exponent: exponent(sizes, &seeding),
        ms: seeding,
        steps: vec![None; sizes.len()],
        steps_exponent: None,
        above: false,
    });
    // Probe → (median ms, median steps) at each size.
    let mut probes: BTreeMap<&str, (PerSize, PerSize)> = BTreeMap::new();
    for (k, report) in reports.iter().enumerate() {
        let mut at_size: BTreeMap<&str, (Vec<f64>, Vec<f64>)> = BTreeMap::new();
        for p in report
            .timings
            .probes
            .iter()
            .filter(|p| p.rows > 0 || p.ms > 0.0)
        {
            let entry = at_size.entry(&p.probe).or_default();
            entry.0.push(p.ms);
            if let Some(steps) = p.vm_steps {
                entry.1.push(steps as f64);
            }
        }
        for (probe, (mut ms, mut steps)) in at_size {
            let row = probes
                .entry(probe)
                .or_insert_with(|| (vec![None; sizes.len()], vec![None; sizes.len()]));
            row.0[k] = Some(median(&mut ms));
            row.1[k] = (!steps.is_empty()).then(|| median(&mut steps));
        }
    }
    for (probe, (ms, steps)) in probes {
        let time_exponent = exponent(sizes, &ms);
        let steps_exponent = exponent(sizes, &steps);
        let judged_on_time = ms.last().copied().flatten().unwrap_or(0.0) >= MIN_JUDGED_MS;
        let above = match metric {
            Metric::Steps => steps_exponent.is_some_and(|e| e > limit),
            Metric::Time | Metric::Cpu => {
                judged_on_time && time_exponent.is_some_and(|e| e > limit)
            }
        };
        rows.push(Scaling {
            name: probe.to_string(),
            ms,
            steps,
            time_exponent,
            steps_exponent,
            above,
        });
    }
    Ok(Bench {
        scenario: scenario.name.clone(),
        sizes: sizes.to_vec(),
        metric: metric.as_str(),
        limit,
        rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exponent_is_the_slope_on_logs() {
        let sizes = [1000, 2000, 4000];
        let linear = [Some(3.0), Some(6.0), Some(12.0)];
        let quadratic = [Some(1.0), Some(4.0), Some(16.0)];
        assert!((exponent(&sizes, &linear).unwrap() - 1.0).abs() < 1e-9);
        assert!((exponent(&sizes, &quadratic).unwrap() - 2.0).abs() < 1e-9);
        assert_eq!(exponent(&sizes, &[Some(1.0), None, None]), None);
    }
}
