//! The output folder of a run, owned in one place: every path a run writes, and every path a
//! later command (`view`, `sct`, `check`) reads back, comes from here.
//!
//! ```text
//! OUT/report.json
//! OUT/check-report.json                     what `harness check OUT` found
//! OUT/<scenario>/manifest.json              the run's record: scenario, seed, engine, versions
//! OUT/<scenario>/attempts.jsonl             every upload attempt, one JSON line each
//! OUT/<scenario>/sites/<CODE>.db            site databases (embedded engine)
//! OUT/<scenario>/payloads/week-NNN.json     the payload the SCP sent each week (-part-K: more parts)
//! OUT/<scenario>/upstream/                  what the mock cloud service stored
//! OUT/<scenario>/usb/week-NNN/              the offline transfer folder of a week
//! OUT/<scenario>/neighbor-N/{sites,payloads} the other hierarchies of a shared transfer folder
//! ```

use std::path::{Path, PathBuf};

/// Why a kept site database could not be found.
#[derive(Debug, thiserror::Error)]
pub enum FindError {
    #[error(
        "no site database {code}.db under {out}/*/sites/ (run a scenario with --out {out} first)"
    )]
    NotFound { code: String, out: String },
    #[error("site {code} exists in several scenarios ({0}); choose one with --scenario", scenarios.join(", "))]
    Ambiguous {
        code: String,
        scenarios: Vec<String>,
    },
    #[error(transparent)]
    List(#[from] std::io::Error),
}

/// The top of a run's output (`--out`).
#[derive(Debug, Clone)]
pub struct RunLayout {
    root: PathBuf,
}

impl RunLayout {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn report_json(&self) -> PathBuf {
        self.root.join("report.json")
    }

    /// `harness check`'s report, beside the run's own (which it leaves alone).
    pub fn check_report_json(&self) -> PathBuf {
        self.root.join("check-report.json")
    }

    /// The scenarios a run kept here, by folder name: the root itself when it is one scenario's
    /// folder, otherwise every folder under it with a manifest. None when this is not a kept run.
    pub fn kept_scenarios(&self) -> std::io::Result<Vec<ScenarioLayout>> {
        let root = ScenarioLayout {
            dir: self.root.clone(),
        };
        if root.manifest().is_file() {
            return Ok(vec![root]);
        }
        let mut kept: Vec<ScenarioLayout> = fs_err::read_dir(&self.root)?
            .flatten()
            .map(|entry| ScenarioLayout { dir: entry.path() })
            .filter(|layout| layout.manifest().is_file())
            .collect();
        kept.sort_by(|a, b| a.dir.cmp(&b.dir));
        Ok(kept)
    }

    pub fn scenario(&self, name: &str) -> ScenarioLayout {
        ScenarioLayout {
            dir: self.root.join(safe_name(name)),
        }
    }

    /// Finds a kept site database: in the named scenario, or the only scenario that has the site.
    pub fn find_site_db(&self, scenario: Option<&str>, code: &str) -> Result<KeptSite, FindError> {
        let not_found = || FindError::NotFound {
            code: code.into(),
            out: self.root.display().to_string(),
        };
        let kept = |scenario: ScenarioLayout| {
            let db = scenario.hierarchy("").site_db(code);
            db.exists().then_some(KeptSite { scenario, db })
        };
        if let Some(name) = scenario {
            return kept(self.scenario(name)).ok_or_else(not_found);
        }
        let mut found: Vec<KeptSite> = fs_err::read_dir(&self.root)?
            .flatten()
            .filter_map(|entry| kept(ScenarioLayout { dir: entry.path() }))
            .collect();
        match found.len() {
            0 => Err(not_found()),
            1 => Ok(found.remove(0)),
            _ => Err(FindError::Ambiguous {
                code: code.into(),
                scenarios: found
                    .iter()
                    .map(|k| {
                        k.scenario
                            .dir
                            .file_name()
                            .unwrap_or_default()
                            .to_string_lossy()
                            .into_owned()
                    })
                    .collect(),
            }),
        }
    }
}

/// A kept site database and the scenario folder that holds it.
#[derive(Debug, Clone)]
pub struct KeptSite {
    pub scenario: ScenarioLayout,
    pub db: PathBuf,
}

/// One scenario's folder.
#[derive(Debug, Clone)]
pub struct ScenarioLayout {
    dir: PathBuf,
}

impl ScenarioLayout {
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The run's record (`harness check` reads it): written last, so a folder with a manifest
    /// holds a whole run.
    pub fn manifest(&self) -> PathBuf {
        self.dir.join("manifest.json")
    }

    /// Every upload attempt of the run, one JSON line each.
    pub fn attempts(&self) -> PathBuf {
        self.dir.join("attempts.jsonl")
    }

    /// What the in-process mock upstream stores.
    pub fn upstream(&self) -> PathBuf {
        self.dir.join("upstream")
    }

    /// The offline transfer folder ("the USB drive") of one week.
    pub fn transfer(&self, week: u32) -> PathBuf {
        self.dir.join("usb").join(format!("week-{week:03}"))
    }

    /// A hierarchy's folders: the scenario's own (`label` empty) or a neighbor's
    /// (`neighbor-N/`).
    pub fn hierarchy(&self, label: &str) -> HierarchyLayout {
        HierarchyLayout {
            dir: self.dir.join(label),
        }
    }

    /// Removes what a previous run of the same scenario left that would confuse this one: its
    /// record, the upstream's store, the payloads and the transfer folders. Site databases are
    /// recreated by seeding.
    pub fn clear_previous_run(&self) -> std::io::Result<()> {
        for file in [self.manifest(), self.attempts()] {
            if file.exists() {
                fs_err::remove_file(&file)?;
            }
        }
        for dir in [
            self.upstream(),
            self.dir.join("payloads"),
            self.dir.join("usb"),
        ] {
            if dir.exists() {
                fs_err::remove_dir_all(&dir)?;
            }
        }
        Ok(())
    }
}

/// One hierarchy's folders.
#[derive(Debug, Clone)]
pub struct HierarchyLayout {
    dir: PathBuf,
}

impl HierarchyLayout {
    pub fn sites(&self) -> PathBuf {
        self.dir.join("sites")
    }

    /// The embedded engine's database file of a site.
    pub fn site_db(&self, code: &str) -> PathBuf {
        self.sites()
            .join(format!("{}.db", code.to_ascii_uppercase()))
    }

    pub fn payloads(&self) -> PathBuf {
        self.dir.join("payloads")
    }

    /// The payload of a cycle, as sent (its first part when the backlog went in parts).
    pub fn payload(&self, week: u32) -> PathBuf {
        self.payload_part(week, 1)
    }

    /// One part of a cycle's upload: `week-NNN.json` for the first, `week-NNN-part-K.json` after.
    pub fn payload_part(&self, week: u32, part: u32) -> PathBuf {
        if part <= 1 {
            self.payloads().join(format!("week-{week:03}.json"))
        } else {
            self.payloads()
                .join(format!("week-{week:03}-part-{part}.json"))
        }
    }

    pub fn create(&self) -> std::io::Result<()> {
        fs_err::create_dir_all(self.sites())?;
        fs_err::create_dir_all(self.payloads())
    }
}

/// A scenario name as a folder name.
pub fn safe_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}
