//! `harness compare BASE.json NEW.json`: criterion's baseline idea for TEL queries. Per scenario,
//! site, week and probe, the change from one run's report to another's, told apart from the noise: a
//! probe got slower only when its new median is past the threshold *and* the difference is larger
//! than the spread the two runs showed. Time samples are the `--repeat` runs of a week (or, without
//! them, the probe's weeks); SQLite's virtual-machine steps have no noise, so a gate on them does
//! not flake on a shared machine.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use std::fmt::Write as _;

use plotters::prelude::*;
use serde::Deserialize;

use crate::report::html::{Drawn, RowsLayout, STYLE, chart, err, escape, row, rows_chart};

/// What is compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Metric {
    /// Wall time of each probe run (ms).
    Time,
    /// CPU time of the thread that ran it (ms).
    Cpu,
    /// SQLite's virtual-machine steps: deterministic for the same data (embedded engine).
    Steps,
}

impl Metric {
    pub fn as_str(self) -> &'static str {
        match self {
            Metric::Time => "time",
            Metric::Cpu => "cpu",
            Metric::Steps => "steps",
        }
    }

    fn unit(self) -> &'static str {
        match self {
            Metric::Time | Metric::Cpu => "ms",
            Metric::Steps => "steps",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    #[error("reading {}: {cause}", path.display())]
    Read {
        path: PathBuf,
        cause: usage_protocol::bounded_file::BoundedReadError,
    },
    #[error("{} is not a harness report.json: {cause}", path.display())]
    NotAReport {
        path: PathBuf,
        cause: serde_json::Error,
    },
    #[error("{}: {key} has {}, which no measurement can be", path.display(), shown(*value))]
    Impossible {
        path: PathBuf,
        key: String,
        value: f64,
    },
    #[error("{}: {key}: {problem}", path.display())]
    Inconsistent {
        path: PathBuf,
        key: String,
        problem: String,
    },
    #[error("{} and {} have no probe timing in common{}", base.display(), new.display(), hint)]
    NothingInCommon {
        base: PathBuf,
        new: PathBuf,
        hint: &'static str,
    },
}

#[derive(Debug, Deserialize)]
struct Report {
    scenarios: Vec<ScenarioTimings>,
}

#[derive(Debug, Deserialize)]
struct ScenarioTimings {
    name: String,
    #[serde(default)]
    engine: String,
    #[serde(default)]
    seed: Option<u64>,
    #[serde(default)]
    timings: Option<Timings>,
}

#[derive(Debug, Deserialize)]
struct Timings {
    #[serde(default)]
    probes: Vec<ProbeSample>,
}

#[derive(Debug, Deserialize)]
struct ProbeSample {
    #[serde(default)]
    week: u32,
    site: String,
    probe: String,
    ms: f64,
    #[serde(default)]
    samples_ms: Vec<f64>,
    #[serde(default)]
    cpu_ms: Option<f64>,
    #[serde(default)]
    cpu_samples_ms: Vec<f64>,
    #[serde(default)]
    vm_steps: Option<u64>,
    #[serde(default)]
    failed: bool,
}

/// What a probe run is known by in both reports.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Key {
    pub scenario: String,
    pub site: String,
    pub week: u32,
    pub probe: String,
}

impl std::fmt::Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}/{}/week {}/{}",
            crate::scenario::printable(&self.scenario),
            crate::scenario::printable(&self.site),
            self.week,
            crate::scenario::printable(&self.probe)
        )
    }
}

/// One run's samples of a probe run, or the fact that it failed.
#[derive(Debug, Clone, Default)]
struct Sampled {
    values: Vec<f64>,
    failed: bool,
}

/// The largest value a sample may have: a probe run longer than a year, or 10^15 steps, is
/// not a measurement.
const MAX_SAMPLE: f64 = 1e15;

/// The largest report `compare` reads: far above any real run's, far below what would hurt.
const MAX_REPORT_BYTES: u64 = 512 * 1024 * 1024;

/// A value as a person reads it: scientific notation when it is huge.
fn shown(value: f64) -> String {
    if value.abs() < 1e9 {
        value.to_string()
    } else {
        format!("{value:e}")
    }
}

type Samples = BTreeMap<Key, Sampled>;

/// Per scenario, what it ran on: its engine and seed.
type RanOn = BTreeMap<String, (String, Option<u64>)>;

