//! Scenario files: the TOML a user writes to describe a hierarchy, a run and its expectations
//! (DESIGN §5).
//!
//! Parsing is strict — an unknown key is an error naming the key and its line — and validation
//! rejects what the product would not allow (a stand-alone primary with 200,000 clients, a CAS
//! with 26 primaries, telemetry turned off) with the line of the offending value.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer};
use toml::Spanned;

/// Supported product maxima (DESIGN §1).
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
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
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
    /// Applications (each with one to three deployment types).
    #[serde(default = "defaults::apps")]
    pub apps: u32,
    /// Software updates in the site's catalog.
    #[serde(default = "defaults::updates")]
    pub updates: u32,
    /// Compliance states per client (capped by `updates`).
    #[serde(default = "defaults::updates_per_client")]
    pub updates_per_client: u32,
    #[serde(default = "defaults::collections")]
    pub collections: u32,
    /// Tables the customer added to the site database; only their hashed names may leave.
    #[serde(default)]
    pub custom_tables: u32,
    #[serde(default = "defaults::boundary_groups")]
    pub boundary_groups: u32,
    /// Software update groups (each with a share of the catalog's updates).
    #[serde(default = "defaults::update_groups")]
    pub update_groups: u32,
    #[serde(default = "defaults::time_zone")]
    pub time_zone: String,
}

mod defaults {
    pub fn apps() -> u32 {
        40
    }
    pub fn updates() -> u32 {
        200
    }
    pub fn updates_per_client() -> u32 {
        10
    }
    pub fn collections() -> u32 {
        30
    }
    pub fn boundary_groups() -> u32 {
        10
    }
    pub fn update_groups() -> u32 {
        12
    }
    pub fn time_zone() -> String {
        "UTC".into()
    }
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
    /// Docker engine: the `mcr.microsoft.com/mssql/server` tag.
    #[serde(default = "default_image_tag")]
    pub image_tag: String,
    /// Docker engine: site databases per container.
    #[serde(default = "default_sites_per_container")]
    pub sites_per_container: usize,
    /// External engine: connection strings (the environment can supply them too).
    #[serde(default)]
    pub external: ExternalSpec,
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

fn default_image_tag() -> String {
    crate::engine::provision::DEFAULT_IMAGE_TAG.into()
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
            image_tag: default_image_tag(),
            sites_per_container: default_sites_per_container(),
            external: ExternalSpec::default(),
        }
    }
}

/// The kinds of fault a scenario can schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// The upstream answers `status` to the next `count` upload attempts.
    UpstreamStatus,
    /// The upstream waits `ms` before answering the next `count` upload attempts.
    UpstreamLatency,
    /// The upstream answers 429 with `Retry-After: retry_after_s` to the next `count` attempts.
    UpstreamThrottle,
    /// The upstream resets the next `count` connections.
    UpstreamReset,
    /// `site` does not replicate to the CAS during `week`; it catches up the week after.
    ReplicationDown,
    /// An administrator changes the telemetry level to `level` during `week`; it takes effect
    /// from the next weekly run.
    LevelChange,
    /// The week's prepared .cab is damaged on its way to the internet-connected machine.
    CabCorrupted,
    /// The week's prepared .cab is renamed to `to` before `-connect`.
    CabRenamed,
}

impl FaultKind {
    fn name(self) -> &'static str {
        match self {
            FaultKind::UpstreamStatus => "upstream_status",
            FaultKind::UpstreamLatency => "upstream_latency",
            FaultKind::UpstreamThrottle => "upstream_throttle",
            FaultKind::UpstreamReset => "upstream_reset",
            FaultKind::ReplicationDown => "replication_down",
            FaultKind::LevelChange => "level_change",
            FaultKind::CabCorrupted => "cab_corrupted",
            FaultKind::CabRenamed => "cab_renamed",
        }
    }
}

