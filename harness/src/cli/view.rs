//! `harness view`: a kept site database's `TEL_TelemetryResults`.

use std::path::PathBuf;

use harness::layout::RunLayout;

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
    let site = RunLayout::new(&args.out).find_site_db(args.scenario.as_deref(), &args.site)?;
    let table = harness::view::render(&site.db, args.week, args.probe.as_deref())?;
    out!("{table}");
    // The manifest is written last: without it the run stopped before its end (killed, or
    // failed), and an empty or short table says nothing of that by itself.
    if !site.scenario.manifest().is_file() {
        eprintln!(
            "note: {} has no manifest.json: its run did not finish, so the table shows what {} held when the run stopped",
            site.scenario.dir().display(),
            args.site.to_ascii_uppercase()
        );
    }
    Ok(Exit::Success)
}
