//! `harness scenario`: work with scenario files without running them.

use std::path::PathBuf;

use harness::scenario::{FORMAT, Scenario, Upgraded, upgrade_file};

use super::exit::{Exit, Outcome};

#[derive(clap::Subcommand)]
pub enum ScenarioCommand {
    /// Validate scenario files (and their own probes) without running them.
    Check {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Rewrite scenario files of an older format as the current one, in place, keeping their
    /// comments and layout.
    Upgrade {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

pub fn execute(command: ScenarioCommand) -> Outcome {
    match command {
        ScenarioCommand::Check { files } => check(files),
        ScenarioCommand::Upgrade { files } => upgrade(files),
    }
}

fn check(files: Vec<PathBuf>) -> Outcome {
    let mut exit = Exit::Success;
    for file in files {
        let checked = Scenario::load(&file)
            .map_err(anyhow::Error::from)
            .and_then(|s| {
                let catalog = harness::probes::Catalog::of_scenario(&s, None)?;
                harness::engine::sqlite::check_loaded_probes(catalog)?;
                catalog.check_expected_sites(&harness::pipeline::site_codes(&s))?;
                Ok(s)
            });
        match checked {
            Ok(s) if s.format() < FORMAT => outln!(
                "ok   {} ({}; format {}: `harness scenario upgrade {}` rewrites it as format {FORMAT})",
                file.display(),
                s.name,
                s.format(),
                file.display()
            ),
            Ok(s) => outln!("ok   {} ({})", file.display(), s.name),
            Err(e) => {
                eprintln!("error: {e}");
                exit = Exit::Invalid;
            }
        }
    }
    Ok(exit)
}

fn upgrade(files: Vec<PathBuf>) -> Outcome {
    let mut exit = Exit::Success;
    for file in files {
        match upgrade_file(&file) {
            Ok(Upgraded::From(from)) => {
                outln!("upgraded {} from format {from} to {FORMAT}", file.display())
            }
            Ok(Upgraded::Current) => {
                outln!("current  {} (format {FORMAT})", file.display())
            }
            Err(e) => {
                eprintln!("error: {e}");
                exit = Exit::Invalid;
            }
        }
    }
    Ok(exit)
}
