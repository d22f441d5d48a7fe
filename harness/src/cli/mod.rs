//! The commands of `harness`, one module each. Every command returns an [`exit::Outcome`]; the
//! exit code follows from it alone.

/// Writes to stdout, ignoring a closed pipe: `harness probes | head` must not panic.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout(), $($arg)*);
    }};
}

macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

mod bench;
mod check;
mod compare;
mod exit;
mod fleet;
mod probes;
mod run;
mod scenario;
mod sct;
mod swarm;
mod upstream;
mod view;

use clap::{Parser, Subcommand};

pub use exit::Exit;

/// Parses the command line, exiting with clap's usage error (exit 2) when it is wrong. A
/// mistyped command gets a "did you mean": clap's own suggestion misses transposed letters
/// (`rnu`), so the commands at the level the typo is at are compared by edit distance too.
pub fn parse() -> Cli {
    use clap::CommandFactory;
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    Cli::try_parse().unwrap_or_else(|mut error| {
        if error.kind() == ErrorKind::InvalidSubcommand
            && error.get(ContextKind::SuggestedSubcommand).is_none()
            && let Some(ContextValue::String(typed)) = error.get(ContextKind::InvalidSubcommand)
        {
            let typed = typed.clone();
            // The level of the typo: follow the command line through the commands it names.
            let mut level = Cli::command();
            for arg in std::env::args().skip(1) {
                match level.find_subcommand(&arg) {
                    Some(next) => level = next.clone(),
                    None if arg == typed => break,
                    None => continue,
                }
            }
            let nearest = level
                .get_subcommands()
                .map(|c| (strsim::osa_distance(c.get_name(), &typed), c.get_name()))
                .filter(|(distance, _)| *distance <= 2 && *distance < typed.len())
                .min();
            if let Some((_, name)) = nearest {
                error.insert(
                    ContextKind::SuggestedSubcommand,
                    ContextValue::String(name.to_string()),
                );
            }
        }
        error.exit()
    })
}

#[derive(Parser)]
#[command(
    version,
    about = "Simulates and tests Configuration Manager's diagnostics and usage data pipeline",
    long_about = "Simulates and tests Configuration Manager's diagnostics and usage data pipeline: \
        seeds site databases with synthetic data, runs the weekly TEL queries, replicates to the \
        CAS, submits to a mock of the cloud service and checks what arrived.\n\n\
        Exit codes: 0 every scenario met its expectations; 1 a check failed; 2 invalid scenario \
        or command line, an engine could not be reached, or (check) DIR is not a kept run."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run scenarios end to end: seed, weekly collect → replicate → submit, check, report.
    Run(run::RunArgs),
    /// Verify a kept run again without running it: the same checks, summary and exit codes as
    /// `run`; the report goes to DIR/check-report.json.
    #[command(long_about = check::LONG_ABOUT)]
    Check(check::CheckArgs),
    /// Scenario files.
    Scenario {
        #[command(subcommand)]
        command: scenario::ScenarioCommand,
    },
    /// Serve the mock upstream (the same service `harness run` starts in-process) until SIGINT
    /// or SIGTERM. The first line of stdout is `listening on http://ADDR`.
    Upstream(upstream::UpstreamArgs),
    /// Measure the upstream: uploads per second and latency percentiles at a payload size and
    /// concurrency. Starts the mock in-process unless --url names a running service.
    LoadUpstream(upstream::LoadArgs),
    /// Print a site's TEL_TelemetryResults as a table (what SELECT * FROM TEL_TelemetryResults
    /// shows), from the site database a run kept under --out.
    View(view::ViewArgs),
    /// The service connection tool of an offline service connection point: prepare, export,
    /// connect, import.
    Sct {
        #[command(subcommand)]
        command: sct::SctCommand,
    },
    /// List the probe catalog: name, level, category, description.
    Probes(probes::ProbesArgs),
    /// Compare two runs' report.json per scenario, site and probe; exit 1 when a probe got
    /// slower past the threshold and beyond the noise (`run --repeat N` measures the noise).
    Compare(compare::CompareArgs),
    /// Run a scenario at several sizes and fit each probe's exponent of time against clients;
    /// exit 1 when a probe grows faster than `[budget] probe_scaling_exponent` (1.2 by default).
    Bench(bench::BenchArgs),
    /// Random campaigns: per seed a hierarchy, levels, mode and fault schedule, run end to end
    /// and held to the run-wide invariants; failing seeds written as scenario files and shrunk.
    #[command(long_about = swarm::LONG_ABOUT)]
    Swarm(swarm::SwarmArgs),
    /// Many hierarchies derived from one scenario against one upstream: uploads/s, latency
    /// percentiles, retries by status, and every hierarchy's data verified exactly once.
    #[command(long_about = fleet::LONG_ABOUT)]
    Fleet(fleet::FleetArgs),
}

impl Command {
    pub fn execute(self) -> Exit {
        exit::finish(match self {
            Command::Run(args) => run::run(args),
            Command::Check(args) => check::check(args),
            Command::Scenario { command } => scenario::execute(command),
            Command::Upstream(args) => upstream::serve(args),
            Command::LoadUpstream(args) => upstream::load(args),
            Command::View(args) => view::view(args),
            Command::Sct { command } => sct::execute(command),
            Command::Probes(args) => probes::list(args),
            Command::Compare(args) => compare::compare(args),
            Command::Bench(args) => bench::bench(args),
            Command::Swarm(args) => swarm::swarm(args),
            Command::Fleet(args) => fleet::fleet(args),
        })
    }
}
