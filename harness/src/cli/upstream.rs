//! `harness upstream` (serve the mock cloud service) and `harness load-upstream` (measure it).

use std::path::PathBuf;

use harness::load::{LoadOptions, LoadReport};
use harness::mock;

use super::exit::{Exit, Outcome, runtime};

/// The same flags as `mock-upstream serve`: one struct serves both.
#[derive(clap::Args)]
pub struct UpstreamArgs {
    #[command(flatten)]
    serve: mock::ServeArgs,
}

pub fn serve(args: UpstreamArgs) -> Outcome {
    runtime()?.block_on(mock::serve_until_signal(args.serve.into_config()))?;
    Ok(Exit::Success)
}

#[derive(clap::Args)]
pub struct LoadArgs {
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
}

pub fn load(args: LoadArgs) -> Outcome {
    let options = LoadOptions {
        url: args.url,
        admin_token: args.admin_token,
        data_dir: args.data_dir,
        concurrency: args.concurrency,
        requests: args.requests,
        payload_kb: args.payload_kb,
    };
    let r = runtime()?.block_on(harness::load::run(&options))?;
    if args.json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&r).expect("reports serialise")
        );
        return Ok(Exit::Success);
    }
    print_summary(&r);
    Ok(if r.failed > 0 {
        Exit::ChecksFailed
    } else {
        Exit::Success
    })
}

fn print_summary(r: &LoadReport) {
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
}
