//! Swarm: deterministic simulation campaigns. Per seed, a random hierarchy, calendar, levels,
//! service connection point mode and fault schedule ([`schedule`]) is run through the whole
//! pipeline and held to the run-wide invariants ([`invariants`]). A failing seed is written as
//! the scenario file that reproduces it, then shrunk while it still fails the same way
//! ([`shrink`]).
//!
//! Everything a seed does follows from the seed: the draw comes from a ChaCha generator seeded
//! with it, and the scenario it writes carries its own data seed, so `harness run` of the file
//! replays the run byte for byte.

pub mod invariants;
pub mod schedule;
pub mod shrink;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use serde::Serialize;

use crate::layout::RunLayout;
use crate::pipeline::{RunOptions, checked_catalog, run_scenario};
use crate::scenario::{EngineKind, Scenario};
pub use invariants::Violation;
pub use schedule::{Draw, Limits};

/// How a swarm runs.
#[derive(Debug, Clone)]
pub struct SwarmOptions {
    /// Run this many seeds (with `duration` unset: 100).
    pub seeds: Option<u64>,
    /// Or run seeds until this much time has passed.
    pub duration: Option<Duration>,
    pub start_seed: u64,
    pub limits: Limits,
    /// The user's probes, run at every site in place of the shipped ones.
    pub probes: Option<PathBuf>,
    pub engine: Option<EngineKind>,
    pub out: PathBuf,
    /// Seeds run at once.
    pub jobs: usize,
    /// Runs a failing seed's shrinking may make, at most.
    pub shrink_runs: u32,
    pub progress: bool,
}

/// The draw of one seed: its scenario file's text and the tree proptest shrinks it along.
pub struct SeedDraw {
    pub seed: u64,
    tree: Box<dyn ValueTree<Value = Draw>>,
}

impl SeedDraw {
    /// The draw of `seed` within `limits`: the same seed always draws the same scenario.
    pub fn new(seed: u64, limits: &Limits) -> Self {
        let mut key = [0u8; 32];
        key[..8].copy_from_slice(&seed.to_le_bytes());
        let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &key);
        let mut runner = TestRunner::new_with_rng(Config::default(), rng);
        let tree = schedule::draw(limits)
            .boxed()
            .new_tree(&mut runner)
            .expect("the schedule strategy never rejects");
        Self { seed, tree }
    }

    /// The scenario file of the draw as it stands (shrinking changes it).
    pub fn scenario_toml(&self) -> String {
        self.tree.current().scenario_toml(&scenario_name(self.seed))
    }
}

/// The scenario name of a seed's run.
pub fn scenario_name(seed: u64) -> String {
    format!("swarm-{seed}")
}

/// What a run is held to besides the invariants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    /// The invariants only: a drawn scenario's faults make findings it cannot list.
    Invariants,
    /// Its own `[expect]` too: a scenario a user wrote.
    AndExpectations,
}

/// Runs one scenario file in `dir` and holds it to the invariants. A scenario that cannot be
/// read, or a run that cannot complete, is a violation too.
pub async fn run_and_check(
    text: &str,
    file: &Path,
    dir: &Path,
    options: &SwarmOptions,
    hold: Hold,
) -> Result<(), Violation> {
    let scenario = Scenario::parse(text, file).map_err(|e| Violation {
        rule: "scenario_valid",
        detail: e.to_string(),
    })?;
    let incomplete = |e: crate::pipeline::RunError| Violation {
        rule: "run_completes",
        detail: e.to_string(),
    };
    let catalog = checked_catalog(&scenario, options.probes.as_deref()).map_err(incomplete)?;
    let run = RunOptions {
        engine: options.engine,
        probes: options.probes.clone(),
        ..RunOptions::simulated(dir)
    };
    let report = run_scenario(&scenario, &run).await.map_err(incomplete)?;
    let engine = options.engine.unwrap_or(scenario.run.engine);
    let layout = RunLayout::new(dir).scenario(&scenario.name);
    invariants::check(&scenario, catalog, &layout, engine, &report).await?;
    if hold == Hold::AndExpectations && !report.met_expectations {
        return Err(Violation {
            rule: "expectations_met",
            detail: report.expectation_failures.join("; "),
        });
    }
    Ok(())
}

