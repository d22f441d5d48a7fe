//! `harness compare`: tells whether the TEL queries got slower from one run to another.

use std::path::PathBuf;

use anyhow::Context;
use harness::compare::{self, Metric};

use super::exit::{Exit, Outcome};

#[derive(clap::Args)]
pub struct CompareArgs {
    /// The baseline run's report.json.
    base: PathBuf,
    /// The new run's report.json.
    new: PathBuf,
    /// What to compare: wall time, CPU time, or SQLite's virtual-machine steps (no noise).
    #[arg(long, value_enum, default_value_t = Metric::Time)]
    metric: Metric,
    /// A probe is slower when its median grew by more than this percentage and by more than
    /// twice the noise of the two runs.
    #[arg(long, default_value_t = 10.0)]
    threshold: f64,
    /// Also write the change per probe as an HTML page with a chart.
    #[arg(long)]
    html: Option<PathBuf>,
}

pub fn compare(args: CompareArgs) -> Outcome {
    if !(args.threshold.is_finite() && args.threshold >= 0.0) {
        anyhow::bail!("--threshold {} is not a percentage", args.threshold);
    }
    if let Some(html) = &args.html {
        harness::report::refuse_same_file(html, &[&args.base, &args.new])?;
    }
    let comparison = compare::compare(&args.base, &args.new, args.metric, args.threshold)?;
    out!("{}", comparison.summary());
    if let Some(html) = &args.html {
        harness::report::write_readable(html, comparison.html().as_bytes())
            .with_context(|| format!("writing {}", html.display()))?;
        outln!("html: {}", html.display());
    }
    Ok(if comparison.regressions() > 0 {
        Exit::ChecksFailed
    } else {
        Exit::Success
    })
}
