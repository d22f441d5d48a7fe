//! Scenario files: the TOML a user writes to describe a hierarchy, a run, its faults and its
//! expectations.
//!
//! Parsing is strict — an unknown key is an error naming the key and its line — and validation
//! rejects what the product would not allow (a stand-alone primary with 200,000 clients, a CAS
//! with 26 primaries, telemetry turned off) with the line of the offending value.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer};
use toml::Spanned;

mod bounds;
mod fault;
mod mix;
mod upgrade;
mod validate;

pub use bounds::{COUNT_BOUNDS, CountBound, MAX_ROWS_PER_SITE, SiteCounts, beyond_support};
pub use fault::{CrashPoint, FaultKind, FaultSpec, Window};
pub use mix::{
    BRANCHES, EP_STATES, MAX_MIX_ENTRIES, MixSpec, OsKey, firmware_key, has_branch, parse_firmware,
    split_os,
};
pub use upgrade::{UpgradeError, Upgraded, upgrade_file};

use validate::Validator;

/// A `YYYY-MM-DD` date of a scenario.
pub fn parse_date(text: &str) -> Option<chrono::NaiveDate> {
    // Exactly `YYYY-MM-DD`: chrono alone would also take `2026-1-8` or `+2026-01-05`.
    let shaped = text.len() == 10
        && text.bytes().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    shaped
        .then(|| chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").ok())
        .flatten()
}

/// The scenario format this harness writes and reads. Format 1 is every file written before
/// scenario files carried `format`: it still runs, and `harness scenario upgrade` rewrites it.
/// (Format 2 adds the key, `[run] probes_dir` and nothing else.)
pub const FORMAT: u32 = 2;

/// Supported product maxima, from the product documentation.
pub const MAX_PRIMARIES_UNDER_CAS: usize = 25;
pub const MAX_CLIENTS_STANDALONE: u32 = 175_000;
pub const MAX_CLIENTS_CHILD_PRIMARY: u32 = 150_000;
pub const MAX_CLIENTS_HIERARCHY: u64 = 1_000_000;

#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("cannot read scenario {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {message}", path.display())]
    Parse { path: PathBuf, message: String },
    #[error("{}{at}: `{key}`: {problem}", path.display())]
    Invalid {
        path: PathBuf,
        /// `:LINE` when the value has one.
        at: String,
        key: String,
        problem: String,
    },
    /// Every problem of a file with more than one, in the file's order of checks.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Several(Vec<ScenarioError>),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// The file's format version; a file without one is format 1 (see [`FORMAT`]).
    #[serde(default)]
    pub format: Option<Spanned<u32>>,
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub seed: u64,
    pub hierarchy: HierarchySpec,
    #[serde(default)]
    pub run: RunSpec,
    #[serde(default)]
    pub faults: Vec<FaultSpec>,
    #[serde(default)]
    pub expect: Expect,
    #[serde(default)]
    pub budget: Budget,
    /// Other hierarchies whose service connection tool shares this one's transfer folder (offline
    /// only): their cabinets travel together and are uploaded by one `-connect`.
    #[serde(default)]
    pub neighbors: Vec<HierarchySpec>,
    /// Where the scenario was read from; set by [`Scenario::load`].
    #[serde(skip)]
    pub path: PathBuf,
    /// The file's text, as read: a kept run records it (`manifest.json`).
    #[serde(skip)]
    pub text: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HierarchySpec {
    /// The hierarchy ID (a GUID); derived from the seed when absent.
    pub id: Option<Spanned<String>>,
    #[serde(default)]
    pub cas: bool,
    /// Site code of the CAS, when there is one.
    #[serde(default = "default_cas_code")]
    pub cas_code: Spanned<String>,
    #[serde(default)]
    pub level: Level,
    #[serde(default)]
    pub scp_mode: ScpMode,
    #[serde(default = "default_version")]
    pub version: Spanned<String>,
    pub installed: Spanned<String>,
    /// File name the service connection tool's `-prepare` writes (offline mode).
    #[serde(default = "default_cab_name")]
    pub cab_name: Spanned<String>,
    #[serde(default)]
    pub primary: Vec<PrimarySpec>,
}

fn default_cab_name() -> Spanned<String> {
    Spanned::new(0..0, "UsageData.cab".into())
}

fn default_cas_code() -> Spanned<String> {
    Spanned::new(0..0, "CAS".into())
}

fn default_version() -> Spanned<String> {
    Spanned::new(0..0, "5.00.8540.1000".into())
}

/// One primary site and the knobs of its synthetic data.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrimarySpec {
    pub code: Spanned<String>,
    pub clients: Spanned<u32>,
    /// The day this primary was installed, when not with its CAS: on or after the CAS's
    /// (`[hierarchy] installed`). Its weekly runs follow its own calendar.
    #[serde(default)]
    pub installed: Option<Spanned<String>>,
    /// Applications (each with one to three deployment types).
    #[serde(default = "defaults::apps")]
    pub apps: Spanned<u32>,
    /// Software updates in the site's catalog.
    #[serde(default = "defaults::updates")]
    pub updates: Spanned<u32>,
    /// Compliance states per client (capped by `updates`).
    #[serde(default = "defaults::updates_per_client")]
    pub updates_per_client: Spanned<u32>,
    #[serde(default = "defaults::collections")]
    pub collections: Spanned<u32>,
    /// Tables the customer added to the site database; only their hashed names may leave.
    #[serde(default = "defaults::custom_tables")]
    pub custom_tables: Spanned<u32>,
    #[serde(default = "defaults::boundary_groups")]
    pub boundary_groups: Spanned<u32>,
    /// Software update groups (each with a share of the catalog's updates).
    #[serde(default = "defaults::update_groups")]
    pub update_groups: Spanned<u32>,
    #[serde(default = "defaults::time_zone")]
    pub time_zone: String,
    /// The shape of its clients (`[hierarchy.primary.mix]`); the default mix when absent.
    #[serde(default)]
    pub mix: Option<Spanned<MixSpec>>,
}