/// A seed that failed: the file that reproduces it, and the smallest that still fails.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    pub seed: u64,
    /// How the seed's own file fails.
    pub violation: Violation,
    pub scenario: PathBuf,
    pub shrunk: Option<PathBuf>,
    /// How the shrunk file fails (the same rule, its own details).
    pub shrunk_violation: Option<Violation>,
    /// Runs the shrinking made, and how many of them still failed (each made it smaller).
    pub shrink_runs: u32,
    pub shrink_steps: u32,
}

/// What a swarm did.
#[derive(Debug, Clone, Serialize)]
pub struct SwarmSummary {
    pub start_seed: u64,
    pub seeds_run: u64,
    pub seconds: f64,
    pub seeds_per_s: f64,
    pub jobs: usize,
    /// Stopped by Ctrl-C before the seeds or the time ran out.
    pub interrupted: bool,
    pub failures: Vec<Failure>,
}

/// Runs the swarm: seeds from `start_seed`, `jobs` at a time, until the seeds or the time run
/// out or `stop` resolves (Ctrl-C). Every failure is written as it is found, and the summary
/// (`swarm.json`) after every seed, so a stop loses nothing found.
pub async fn run_swarm(
    options: &SwarmOptions,
    stop: impl std::future::Future<Output = ()>,
) -> Result<SwarmSummary, std::io::Error> {
    let failures_dir = options.out.join("failures");
    fs_err::create_dir_all(&failures_dir)?;
    fs_err::create_dir_all(options.out.join("runs"))?;
    let started = Instant::now();
    let limit = match (options.seeds, options.duration) {
        (None, None) => Some(100),
        (seeds, _) => seeds,
    };
    let bar = progress_bar(options.progress, limit);
    let mut summary = SwarmSummary {
        start_seed: options.start_seed,
        seeds_run: 0,
        seconds: 0.0,
        seeds_per_s: 0.0,
        jobs: options.jobs.max(1),
        interrupted: false,
        failures: Vec::new(),
    };
    let found = Found::default();
    // The next seed to run; `None` once past the last seed there is.
    let mut next = Some(options.start_seed);
    // The seeds in flight are futures of this one task: their SQLite work runs on the blocking
    // pool, so `jobs` of them use as many cores.
    let mut running = futures_util::stream::FuturesUnordered::new();
    tokio::pin!(stop);
    loop {
        while let Some(seed) = next
            && running.len() < summary.jobs
            && options.duration.is_none_or(|d| started.elapsed() < d)
            && limit.is_none_or(|n| seed - options.start_seed < n)
        {
            running.push(run_seed(seed, options, &found));
            next = seed.checked_add(1);
        }
        if running.is_empty() {
            break;
        }
        tokio::select! {
            Some(outcome) = futures_util::StreamExt::next(&mut running) => {
                let outcome = outcome?;
                summary.seeds_run += 1;
                if let Some(failure) = outcome {
                    let line = format!(
                        "seed {}: {} — {}",
                        failure.seed,
                        failure.violation,
                        failure.shrunk.as_ref().unwrap_or(&failure.scenario).display()
                    );
                    // Said as it is found, above the bar or, without one, on stderr.
                    if bar.is_hidden() {
                        eprintln!("{line}");
                    } else {
                        bar.println(line);
                    }
                }
                summary.failures = found.all();
                summary.seconds = started.elapsed().as_secs_f64();
                summary.seeds_per_s = summary.seeds_run as f64 / summary.seconds.max(1e-9);
                bar.set_position(summary.seeds_run);
                bar.set_message(format!(
                    "{} failing · {:.2} seeds/s",
                    summary.failures.len(),
                    summary.seeds_per_s
                ));
                write_summary(&options.out, &summary)?;
            }
            () = &mut stop => {
                summary.interrupted = true;
                break;
            }
        }
    }
    bar.finish_and_clear();
    // Seeds stopped mid-run leave their scratch folders; nothing in `runs/` is kept.
    drop(running);
    remove_run(&options.out.join("runs"))?;
    // Seeds stopped while shrinking keep what they found, shrunk as far as they got.
    summary.failures = found.all();
    summary.seconds = started.elapsed().as_secs_f64();
    summary.seeds_per_s = summary.seeds_run as f64 / summary.seconds.max(1e-9);
    write_summary(&options.out, &summary)?;
    Ok(summary)
}

