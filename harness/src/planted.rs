//! Bugs planted on purpose, for testing the tester: a swarm must find a planted bug and shrink
//! it (`harness/tests/swarm.rs`). Off unless switched on, by that test or by the hidden
//! `harness swarm --plant-bug` flag; no scenario key reaches it.

use std::sync::atomic::{AtomicU8, Ordering};

use crate::engine::{EngineError, SiteDatabase};
use crate::payload::Backlog;

/// A bug that can be planted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PlantedBug {
    /// The online submit stage silently drops one late row: the oldest run of a site that has
    /// more than one run waiting, marked dropped as if the level had changed.
    DropLateRow,
}

static PLANTED: AtomicU8 = AtomicU8::new(0);

impl PlantedBug {
    fn bit(self) -> u8 {
        match self {
            PlantedBug::DropLateRow => 1,
        }
    }
}

/// Switches `bug` on for the rest of the process.
pub fn plant(bug: PlantedBug) {
    PLANTED.fetch_or(bug.bit(), Ordering::SeqCst);
}

/// Switches every planted bug off.
pub fn clear() {
    PLANTED.store(0, Ordering::SeqCst);
}

fn is_planted(bug: PlantedBug) -> bool {
    PLANTED.load(Ordering::SeqCst) & bug.bit() != 0
}

/// [`PlantedBug::DropLateRow`], when planted: takes one late run out of `backlog`.
pub async fn drop_late_row(
    db: &dyn SiteDatabase,
    backlog: &mut Backlog,
) -> Result<(), EngineError> {
    if !is_planted(PlantedBug::DropLateRow) {
        return Ok(());
    }
    let late = backlog.entries.iter().position(|e| {
        backlog
            .entries
            .iter()
            .any(|later| later.key.site_hash == e.key.site_hash && later.key.week > e.key.week)
    });
    if let Some(index) = late {
        let entry = backlog.entries.remove(index);
        db.mark_dropped(&[entry.key], "level_change").await?;
    }
    Ok(())
}
