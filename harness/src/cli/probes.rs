//! `harness probes`: the catalog, and with `--probes DIR` the probes a run with that directory
//! would use.

use std::path::PathBuf;

use harness::probes::{Catalog, Check};
use harness::scenario::Level;

use super::exit::{Exit, Outcome};

#[derive(clap::Args)]
pub struct ProbesArgs {
    /// Only the probes a run at this level executes.
    #[arg(long)]
    level: Option<String>,
    /// Your own probes (see the README's "Testing a changed TEL query"): checked as a run would
    /// check them, and listed with the catalog.
    #[arg(long, value_name = "DIR")]
    probes: Option<PathBuf>,
}

pub fn list(args: ProbesArgs) -> Outcome {
    let level = args
        .level
        .map(|l| Level::parse(&l))
        .transpose()
        .map_err(|e| anyhow::anyhow!("--level {e}"))?;
    let catalog = match &args.probes {
        Some(dir) => Catalog::load(dir)?,
        None => Catalog::shipped(),
    };
    harness::engine::sqlite::check_loaded_probes(catalog)?;
    outln!(
        "{:<32} {:<9} {:<13} {:<9} description",
        "probe",
        "level",
        "category",
        "checked"
    );
    for p in catalog
        .iter()
        .filter(|p| level.is_none_or(|l| p.level <= l))
    {
        let checked = match p.check {
            Check::Oracle(_) => "oracle",
            Check::Expected(_) => "expected",
            Check::Unchecked => "no",
        };
        let origin = p.file.map(|f| format!(" ({f})")).unwrap_or_default();
        outln!(
            "{:<32} {:<9} {:<13} {:<9} {}{origin}",
            p.name,
            p.level,
            p.category,
            checked,
            p.description
        );
    }
    Ok(Exit::Success)
}
