//! `harness`: the command line. Exit codes (DESIGN §5): 0 every scenario met its expectations;
//! 1 a check failed; 2 the scenario or command line is invalid, or an engine (or anything else
//! the run needs) could not be reached.

use std::io::{IsTerminal, Write};

/// Writes to stdout, ignoring a closed pipe: `harness probes | head` must not panic.
macro_rules! out {
    ($($arg:tt)*) => {{
        let _ = write!(std::io::stdout(), $($arg)*);
    }};
}

macro_rules! outln {
    ($($arg:tt)*) => {{
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use harness::pipeline::{self, RunOptions};
use harness::probes;
use harness::report::{RunReport, ScenarioReport};
use harness::scenario::{EngineKind, Level, Scenario};
use usage_protocol::client::RetryPolicy;

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
    /// Serve the mock upstream (the same service `harness run` starts in-process) until SIGINT
    /// or SIGTERM. The first line of stdout is `listening on http://ADDR`.
    Upstream {
        /// Address to bind; loopback unless you say otherwise. Port 0 picks a free port.
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: std::net::SocketAddr,
        /// Where acknowledged uploads and issued tokens are kept; they survive restarts.
        #[arg(long, default_value = "harness-upstream")]
        data_dir: PathBuf,
        /// Bearer token of the admin API.
        #[arg(long, env = "MOCK_UPSTREAM_ADMIN_TOKEN", default_value = "admin")]
        admin_token: String,
    },
    /// Measure the upstream: uploads per second and latency percentiles at a payload size and
    /// concurrency. Starts the mock in-process unless --url names a running service.
    LoadUpstream {
        /// A running service, e.g. one started by `harness upstream`.
        #[arg(long)]
        url: Option<String>,
        /// Admin token of the service at --url.
        #[arg(long, env = "MOCK_UPSTREAM_ADMIN_TOKEN", default_value = "admin")]
        admin_token: String,
        /// Uploads in flight at once.
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        /// Uploads in all.
        #[arg(long, default_value_t = 5000)]
        requests: usize,
        /// Size of each gzip'd payload, in KiB.
        #[arg(long, default_value_t = 10)]
        payload_kb: usize,
        /// Where the in-process service keeps its data.
        #[arg(long, default_value = "harness-out/load-upstream")]
        data_dir: PathBuf,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print a site's TEL_TelemetryResults as a table (what SELECT * FROM TEL_TelemetryResults
    /// shows), from the site database a run kept under --out.
    View {
        /// Site code.
        #[arg(long)]
        site: String,
        /// Only this weekly cycle.
        #[arg(long)]
        week: Option<u32>,
        /// Only this probe.
        #[arg(long)]
        probe: Option<String>,
        /// The scenario the site belongs to; needed only when several in --out have it.
        #[arg(long)]
        scenario: Option<String>,
        /// The output folder of the run.
        #[arg(long, default_value = "harness-out")]
        out: PathBuf,
    },
    /// The service connection tool of an offline service connection point: prepare, export,
    /// connect, import.
    Sct {
        #[command(subcommand)]
        command: SctCommand,
    },
    /// List the probe catalog: name, level, category, description.
    Probes {
        /// Only the probes a run at this level executes.
        #[arg(long)]
        level: Option<String>,
    },
}

/// Which site database the service connection tool works on: a file, or a site of a run kept
/// under --out.
#[derive(clap::Args)]
struct SiteSource {
    /// The site database file (an embedded engine's SITE.db).
    #[arg(long, conflicts_with_all = ["site", "scenario"])]
    site_db: Option<PathBuf>,
    /// The top-level site's code, in a run kept under --out.
    #[arg(long)]
    site: Option<String>,
    /// The scenario the site belongs to; needed only when several in --out have it.
    #[arg(long)]
    scenario: Option<String>,
    /// The output folder of the run.
    #[arg(long, default_value = "harness-out")]
    out: PathBuf,
}

#[derive(Subcommand)]
enum SctCommand {
    /// -prepare: write the week's usage data into a .cab (with a SiteVersion file).
    Prepare {
        #[command(flatten)]
        source: SiteSource,
        /// The cabinet to write, e.g. D:/USB/UsageData.cab.
        #[arg(long)]
        usagedatadest: PathBuf,
        /// The weekly cycle; the latest one that ran when absent.
        #[arg(long)]
        week: Option<u32>,
    },
    /// -export: write the week's usage data as CSV, one line per result row.
    Export {
        #[command(flatten)]
        source: SiteSource,
        /// The CSV file to write.
        #[arg(long)]
        dest: PathBuf,
        #[arg(long)]
        week: Option<u32>,
    },
    /// -connect: upload every .cab of a folder and download each hierarchy's update packs.
    Connect {
        /// Folder holding the cabinets (one per hierarchy, unique names).
        #[arg(long)]
        usagedatasrc: PathBuf,
        /// Folder the update packs go to, one subfolder per hierarchy.
        #[arg(long)]
        updatepackdest: PathBuf,
        /// The service, e.g. one started by `harness upstream`.
        #[arg(long)]
        url: String,
        /// A hierarchy token the service issued.
        #[arg(long, env = "HARNESS_UPSTREAM_TOKEN")]
        token: String,
    },
    /// -import: import the update packs meant for this site's hierarchy; leave the others.
    Import {
        #[command(flatten)]
        source: SiteSource,
        /// The folder -connect downloaded into.
        #[arg(long)]
        updatepacksrc: PathBuf,
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
                    Ok(s) => outln!("ok   {} ({})", file.display(), s.name),
                    Err(e) => {
                        eprintln!("error: {e}");
                        code = ExitCode::from(2);
                    }
                }
            }
            code
        }
        Command::Upstream {
            listen,
            data_dir,
            admin_token,
        } => {
            let mut config = harness::mock::Config::new(data_dir);
            config.listen = listen;
            config.admin_token = admin_token;
            match runtime().map(|rt| rt.block_on(harness::mock::serve_until_signal(config))) {
                Ok(Ok(())) => ExitCode::SUCCESS,
                Ok(Err(e)) => {
                    eprintln!("error: {e}");
                    ExitCode::from(2)
                }
                Err(code) => code,
            }
        }
        Command::LoadUpstream {
            url,
            admin_token,
            concurrency,
            requests,
            payload_kb,
            data_dir,
            json,
        } => {
            let options = harness::load::LoadOptions {
                url,
                admin_token,
                data_dir,
                concurrency,
                requests,
                payload_kb,
            };
            let rt = match runtime() {
                Ok(rt) => rt,
                Err(code) => return code,
            };
            match rt.block_on(harness::load::run(&options)) {
                Ok(r) if json => {
                    outln!(
                        "{}",
                        serde_json::to_string_pretty(&r).expect("reports serialise")
                    );
                    ExitCode::SUCCESS
                }
                Ok(r) => {
                    outln!(
                        "{} uploads of {} B gzip ({} B JSON) at concurrency {} against {}\n\
                         {:.0} uploads/s over {:.2} s; latency p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms; {} failed",
                        r.succeeded,
                        r.payload_gzip_bytes,
                        r.payload_json_bytes,
                        r.concurrency,
                        r.target,
                        r.uploads_per_s,
                        r.seconds,
                        r.p50_ms,
                        r.p90_ms,
                        r.p99_ms,
                        r.max_ms,
                        r.failed
                    );
                    if r.failed > 0 {
                        ExitCode::from(1)
                    } else {
                        ExitCode::SUCCESS
                    }
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::from(2)
                }
            }
        }
        Command::View {
            site,
            week,
            probe,
            scenario,
            out,
        } => {
            let shown = harness::view::find_site_db(&out, scenario.as_deref(), &site)
                .and_then(|db| harness::view::render(&db, week, probe.as_deref()));
            match shown {
                Ok(table) => {
                    out!("{table}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::from(2)
                }
            }
        }
        Command::Sct { command } => match runtime() {
            Ok(rt) => match rt.block_on(sct(command)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e:#}");
                    ExitCode::from(2)
                }
            },
            Err(code) => code,
        },
        Command::Probes { level } => {
            let level = match level.map(|l| Level::parse(&l)).transpose() {
                Ok(level) => level,
                Err(e) => {
                    eprintln!("error: --level {e}");
                    return ExitCode::from(2);
                }
            };
            outln!(
                "{:<24} {:<9} {:<13} description",
                "probe",
                "level",
                "category"
            );
            for p in probes::CATALOG
                .iter()
                .filter(|p| level.is_none_or(|l| p.level <= l))
            {
                outln!(
                    "{:<24} {:<9} {:<13} {}",
                    p.name,
                    p.level,
                    p.category,
                    p.description
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
    let runtime = match runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
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
    out!("{}", report.summary());
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
    outln!("report: {}", path.display());
    if let Some(junit) = junit {
        std::fs::write(junit, report.junit())
            .with_context(|| format!("writing {}", junit.display()))?;
        outln!("junit: {}", junit.display());
    }
    Ok(())
}

fn runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Runtime::new().map_err(|e| {
        eprintln!("error: cannot start the async runtime: {e}");
        ExitCode::from(2)
    })
}

fn open_site(
    source: &SiteSource,
) -> anyhow::Result<std::sync::Arc<dyn harness::engine::SiteDatabase>> {
    let path = match (&source.site_db, &source.site) {
        (Some(path), _) => path.clone(),
        (None, Some(code)) => {
            harness::view::find_site_db(&source.out, source.scenario.as_deref(), code)?
        }
        (None, None) => anyhow::bail!(
            "say which site database: --site-db FILE, or --site CODE (with --out DIR)"
        ),
    };
    Ok(harness::engine::sqlite::SqliteEngine::open_existing(&path)?)
}

async fn sct(command: SctCommand) -> anyhow::Result<()> {
    use harness::sct;
    match command {
        SctCommand::Prepare {
            source,
            usagedatadest,
            week,
        } => {
            let db = open_site(&source)?;
            let cab = sct::prepare(db.as_ref(), week, &usagedatadest).await?;
            outln!(
                "prepared {} ({} bytes): week {} of hierarchy {}",
                cab.path.display(),
                cab.bytes,
                cab.week,
                cab.hierarchy_hash
            );
        }
        SctCommand::Export { source, dest, week } => {
            let db = open_site(&source)?;
            let rows = sct::export(db.as_ref(), week, &dest).await?;
            outln!("exported {rows} rows to {}", dest.display());
        }
        SctCommand::Connect {
            usagedatasrc,
            updatepackdest,
            url,
            token,
        } => {
            for u in sct::connect(&url, &token, &usagedatasrc, &updatepackdest).await? {
                outln!(
                    "uploaded {}: week {} of hierarchy {} (receipt {}{}); {} update pack(s) downloaded",
                    u.file,
                    u.week,
                    u.hierarchy_hash,
                    u.receipt,
                    if u.replayed { ", already received" } else { "" },
                    u.packs
                );
            }
        }
        SctCommand::Import {
            source,
            updatepacksrc,
        } => {
            let db = open_site(&source)?;
            let outcome = sct::import(db.as_ref(), &updatepacksrc).await?;
            outln!(
                "imported {} update pack(s): {}",
                outcome.imported.len(),
                outcome.imported.join(", ")
            );
            for other in outcome.left_alone {
                outln!(
                    "left alone: the packs of hierarchy {other}, which are not meant for this site"
                );
            }
        }
    }
    Ok(())
}
