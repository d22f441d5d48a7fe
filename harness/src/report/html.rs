//! `report.html`: the run for people to look at — one self-contained file (no script, no link
//! out), charts drawn as inline SVG with `plotters`. Per scenario: the verdict, stage timings,
//! each probe's time at each site, probe time week over week, the upload attempts on the
//! (simulated) clock, and the findings as a table.
//!
//! A chart that cannot be drawn is replaced by a line saying why: the report never fails a run.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use super::{RunReport, ScenarioReport};
use crate::finding::Severity;

/// Chart size in CSS pixels: the report is read on a laptop screen.
pub(crate) const WIDTH: u32 = 900;
/// The most probes the per-probe chart shows (the slowest).
const TOP_PROBES: usize = 15;
/// The most probes the week-over-week chart draws a line for.
const TOP_WEEKLY: usize = 5;

pub(crate) const STYLE: &str = "body{font-family:sans-serif;margin:2em;color:#222;max-width:960px}\
h1{font-size:1.5em}h2{font-size:1.2em;border-top:1px solid #ccc;padding-top:1em}\
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.2em .5em;\
text-align:left;font-size:.9em}.ok{color:#080}.fail{color:#b00}.chart{margin:.5em 0}\
.note{color:#666;font-size:.9em}";

pub(crate) fn escape(text: &str) -> String {
    html_escape::encode_safe(&crate::scenario::printable(text)).into_owned()
}

impl RunReport {
    /// The report as one HTML page.
    pub fn html(&self) -> String {
        let mut page = String::new();
        let _ = write!(
            page,
            "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <title>harness report</title><style>{STYLE}</style></head><body>\n\
             <h1>harness report</h1>\n<p>{} scenario(s): <span class=\"ok\">{} met \
             expectations</span>, <span class=\"{}\">{} did not</span>. harness {}</p>\n",
            self.scenarios.len(),
            self.met,
            if self.not_met > 0 { "fail" } else { "ok" },
            self.not_met,
            self.harness_version,
        );
        for (i, s) in self.scenarios.iter().enumerate() {
            scenario(&mut page, i, s);
        }
        page.push_str("</body></html>\n");
        page
    }
}

fn scenario(page: &mut String, index: usize, s: &ScenarioReport) {
    let (class, verdict) = if s.met_expectations {
        ("ok", "met expectations")
    } else {
        ("fail", "did not meet expectations")
    };
    let _ = write!(
        page,
        "<section><h2 id=\"scenario-{index}\">{0} <span class=\"{class}\">{verdict}</span></h2>\n\
         <table><tr><th>outcome</th><td>{1}</td><th>expected</th><td>{2}</td></tr>\
         <tr><th>uploads accepted</th><td>{3}</td><th>probes checked</th><td>{4}</td></tr>\
         <tr><th>engine</th><td>{5}</td><th>seed</th><td>{6}</td></tr>\
         <tr><th>total</th><td>{7:.1} s</td><th>transport wait</th><td>{8:.1} s (simulated)</td></tr></table>\n",
        escape(&s.name),
        s.outcome.as_str(),
        s.expected_outcome.as_str(),
        s.uploads_accepted,
        s.probes_checked,
        escape(&s.engine),
        s.seed,
        s.timings.stages.total_ms / 1e3,
        s.timings.transport_wait_s,
    );
    if let Some(error) = &s.error {
        let _ = writeln!(page, "<p class=\"fail\">did not run: {}</p>", escape(error));
    }
    for failure in &s.expectation_failures {
        let _ = writeln!(page, "<p class=\"fail\">not met: {}</p>", escape(failure));
    }
    if s.error.is_none() {
        chart(page, "Stage timings", stage_chart(s));
        chart(page, "Probe time per site", probe_chart(s));
        chart(page, "Probe time week over week", weekly_chart(s));
        chart(page, "Upload attempts", upload_chart(s));
        if s.timings.uploads.iter().any(|u| !u.attempt_log.is_empty()) {
            page.push_str(UPLOAD_KEY);
        }
    }
    findings(page, s);
    page.push_str("</section>\n");
}

