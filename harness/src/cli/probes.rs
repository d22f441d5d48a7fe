//! `harness probes`: the catalog.

use harness::probes;
use harness::scenario::Level;

use super::exit::{Exit, Outcome};

#[derive(clap::Args)]
pub struct ProbesArgs {
    /// Only the probes a run at this level executes.
    #[arg(long)]
    level: Option<String>,
}

pub fn list(args: ProbesArgs) -> Outcome {
    let level = args
        .level
        .map(|l| Level::parse(&l))
        .transpose()
        .map_err(|e| anyhow::anyhow!("--level {e}"))?;
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
    Ok(Exit::Success)
}
