//! `harness scenario`: work with scenario files without running them.

use std::path::PathBuf;

use harness::scenario::Scenario;

use super::exit::{Exit, Outcome};

#[derive(clap::Subcommand)]
pub enum ScenarioCommand {
    /// Validate scenario files without running them.
    Check {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

pub fn execute(command: ScenarioCommand) -> Outcome {
    let ScenarioCommand::Check { files } = command;
    let mut exit = Exit::Success;
    for file in files {
        let checked = Scenario::load(&file)
            .map_err(anyhow::Error::from)
            .and_then(|s| {
                let catalog = harness::probes::Catalog::of_scenario(&s, None)?;
                harness::engine::sqlite::check_loaded_probes(catalog)?;
                Ok(s)
            });
        match checked {
            Ok(s) => outln!("ok   {} ({})", file.display(), s.name),
            Err(e) => {
                eprintln!("error: {e}");
                exit = Exit::Invalid;
            }
        }
    }
    Ok(exit)
}