/// A chart in its place, or a note of why there is none.
pub(crate) fn chart(page: &mut String, title: &str, drawn: Result<Option<String>, String>) {
    let _ = writeln!(page, "<h3>{}</h3>", escape(title));
    match drawn {
        Ok(Some(svg)) => {
            let _ = writeln!(page, "<div class=\"chart\">{svg}</div>");
        }
        Ok(None) => page.push_str("<p class=\"note\">nothing to draw</p>\n"),
        Err(e) => {
            let _ = writeln!(
                page,
                "<p class=\"note\">chart not drawn: {}</p>",
                escape(&e)
            );
        }
    }
}

fn findings(page: &mut String, s: &ScenarioReport) {
    page.push_str("<h3>Findings</h3>\n");
    if s.findings.is_empty() {
        page.push_str("<p class=\"note\">none</p>\n");
        return;
    }
    page.push_str("<table><tr><th>code</th><th>severity</th><th>week</th><th>site</th><th>probe</th><th>message</th></tr>\n");
    for f in &s.findings {
        let severity = match f.severity {
            Severity::Error => "<span class=\"fail\">error</span>",
            Severity::Info => "info",
        };
        let _ = writeln!(
            page,
            "<tr><td>{}</td><td>{severity}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            f.code,
            f.week.map_or_else(String::new, |w| w.to_string()),
            escape(f.site.as_deref().unwrap_or("")),
            escape(f.probe.as_deref().unwrap_or("")),
            escape(&f.message),
        );
    }
    page.push_str("</table>\n");
}

pub(crate) type Drawn = Result<Option<String>, String>;

pub(crate) fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// Labels for a category axis drawn on `-0.5..n-0.5`, the first name on top (at `n-1`).
pub(crate) fn category_label(names: &[String]) -> impl Fn(&f64) -> String + '_ {
    move |v| {
        let i = v.round();
        if (v - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < names.len() {
            names[names.len() - 1 - i as usize].clone()
        } else {
            String::new()
        }
    }
}

/// Where category `index` of `n` is drawn: the first on top.
pub(crate) fn row(index: usize, n: usize) -> f64 {
    (n - 1 - index) as f64
}

/// The chart of [`rows_chart`]: `x` across, a row per name.
pub(crate) type RowsChart<'a, 'b> =
    ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// How a [`rows_chart`] is laid out.
pub(crate) struct RowsLayout {
    pub height: u32,
    /// Room for the row names, in pixels.
    pub label_width: u32,
    /// A grid line per row.
    pub grid_rows: bool,
    /// Where the legend of the labelled series goes, if it has one.
    pub legend: Option<SeriesLabelPosition>,
}

/// A chart with one row per name (the first on top, see [`row`]) and `x` across, as SVG: the
/// frame, the axes and their labels, and the legend; `draw` puts the data on it.
pub(crate) fn rows_chart(
    names: &[String],
    x: std::ops::Range<f64>,
    x_desc: &str,
    layout: RowsLayout,
    draw: impl FnOnce(&mut RowsChart<'_, '_>) -> Result<(), String>,
) -> Drawn {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, layout.height)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(layout.label_width)
            .build_cartesian_2d(x, -0.5..(names.len() as f64 - 0.5))
            .map_err(err)?;
        let label = category_label(names);
        let mut mesh = chart.configure_mesh();
        mesh.label_style(("sans-serif", 13))
            .axis_desc_style(("sans-serif", 13))
            .y_labels(names.len())
            .y_label_formatter(&label)
            .x_desc(x_desc);
        if !layout.grid_rows {
            mesh.disable_y_mesh();
        }
        mesh.draw().map_err(err)?;
        draw(&mut chart)?;
        if let Some(position) = layout.legend {
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK)
                .position(position)
                .draw()
                .map_err(err)?;
        }
        root.present().map_err(err)?;
    }
    Ok(Some(svg))
}