fn samples(path: &Path, metric: Metric) -> Result<(Samples, RanOn), CompareError> {
    let bytes = usage_protocol::bounded_file::read(
        path,
        MAX_REPORT_BYTES,
        usage_protocol::bounded_file::Links::Follow,
    )
    .map_err(|cause| CompareError::Read {
        path: path.to_path_buf(),
        cause,
    })?;
    let report: Report =
        serde_json::from_slice(&bytes).map_err(|cause| CompareError::NotAReport {
            path: path.to_path_buf(),
            cause,
        })?;
    let mut out = Samples::new();
    let mut seen_scenarios = std::collections::BTreeSet::new();
    let mut ran_on = RanOn::new();
    for scenario in report.scenarios {
        ran_on.insert(
            scenario.name.clone(),
            (scenario.engine.clone(), scenario.seed),
        );
        let inconsistent = |key: String, problem: String| CompareError::Inconsistent {
            path: path.to_path_buf(),
            key,
            problem,
        };
        if !seen_scenarios.insert(scenario.name.clone()) {
            return Err(inconsistent(
                scenario.name,
                "the scenario is in the report twice".into(),
            ));
        }
        for p in scenario.timings.map(|t| t.probes).unwrap_or_default() {
            let key = Key {
                scenario: scenario.name.clone(),
                site: p.site.clone(),
                week: p.week,
                probe: p.probe.clone(),
            };
            // Every figure is checked, whichever the metric: a report with an impossible value
            // is not one to trust for the others.
            let measured = [p.ms]
                .into_iter()
                .chain(p.samples_ms.iter().copied())
                .chain(p.cpu_ms)
                .chain(p.cpu_samples_ms.iter().copied())
                .chain(p.vm_steps.map(|s| s as f64));
            if let Some(bad) = measured
                .into_iter()
                .find(|v| !(v.is_finite() && (0.0..=MAX_SAMPLE).contains(v)))
            {
                return Err(CompareError::Impossible {
                    path: path.to_path_buf(),
                    key: key.to_string(),
                    value: bad,
                });
            }
            // The median is what the run reported; samples that say otherwise were edited.
            for (figure, samples, name) in [
                (Some(p.ms), &p.samples_ms, "ms"),
                (p.cpu_ms, &p.cpu_samples_ms, "cpu_ms"),
            ] {
                if let Some(figure) = figure
                    && !samples.is_empty()
                {
                    let median = crate::report::median(&mut samples.clone());
                    if (median - figure).abs() > 1e-6 * median.abs().max(1.0) {
                        return Err(inconsistent(
                            key.to_string(),
                            format!(
                                "{name} is {figure}, but the median of its samples is {median}"
                            ),
                        ));
                    }
                }
            }
            let values: Vec<f64> = match metric {
                Metric::Time if !p.samples_ms.is_empty() => p.samples_ms,
                Metric::Time => vec![p.ms],
                Metric::Cpu if !p.cpu_samples_ms.is_empty() => p.cpu_samples_ms,
                Metric::Cpu => p.cpu_ms.into_iter().collect(),
                Metric::Steps => p.vm_steps.map(|s| s as f64).into_iter().collect(),
            };
            if out.contains_key(&key) {
                return Err(inconsistent(
                    key.to_string(),
                    "this probe run is in the report twice".into(),
                ));
            }
            out.insert(
                key,
                Sampled {
                    values,
                    failed: p.failed,
                },
            );
        }
    }
    out.retain(|_, v| !v.values.is_empty() || v.failed);
    Ok((out, ran_on))
}

/// A run's figure for one probe: its median and its noise — the median absolute deviation of
/// its samples, scaled to a standard deviation (1.4826 × MAD): one outlier does not widen it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Figure {
    pub median: f64,
    pub noise: f64,
    pub samples: usize,
}

impl Figure {
    fn of(values: &mut [f64]) -> Self {
        let median = crate::report::median(values);
        let mut deviations: Vec<f64> = values.iter().map(|v| (v - median).abs()).collect();
        Self {
            median,
            noise: 1.4826 * crate::report::median(&mut deviations),
            samples: values.len(),
        }
    }
}

/// How one probe changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Past the threshold and beyond the noise.
    Slower,
    /// Faster past the threshold and beyond the noise.
    Faster,
    /// Within the threshold or the noise.
    Same,
}

#[derive(Debug, Clone)]
pub struct Change {
    pub key: Key,
    pub base: Figure,
    pub new: Figure,
    /// `new / base − 1`, in percent.
    pub percent: f64,
    pub verdict: Verdict,
}

#[derive(Debug, Clone)]
pub struct Comparison {
    pub metric: Metric,
    pub threshold_percent: f64,
    pub changes: Vec<Change>,
    /// Probe runs the new report lacks (its scenario did not run, or the probe no longer
    /// does): a regression, since nothing says they are not slower.
    pub missing: Vec<Key>,
    /// Probe runs only the new report has: new, so not compared.
    pub added: Vec<Key>,
    /// Probe runs that failed in the new report but not in the base: a regression whatever
    /// their time.
    pub newly_failed: Vec<Key>,
    /// True when time was compared with single samples: the noise is then unknown.
    pub noise_unknown: bool,
    /// Scenarios that ran on another engine or seed in one report than in the other.
    pub unlike: Vec<String>,
}

