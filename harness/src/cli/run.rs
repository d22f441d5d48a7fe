//! `harness run`: the main job.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use harness::layout::RunLayout;
use harness::pipeline::{self, RunOptions};
use harness::report::{RunReport, ScenarioReport};
use harness::scenario::{EngineKind, Scenario};
use usage_protocol::client::{RetryPolicy, Wait};

use super::exit::{Exit, Outcome, runtime};

#[derive(clap::Args)]
pub struct RunArgs {
    /// Scenario files (TOML).
    #[arg(required = true)]
    scenarios: Vec<PathBuf>,
    /// Engine for the site databases; overrides the scenario's `run.engine`.
    #[arg(long, value_enum)]
    engine: Option<EngineKind>,
    /// Output folder: report.json, and per scenario its site databases, payloads and the
    /// upstream's data.
    #[arg(long, default_value = "harness-out")]
    out: PathBuf,
    /// Seed for every scenario, overriding theirs.
    #[arg(long)]
    seed: Option<u64>,
    /// Also write JUnit XML here.
    #[arg(long)]
    junit: Option<PathBuf>,
    /// Per-attempt timeout of a usage upload, in milliseconds.
    #[arg(long, default_value_t = 5000, value_parser = clap::value_parser!(u64).range(1..))]
    upload_timeout_ms: u64,
    /// No progress bars even on a terminal.
    #[arg(long)]
    no_progress: bool,
    /// A directory of your own probes (NAME.toml, NAME.sqlite.sql, NAME.mssql.sql, optional
    /// NAME.expected.json), run with the catalog in every scenario; overrides `[run]
    /// probes_dir`. Checked before any scenario runs.
    #[arg(long, value_name = "DIR")]
    probes: Option<PathBuf>,
    /// Also print each scenario's day-by-day story: the install, and per weekly cycle its
    /// faults, the probes each site ran, replication, and every upload attempt.
    #[arg(long)]
    timeline: bool,
    /// Make each weekly collection N times and keep the median time per probe and site, with
    /// every run's time in report.json (`samples_ms`) for `harness compare`'s noise.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100))]
    repeat: u32,
    /// Run up to N scenarios at once (each prints as it finishes; report.json keeps the order
    /// given). Scenarios run together share the cores, so their timings and budgets are not
    /// those of a run alone; progress bars are off with more than one.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64))]
    jobs: u32,
}

pub fn run(args: RunArgs) -> Outcome {
    let options = RunOptions {
        out: args.out,
        engine: args.engine,
        seed: args.seed,
        retry: RetryPolicy {
            timeout: Duration::from_millis(args.upload_timeout_ms),
            wait: Wait::Simulate,
            ..RetryPolicy::default()
        },
        progress: !args.no_progress && args.jobs == 1 && std::io::stderr().is_terminal(),
        probes: args.probes.clone(),
        repeat: args.repeat,
    };
    // Every scenario is validated before any runs: a typo in the tenth must not cost the first
    // nine's run time.
    let scenarios = args
        .scenarios
        .iter()
        .map(|file| Scenario::load(file))
        .collect::<Result<Vec<_>, _>>()?;
    // The probes too, each scenario's own or `--probes`.
    for scenario in &scenarios {
        pipeline::checked_catalog(scenario, args.probes.as_deref())?;
    }
    // Each scenario keeps its run in a folder named after it: two of one name would overwrite.
    let layout = RunLayout::new(&options.out);
    for (i, a) in scenarios.iter().enumerate() {
        if let Some(b) = scenarios[..i]
            .iter()
            .find(|b| layout.scenario(&b.name).dir() == layout.scenario(&a.name).dir())
        {
            anyhow::bail!(
                "{} and {} are both named `{}`: their runs would share one output folder; \
                 give one another `name`",
                b.path.display(),
                a.path.display(),
                a.name
            );
        }
    }
    if let Some(junit) = &args.junit {
        let inputs: Vec<&Path> = args.scenarios.iter().map(PathBuf::as_path).collect();
        harness::report::check_junit_target(junit, layout.root(), &inputs)?;
    }
    // One run at a time in an output folder: two would overwrite each other's databases and
    // leave two bodies under one key in the upstream's store.
    let _lock = usage_protocol::dir_lock::DirLock::acquire(layout.root(), "harness run")?;
    let runtime = runtime()?;
    let mut unavailable = false;
    let mut finished: Vec<Option<ScenarioReport>> = vec![None; scenarios.len()];
    runtime.block_on(async {
        use futures_util::stream::{self, StreamExt};
        let mut running = stream::iter(scenarios.iter().enumerate())
            .map(|(i, scenario)| {
                let options = &options;
                async move { (i, pipeline::run_scenario(scenario, options).await) }
            })
            .buffer_unordered(args.jobs as usize);
        while let Some((i, result)) = running.next().await {
            let scenario = &scenarios[i];
            let report = result.unwrap_or_else(|e| {
                eprintln!("error: scenario {}: {e}", scenario.name);
                unavailable = true;
                let mut report = ScenarioReport::errored(
                    &scenario.name,
                    &scenario.path.display().to_string(),
                    e.to_string(),
                );
                // What it was to run with, although it did not.
                report.seed = options.seed.unwrap_or(scenario.seed);
                report.engine = options
                    .engine
                    .unwrap_or(scenario.run.engine)
                    .as_str()
                    .to_string();
                report.retry_policy = (&options.retry).into();
                report
            });
            // Each scenario's lines as soon as it finishes, not after the last.
            out!("{}", report.summary());
            finished[i] = Some(report);
        }
    });
    let reports: Vec<ScenarioReport> = finished
        .into_iter()
        .map(|r| r.expect("every scenario reported"))
        .collect();
    if args.timeline {
        for (scenario, report) in scenarios.iter().zip(&reports) {
            if report.error.is_none() {
                outln!("{}", harness::timeline::render(scenario, report));
            }
        }
    }
    let report = RunReport::new(reports);
    out!("{}", report.totals());
    let layout = RunLayout::new(&options.out);
    fs_err::create_dir_all(layout.root())?;
    write_outputs(&report, &layout.report_json(), args.junit.as_deref())?;
    Ok(if unavailable {
        Exit::Invalid
    } else if report.not_met > 0 {
        Exit::ChecksFailed
    } else {
        Exit::Success
    })
}

/// Writes `report.json` (or `harness check`'s report) to `path`, the HTML report beside it (the
/// same name, `.html`), and JUnit XML when asked.
pub(super) fn write_outputs(
    report: &RunReport,
    path: &Path,
    junit: Option<&Path>,
) -> anyhow::Result<()> {
    report
        .write_json(path)
        .with_context(|| format!("writing {}", path.display()))?;
    let html = path.with_extension("html");
    report
        .write_html(&html)
        .with_context(|| format!("writing {}", html.display()))?;
    outln!("report: {} and {}", path.display(), html.display());
    if let Some(junit) = junit {
        harness::report::write_readable(junit, report.junit().as_bytes())
            .with_context(|| format!("writing {}", junit.display()))?;
        outln!("junit: {}", junit.display());
    }
    Ok(())
}