/// One scheduled fault. Fields that a kind does not use are rejected by validation.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    pub kind: Spanned<FaultKind>,
    pub week: Spanned<u32>,
    pub site: Option<Spanned<String>>,
    pub status: Option<Spanned<u16>>,
    pub count: Option<Spanned<u32>>,
    pub ms: Option<Spanned<u64>>,
    pub retry_after_s: Option<Spanned<u64>>,
    pub level: Option<Spanned<String>>,
    /// New file name, for `cab_renamed`.
    pub to: Option<Spanned<String>>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    #[default]
    Pass,
    Fail,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    #[serde(default)]
    pub outcome: Outcome,
    /// Accepted uploads at the upstream, exactly; unchecked when absent.
    pub uploads: Option<u32>,
    /// Finding codes the checker must report (and no others).
    #[serde(default)]
    pub findings: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Budget {
    /// Weekly collection time allowed per site, per thousand clients (milliseconds).
    pub collect_ms_per_1k_clients: Option<f64>,
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
        let mut scenario: Scenario = toml::from_str(text).map_err(|e| ScenarioError::Parse {
            path: path.to_path_buf(),
            message: e.to_string().trim_end().to_string(),
        })?;
        scenario.path = path.to_path_buf();
        Validator { text, path }.validate(&scenario)?;
        Ok(scenario)
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
    pub fn faults_at(&self, week: u32, kind: FaultKind) -> impl Iterator<Item = &FaultSpec> {
        self.faults
            .iter()
            .filter(move |f| *f.week.get_ref() == week && *f.kind.get_ref() == kind)
    }
}

struct Validator<'a> {
    text: &'a str,
    path: &'a Path,
}

