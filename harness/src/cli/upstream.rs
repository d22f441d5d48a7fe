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
    /// A reference server measured under the same load, in alternating rounds: e.g. nginx
    /// answering `return 200;` (ci/upstream-vs-nginx.sh starts one). It gets the same requests
    /// and only has to answer 2xx; the summary gives both rates and the ratio.
    #[arg(long, value_name = "URL")]
    compare_url: Option<String>,
    /// Rounds of each with --compare-url; the summary's figures are the medians.
    #[arg(long, default_value_t = 3, requires = "compare_url")]
    rounds: usize,
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
    // Failed uploads (and, with --compare-url, failed requests to the reference) fail the command.
    let failed = if let Some(reference) = &args.compare_url {
        let c = runtime()?.block_on(harness::load::compare(&options, reference, args.rounds))?;
        let failed = |reports: &[LoadReport]| reports.iter().map(|r| r.failed).sum::<usize>();
        let (upstream_failed, reference_failed) = (failed(&c.upstream), failed(&c.reference));
        if args.json {
            outln!(
                "{}",
                serde_json::to_string_pretty(&c).expect("reports serialise")
            );
        } else {
            for (u, r) in c.upstream.iter().zip(&c.reference) {
                print_summary(u);
                print_summary(r);
            }
            let rounds = match c.upstream.len() {
                1 => "the median of 1 round".to_string(),
                n => format!("medians of {n} rounds"),
            };
            let ratio = match c.ratio {
                Some(ratio) => format!(
                    "the upstream's rate is {:.1} % of the reference's",
                    ratio * 100.0
                ),
                None => format!(
                    "no ratio: {upstream_failed} of the upstream's and {reference_failed} of the reference's requests failed"
                ),
            };
            outln!(
                "{rounds}: upstream {:.0} uploads/s (p99 {:.2} ms), reference {:.0} requests/s (p99 {:.2} ms); {ratio}",
                c.upstream_uploads_per_s,
                c.upstream_p99_ms,
                c.reference_requests_per_s,
                c.reference_p99_ms,
            );
        }
        upstream_failed + reference_failed
    } else {
        let r = runtime()?.block_on(harness::load::run(&options))?;
        if args.json {
            outln!(
                "{}",
                serde_json::to_string_pretty(&r).expect("reports serialise")
            );
        } else {
            print_summary(&r);
        }
        r.failed
    };
    Ok(if failed > 0 {
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
