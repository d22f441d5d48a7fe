//! `harness fleet`: many hierarchies derived from one scenario against one upstream.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::Context;
use harness::fleet::{FleetOptions, FleetReport, run_fleet};
use harness::scenario::Scenario;

use super::exit::{Exit, Outcome, runtime};

pub const LONG_ABOUT: &str = "Load-test the service side with real payloads. The scenario runs \
once end to end (its site databases are seeded once and shared); its uploads become the \
templates of N hierarchies, each with its own hierarchy ID, token and idempotency keys. The \
weeks are compressed into wall-clock time at --rate, every upload goes through the service \
connection point's client (with its retries), and the summary gives uploads/s, latency \
percentiles and retries by status. Against the in-process mock (or --url with its admin token) \
every hierarchy's uploads are verified to have arrived exactly once, byte for byte.\n\n\
Exit codes: 0 every upload accepted and verified (or accepted, with --no-verify); 1 an upload \
failed, verification found a missing, duplicated or altered upload, or the service refused \
the verification; 2 invalid scenario or arguments, or the service could not be reached.";

#[derive(clap::Args)]
pub struct FleetArgs {
    /// The scenario every hierarchy is derived from (online mode).
    scenario: PathBuf,
    /// Hierarchies in the fleet.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    hierarchies: u32,
    /// A running service; without it the mock runs in-process.
    #[arg(long)]
    url: Option<String>,
    /// Admin token of the service at --url (registration and verification use it).
    #[arg(long, env = "MOCK_UPSTREAM_ADMIN_TOKEN", default_value = "admin")]
    admin_token: String,
    /// Weeks per hierarchy; overrides the scenario's `[run] weeks`.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=520))]
    weeks: Option<u32>,
    /// Target uploads per second over the whole fleet (all weeks compressed into wall-clock
    /// time at this rate); without it, as fast as the service takes them.
    #[arg(long)]
    rate: Option<f64>,
    /// Uploads in flight at once.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=4096))]
    connections: u32,
    /// Output folder: the base run, the in-process mock's data and fleet.json.
    #[arg(long, default_value = "fleet-out")]
    out: PathBuf,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// Do not verify what arrived: for a service at --url without an admin API. Without it, a
    /// service that refuses the verification fails the fleet (exit 1).
    #[arg(long)]
    no_verify: bool,
    /// No progress bars even on a terminal.
    #[arg(long)]
    no_progress: bool,
}

pub fn fleet(args: FleetArgs) -> Outcome {
    let scenario = Scenario::load(&args.scenario)?;
    let options = FleetOptions {
        hierarchies: args.hierarchies as usize,
        url: args.url,
        admin_token: args.admin_token,
        weeks: args.weeks,
        rate: args.rate,
        connections: args.connections as usize,
        verify: !args.no_verify,
        out: args.out.clone(),
        progress: !args.no_progress && std::io::stderr().is_terminal(),
    };
    let report = runtime()?.block_on(run_fleet(&scenario, &options))?;
    let json = serde_json::to_vec_pretty(&report).expect("the report serialises");
    let path = args.out.join("fleet.json");
    harness::report::write_readable(&path, &json)
        .with_context(|| format!("writing {}", path.display()))?;
    if args.json {
        outln!("{}", String::from_utf8_lossy(&json));
    } else {
        print_summary(&report);
    }
    let verified = match &report.verified {
        Some(v) => v.ok(),
        None => args.no_verify,
    };
    Ok(if report.failed == 0 && verified {
        Exit::Success
    } else {
        Exit::ChecksFailed
    })
}

fn print_summary(r: &FleetReport) {
    outln!(
        "fleet {}: {} hierarchies × {} week(s), {} uploads ({} per hierarchy)",
        r.scenario,
        r.hierarchies,
        r.weeks,
        r.uploads,
        r.uploads_per_hierarchy
    );
    outln!(
        "  registered in {:.1} s; uploaded in {:.1} s: {:.0} uploads/s{}",
        r.register_seconds,
        r.upload_seconds,
        r.uploads_per_s,
        r.target_rate
            .map_or(String::new(), |t| format!(" (target {t:.0}/s)"))
    );
    outln!(
        "  latency p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms; {} connections",
        r.p50_ms,
        r.p90_ms,
        r.p99_ms,
        r.max_ms,
        r.connections
    );
    outln!(
        "  accepted {}, failed {}; retries by status: {}",
        r.succeeded,
        r.failed,
        if r.retries_by_status.is_empty() {
            "none".to_string()
        } else {
            r.retries_by_status
                .iter()
                .map(|(s, n)| format!("{s} ×{n}"))
                .collect::<Vec<_>>()
                .join(", ")
        }
    );
    if !r.failed_by_status.is_empty() {
        outln!(
            "  failed uploads by last answer: {}",
            r.failed_by_status
                .iter()
                .map(|(s, n)| format!("{s} ×{n}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    match &r.verified {
        Some(v) if v.ok() => outln!(
            "  verified: all {} hierarchies' uploads arrived exactly once, byte for byte",
            v.hierarchies_verified
        ),
        Some(v) => {
            outln!(
                "  NOT verified: {} missing, {} duplicated, {} altered ({} of {} hierarchies whole)",
                v.missing,
                v.duplicated,
                v.altered,
                v.hierarchies_verified,
                r.hierarchies
            );
            for p in &v.problems {
                outln!("    {p}");
            }
        }
        None => outln!(
            "  not verified: {}",
            r.not_verified.as_deref().unwrap_or("no admin API")
        ),
    }
    outln!("  {:.1} s in all", r.total_seconds);
}
