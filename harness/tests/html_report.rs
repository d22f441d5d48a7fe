//! `report.html`: one self-contained page with the charts as inline SVG — and, rendered in a
//! real browser (headless Chromium, which `.ci/run` installs and requires through
//! HARNESS_REQUIRE_CHROMIUM=1), charts that are really drawn, not blank.

mod common;

use std::path::Path;
use std::process::Command;

use harness::finding::{Finding, FindingCode};
use harness::pipeline::run_scenario;
use harness::report::{RunReport, ScenarioReport};

/// A run with several weeks, a late primary and a throttled service: every chart has data.
async fn a_run(out: &Path) -> RunReport {
    let scenario = common::shipped("field/replication-outage-then-throttling.toml");
    let report = run_scenario(&scenario, &common::options(out))
        .await
        .unwrap();
    assert!(report.met_expectations, "{:?}", report.expectation_failures);
    RunReport::new(vec![report])
}

#[tokio::test]
async fn the_page_holds_every_chart_and_needs_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let html = a_run(dir.path()).await.html();
    assert!(html.starts_with("<!doctype html>"));
    assert_eq!(html.matches("<svg").count(), 4, "four charts");
    for title in [
        "Stage timings",
        "Probe time per site",
        "Probe time week over week",
        "Upload attempts",
        "Findings",
    ] {
        assert!(html.contains(&format!("<h3>{title}</h3>")), "{title}");
    }
    assert!(html.contains("<td>late_delivery</td>"));
    assert!(
        html.contains("green</span> accepted"),
        "the upload chart has its key"
    );
    // Self-contained: nothing to fetch, nothing to run.
    for outside in ["<script", "<link", "src=", "href=", "@import", "url("] {
        assert!(!html.contains(outside), "{outside}");
    }
}

#[test]
fn what_a_scenario_says_is_text_never_markup() {
    let mut report = ScenarioReport::errored(
        "<script>alert(1)</script>\" onfocus=\"alert(2)",
        "x.toml",
        "boom".into(),
    );
    report.error = None;
    report.findings.push(Finding::new(
        FindingCode::MissingUpload,
        "<img src=x onerror=alert(1)>",
    ));
    let html = RunReport::new(vec![report]).html();
    assert!(!html.contains("<script>alert"));
    assert!(!html.contains("<img"));
    assert!(html.contains("&lt;script&gt;alert(1)"));
    assert!(!html.contains("\" onfocus=\""), "an attribute was injected");
}

/// Pixels of `png` that `pick` accepts.
fn count_pixels(png: &Path, pick: impl Fn(u8, u8, u8) -> bool) -> usize {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(png).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    buf[..info.buffer_size()]
        .chunks(channels)
        .filter(|p| pick(p[0], p[1], p[2]))
        .count()
}

#[tokio::test]
async fn in_a_browser_the_charts_are_drawn() {
    if Command::new("chromium").arg("--version").output().is_err() {
        assert!(
            std::env::var_os("HARNESS_REQUIRE_CHROMIUM").is_none(),
            "chromium is required (HARNESS_REQUIRE_CHROMIUM is set) but not installed"
        );
        eprintln!(
            "SKIPPED: chromium is not installed (apt-get install chromium); the report was not rendered"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let report = a_run(dir.path()).await;
    let html = dir.path().join("report.html");
    report.write_html(&html).unwrap();
    let png = dir.path().join("report.png");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ci/render-report.sh");
    let status = Command::new(script)
        .arg(&html)
        .arg(&png)
        .args(["1000", "2600"])
        .status()
        .unwrap();
    assert!(status.success());
    // The stage bars (blue at 70 %), the probe points and lines (the palette), the accepted
    // and refused attempts (green, red): each must be on the page in some quantity.
    let blue = count_pixels(&png, |r, g, b| r < 120 && g < 120 && b > 230);
    let green = count_pixels(&png, |r, g, b| r < 80 && g > 200 && b < 80);
    let red = count_pixels(&png, |r, g, b| r > 200 && g < 60 && b < 60);
    let white = count_pixels(&png, |r, g, b| r > 250 && g > 250 && b > 250);
    assert!(blue > 5_000, "stage bars: {blue} pixels");
    assert!(green > 200, "accepted attempts: {green} pixels");
    assert!(red > 200, "refused attempts and probe points: {red} pixels");
    assert!(white < 1000 * 2600, "the page is not blank");
}