impl Comparison {
    pub fn regressions(&self) -> usize {
        self.changes
            .iter()
            .filter(|c| c.verdict == Verdict::Slower)
            .count()
            + self.newly_failed.len()
            + self.missing.len()
    }
}

/// Below this a time or CPU time is not judged: a probe that takes under a millisecond in both
/// runs changes by the timer's and the scheduler's noise, not by its query.
pub const MIN_JUDGED_MS: f64 = 1.0;

/// Compares two reports.
pub fn compare(
    base: &Path,
    new: &Path,
    metric: Metric,
    threshold_percent: f64,
) -> Result<Comparison, CompareError> {
    let ((mut before, base_ran), (mut after, new_ran)) =
        (samples(base, metric)?, samples(new, metric)?);
    // Like is compared with like: a scenario run on another engine or seed is said.
    let unlike: Vec<String> = base_ran
        .iter()
        .filter_map(|(name, was)| {
            let now = new_ran.get(name)?;
            (was != now).then(|| {
                format!(
                    "{}: engine {} seed {} in the base, engine {} seed {} in the new run",
                    crate::scenario::printable(name),
                    crate::scenario::printable(&was.0),
                    was.1.map_or("?".into(), |s| s.to_string()),
                    crate::scenario::printable(&now.0),
                    now.1.map_or("?".into(), |s| s.to_string())
                )
            })
        })
        .collect();
    let mut changes = Vec::new();
    let mut missing = Vec::new();
    let mut newly_failed = Vec::new();
    let mut noise_unknown = false;
    for (key, old) in before.iter_mut() {
        let Some(now) = after.get_mut(key) else {
            missing.push(key.clone());
            continue;
        };
        if now.failed && !old.failed {
            newly_failed.push(key.clone());
            continue;
        }
        if old.failed || now.failed || old.values.is_empty() || now.values.is_empty() {
            continue;
        }
        let (b, n) = (Figure::of(&mut old.values), Figure::of(&mut now.values));
        if metric != Metric::Steps && (b.samples < 3 || n.samples < 3) {
            noise_unknown = true;
        }
        let percent = if b.median > 0.0 {
            (n.median / b.median - 1.0) * 100.0
        } else if n.median > 0.0 {
            f64::INFINITY
        } else {
            0.0
        };
        let noise = b.noise.max(n.noise);
        let beyond_noise = (n.median - b.median).abs() > 2.0 * noise;
        let judged = metric == Metric::Steps || b.median.max(n.median) >= MIN_JUDGED_MS;
        let verdict = if !judged {
            Verdict::Same
        } else if percent > threshold_percent && beyond_noise {
            Verdict::Slower
        } else if percent < -threshold_percent && beyond_noise {
            Verdict::Faster
        } else {
            Verdict::Same
        };
        changes.push(Change {
            key: key.clone(),
            base: b,
            new: n,
            percent,
            verdict,
        });
    }
    let added: Vec<Key> = after
        .keys()
        .filter(|k| !before.contains_key(*k))
        .cloned()
        .collect();
    if changes.is_empty() && newly_failed.is_empty() && missing.is_empty() {
        return Err(CompareError::NothingInCommon {
            base: base.to_path_buf(),
            new: new.to_path_buf(),
            hint: if metric == Metric::Steps {
                " (steps are measured on the embedded engine only)"
            } else {
                ""
            },
        });
    }
    changes.sort_by(|a, b| b.percent.total_cmp(&a.percent));
    Ok(Comparison {
        metric,
        threshold_percent,
        changes,
        missing,
        added,
        newly_failed,
        noise_unknown,
        unlike,
    })
}

