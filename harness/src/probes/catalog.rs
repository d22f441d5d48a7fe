//! The set of probes a run uses: the shipped catalog, with the probes loaded from a directory
//! swapped in (`replaces`) or added after it.

use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use super::loaded::{self, ProbeFileError};
use super::{CATALOG, Check, Probe};
use crate::scenario::{Level, Scenario};

pub struct Catalog {
    probes: Vec<&'static Probe>,
    /// The directory the loaded probes came from.
    dir: Option<PathBuf>,
}

static SHIPPED: LazyLock<Catalog> = LazyLock::new(|| Catalog {
    probes: CATALOG.iter().collect(),
    dir: None,
});

impl Catalog {
    /// The probes compiled into the harness.
    pub fn shipped() -> &'static Catalog {
        &SHIPPED
    }

    /// The shipped catalog with the probes of `dir`. A probe that `replaces` a shipped one
    /// takes its place (and its name); any other must have a name of its own. Like the probes,
    /// the catalog lives for the rest of the process.
    pub fn load(dir: &Path) -> Result<&'static Catalog, ProbeFileError> {
        let mut probes: Vec<&'static Probe> = CATALOG.iter().collect();
        for loaded in loaded::load_dir(dir)? {
            let file = Path::new(loaded.probe.file.unwrap_or_default());
            let clash = |message: String| ProbeFileError::Invalid {
                path: file.to_path_buf(),
                at: String::new(),
                message,
            };
            let same_name = probes
                .iter()
                .position(|p| p.name.eq_ignore_ascii_case(loaded.probe.name));
            match (&loaded.replaces, same_name) {
                (Some(_), Some(at)) if !probes[at].is_loaded() => {
                    probes[at] = held_to_the_shipped_oracle(loaded.probe, probes[at]);
                }
                (Some(replaced), _) if CATALOG.iter().all(|p| p.name != replaced) => {
                    return Err(clash(format!(
                        "`replaces = \"{replaced}\"`: there is no shipped probe of that name (`harness probes` lists them)"
                    )));
                }
                (_, Some(_)) => {
                    return Err(clash(format!(
                        "a probe named {} is already in the catalog; to change a shipped probe, say `replaces = \"{}\"`",
                        loaded.probe.name, loaded.probe.name
                    )));
                }
                (_, None) => probes.push(loaded.probe),
            }
        }
        Ok(Box::leak(Box::new(Catalog {
            probes,
            // Absolute, so that `harness check` finds it again from anywhere.
            dir: Some(dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf())),
        })))
    }

    /// The probes `scenario` runs: the shipped catalog with those of `override_dir` (`--probes`)
    /// or else of its `[run] probes_dir` (relative to the scenario file; a missing directory is
    /// reported at that key's line).
    pub fn of_scenario(
        scenario: &Scenario,
        override_dir: Option<&Path>,
    ) -> Result<&'static Catalog, ProbeFileError> {
        if let Some(dir) = override_dir {
            return Catalog::load(dir);
        }
        let Some(dir) = &scenario.run.probes_dir else {
            return Ok(Catalog::shipped());
        };
        let resolved = scenario
            .path
            .parent()
            .unwrap_or(Path::new("."))
            .join(dir.get_ref());
        if !resolved.is_dir() {
            return Err(ProbeFileError::invalid(
                &scenario.path,
                Some(loaded::line_of(&scenario.text, dir.span().start)),
                format!(
                    "`run.probes_dir`: {} is not a directory",
                    resolved.display()
                ),
            ));
        }
        Catalog::load(&resolved)
    }

    /// The probes a run at `level` executes: every probe of that level and the levels below.
    pub fn for_level(&self, level: Level) -> Vec<&'static Probe> {
        self.probes
            .iter()
            .copied()
            .filter(|p| p.level <= level)
            .collect()
    }

    pub fn by_name(&self, name: &str) -> Option<&'static Probe> {
        self.probes
            .iter()
            .copied()
            .find(|p| p.name.eq_ignore_ascii_case(name))
    }

    pub fn iter(&self) -> impl Iterator<Item = &'static Probe> + '_ {
        self.probes.iter().copied()
    }

    /// Where the loaded probes came from, when there are any.
    pub fn loaded_from(&self) -> Option<&Path> {
        self.dir.as_deref()
    }
}

/// A replacement without expected rows is held to the oracle of the probe it replaces (and
/// keeps its measured columns): a rewrite must not change what the product reports.
fn held_to_the_shipped_oracle(loaded: &'static Probe, shipped: &Probe) -> &'static Probe {
    if !matches!(loaded.check, Check::Unchecked) {
        return loaded;
    }
    Box::leak(Box::new(Probe {
        check: shipped.check,
        volatile: shipped.volatile,
        ..loaded.clone()
    }))
}

impl std::fmt::Debug for Catalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Catalog")
            .field("probes", &self.probes.len())
            .field("dir", &self.dir)
            .finish()
    }
}