/// Horizontal bars: each stage's wall time.
fn stage_chart(s: &ScenarioReport) -> Drawn {
    let st = &s.timings.stages;
    let stages = [
        ("seed", st.seed_ms),
        ("collect", st.collect_ms),
        ("replicate", st.replicate_ms),
        ("submit", st.submit_ms),
        ("check", st.check_ms),
    ];
    let max = stages.iter().map(|(_, ms)| *ms).fold(0.0, f64::max);
    if max <= 0.0 {
        return Ok(None);
    }
    let names: Vec<String> = stages.iter().map(|(n, _)| n.to_string()).collect();
    rows_chart(
        &names,
        0.0..max * 1.1,
        "ms",
        RowsLayout {
            height: 220,
            label_width: 90,
            grid_rows: false,
            legend: None,
        },
        |chart| {
            chart
                .draw_series(stages.iter().enumerate().map(|(i, (_, ms))| {
                    let y = row(i, stages.len());
                    Rectangle::new([(0.0, y - 0.35), (*ms, y + 0.35)], BLUE.mix(0.7).filled())
                }))
                .map_err(err)?;
            Ok(())
        },
    )
}

/// One point per probe run (site and week), on a row per probe, the slowest probes first,
/// coloured by site.
fn probe_chart(s: &ScenarioReport) -> Drawn {
    let runs = &s.timings.probes;
    if runs.is_empty() {
        return Ok(None);
    }
    let mut total: BTreeMap<&str, f64> = BTreeMap::new();
    for r in runs {
        *total.entry(&r.probe).or_default() += r.ms;
    }
    let mut probes: Vec<(&str, f64)> = total.into_iter().collect();
    probes.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(b.0)));
    probes.truncate(TOP_PROBES);
    let names: Vec<String> = probes.iter().map(|(p, _)| p.to_string()).collect();
    let sites: Vec<&str> = {
        let mut sites: Vec<&str> = runs.iter().map(|r| r.site.as_str()).collect();
        sites.sort_unstable();
        sites.dedup();
        sites
    };
    let max = runs
        .iter()
        .filter(|r| names.contains(&r.probe))
        .map(|r| r.ms)
        .fold(0.0, f64::max)
        .max(0.001);
    let height = 80 + 24 * names.len() as u32;
    rows_chart(
        &names,
        0.0..max * 1.1,
        "ms per run",
        RowsLayout {
            height,
            label_width: 230,
            grid_rows: true,
            legend: Some(SeriesLabelPosition::LowerRight),
        },
        |chart| {
            for (k, site) in sites.iter().enumerate() {
                let colour = Palette99::pick(k).to_rgba();
                let points: Vec<(f64, f64)> = runs
                    .iter()
                    .filter(|r| r.site == *site)
                    .filter_map(|r| {
                        let at = names.iter().position(|n| *n == r.probe)?;
                        Some((r.ms, row(at, names.len())))
                    })
                    .collect();
                chart
                    .draw_series(
                        points
                            .into_iter()
                            .map(|p| Circle::new(p, 4, colour.filled())),
                    )
                    .map_err(err)?
                    .label(site.to_string())
                    .legend(move |(x, y)| Circle::new((x, y), 4, colour.filled()));
            }
            Ok(())
        },
    )
}

/// Each week's time of the slowest probes, summed over sites, and of all probes together.
fn weekly_chart(s: &ScenarioReport) -> Drawn {
    let runs = &s.timings.probes;
    if runs.is_empty() {
        return Ok(None);
    }
    let mut by_probe: BTreeMap<&str, BTreeMap<u32, f64>> = BTreeMap::new();
    let mut all: BTreeMap<u32, f64> = BTreeMap::new();
    for r in runs {
        *by_probe
            .entry(&r.probe)
            .or_default()
            .entry(r.week)
            .or_default() += r.ms;
        *all.entry(r.week).or_default() += r.ms;
    }
    let mut probes: Vec<(&str, f64)> = by_probe
        .iter()
        .map(|(p, weeks)| (*p, weeks.values().sum()))
        .collect();
    probes.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(b.0)));
    probes.truncate(TOP_WEEKLY);
    let first = *all.keys().next().expect("not empty") as f64;
    let last = *all.keys().next_back().expect("not empty") as f64;
    let max = all.values().copied().fold(0.0, f64::max).max(0.001);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, 300)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(60)
            .build_cartesian_2d((first - 0.5)..(last + 0.5), 0.0..max * 1.1)
            .map_err(err)?;
        chart
            .configure_mesh()
            .label_style(("sans-serif", 13))
            .axis_desc_style(("sans-serif", 13))
            .x_labels(((last - first) as usize + 1).min(12))
            .x_label_formatter(&|v| {
                if (v - v.round()).abs() < 1e-6 {
                    format!("{}", v.round())
                } else {
                    String::new()
                }
            })
            .x_desc("week")
            .y_desc("ms (all sites)")
            .draw()
            .map_err(err)?;
        let series: Vec<(String, Vec<(f64, f64)>)> = std::iter::once((
            "all probes".to_string(),
            all.iter().map(|(w, ms)| (f64::from(*w), *ms)).collect(),
        ))
        .chain(probes.iter().map(|(p, _)| {
            (
                p.to_string(),
                by_probe[p]
                    .iter()
                    .map(|(w, ms)| (f64::from(*w), *ms))
                    .collect(),
            )
        }))
        .collect();
        for (k, (name, points)) in series.into_iter().enumerate() {
            let colour = Palette99::pick(k).to_rgba();
            chart
                .draw_series(LineSeries::new(points.clone(), colour.stroke_width(2)))
                .map_err(err)?
                .label(name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], colour));
            chart
                .draw_series(
                    points
                        .into_iter()
                        .map(|p| Circle::new(p, 3, colour.filled())),
                )
                .map_err(err)?;
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperRight)
            .draw()
            .map_err(err)?;
        root.present().map_err(err)?;
    }
    Ok(Some(svg))
}

