//! `harness swarm`: random campaigns of whole-pipeline runs, each reproducible from its seed.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use harness::planted::{self, PlantedBug};
use harness::scenario::EngineKind;
use harness::swarm::{self, Limits, SwarmOptions};

use super::exit::{Exit, Outcome};

pub const LONG_ABOUT: &str = "Run random campaigns of whole-pipeline runs. Per seed: a hierarchy \
(CAS or not, 1 to 25 primaries, sites from tiny to --max-clients), a level and level changes, \
the service connection point's mode, and a fault schedule drawn from a random subset of the \
fault kinds; run end to end and held to the run-wide invariants: delivered exactly as the \
reference model predicts (where it reaches: one hierarchy, a backlog of one upload; elsewhere \
at most once), the CAS holding each primary's weeks \
as the primary has them, no personal data, receipts matching, and the checker's verdict agreeing \
with the schedule.\n\n\
A failing seed is written to OUT/failures/seed-S.toml, the scenario it ran byte for byte, \
then shrunk into seed-S.shrunk.toml while it still breaks the same invariant. `harness swarm \
--replay FILE` holds a file to the invariants again (`harness run FILE` runs it too, but judges \
it by its own [expect], and a drawn file has none: its faults' findings fail it). \
OUT/swarm.json lists the failures, rewritten after every seed; Ctrl-C stops with everything \
found so far written. A seed started before --for runs out finishes, shrinking included.\n\n\
Exit codes: 0 no seed failed; 1 a seed failed; 2 invalid arguments or probes; 130 stopped by \
Ctrl-C before the seeds or the time ran out, with no seed failed.";

#[derive(clap::Args)]
pub struct SwarmArgs {
    /// Seeds to run (100 when neither this nor --for is given).
    #[arg(long, conflicts_with = "for_")]
    seeds: Option<u64>,
    /// Run seeds until this much time has passed: `90s`, `10m`, `2h`.
    #[arg(long = "for", value_name = "DURATION", value_parser = humantime::parse_duration)]
    for_: Option<Duration>,
    /// The first seed; seeds run in order from it.
    #[arg(long, default_value_t = 0)]
    start_seed: u64,
    /// Clients of the largest primary a seed may draw.
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u32).range(20..=175_000))]
    max_clients: u32,
    /// Primaries a seed may draw, at most (the product supports 25).
    #[arg(long, default_value_t = 25, value_parser = clap::value_parser!(u32).range(1..=25))]
    max_primaries: u32,
    /// Weekly cycles a seed may draw, at most.
    #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u32).range(1..=52))]
    max_weeks: u32,
    /// A directory of your own probes, run at every site with the catalog.
    #[arg(long, value_name = "DIR")]
    probes: Option<PathBuf>,
    /// Engine for the site databases (the CAS-against-primaries invariant is checked on the
    /// embedded engine).
    #[arg(long, value_enum)]
    engine: Option<EngineKind>,
    /// Output folder: swarm.json, failures/, and runs/ while seeds run.
    #[arg(long, default_value = "swarm-out")]
    out: PathBuf,
    /// Seeds run at once (each its own pipeline, databases and mock upstream).
    #[arg(long, default_value_t = default_jobs(), value_parser = clap::value_parser!(u32).range(1..=64))]
    jobs: u32,
    /// Runs a failing seed's shrinking may make, at most (0: no shrinking).
    #[arg(long, default_value_t = 200)]
    shrink_runs: u32,
    /// Instead of drawing seeds, hold these scenario files to the swarm's invariants.
    #[arg(long, value_name = "FILE", num_args = 1.., conflicts_with_all = ["seeds", "for_"])]
    replay: Vec<PathBuf>,
    /// Print the scenario file seed S draws (within the size flags) and exit.
    #[arg(long, value_name = "S", conflicts_with_all = ["seeds", "for_", "replay"])]
    print: Option<u64>,
    /// No progress bar even on a terminal.
    #[arg(long)]
    no_progress: bool,
    /// Plant a bug in the pipeline, to see the swarm find it (testing the tester).
    #[arg(long, value_enum, hide = true)]
    plant_bug: Option<PlantedBug>,
}

fn default_jobs() -> u32 {
    std::thread::available_parallelism().map_or(1, |n| n.get() as u32)
}

