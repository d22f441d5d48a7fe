//! The set of probes a run uses: the shipped catalog, with the probes loaded from a directory
//! swapped in (`replaces`) or added after it.

use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use sha2::Digest as _;

use super::loaded::{self, ProbeFileError};
use super::{CATALOG, Check, Probe};
use crate::scenario::{Level, Scenario};

pub struct Catalog {
    probes: Vec<&'static Probe>,
    /// The directory the loaded probes came from.
    dir: Option<PathBuf>,
    /// SHA-256 over every loaded probe's files: a kept run records it, and `harness check`
    /// refuses to judge the run by probes that changed since.
    digest: Option<String>,
}

static SHIPPED: LazyLock<Catalog> = LazyLock::new(|| Catalog {
    probes: CATALOG.iter().collect(),
    dir: None,
    digest: None,
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
        let mut digest = sha2::Sha256::new();
        for loaded in loaded::load_dir(dir)? {
            sha2::Digest::update(&mut digest, loaded.digest.as_bytes());
            let file = Path::new(loaded.probe.file.unwrap_or_default());
            let clash = |message: String| ProbeFileError::Invalid {
                path: file.to_path_buf(),
                at: String::new(),
                message,
            };
            let same_name = probes
                .iter()
                .position(|p| p.name.eq_ignore_ascii_case(loaded.probe.name));
            let at_line =
                |message: String| ProbeFileError::invalid(file, loaded.replaces_line, message);
            match (&loaded.replaces, same_name) {
                (Some(_), Some(at)) if probes[at].is_loaded() => {
                    return Err(at_line(format!(
                        "{} is replaced twice (also by {})",
                        probes[at].name,
                        probes[at].file.unwrap_or_default()
                    )));
                }
                (Some(_), Some(at)) if probes[at].level != loaded.probe.level => {
                    return Err(ProbeFileError::invalid(
                        file,
                        None,
                        format!(
                            "`level` is {} but {} is a {} probe: a replacement keeps the level of the probe it replaces",
                            loaded.probe.level, probes[at].name, probes[at].level
                        ),
                    ));
                }
                (Some(_), Some(at)) => {
                    probes[at] = as_replacement(loaded.probe, probes[at]);
                }
                (Some(replaced), None) => {
                    return Err(at_line(format!(
                        "`replaces = \"{replaced}\"`: there is no shipped probe of that name (`harness probes` lists them)"
                    )));
                }
                (None, Some(at)) if probes[at].is_loaded() => {
                    return Err(clash(format!(
                        "two probes are named {} (names are compared without regard to case; the other: {})",
                        loaded.probe.name,
                        probes[at].file.unwrap_or_default()
                    )));
                }
                (None, Some(at)) => {
                    return Err(clash(format!(
                        "{} is a shipped probe; to change it, say `replaces = \"{}\"`",
                        probes[at].name, probes[at].name
                    )));
                }
                (None, None) => probes.push(loaded.probe),
            }
        }
        Ok(Box::leak(Box::new(Catalog {
            probes,
            // Absolute, so that `harness check` finds it again from anywhere.
            dir: Some(dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf())),
            digest: Some(format!("{:x}", sha2::Digest::finalize(digest))),
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

    /// The probe of exactly this name (case and all): what a key of the scenario file must be
    /// to match the name the run reports its probes under.
    pub fn exactly(&self, name: &str) -> Option<&'static Probe> {
        self.probes.iter().copied().find(|p| p.name == name)
    }

    pub fn iter(&self) -> impl Iterator<Item = &'static Probe> + '_ {
        self.probes.iter().copied()
    }

    /// Refuses expected rows that name a site the scenario does not have (a typo would leave
    /// the probe unchecked there without a word).
    pub fn check_expected_sites(&self, sites: &[String]) -> Result<(), ProbeFileError> {
        for probe in self.iter() {
            let Check::Expected(rows) = probe.check else {
                continue;
            };
            if let Some(unknown) = rows.by_site.keys().find(|code| !sites.contains(code)) {
                let file = probe.expected_file().unwrap_or_default();
                return Err(ProbeFileError::invalid(
                    &file,
                    None,
                    format!(
                        "rows for site {unknown}, which the scenario does not have (its sites: {})",
                        sites.join(", ")
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The digest of the loaded probes' files, when there are any.
    pub fn digest(&self) -> Option<&str> {
        self.digest.as_deref()
    }

    /// Where the loaded probes came from, when there are any.
    pub fn loaded_from(&self) -> Option<&Path> {
        self.dir.as_deref()
    }
}

/// A replacement as it runs: under the shipped probe's name as the catalog spells it, and —
/// without expected rows of its own — held to the shipped probe's oracle (keeping its measured
/// columns): a rewrite must not change what the product reports.
fn as_replacement(loaded: &'static Probe, shipped: &'static Probe) -> &'static Probe {
    let (check, volatile) = match loaded.check {
        Check::Unchecked => (shipped.check, shipped.volatile),
        own => (own, loaded.volatile),
    };
    Box::leak(Box::new(Probe {
        name: shipped.name,
        check,
        volatile,
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
