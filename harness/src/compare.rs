//! `harness compare BASE.json NEW.json`: criterion's baseline idea for TEL queries. Per scenario,
//! site and probe, the change from one run's report to another's, told apart from the noise: a
//! probe got slower only when its new median is past the threshold *and* the difference is larger
//! than the spread the two runs showed. Time samples are the `--repeat` runs of a week (or, without
//! them, the probe's weeks); SQLite's virtual-machine steps have no noise, so a gate on them does
//! not flake on a shared machine.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use std::fmt::Write as _;

use plotters::prelude::*;
use serde::Deserialize;

use crate::report::html::{Drawn, STYLE, WIDTH, category_label, chart, err, escape, row};

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
        cause: std::io::Error,
    },
    #[error("{} is not a harness report.json: {cause}", path.display())]
    NotAReport {
        path: PathBuf,
        cause: serde_json::Error,
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
    timings: Option<Timings>,
}

#[derive(Debug, Deserialize)]
struct Timings {
    #[serde(default)]
    probes: Vec<ProbeSample>,
}

#[derive(Debug, Deserialize)]
struct ProbeSample {
    site: String,
    probe: String,
    ms: f64,
    #[serde(default)]
    samples_ms: Vec<f64>,
    #[serde(default)]
    cpu_ms: Option<f64>,
    #[serde(default)]
    vm_steps: Option<u64>,
}

/// (scenario, site, probe) → the samples of one run.
type Samples = BTreeMap<(String, String, String), Vec<f64>>;

fn samples(path: &Path, metric: Metric) -> Result<Samples, CompareError> {
    let bytes = fs_err::read(path).map_err(|cause| CompareError::Read {
        path: path.to_path_buf(),
        cause,
    })?;
    let report: Report =
        serde_json::from_slice(&bytes).map_err(|cause| CompareError::NotAReport {
            path: path.to_path_buf(),
            cause,
        })?;
    let mut out = Samples::new();
    for scenario in report.scenarios {
        for p in scenario.timings.map(|t| t.probes).unwrap_or_default() {
            let values: Vec<f64> = match metric {
                Metric::Time if !p.samples_ms.is_empty() => p.samples_ms,
                Metric::Time => vec![p.ms],
                Metric::Cpu => p.cpu_ms.into_iter().collect(),
                Metric::Steps => p.vm_steps.map(|s| s as f64).into_iter().collect(),
            };
            out.entry((scenario.name.clone(), p.site, p.probe))
                .or_default()
                .extend(values.into_iter().filter(|v| v.is_finite()));
        }
    }
    out.retain(|_, v| !v.is_empty());
    Ok(out)
}

/// A run's figure for one probe: its median and its noise (half the range of its samples).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Figure {
    pub median: f64,
    pub noise: f64,
    pub samples: usize,
}

impl Figure {
    fn of(values: &mut [f64]) -> Self {
        let median = crate::report::median(values);
        Self {
            median,
            noise: (values[values.len() - 1] - values[0]) / 2.0,
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
    pub scenario: String,
    pub site: String,
    pub probe: String,
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
    /// Probe timings only one of the two reports has: (scenario, site, probe, in base?).
    pub unmatched: Vec<(String, String, String, bool)>,
    /// True when time was compared with single samples: the noise is then unknown.
    pub noise_unknown: bool,
}

impl Comparison {
    pub fn regressions(&self) -> usize {
        self.changes
            .iter()
            .filter(|c| c.verdict == Verdict::Slower)
            .count()
    }
}

/// Compares two reports.
pub fn compare(
    base: &Path,
    new: &Path,
    metric: Metric,
    threshold_percent: f64,
) -> Result<Comparison, CompareError> {
    let (mut before, mut after) = (samples(base, metric)?, samples(new, metric)?);
    let mut changes = Vec::new();
    let mut unmatched = Vec::new();
    let mut noise_unknown = false;
    for (key, values) in before.iter_mut() {
        let Some(new_values) = after.get_mut(key) else {
            unmatched.push((key.0.clone(), key.1.clone(), key.2.clone(), true));
            continue;
        };
        let (b, n) = (Figure::of(values), Figure::of(new_values));
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
        let verdict = if percent > threshold_percent && beyond_noise {
            Verdict::Slower
        } else if percent < -threshold_percent && beyond_noise {
            Verdict::Faster
        } else {
            Verdict::Same
        };
        changes.push(Change {
            scenario: key.0.clone(),
            site: key.1.clone(),
            probe: key.2.clone(),
            base: b,
            new: n,
            percent,
            verdict,
        });
    }
    for key in after.keys().filter(|k| !before.contains_key(*k)) {
        unmatched.push((key.0.clone(), key.1.clone(), key.2.clone(), false));
    }
    if changes.is_empty() {
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
        unmatched,
        noise_unknown,
    })
}

impl Comparison {
    /// The table for people: every probe that changed past the threshold, slowest first, then
    /// the count of the rest.
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
            let _ = writeln!(
                out,
                "{mark:<7} {}/{}/{}: {:.3} → {:.3} {unit} ({:+.1} %; noise ±{:.3} {unit}, {} and {} samples)",
                c.scenario,
                c.site,
                c.probe,
                c.base.median,
                c.new.median,
                c.percent,
                c.base.noise.max(c.new.noise),
                c.base.samples,
                c.new.samples
            );
        }
        let same = self
            .changes
            .iter()
            .filter(|c| c.verdict == Verdict::Same)
            .count();
        let _ = writeln!(
            out,
            "{} slower, {} faster, {same} within the threshold or the noise",
            self.regressions(),
            self.changes.len() - self.regressions() - same
        );
        if !self.unmatched.is_empty() {
            let _ = writeln!(
                out,
                "{} probe timing(s) are in one report only (not compared)",
                self.unmatched.len()
            );
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
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{:.3}</td><td>{:.3}</td><td>{:+.1} %</td><td>±{:.3}</td><td>{verdict}</td></tr>",
                escape(&c.scenario),
                escape(&c.site),
                escape(&c.probe),
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
    let names: Vec<String> = changes
        .iter()
        .map(|c| format!("{} {}", c.site, c.probe))
        .collect();
    let reach = changes
        .iter()
        .map(|c| c.percent.abs())
        .fold(comparison.threshold_percent, f64::max)
        * 1.1;
    let height = 80 + 22 * names.len() as u32;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(260)
            .build_cartesian_2d(-reach..reach, -0.5..(names.len() as f64 - 0.5))
            .map_err(err)?;
        chart
            .configure_mesh()
            .label_style(("sans-serif", 13))
            .axis_desc_style(("sans-serif", 13))
            .y_labels(names.len())
            .y_label_formatter(&category_label(&names))
            .x_desc("change (%)")
            .disable_y_mesh()
            .draw()
            .map_err(err)?;
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
        root.present().map_err(err)?;
    }
    Ok(Some(svg))
}
