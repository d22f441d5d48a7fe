//! `harness`: the command line. Exit codes (DESIGN §5): 0 every scenario met its expectations;
//! 1 a check failed; 2 the scenario or command line is invalid, or an engine (or anything else
//! the run needs) could not be reached.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use harness::pipeline::{self, RunOptions, upstream::RetryPolicy};
use harness::probes;
use harness::report::{RunReport, ScenarioReport};
use harness::scenario::{EngineKind, Level, Scenario};

#[derive(Parser)]
#[command(
    version,
    about = "Simulates and tests Configuration Manager's diagnostics and usage data pipeline",
    long_about = "Simulates and tests Configuration Manager's diagnostics and usage data pipeline: \
        seeds site databases with synthetic data, runs the weekly TEL queries, replicates to the \
        CAS, submits to a mock of the cloud service and checks what arrived.\n\n\
        Exit codes: 0 every scenario met its expectations; 1 a check failed; 2 invalid scenario \
        or command line, or an engine could not be reached."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run scenarios end to end: seed, weekly collect → replicate → submit, check, report.
    Run {
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
        #[arg(long, default_value_t = 5000)]
        upload_timeout_ms: u64,
        /// No progress bars even on a terminal.
        #[arg(long)]
        no_progress: bool,
    },
    /// Scenario files.
    Scenario {
        #[command(subcommand)]
        command: ScenarioCommand,
    },
    /// List the probe catalog: name, level, category, description.
    Probes {
        /// Only the probes a run at this level executes.
        #[arg(long)]
        level: Option<String>,
    },
}

#[derive(Subcommand)]
enum ScenarioCommand {
    /// Validate scenario files without running them.
    Check {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error")),
        )
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Run {
            scenarios,
            engine,
            out,
            seed,
            junit,
            upload_timeout_ms,
            no_progress,
        } => {
            let options = RunOptions {
                out,
                engine,
                seed,
                retry: RetryPolicy {
                    timeout: Duration::from_millis(upload_timeout_ms),
                    ..RetryPolicy::default()
                },
                progress: !no_progress && std::io::stderr().is_terminal(),
            };
            run(&scenarios, &options, junit.as_deref())
        }
        Command::Scenario {
            command: ScenarioCommand::Check { files },
        } => {
            let mut code = ExitCode::SUCCESS;
            for file in files {
                match Scenario::load(&file) {
                    Ok(s) => println!("ok   {} ({})", file.display(), s.name),
                    Err(e) => {
                        eprintln!("error: {e}");
                        code = ExitCode::from(2);
                    }
                }
            }
            code
        }
        Command::Probes { level } => {
            let level = match level.map(|l| Level::parse(&l)).transpose() {
                Ok(level) => level,
                Err(e) => {
                    eprintln!("error: --level {e}");
                    return ExitCode::from(2);
                }
            };
            println!(
                "{:<24} {:<9} {:<13} description",
                "probe", "level", "category"
            );
            for p in probes::CATALOG
                .iter()
                .filter(|p| level.is_none_or(|l| p.level <= l))
            {
                println!(
                    "{:<24} {:<9} {:<13} {}",
                    p.name, p.level, p.category, p.description
                );
            }
            ExitCode::SUCCESS
        }
    }
}

fn run(files: &[PathBuf], options: &RunOptions, junit: Option<&std::path::Path>) -> ExitCode {
    // Every scenario is validated before any runs: a typo in the tenth must not cost the first
    // nine's run time.
    let mut scenarios = Vec::new();
    for file in files {
        match Scenario::load(file) {
            Ok(s) => scenarios.push(s),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        }
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let mut reports = Vec::new();
    let mut unavailable = false;
    for scenario in &scenarios {
        match runtime.block_on(pipeline::run_scenario(scenario, options)) {
            Ok(report) => reports.push(report),
            Err(e) => {
                eprintln!("error: scenario {}: {e}", scenario.name);
                unavailable = true;
                reports.push(ScenarioReport::errored(
                    &scenario.name,
                    &scenario.path.display().to_string(),
                    e.to_string(),
                ));
            }
        }
    }
    let report = RunReport::new(reports);
    print!("{}", report.summary());
    if let Err(e) = write_outputs(&report, options, junit) {
        eprintln!("error: {e:#}");
        return ExitCode::from(2);
    }
    if unavailable {
        ExitCode::from(2)
    } else if report.not_met > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn write_outputs(
    report: &RunReport,
    options: &RunOptions,
    junit: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(&options.out)
        .with_context(|| format!("creating {}", options.out.display()))?;
    let path = options.out.join("report.json");
    report
        .write_json(&path)
        .with_context(|| format!("writing {}", path.display()))?;
    println!("report: {}", path.display());
    if let Some(junit) = junit {
        std::fs::write(junit, report.junit())
            .with_context(|| format!("writing {}", junit.display()))?;
        println!("junit: {}", junit.display());
    }
    Ok(())
}
