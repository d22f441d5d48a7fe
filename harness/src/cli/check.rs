//! `harness check`: verifies a kept run again without running it.

use std::path::PathBuf;

use harness::check;
use harness::layout::RunLayout;
use harness::report::{RunReport, ScenarioReport};

use super::exit::{Exit, Outcome, runtime};
use super::run::write_outputs;

/// `harness check --help`: what it reads, where it writes, how it exits.
pub const LONG_ABOUT: &str = "Verify a kept run again without running it: for each scenario \
    folder under DIR that has a manifest.json (or DIR itself, when it is one scenario's folder), \
    regenerate the oracles' facts from the recorded scenario and seed, read what the mock \
    upstream stored (read-only: the server is never started on it), the stages' findings and the \
    upload attempts the run recorded, and run the same checks as `harness run`.\n\n\
    Prints the same summary as `harness run` and writes its report to DIR/check-report.json (the \
    run's own DIR/report.json is left as it is).\n\n\
    Exit codes: 0 every scenario met its expectations; 1 a check failed; 2 DIR is not a kept run, \
    a manifest is unreadable or of another format version, or something the check needs (an \
    offline run's kept site database) is gone.";

#[derive(clap::Args)]
pub struct CheckArgs {
    /// A kept run: the folder `harness run --out DIR` wrote, or one scenario's folder in it.
    dir: PathBuf,
    /// Also write JUnit XML here.
    #[arg(long)]
    junit: Option<PathBuf>,
}

pub fn check(args: CheckArgs) -> Outcome {
    if let Some(junit) = &args.junit {
        harness::report::check_junit_target(junit, &args.dir, &[])?;
    }
    let kept = check::kept_scenarios(&args.dir)?;
    let runtime = runtime()?;
    let mut reports = Vec::new();
    let mut unreadable = false;
    for layout in &kept {
        match runtime.block_on(check::check_scenario(layout)) {
            Ok(report) => reports.push(report),
            Err(e) => {
                let name = layout
                    .dir()
                    .file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned();
                eprintln!("error: scenario {name}: {e}");
                unreadable = true;
                let file = layout.manifest().display().to_string();
                reports.push(ScenarioReport::errored(&name, &file, e.to_string()));
            }
        }
    }
    // A scenario the run reported but left no record of (it could not run, or its record was
    // removed) cannot be verified: it is said, not silently left out.
    for name in not_kept(&args.dir, &reports) {
        eprintln!(
            "error: scenario {name}: the run's report.json lists it, but it has no kept record (manifest.json) to verify"
        );
        unreadable = true;
        reports.push(ScenarioReport::errored(
            &name,
            &RunLayout::new(&args.dir).report_json().display().to_string(),
            "no kept record (manifest.json) of this scenario: it did not run, or its record was removed".into(),
        ));
    }
    let report = RunReport::new(reports);
    out!("{}", report.summary());
    let layout = RunLayout::new(&args.dir);
    write_outputs(&report, &layout.check_report_json(), args.junit.as_deref())?;
    Ok(if unreadable {
        Exit::Invalid
    } else if report.not_met > 0 {
        Exit::ChecksFailed
    } else {
        Exit::Success
    })
}

/// The scenarios DIR's `report.json` lists (when it has one) that no checked report is of.
fn not_kept(dir: &std::path::Path, checked: &[ScenarioReport]) -> Vec<String> {
    let Ok(text) = fs_err::read(RunLayout::new(dir).report_json()) else {
        return Vec::new();
    };
    let Ok(listed) = serde_json::from_slice::<serde_json::Value>(&text) else {
        return Vec::new();
    };
    listed["scenarios"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["name"].as_str())
        .filter(|name| !checked.iter().any(|r| r.name == *name))
        .map(String::from)
        .collect()
}