impl Comparison {
    /// The table for people: every probe run that changed past the threshold, slowest first,
    /// those that newly failed, then the count of the rest.
    pub fn summary(&self) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let unit = self.metric.unit();
        let _ = writeln!(
            out,
            "compared {} probe timing(s) by {} (threshold {} %, beyond twice the noise)",
            self.changes.len(),
            self.metric.as_str(),
            self.threshold_percent
        );
        for c in &self.changes {
            let mark = match c.verdict {
                Verdict::Slower => "SLOWER",
                Verdict::Faster => "faster",
                Verdict::Same => continue,
            };
            let noise = if self.metric != Metric::Steps && c.base.samples.min(c.new.samples) < 3 {
                "noise unknown".to_string()
            } else {
                format!("noise ±{:.3} {unit}", c.base.noise.max(c.new.noise))
            };
            let _ = writeln!(
                out,
                "{mark:<7} {}: {:.3} → {:.3} {unit} ({:+.1} %; {noise}, {} and {} samples)",
                c.key, c.base.median, c.new.median, c.percent, c.base.samples, c.new.samples
            );
        }
        for key in &self.newly_failed {
            let _ = writeln!(out, "FAILED  {key}: the probe failed in the new run");
        }
        for key in &self.missing {
            let _ = writeln!(
                out,
                "MISSING {key}: measured in the base, not in the new run"
            );
        }
        let same = self
            .changes
            .iter()
            .filter(|c| c.verdict == Verdict::Same)
            .count();
        let _ = writeln!(
            out,
            "{} slower, {} newly failed, {} missing, {} faster, {same} within the threshold or the noise",
            self.regressions() - self.newly_failed.len() - self.missing.len(),
            self.newly_failed.len(),
            self.missing.len(),
            self.changes
                .iter()
                .filter(|c| c.verdict == Verdict::Faster)
                .count()
        );
        if !self.added.is_empty() {
            let _ = writeln!(
                out,
                "{} probe timing(s) are in the new report only (not compared)",
                self.added.len()
            );
        }
        for unlike in &self.unlike {
            let _ = writeln!(out, "note: not like with like: {unlike}");
        }
        if self.noise_unknown {
            let _ = writeln!(
                out,
                "note: some probes have fewer than 3 samples, so their noise is not known; run with --repeat 5, or compare --metric steps"
            );
        }
        out
    }
}

/// The most changes the comparison chart shows (the largest, either way).
const TOP_CHANGES: usize = 30;

impl Comparison {
    /// `harness compare --html`: the change per probe as a chart and a table.
    pub fn html(&self) -> String {
        use Verdict;
        let mut page = String::new();
        let _ = write!(
            page,
            "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <title>harness compare</title><style>{STYLE}</style></head><body>\n\
             <h1>harness compare</h1>\n<p>{} probe timing(s) compared by {}: <span class=\"{}\">{} \
             slower</span> past {} % and twice the noise.</p>\n",
            self.changes.len(),
            self.metric.as_str(),
            if self.regressions() > 0 { "fail" } else { "ok" },
            self.regressions(),
            self.threshold_percent,
        );
        chart(&mut page, "Change per probe", change_chart(self));
        page.push_str("<table><tr><th>scenario</th><th>site</th><th>probe</th><th>base</th><th>new</th><th>change</th><th>noise</th><th>verdict</th></tr>\n");
        for c in &self.changes {
            let verdict = match c.verdict {
                Verdict::Slower => "<span class=\"fail\">slower</span>",
                Verdict::Faster => "<span class=\"ok\">faster</span>",
                Verdict::Same => "same",
            };
            let _ = writeln!(
                page,
                "<tr><td>{}</td><td>{}</td><td>{} (week {})</td><td>{:.3}</td><td>{:.3}</td><td>{:+.1} %</td><td>±{:.3}</td><td>{verdict}</td></tr>",
                escape(&c.key.scenario),
                escape(&c.key.site),
                escape(&c.key.probe),
                c.key.week,
                c.base.median,
                c.new.median,
                c.percent,
                c.base.noise.max(c.new.noise),
            );
        }
        page.push_str("</table></body></html>\n");
        page
    }
}

/// Horizontal bars: each probe's change in percent, red when slower beyond the noise, green
/// when faster, grey within it.
fn change_chart(comparison: &Comparison) -> Drawn {
    use Verdict;
    let mut changes: Vec<&Change> = comparison
        .changes
        .iter()
        .filter(|c| c.percent.is_finite())
        .collect();
    changes.sort_by(|a, b| b.percent.abs().total_cmp(&a.percent.abs()));
    changes.truncate(TOP_CHANGES);
    if changes.is_empty() {
        return Ok(None);
    }
    let names: Vec<String> = changes.iter().map(|c| c.key.to_string()).collect();
    let reach = changes
        .iter()
        .map(|c| c.percent.abs())
        .fold(comparison.threshold_percent, f64::max)
        * 1.1;
    let height = 80 + 22 * names.len() as u32;
    rows_chart(
        &names,
        -reach..reach,
        "change (%)",
        RowsLayout {
            height,
            label_width: 260,
            grid_rows: false,
            legend: None,
        },
        |chart| {
            chart
                .draw_series(changes.iter().enumerate().map(|(i, c)| {
                    let y = row(i, names.len());
                    let colour = match c.verdict {
                        Verdict::Slower => RED,
                        Verdict::Faster => GREEN,
                        Verdict::Same => RGBColor(160, 160, 160),
                    };
                    Rectangle::new([(0.0, y - 0.35), (c.percent, y + 0.35)], colour.filled())
                }))
                .map_err(err)?;
            Ok(())
        },
    )
}