impl Validator<'_> {
    fn error<T>(
        &self,
        span: std::ops::Range<usize>,
        key: &str,
        problem: impl Into<String>,
    ) -> Result<T, ScenarioError> {
        // Defaults carry the empty span: they have no line to point at.
        let at = if span == (0..0) {
            String::new()
        } else {
            let line = self.text[..span.start.min(self.text.len())]
                .matches('\n')
                .count()
                + 1;
            format!(":{line}")
        };
        Err(ScenarioError::Invalid {
            path: self.path.to_path_buf(),
            at,
            key: key.to_string(),
            problem: problem.into(),
        })
    }

    fn validate(&self, s: &Scenario) -> Result<(), ScenarioError> {
        if s.name.trim().is_empty() {
            return self.error(0..0, "name", "a scenario needs a name");
        }
        let codes = self.hierarchy(&s.hierarchy, "hierarchy")?;
        for n in &s.neighbors {
            self.hierarchy(n, "neighbors")?;
            if s.hierarchy.scp_mode != ScpMode::Offline || n.scp_mode != ScpMode::Offline {
                return self.error(
                    n.installed.span(),
                    "neighbors",
                    "neighbouring hierarchies share the service connection tool's folder: every hierarchy must have `scp_mode = \"offline\"`",
                );
            }
            // Two hierarchies with the same cabinet name are allowed on purpose: that is the
            // field issue the finding `cab_name_clash` reproduces.
        }
        let weeks = *s.run.weeks.get_ref();
        if !(1..=520).contains(&weeks) {
            return self.error(
                s.run.weeks.span(),
                "run.weeks",
                "simulate between 1 and 520 weekly cycles",
            );
        }
        for fault in &s.faults {
            self.fault(fault, weeks, &codes, s.hierarchy.cas, s.hierarchy.scp_mode)?;
        }
        if let Some(budget) = s.budget.collect_ms_per_1k_clients
            && !(budget.is_finite() && budget > 0.0)
        {
            return self.error(
                0..0,
                "budget.collect_ms_per_1k_clients",
                "must be a positive number of milliseconds",
            );
        }
        for code in &s.expect.findings {
            if !crate::check::FINDING_CODES.contains(&code.as_str()) {
                return self.error(
                    0..0,
                    "expect.findings",
                    format!(
                        "`{code}` is not a finding code; known: {}",
                        crate::check::FINDING_CODES.join(", ")
                    ),
                );
            }
        }
        Ok(())
    }

    /// Validates one hierarchy (`key` is `hierarchy` or `neighbors`) and returns its site codes.
    fn hierarchy(&self, h: &HierarchySpec, key: &str) -> Result<BTreeSet<String>, ScenarioError> {
        if let Some(id) = &h.id
            && uuid::Uuid::parse_str(id.get_ref()).is_err()
        {
            return self.error(
                id.span(),
                &format!("{key}.id"),
                format!("`{}` is not a GUID", id.get_ref()),
            );
        }
        if chrono::NaiveDate::parse_from_str(h.installed.get_ref(), "%Y-%m-%d").is_err() {
            return self.error(
                h.installed.span(),
                &format!("{key}.installed"),
                format!("`{}` is not a YYYY-MM-DD date", h.installed.get_ref()),
            );
        }
        if !is_product_version(h.version.get_ref()) {
            return self.error(
                h.version.span(),
                &format!("{key}.version"),
                format!(
                    "`{}` is not a product version like 5.00.8540.1000",
                    h.version.get_ref()
                ),
            );
        }
        if h.primary.is_empty() {
            return self.error(
                0..0,
                &format!("{key}.primary"),
                format!("a hierarchy needs at least one [[{key}.primary]]"),
            );
        }
        if !h.cas && h.primary.len() > 1 {
            return self.error(
                h.primary[1].code.span(),
                &format!("{key}.primary"),
                "without a CAS a hierarchy is one stand-alone primary; set `cas = true` for more",
            );
        }
        if h.cas && h.primary.len() > MAX_PRIMARIES_UNDER_CAS {
            return self.error(
                h.primary[MAX_PRIMARIES_UNDER_CAS].code.span(),
                &format!("{key}.primary"),
                format!("a CAS supports at most {MAX_PRIMARIES_UNDER_CAS} child primary sites"),
            );
        }
        let mut codes = BTreeSet::new();
        if h.cas {
            self.site_code(&h.cas_code, &format!("{key}.cas_code"))?;
            codes.insert(h.cas_code.get_ref().to_ascii_uppercase());
        }
        let mut total: u64 = 0;
        for p in &h.primary {
            self.site_code(&p.code, &format!("{key}.primary.code"))?;
            if !codes.insert(p.code.get_ref().to_ascii_uppercase()) {
                return self.error(
                    p.code.span(),
                    &format!("{key}.primary.code"),
                    format!("site code `{}` is used twice", p.code.get_ref()),
                );
            }
            let (max, what) = if h.cas {
                (MAX_CLIENTS_CHILD_PRIMARY, "a child primary site")
            } else {
                (MAX_CLIENTS_STANDALONE, "a stand-alone primary site")
            };
            if *p.clients.get_ref() > max {
                return self.error(
                    p.clients.span(),
                    &format!("{key}.primary.clients"),
                    format!(
                        "{} clients is more than {what} supports ({max})",
                        p.clients.get_ref()
                    ),
                );
            }
            total += u64::from(*p.clients.get_ref());
            if total > MAX_CLIENTS_HIERARCHY {
                return self.error(
                    p.clients.span(),
                    &format!("{key}.primary.clients"),
                    format!("the hierarchy now has {total} clients; a CAS supports {MAX_CLIENTS_HIERARCHY}"),
                );
            }
        }
        if !h.cab_name.get_ref().to_ascii_lowercase().ends_with(".cab")
            || h.cab_name.get_ref().contains(['/', '\\'])
        {
            return self.error(
                h.cab_name.span(),
                &format!("{key}.cab_name"),
                "a file name ending in .cab, without a folder",
            );
        }
        Ok(codes)
    }

    fn site_code(&self, code: &Spanned<String>, key: &str) -> Result<(), ScenarioError> {
        let c = code.get_ref();
        if c.len() != 3 || !c.chars().all(|ch| ch.is_ascii_alphanumeric()) {
            return self.error(
                code.span(),
                key,
                format!("`{c}` is not a site code: three letters or digits"),
            );
        }
        Ok(())
    }

    fn fault(
        &self,
        f: &FaultSpec,
        weeks: u32,
        codes: &BTreeSet<String>,
        cas: bool,
        mode: ScpMode,
    ) -> Result<(), ScenarioError> {
        let kind = *f.kind.get_ref();
        let week = *f.week.get_ref();
        if !(1..=weeks).contains(&week) {
            return self.error(
                f.week.span(),
                "faults.week",
                format!("week {week} is outside the run (1 to {weeks})"),
            );
        }
        let needs_site = kind == FaultKind::ReplicationDown;
        match (&f.site, needs_site) {
            (None, true) => {
                return self.error(
                    f.kind.span(),
                    "faults.site",
                    format!("`{}` needs `site`", kind.name()),
                );
            }
            (Some(site), false) => {
                return self.error(
                    site.span(),
                    "faults.site",
                    format!("`{}` does not take `site`", kind.name()),
                );
            }
            (Some(site), true) => {
                if !codes.contains(&site.get_ref().to_ascii_uppercase()) {
                    return self.error(
                        site.span(),
                        "faults.site",
                        format!("no site `{}` in this hierarchy", site.get_ref()),
                    );
                }
                if !cas {
                    return self.error(
                        f.kind.span(),
                        "faults.kind",
                        "replication needs a CAS (`cas = true`)",
                    );
                }
            }
            (None, false) => {}
        }
        let allowed: &[&str] = match kind {
            FaultKind::UpstreamStatus => &["status", "count"],
            FaultKind::UpstreamLatency => &["ms", "count"],
            FaultKind::UpstreamThrottle => &["retry_after_s", "count"],
            FaultKind::UpstreamReset => &["count"],
            FaultKind::ReplicationDown => &[],
            FaultKind::LevelChange => &["level"],
            FaultKind::CabCorrupted => &[],
            FaultKind::CabRenamed => &["to"],
        };
        let given = [
            ("status", f.status.as_ref().map(Spanned::span)),
            ("count", f.count.as_ref().map(Spanned::span)),
            ("ms", f.ms.as_ref().map(Spanned::span)),
            ("retry_after_s", f.retry_after_s.as_ref().map(Spanned::span)),
            ("level", f.level.as_ref().map(Spanned::span)),
            ("to", f.to.as_ref().map(Spanned::span)),
        ];
        for (name, span) in given {
            match (span, allowed.contains(&name)) {
                (Some(span), false) => {
                    return self.error(
                        span,
                        &format!("faults.{name}"),
                        format!("`{}` does not take `{name}`", kind.name()),
                    );
                }
                (None, true) if name != "count" => {
                    return self.error(
                        f.kind.span(),
                        &format!("faults.{name}"),
                        format!("`{}` needs `{name}`", kind.name()),
                    );
                }
                _ => {}
            }
        }
        if matches!(kind, FaultKind::CabCorrupted | FaultKind::CabRenamed)
            && mode != ScpMode::Offline
        {
            return self.error(
                f.kind.span(),
                "faults.kind",
                format!("`{}` needs `scp_mode = \"offline\"`", kind.name()),
            );
        }
        if let Some(to) = &f.to
            && (to.get_ref().is_empty() || to.get_ref().contains(['/', '\\']))
        {
            return self.error(to.span(), "faults.to", "a file name, without a folder");
        }
        if let Some(level) = &f.level
            && let Err(problem) = Level::parse(level.get_ref())
        {
            return self.error(level.span(), "faults.level", problem);
        }
        if let Some(status) = &f.status
            && !(400..=599).contains(status.get_ref())
        {
            return self.error(
                status.span(),
                "faults.status",
                "an upstream fault status is 400 to 599",
            );
        }
        Ok(())
    }
}

fn is_product_version(v: &str) -> bool {
    let parts: Vec<&str> = v.split('.').collect();
    parts.len() == 4
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
}

impl FaultSpec {
    pub fn count(&self) -> u32 {
        self.count.as_ref().map_or(1, |c| *c.get_ref())
    }
}