/// What the upload chart's colours mean, under it.
const UPLOAD_KEY: &str = "<p class=\"note\">Each bar is one attempt, from its start to its answer: \
<span style=\"color:#0a0\">green</span> accepted, <span style=\"color:#d00\">red</span> refused \
(a 4xx or 5xx), <span style=\"color:#f80\">orange</span> no answer seen (a transport error or a \
timeout); a grey line is the wait before the next attempt (backoff or <code>Retry-After</code>). \
Offline, an attempt is one service connection tool <code>-connect</code>.</p>\n";

/// Each upload on a row (by week), its attempts as bars from start to answer on the upload's
/// clock — green accepted, red refused, orange without an answer — and the waits between them
/// as thin lines.
fn upload_chart(s: &ScenarioReport) -> Drawn {
    let uploads = &s.timings.uploads;
    let attempts: usize = uploads.iter().map(|u| u.attempt_log.len()).sum();
    if attempts == 0 {
        return Ok(None);
    }
    let seconds = |ms: f64| ms / 1e3;
    let end = uploads
        .iter()
        .flat_map(|u| &u.attempt_log)
        .map(|a| seconds(a.started_ms + a.latency_ms + a.wait_after_ms))
        .fold(0.0, f64::max)
        .max(0.001);
    let names: Vec<String> = uploads
        .iter()
        .map(|u| format!("week {}{}", u.week, if u.resent { " (resent)" } else { "" }))
        .collect();
    let height = 110 + 30 * uploads.len() as u32;
    let x_desc = "seconds since the upload began (simulated clock)";
    rows_chart(
        &names,
        0.0..end * 1.05,
        x_desc,
        RowsLayout {
            height,
            label_width: 110,
            grid_rows: false,
            legend: None,
        },
        |chart| {
            let min_width = end / 120.0;
            for (i, upload) in uploads.iter().enumerate() {
                let y = row(i, uploads.len());
                for a in &upload.attempt_log {
                    let start = seconds(a.started_ms);
                    let answered = start + seconds(a.latency_ms).max(min_width);
                    // Refused (an error status) red; accepted and seen green; no answer seen —
                    // a transport error, or an answer that came after the timeout — orange.
                    let colour = match (a.status, &a.error) {
                        (Some(400..), _) => RED,
                        (Some(_), None) => GREEN,
                        _ => RGBColor(255, 140, 0),
                    };
                    chart
                        .draw_series(std::iter::once(Rectangle::new(
                            [(start, y - 0.3), (answered, y + 0.3)],
                            colour.filled(),
                        )))
                        .map_err(err)?;
                    if a.wait_after_ms > 0.0 {
                        chart
                            .draw_series(std::iter::once(PathElement::new(
                                vec![(answered, y), (answered + seconds(a.wait_after_ms), y)],
                                BLACK.mix(0.5),
                            )))
                            .map_err(err)?;
                    }
                }
            }
            Ok(())
        },
    )
}