impl SwarmArgs {
    pub fn options(&self) -> SwarmOptions {
        SwarmOptions {
            seeds: self.seeds,
            duration: self.for_,
            start_seed: self.start_seed,
            limits: Limits {
                max_primaries: self.max_primaries as usize,
                max_weeks: self.max_weeks,
                ..Limits::swarm(self.max_clients)
            },
            probes: self.probes.clone(),
            engine: self.engine,
            out: self.out.clone(),
            jobs: self.jobs as usize,
            shrink_runs: self.shrink_runs,
            progress: !self.no_progress && std::io::stderr().is_terminal(),
        }
    }
}

/// The runtime a swarm runs on: a worker per job (a run holds its worker while SQLite works)
/// and one for the mock upstreams and the Ctrl-C handler.
pub fn swarm_runtime(jobs: usize) -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(jobs + 1)
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

pub fn swarm(args: SwarmArgs) -> Outcome {
    if let Some(bug) = args.plant_bug {
        planted::plant(bug);
        eprintln!("note: planted bug {bug:?} is switched on");
    }
    let options = args.options();
    if let Some(seed) = args.print {
        out!(
            "{}",
            swarm::SeedDraw::new(seed, &options.limits).scenario_toml()
        );
        return Ok(Exit::Success);
    }
    if let Some(dir) = &options.probes {
        // Checked once, before any seed runs: a bad probe file is the user's error (exit 2),
        // not a failing seed.
        let catalog = harness::probes::Catalog::load(dir)?;
        harness::engine::sqlite::check_loaded_probes(catalog)?;
    }
    let runtime = swarm_runtime(options.jobs)?;
    if !args.replay.is_empty() {
        return replay(&runtime, &args.replay, &options);
    }
    let summary = runtime.block_on(swarm::run_swarm(&options, async {
        let _ = tokio::signal::ctrl_c().await;
    }))?;
    outln!(
        "swarm: {} seeds from {} in {:.1} s ({:.2} seeds/s, {} at once){}",
        summary.seeds_run,
        summary.start_seed,
        summary.seconds,
        summary.seeds_per_s,
        summary.jobs,
        if summary.interrupted {
            ", stopped by Ctrl-C"
        } else {
            ""
        }
    );
    for f in &summary.failures {
        outln!("FAIL seed {}: {}", f.seed, f.violation);
        outln!("     reproduces: {}", f.scenario.display());
        match &f.shrunk {
            Some(shrunk) => {
                outln!(
                    "     shrunk:     {} ({} of {} shrinking runs made it smaller)",
                    shrunk.display(),
                    f.shrink_steps,
                    f.shrink_runs
                );
                if let Some(v) = &f.shrunk_violation {
                    outln!("                 {v}");
                }
            }
            None if options.shrink_runs == 0 => {
                outln!("     shrunk:     not tried (--shrink-runs 0)")
            }
            None if f.shrink_runs == 0 => {
                outln!("     shrunk:     not tried (stopped before it began)")
            }
            None => outln!(
                "     shrunk:     no smaller version fails the same way ({} runs)",
                f.shrink_runs
            ),
        }
    }
    outln!(
        "{} failing seed(s); summary in {}",
        summary.failures.len(),
        options.out.join("swarm.json").display()
    );
    Ok(if !summary.failures.is_empty() {
        Exit::ChecksFailed
    } else if summary.interrupted {
        Exit::Interrupted
    } else {
        Exit::Success
    })
}

fn replay(runtime: &tokio::runtime::Runtime, files: &[PathBuf], options: &SwarmOptions) -> Outcome {
    let mut exit = Exit::Success;
    for file in files {
        let text = fs_err::read_to_string(file)?;
        let dir = options.out.join("replay");
        let outcome = runtime.block_on(swarm::run_and_check(
            &text,
            file,
            &dir,
            options,
            swarm::Hold::Invariants,
        ));
        match outcome {
            Ok(()) => outln!("ok   {}", file.display()),
            Err(v) if v.rule == "scenario_valid" => {
                eprintln!("error: {}", v.detail);
                return Ok(Exit::Invalid);
            }
            Err(v) => {
                outln!("FAIL {}: {v}", file.display());
                exit = Exit::ChecksFailed;
            }
        }
    }
    Ok(exit)
}