fn progress_bar(shown: bool, seeds: Option<u64>) -> indicatif::ProgressBar {
    if !shown {
        return indicatif::ProgressBar::hidden();
    }
    let (bar, template) = match seeds {
        Some(n) => (
            indicatif::ProgressBar::new(n),
            "swarm {bar:30} {pos}/{len} seeds, {msg} ({elapsed})",
        ),
        None => (
            indicatif::ProgressBar::new_spinner(),
            "swarm {spinner} {pos} seeds, {msg} ({elapsed})",
        ),
    };
    bar.set_style(indicatif::ProgressStyle::with_template(template).expect("valid template"));
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

fn write_summary(out: &Path, summary: &SwarmSummary) -> std::io::Result<()> {
    let json = serde_json::to_vec_pretty(summary).expect("the summary serialises");
    usage_protocol::durable::write_file(&out.join("swarm.json"), &json)
}

/// The failures found so far, shared by the running seeds, each kept up to date as it shrinks.
#[derive(Clone, Default)]
struct Found(std::sync::Arc<std::sync::Mutex<std::collections::BTreeMap<u64, Failure>>>);

impl Found {
    fn record(&self, failure: &Failure) {
        let mut found = self.0.lock().expect("not poisoned");
        found.insert(failure.seed, failure.clone());
    }

    fn all(&self) -> Vec<Failure> {
        self.0
            .lock()
            .expect("not poisoned")
            .values()
            .cloned()
            .collect()
    }
}

/// One seed: draw, run, check; on a failure, write the file and shrink it.
async fn run_seed(
    seed: u64,
    options: &SwarmOptions,
    found: &Found,
) -> Result<Option<Failure>, std::io::Error> {
    let mut draw = SeedDraw::new(seed, &options.limits);
    let text = draw.scenario_toml();
    let scenario_file = options
        .out
        .join("failures")
        .join(format!("seed-{seed}.toml"));
    let dir = options.out.join("runs").join(format!("seed-{seed}"));
    let outcome = run_and_check(&text, &scenario_file, &dir, options, Hold::Invariants).await;
    remove_run(&dir)?;
    let Err(violation) = outcome else {
        return Ok(None);
    };
    usage_protocol::durable::write_file(&scenario_file, text.as_bytes())?;
    let shrunk_file = options
        .out
        .join("failures")
        .join(format!("seed-{seed}.shrunk.toml"));
    let mut failure = Failure {
        seed,
        violation: violation.clone(),
        scenario: scenario_file,
        shrunk: None,
        shrunk_violation: None,
        shrink_runs: 0,
        shrink_steps: 0,
    };
    found.record(&failure);
    let mut smallest = text;
    // proptest's own shrinking, on the tree the seed drew: simplify while it still fails the
    // same way, step back (complicate) when a simplification passes. A simplification that
    // does not change the file (a part the file does not show) is taken without a run.
    let mut more = draw.tree.simplify();
    while more && failure.shrink_runs < options.shrink_runs {
        let candidate = draw.scenario_toml();
        if candidate == smallest {
            more = draw.tree.simplify();
            continue;
        }
        failure.shrink_runs += 1;
        let outcome =
            run_and_check(&candidate, &shrunk_file, &dir, options, Hold::Invariants).await;
        remove_run(&dir)?;
        more = match outcome {
            Err(v) if v.rule == violation.rule => {
                usage_protocol::durable::write_file(&shrunk_file, candidate.as_bytes())?;
                failure.shrink_steps += 1;
                failure.shrunk = Some(shrunk_file.clone());
                failure.shrunk_violation = Some(v);
                smallest = candidate;
                draw.tree.simplify()
            }
            _ => draw.tree.complicate(),
        };
        found.record(&failure);
    }
    // The tree cannot cut what it drew as one piece (a primary's place in the list, the weeks
    // under a fault's window): the file's own cuts finish the job with the runs left.
    let cutting = shrink::Cutting {
        file: &shrunk_file,
        into: &shrunk_file,
        runs_dir: &dir,
        options,
        hold: Hold::Invariants,
    };
    let left = options.shrink_runs - failure.shrink_runs;
    if left > 0 {
        let cut = cutting
            .cut(&smallest, &violation, left)
            .await
            .map_err(std::io::Error::other)?;
        failure.shrink_runs += cut.runs;
        if cut.steps > 0 {
            failure.shrink_steps += cut.steps;
            failure.shrunk = Some(shrunk_file.clone());
            failure.shrunk_violation = cut.violation;
        }
        found.record(&failure);
    }
    Ok(Some(failure))
}

fn remove_run(dir: &Path) -> std::io::Result<()> {
    match fs_err::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}
