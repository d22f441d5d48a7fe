//! `harness scenario`: work with scenario files without running them.

use std::path::{Path, PathBuf};

use anyhow::Context;

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
    /// Write a scenario with the shape of the hierarchy an export came from: a CSV written by
    /// `harness sct export`, or a .cab written by `harness sct prepare`. Its sites, their client
    /// counts, level, mode, version and the client mix the probes reveal (each site's latest
    /// week), so that its count-per-value probes count what the export's did.
    FromExport {
        /// The export: .csv or .cab.
        file: PathBuf,
        /// Where to write the scenario (standard output when absent).
        #[arg(long, short)]
        out: Option<PathBuf>,
        /// Replace `--out` if it exists.
        #[arg(long)]
        force: bool,
        /// The scenario's name (`from-<file name>` when absent).
        #[arg(long)]
        name: Option<String>,
    },
    /// Shrink a failing scenario: cut weeks, faults, neighbours, primaries and clients while it
    /// still fails the same way (the same swarm invariant broken, or its own expectations
    /// unmet), and write the smallest. Exit 1 when the file fails (shrunk or not), 0 when it
    /// passes, 2 when it is invalid.
    Shrink {
        file: PathBuf,
        /// Where to write the smallest failing version (FILE with `.shrunk.toml`).
        #[arg(long, short)]
        out: Option<PathBuf>,
        /// Runs the shrinking may make, at most.
        #[arg(long, default_value_t = 200)]
        max_runs: u32,
        /// A directory of your own probes, as `harness run --probes`.
        #[arg(long, value_name = "DIR")]
        probes: Option<PathBuf>,
        /// Engine for the site databases; overrides the scenario's.
        #[arg(long, value_enum)]
        engine: Option<harness::scenario::EngineKind>,
    },
}

pub fn execute(command: ScenarioCommand) -> Outcome {
    match command {
        ScenarioCommand::Check { files } => check(files),
        ScenarioCommand::Upgrade { files } => upgrade(files),
        ScenarioCommand::FromExport {
            file,
            out,
            force,
            name,
        } => from_export(&file, out.as_deref(), force, name),
        ScenarioCommand::Shrink {
            file,
            out,
            max_runs,
            probes,
            engine,
        } => shrink(&file, out, max_runs, probes, engine),
    }
}

fn shrink(
    file: &Path,
    out: Option<PathBuf>,
    max_runs: u32,
    probes: Option<PathBuf>,
    engine: Option<harness::scenario::EngineKind>,
) -> Outcome {
    let text = fs_err::read_to_string(file)?;
    let into = out.unwrap_or_else(|| file.with_extension("shrunk.toml"));
    // The smallest version replaces a regular file only: never a device, a pipe or a link.
    if let Ok(meta) = fs_err::symlink_metadata(&into)
        && !meta.file_type().is_file()
    {
        anyhow::bail!("{} exists and is not a regular file", into.display());
    }
    if into.canonicalize().ok() == file.canonicalize().ok() {
        anyhow::bail!(
            "--out {} is the scenario being shrunk: give another file",
            into.display()
        );
    }
    let work = tempfile::tempdir().context("a folder for the shrinking runs")?;
    let options = harness::swarm::SwarmOptions {
        seeds: None,
        duration: None,
        start_seed: 0,
        limits: harness::swarm::Limits::model_test(),
        probes,
        engine,
        out: work.path().to_path_buf(),
        jobs: 1,
        shrink_runs: max_runs,
        progress: false,
    };
    let runtime = super::swarm::swarm_runtime(1)?;
    let shrunk = runtime
        .block_on(harness::swarm::shrink::shrink_file(
            &text, file, &into, &options, max_runs,
        ))
        .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    let Some(original) = &shrunk.original else {
        outln!("ok   {}: it passes; nothing to shrink", file.display());
        return Ok(Exit::Success);
    };
    outln!("FAIL {}: {original}", file.display());
    if shrunk.runs <= 1 {
        outln!("     no cut tried (--max-runs {max_runs})");
    } else if shrunk.steps == 0 {
        outln!(
            "     no smaller version fails the same way ({} runs)",
            shrunk.runs
        );
    } else {
        outln!(
            "     shrunk: {} ({} of {} runs made it smaller): {}",
            into.display(),
            shrunk.steps,
            shrunk.runs,
            shrunk.violation.as_ref().unwrap_or(original)
        );
    }
    Ok(Exit::ChecksFailed)
}

fn check(files: Vec<PathBuf>) -> Outcome {
    let mut exit = Exit::Success;
    for file in files {
        let checked = Scenario::load(&file)
            .map_err(anyhow::Error::from)
            .and_then(|s| {
                harness::pipeline::checked_catalog(&s, None)?;
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

fn from_export(file: &Path, out: Option<&Path>, force: bool, name: Option<String>) -> Outcome {
    use harness::from_export;
    let export = from_export::read(file)?;
    let name = name.unwrap_or_else(|| {
        let stem = file
            .file_stem()
            .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
        format!("from-{stem}")
    });
    let derived = from_export::derive(&export, &name)?;
    for note in &derived.notes {
        eprintln!("note: {note}");
    }
    match out {
        None => print!("{}", derived.text),
        Some(out) => {
            // Only a regular file is replaced (never a device, a pipe or what a link names).
            if let Ok(meta) = fs_err::symlink_metadata(out) {
                if !meta.file_type().is_file() {
                    anyhow::bail!("{} exists and is not a regular file", out.display());
                }
                if !force {
                    anyhow::bail!("{} exists; --force replaces it", out.display());
                }
            }
            harness::report::write_readable(out, derived.text.as_bytes())
                .with_context(|| format!("writing {}", out.display()))?;
            outln!(
                "wrote {}: {} site(s) from {}",
                out.display(),
                derived.sites.len(),
                file.display()
            );
            for (hash, code) in &derived.sites {
                outln!("  {code}  site {hash}");
            }
        }
    }
    Ok(Exit::Success)
}
