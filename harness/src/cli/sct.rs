//! `harness sct`: the service connection tool of an offline service connection point.

use std::path::PathBuf;
use std::sync::Arc;

use harness::engine::SiteDatabase;
use harness::engine::sqlite::SqliteEngine;
use harness::layout::RunLayout;
use harness::probes::Catalog;
use harness::sct;

use super::exit::{Exit, Outcome, runtime};

pub fn execute(command: SctCommand) -> Outcome {
    runtime()?.block_on(sct(command))?;
    Ok(Exit::Success)
}

/// Which site database the service connection tool works on: a file, or a site of a run kept
/// under --out.
#[derive(clap::Args)]
pub struct SiteSource {
    /// The site database file (an embedded engine's SITE.db).
    #[arg(long, conflicts_with_all = ["site", "scenario"])]
    site_db: Option<PathBuf>,
    /// The top-level site's code, in a run kept under --out.
    #[arg(long)]
    site: Option<String>,
    /// The scenario the site belongs to; needed only when several in --out have it.
    #[arg(long)]
    scenario: Option<String>,
    /// The output folder of the run.
    #[arg(long, default_value = "harness-out")]
    out: PathBuf,
    /// The directory of your own probes the run used (`harness run --probes`), so that their
    /// levels are known; the shipped probes only when absent.
    #[arg(long, value_name = "DIR")]
    probes: Option<PathBuf>,
}

impl SiteSource {
    fn catalog(&self) -> anyhow::Result<&'static Catalog> {
        match &self.probes {
            Some(dir) => {
                let catalog = Catalog::load(dir)?;
                harness::engine::sqlite::check_loaded_probes(catalog)?;
                Ok(catalog)
            }
            None => Ok(Catalog::shipped()),
        }
    }
}

#[derive(clap::Subcommand)]
pub enum SctCommand {
    /// -prepare: write the week's usage data into a .cab (with a SiteVersion file).
    Prepare {
        #[command(flatten)]
        source: SiteSource,
        /// The cabinet to write, e.g. D:/USB/UsageData.cab.
        #[arg(long)]
        usagedatadest: PathBuf,
        /// The weekly cycle; the latest one that ran when absent.
        #[arg(long)]
        week: Option<u32>,
    },
    /// -export: write the week's usage data as CSV, one line per result row.
    Export {
        #[command(flatten)]
        source: SiteSource,
        /// The CSV file to write.
        #[arg(long)]
        dest: PathBuf,
        #[arg(long)]
        week: Option<u32>,
    },
    /// -connect: upload every .cab of a folder and download each hierarchy's update packs.
    Connect {
        /// Folder holding the cabinets (one per hierarchy, unique names).
        #[arg(long)]
        usagedatasrc: PathBuf,
        /// Folder the update packs go to, one subfolder per hierarchy.
        #[arg(long)]
        updatepackdest: PathBuf,
        /// The service, e.g. one started by `harness upstream`.
        #[arg(long)]
        url: String,
        /// A hierarchy token the service issued.
        #[arg(
            long,
            env = "HARNESS_UPSTREAM_TOKEN",
            required_unless_present = "admin_token"
        )]
        token: Option<String>,
        /// Instead of --token: the mock service's admin token (the second line `harness
        /// upstream` prints). Each cabinet's hierarchy is registered first and its token used;
        /// it takes precedence over a --token (or HARNESS_UPSTREAM_TOKEN).
        #[arg(long)]
        admin_token: Option<String>,
    },
    /// -import: import the update packs meant for this site's hierarchy; leave the others.
    Import {
        #[command(flatten)]
        source: SiteSource,
        /// The folder -connect downloaded into.
        #[arg(long)]
        updatepacksrc: PathBuf,
    },
}

fn open_site(source: &SiteSource) -> anyhow::Result<Arc<dyn SiteDatabase>> {
    let path = match (&source.site_db, &source.site) {
        (Some(path), _) => path.clone(),
        (None, Some(code)) => {
            RunLayout::new(&source.out)
                .find_site_db(source.scenario.as_deref(), code)?
                .db
        }
        (None, None) => anyhow::bail!(
            "say which site database: --site-db FILE, or --site CODE (with --out DIR)"
        ),
    };
    Ok(SqliteEngine::open_existing(&path)?)
}

async fn sct(command: SctCommand) -> anyhow::Result<()> {
    match command {
        SctCommand::Prepare {
            source,
            usagedatadest,
            week,
        } => {
            let db = open_site(&source)?;
            let cab = sct::prepare(db.as_ref(), source.catalog()?, week, &usagedatadest).await?;
            outln!(
                "prepared {} ({} bytes): week {} of hierarchy {}",
                cab.path.display(),
                cab.bytes,
                cab.week,
                cab.hierarchy_hash
            );
        }
        SctCommand::Export { source, dest, week } => {
            let db = open_site(&source)?;
            let rows = sct::export(db.as_ref(), source.catalog()?, week, &dest).await?;
            outln!("exported {rows} rows to {}", dest.display());
        }
        SctCommand::Connect {
            usagedatasrc,
            updatepackdest,
            url,
            token,
            admin_token,
        } => {
            let credentials = match (token, admin_token) {
                (_, Some(admin)) => sct::Credentials::Admin(admin),
                (Some(token), None) => sct::Credentials::Token(token),
                (None, None) => unreachable!("clap requires one of --token, --admin-token"),
            };
            for u in sct::connect(&url, &credentials, &usagedatasrc, &updatepackdest).await? {
                outln!(
                    "uploaded {}: week {} of hierarchy {} (receipt {}{}); {} update pack(s) downloaded",
                    u.file,
                    u.week,
                    u.hierarchy_hash,
                    u.receipt,
                    if u.replayed { ", already received" } else { "" },
                    u.packs
                );
            }
        }
        SctCommand::Import {
            source,
            updatepacksrc,
        } => {
            let db = open_site(&source)?;
            let outcome = sct::import(db.as_ref(), &updatepacksrc).await?;
            outln!(
                "imported {} update pack(s): {}",
                outcome.imported.len(),
                outcome.imported.join(", ")
            );
            for other in outcome.left_alone {
                outln!(
                    "left alone: the packs of hierarchy {other}, which are not meant for this site"
                );
            }
            match outcome.acknowledged {
                Some(receipt) => outln!(
                    "acknowledged: receipt {receipt}; the cabinet's probe runs are delivered"
                ),
                None => outln!(
                    "no receipt for this site's staged cabinet: its probe runs stay pending and \
                     go with the next -prepare"
                ),
            }
        }
    }
    Ok(())
}