mod defaults {
    use toml::Spanned;

    pub fn custom_tables() -> Spanned<u32> {
        Spanned::new(0..0, 0)
    }
    pub fn apps() -> Spanned<u32> {
        Spanned::new(0..0, 40)
    }
    pub fn updates() -> Spanned<u32> {
        Spanned::new(0..0, 200)
    }
    pub fn updates_per_client() -> Spanned<u32> {
        Spanned::new(0..0, 10)
    }
    pub fn collections() -> Spanned<u32> {
        Spanned::new(0..0, 30)
    }
    pub fn boundary_groups() -> Spanned<u32> {
        Spanned::new(0..0, 10)
    }
    pub fn update_groups() -> Spanned<u32> {
        Spanned::new(0..0, 12)
    }
    pub fn time_zone() -> String {
        "UTC".into()
    }
}

/// A character a name must not hold, since names are printed on terminals and in reports:
/// control characters, and the invisible ones that reorder or hide text (bidi overrides and
/// isolates, zero-width marks).
pub fn unprintable(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
}

/// `text` with every [`unprintable`] character written as its escape (`\u{1b}`): for text from
/// outside — a report anyone can edit, a database's error message — on its way to a terminal or
/// a page.
pub fn printable(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            if unprintable(c) && c != '\n' {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

/// The telemetry level. Telemetry cannot be turned off: Basic is the minimum.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    Basic,
    #[default]
    Enhanced,
    Full,
}

impl Level {
    /// 1 for basic, 2 for enhanced, 3 for full: how the site databases store a level's order.
    pub fn rank(self) -> i32 {
        match self {
            Level::Basic => 1,
            Level::Enhanced => 2,
            Level::Full => 3,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Basic => "basic",
            Level::Enhanced => "enhanced",
            Level::Full => "full",
        }
    }

    pub fn parse(value: &str) -> Result<Self, String> {
        match value.to_ascii_lowercase().as_str() {
            "basic" => Ok(Level::Basic),
            "enhanced" => Ok(Level::Enhanced),
            "full" => Ok(Level::Full),
            "off" | "none" | "disabled" | "0" => Err(format!(
                "`{value}`: diagnostics and usage data cannot be turned off; basic is the minimum level"
            )),
            _ => Err(format!(
                "`{value}` is not a level; use basic, enhanced or full"
            )),
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Level {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Level::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScpMode {
    #[default]
    Online,
    Offline,
}

impl ScpMode {
    pub fn as_str(self) -> &'static str {
        match self {
            ScpMode::Online => "online",
            ScpMode::Offline => "offline",
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum EngineKind {
    /// One SQLite file per site in the output folder; needs nothing installed.
    #[default]
    Embedded,
    /// SQL Server in containers started through Docker.
    Docker,
    /// SQL Servers you already run, reached through connection strings.
    External,
}

impl EngineKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EngineKind::Embedded => "embedded",
            EngineKind::Docker => "docker",
            EngineKind::External => "external",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunSpec {
    #[serde(default = "one")]
    pub weeks: Spanned<u32>,
    #[serde(default)]
    pub engine: EngineKind,
    /// Docker engine: the `mcr.microsoft.com/mssql/server` tag; the engine's pinned default when
    /// absent.
    #[serde(default)]
    pub image_tag: Option<String>,
    /// Docker engine: site databases per container.
    #[serde(default = "default_sites_per_container")]
    pub sites_per_container: usize,
    /// External engine: connection strings (the environment can supply them too).
    #[serde(default)]
    pub external: ExternalSpec,
    /// A directory of the user's own probes, relative to the scenario file (`--probes`
    /// overrides it): see `probes::Catalog::of_scenario`.
    #[serde(default)]
    pub probes_dir: Option<Spanned<String>>,
}

/// `[run.external]`: ADO.NET connection strings of SQL Servers you run.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExternalSpec {
    /// For every site without its own.
    pub url: Option<String>,
    /// By site code.
    #[serde(default)]
    pub sites: std::collections::BTreeMap<String, String>,
}

fn default_sites_per_container() -> usize {
    8
}

fn one() -> Spanned<u32> {
    Spanned::new(0..0, 1)
}

impl Default for RunSpec {
    fn default() -> Self {
        Self {
            weeks: one(),
            engine: EngineKind::default(),
            image_tag: None,
            sites_per_container: default_sites_per_container(),
            external: ExternalSpec::default(),
            probes_dir: None,
        }
    }
}

#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    #[default]
    Pass,
    Fail,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Fail => "fail",
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    #[serde(default)]
    pub outcome: Outcome,
    /// Accepted uploads at the upstream, exactly; unchecked when absent.
    pub uploads: Option<u32>,
    /// Finding codes the run must report. Listing a code makes it required; an unlisted error
    /// fails the run, an unlisted info never does.
    #[serde(default)]
    pub findings: Vec<String>,
    /// A finding's severity for this scenario, overriding its default:
    /// `[expect.severity] upload_retried = "error"`.
    #[serde(default)]
    pub severity: std::collections::BTreeMap<String, crate::finding::Severity>,
    /// The most attempts any one upload may take.
    pub max_attempts: Option<u32>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Budget {
    /// Weekly collection time allowed per site, per thousand clients (milliseconds).
    pub collect_ms_per_1k_clients: Option<f64>,
    /// `[budget.probes]`: one probe's run time allowed per site, per thousand clients
    /// (milliseconds), by probe name.
    #[serde(default)]
    pub probes: std::collections::BTreeMap<String, f64>,
    /// `[budget.probe_steps]`: one probe's SQLite virtual-machine steps allowed per site run,
    /// per thousand clients, by probe name: deterministic, so a gate on it never flakes (the
    /// embedded engine counts steps; SQL Server does not, so it is not measured there).
    #[serde(default)]
    pub probe_steps: std::collections::BTreeMap<String, f64>,
    /// The largest exponent of a probe's time against clients that `harness bench` accepts
    /// (1.0 is linear; 1.2 by default).
    pub probe_scaling_exponent: Option<f64>,
}

impl Budget {
    /// Whether the scenario holds its runs to any budget of time or steps (the exponent is
    /// `harness bench`'s alone).
    pub fn is_set(&self) -> bool {
        self.collect_ms_per_1k_clients.is_some() || self.per_probe().any(|_| true)
    }

    /// Every per-probe budget: its table (`probes` or `probe_steps`), probe and limit.
    pub fn per_probe(&self) -> impl Iterator<Item = (&'static str, &str, f64)> + '_ {
        [("probes", &self.probes), ("probe_steps", &self.probe_steps)]
            .into_iter()
            .flat_map(|(table, limits)| {
                limits
                    .iter()
                    .map(move |(probe, limit)| (table, probe.as_str(), *limit))
            })
    }
}

impl Scenario {
    /// Reads, parses and validates a scenario file.
    pub fn load(path: &Path) -> Result<Self, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses and validates scenario text; `path` only names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ScenarioError> {
        // The format first, alone: a file of a newer format may have keys this harness does not
        // know, and it is its format, not those keys, that the user must hear about.
        #[derive(Deserialize)]
        struct FormatOnly {
            format: Option<Spanned<i64>>,
        }
        if let Ok(FormatOnly {
            format: Some(format),
        }) = toml::from_str::<FormatOnly>(text)
        {
            let version = *format.get_ref();
            let problem = if version > i64::from(FORMAT) {
                Some(format!(
                    "this file is format {version}; this harness reads formats 1 to {FORMAT}: a newer file needs a newer harness"
                ))
            } else if version < 1 {
                Some(format!(
                    "there is no format {version}: formats are 1 to {FORMAT}"
                ))
            } else {
                None
            };
            if let Some(problem) = problem {
                return Err(ScenarioError::Invalid {
                    path: path.to_path_buf(),
                    at: format!(":{}", text[..format.span().start].matches('\n').count() + 1),
                    key: "format".into(),
                    problem,
                });
            }
        }
        let mut scenario: Scenario = toml::from_str(text).map_err(|e| {
            let mut message = e.to_string().trim_end().to_string();
            if message.contains("invalid type: map, expected a string") {
                // A TOML date (`installed = 2026-01-05`) reads as a map to serde.
                message.push_str("\n(dates are strings here: write `installed = \"2026-01-05\"`)");
            }
            ScenarioError::Parse {
                path: path.to_path_buf(),
                message,
            }
        })?;
        scenario.path = path.to_path_buf();
        scenario.text = text.to_string();
        Validator::new(text, path).validate(&scenario)?;
        Ok(scenario)
    }

    /// The file's format version (1 when it has none).
    pub fn format(&self) -> u32 {
        self.format.as_ref().map_or(1, |f| *f.get_ref())
    }

    pub fn weeks(&self) -> u32 {
        *self.run.weeks.get_ref()
    }

    pub fn installed(&self) -> chrono::NaiveDate {
        chrono::NaiveDate::parse_from_str(self.hierarchy.installed.get_ref(), "%Y-%m-%d")
            .expect("validated")
    }

    /// The hierarchy ID: the scenario's, or one derived from the seed.
    pub fn hierarchy_id(&self) -> uuid::Uuid {
        Self::id_of(&self.hierarchy, self.seed, 0)
    }

    /// The ID of hierarchy `index` (0 the scenario's own, then its neighbors).
    pub fn id_of(h: &HierarchySpec, seed: u64, index: usize) -> uuid::Uuid {
        match &h.id {
            Some(id) => uuid::Uuid::parse_str(id.get_ref()).expect("validated"),
            None => {
                let name = if index == 0 {
                    format!("hierarchy:{seed}")
                } else {
                    format!("hierarchy:{seed}:{index}")
                };
                uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, name.as_bytes())
            }
        }
    }

    /// The level each weekly run uses (index 0 is week 1). A `level_change` during week k takes
    /// effect from week k + 1.
    pub fn levels(&self) -> Vec<Level> {
        let mut current = self.hierarchy.level;
        (1..=self.weeks())
            .map(|week| {
                let this_week = current;
                for f in self.faults_at(week, FaultKind::LevelChange) {
                    if let Some(level) = &f.level {
                        current = Level::parse(level.get_ref()).expect("validated");
                    }
                }
                this_week
            })
            .collect()
    }

    /// Faults of one kind scheduled for `week`.
    pub fn faults_at(
        &self,
        week: u32,
        kind: FaultKind,
    ) -> impl DoubleEndedIterator<Item = &FaultSpec> {
        self.faults
            .iter()
            .filter(move |f| f.strikes(week) && *f.kind.get_ref() == kind)
    }
}
