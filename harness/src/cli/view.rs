//! `harness view`: a kept site database's `TEL_TelemetryResults`.

use std::path::PathBuf;

use harness::layout::{RunLayout, ScenarioLayout};

use super::exit::{Exit, Outcome};

#[derive(clap::Args)]
pub struct ViewArgs {
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
}

pub fn view(args: ViewArgs) -> Outcome {
    let db = RunLayout::new(&args.out).find_site_db(args.scenario.as_deref(), &args.site)?;
    let table = harness::view::render(&db, args.week, args.probe.as_deref())?;
    out!("{table}");
    // The manifest is written last: without it the run stopped before its end (killed, or
    // failed), and an empty or short table says nothing of that by itself.
    if let Some(scenario) = ScenarioLayout::holding_site_db(&db)
        && !scenario.manifest().is_file()
    {
        eprintln!(
            "note: {} has no manifest.json: its run did not finish, so the table shows what {} held when the run stopped",
            scenario.dir().display(),
            args.site.to_ascii_uppercase()
        );
    }
    Ok(Exit::Success)
}
