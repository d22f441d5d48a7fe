//! `harness bench`: how each probe's time grows with the clients.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use harness::bench;
use harness::compare::Metric;
use harness::pipeline::RunOptions;
use harness::scenario::Scenario;
use usage_protocol::client::{RetryPolicy, Wait};

use super::exit::{Exit, Outcome, runtime};

#[derive(clap::Args)]
pub struct BenchArgs {
    /// The scenario to run at each size (its primaries all get that many clients).
    scenario: PathBuf,
    /// The sizes, in clients per primary, comma-separated: at least two.
    #[arg(long, value_delimiter = ',', default_value = "10000,50000,175000")]
    clients: Vec<u32>,
    /// What is judged against the scaling exponent: wall time (probes under 1 ms at the largest
    /// size are not judged), CPU time, or SQLite's virtual-machine steps (deterministic).
    #[arg(long, value_enum, default_value_t = Metric::Time)]
    metric: Metric,
    /// Each weekly collection made N times; the medians are fitted.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=100))]
    repeat: u32,
    /// Your own probes, as for `run --probes`.
    #[arg(long)]
    probes: Option<PathBuf>,
    /// Where the runs and bench.json go.
    #[arg(long, default_value = "harness-bench")]
    out: PathBuf,
}

pub fn bench(args: BenchArgs) -> Outcome {
    let mut sizes = args.clients.clone();
    sizes.sort_unstable();
    sizes.dedup();
    if sizes.len() < 2 || sizes[0] == 0 {
        anyhow::bail!(
            "--clients needs at least two different sizes above 0 (a line is fitted through them), e.g. 10000,50000,175000"
        );
    }
    let scenario = Scenario::load(&args.scenario)?;
    // Each size must be one the scenario could be written with.
    let (max, what) = if scenario.hierarchy.cas {
        (
            harness::scenario::MAX_CLIENTS_CHILD_PRIMARY,
            "a child primary site",
        )
    } else {
        (
            harness::scenario::MAX_CLIENTS_STANDALONE,
            "a stand-alone primary site",
        )
    };
    let primaries = scenario.hierarchy.primary.len() as u64;
    for size in &sizes {
        if *size > max {
            anyhow::bail!("--clients {size}: more than {what} supports ({max})");
        }
        if u64::from(*size) * primaries > harness::scenario::MAX_CLIENTS_HIERARCHY {
            anyhow::bail!(
                "--clients {size}: {primaries} primaries would have {} clients; a hierarchy supports {}",
                u64::from(*size) * primaries,
                harness::scenario::MAX_CLIENTS_HIERARCHY
            );
        }
    }
    let options = RunOptions {
        out: args.out.clone(),
        engine: None,
        seed: None,
        retry: RetryPolicy {
            timeout: Duration::from_secs(5),
            wait: Wait::Simulate,
            ..RetryPolicy::default()
        },
        progress: false,
        probes: args.probes.clone(),
        repeat: args.repeat,
    };
    let _lock = usage_protocol::dir_lock::DirLock::acquire(&args.out, "harness bench")?;
    let result = runtime()?.block_on(bench::bench(
        &scenario,
        &sizes,
        args.metric,
        &options,
        |size, report| {
            eprintln!(
                "bench: {size} clients per primary: {:.1} s, {} probe run(s)",
                report.timings.stages.total_ms / 1e3,
                report.timings.probes.len()
            )
        },
    ))?;
    out!("{}", result.summary());
    let json = args.out.join("bench.json");
    usage_protocol::durable::write_file(
        &json,
        &serde_json::to_vec_pretty(&result).expect("serialises"),
    )
    .with_context(|| format!("writing {}", json.display()))?;
    outln!("bench: {}", json.display());
    Ok(if result.above().next().is_some() {
        Exit::ChecksFailed
    } else {
        Exit::Success
    })
}
