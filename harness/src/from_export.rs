//! `harness scenario from-export`: a scenario with the shape of the hierarchy an export came
//! from — a CSV written by the service connection tool's `-export`, or a cabinet written by
//! `-prepare`. An export carries what the weekly queries found, never the data itself, so the
//! scenario reproduces what the count-per-value probes report (each site's latest week), not the
//! rows behind them: the shares go into `[hierarchy.primary.mix]`, apportioned exactly, so that
//! the new scenario's probes count the same.
//!
//! Site codes leave a hierarchy hashed; the scenario names its sites afresh (`CAS`, `P01`, …)
//! and says in a comment which hashed site each stands for.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::Value;
use usage_protocol::payload::{Row, SiteEntry, UsagePayload};
use usage_protocol::usage_cab;

use crate::hash::tel_hash;
use crate::scenario::{
    BRANCHES, EP_STATES, FORMAT, Level, MAX_MIX_ENTRIES, MixSpec, Scenario, firmware_key,
    has_branch,
};
use crate::sct::{EXPORT_COLUMNS, restore_formula};
use usage_protocol::bounded_file::{self, Links};

/// The largest export read (a full-level export of a 25-primary hierarchy is a few megabytes).
const MAX_EXPORT_BYTES: u64 = 256 << 20;
/// The most primaries a hierarchy has (a CAS supports 25).
const MAX_PRIMARIES: usize = 25;

#[derive(Debug, thiserror::Error)]
pub enum FromExportError {
    #[error("reading {}: {cause}", path.display())]
    Read {
        path: PathBuf,
        cause: bounded_file::BoundedReadError,
    },
    #[error("{}: {message}", path.display())]
    Invalid { path: PathBuf, message: String },
    #[error("{}, line {line}: {message}", path.display())]
    Line {
        path: PathBuf,
        line: u64,
        message: String,
    },
}

/// One probe's rows of one site's week.
#[derive(Debug, Clone)]
struct Result {
    site: String,
    probe: String,
    week: u32,
    period_start: String,
    rows: Vec<Row>,
    /// The CSV line of each row (empty for a cabinet).
    lines: Vec<u64>,
}

/// What an export says, whichever form it came in.
#[derive(Debug, Clone)]
pub struct Export {
    path: PathBuf,
    level: String,
    /// The cabinet's header says these; a CSV has them only in the probes' rows.
    mode: Option<String>,
    product_version: Option<String>,
    /// The cabinet's list of the hierarchy's sites (a CSV has none): it names a site that sent
    /// nothing that week.
    listed: Vec<SiteEntry>,
    results: Vec<Result>,
}

impl Export {
    fn invalid(&self, message: String) -> FromExportError {
        FromExportError::Invalid {
            path: self.path.clone(),
            message,
        }
    }

    /// A bad row of `result`: with its CSV line, or its place in the cabinet.
    fn bad_row(&self, result: &Result, index: usize, message: String) -> FromExportError {
        let what = format!("{} of site {}", result.probe, result.site);
        match result.lines.get(index) {
            Some(line) => FromExportError::Line {
                path: self.path.clone(),
                line: *line,
                message: format!("{what}: {message}"),
            },
            None => self.invalid(format!(
                "week {}, {what}, row {}: {message}",
                result.week,
                index + 1
            )),
        }
    }
}

type Outcome<T> = std::result::Result<T, FromExportError>;

/// Reads an export: a cabinet (by its `MSCF` signature) or a CSV with `-export`'s columns.
pub fn read(path: &Path) -> Outcome<Export> {
    let bytes = bounded_file::read(path, MAX_EXPORT_BYTES, Links::Follow).map_err(|cause| {
        FromExportError::Read {
            path: path.to_path_buf(),
            cause,
        }
    })?;
    parse(path, &bytes)
}

/// Reads an export from the bytes of the file at `path` (which errors name; it is not opened).
pub fn parse(path: &Path, bytes: &[u8]) -> Outcome<Export> {
    let invalid = |message: String| FromExportError::Invalid {
        path: path.to_path_buf(),
        message,
    };
    if bytes.starts_with(b"MSCF") {
        let cab = usage_cab::read(bytes, MAX_EXPORT_BYTES)
            .map_err(|e| invalid(format!("not a usable usage cabinet: {e}")))?;
        let payload = UsagePayload::from_json(&cab.payload_json)
            .map_err(|e| invalid(format!("the payload inside is invalid: {e}")))?;
        return Ok(from_payload(path, payload));
    }
    read_csv(path, bytes)
}

fn from_payload(path: &Path, payload: UsagePayload) -> Export {
    let results = payload
        .results
        .iter()
        .map(|r| Result {
            site: r.site.clone(),
            probe: r.probe.clone(),
            week: r.week_in(&payload),
            period_start: r
                .period_start
                .clone()
                .unwrap_or_else(|| payload.period.start.clone()),
            rows: r.rows.clone(),
            lines: Vec::new(),
        })
        .collect();
    Export {
        path: path.to_path_buf(),
        level: payload.level,
        mode: Some(payload.mode),
        product_version: Some(payload.product_version),
        listed: payload.sites,
        results,
    }
}

fn read_csv(path: &Path, bytes: &[u8]) -> Outcome<Export> {
    let line_error = |line: u64, message: String| FromExportError::Line {
        path: path.to_path_buf(),
        line,
        message,
    };
    let mut reader = csv::ReaderBuilder::new().from_reader(bytes);
    let header = reader
        .headers()
        .map_err(|e| line_error(1, format!("not a CSV file: {e}")))?;
    if header.iter().ne(EXPORT_COLUMNS) {
        return Err(line_error(
            1,
            format!(
                "not an export of the service connection tool (a .csv from `harness sct export` or a .cab from `prepare`): the columns must be {}",
                EXPORT_COLUMNS.join(",")
            ),
        ));
    }
    // The hierarchy and level of the first row: an export is of one hierarchy at one level.
    let mut first: Option<(String, String)> = None;
    // (site, probe, week) → its result.
    let mut results: BTreeMap<(String, String, u32), Result> = BTreeMap::new();
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map_or(0, |p| p.line());
            line_error(line, e.to_string())
        })?;
        let line = record.position().map_or(0, |p| p.line());
        let cell = |i: usize| restore_formula(&record[i]);
        let week: u32 = cell(1)
            .parse()
            .map_err(|_| line_error(line, format!("week `{}` is not a number", cell(1))))?;
        let data: Row = serde_json::from_str(cell(7))
            .map_err(|e| line_error(line, format!("data is not a JSON object: {e}")))?;
        let (hierarchy, level) = first.get_or_insert_with(|| (cell(0).into(), cell(3).into()));
        if hierarchy != cell(0) || level != cell(3) {
            return Err(line_error(
                line,
                format!(
                    "hierarchy {} at level {}, but the export began with hierarchy {hierarchy} at level {level}: an export is of one hierarchy at one level",
                    cell(0),
                    cell(3)
                ),
            ));
        }
        let key = (cell(4).to_string(), cell(5).to_string(), week);
        let result = results.entry(key).or_insert_with(|| Result {
            site: cell(4).to_string(),
            probe: cell(5).to_string(),
            week,
            period_start: cell(2).to_string(),
            rows: Vec::new(),
            lines: Vec::new(),
        });
        result.rows.push(data);
        result.lines.push(line);
    }
    let Some((_, level)) = first else {
        return Err(line_error(2, "the export has no result rows".into()));
    };
    Ok(Export {
        path: path.to_path_buf(),
        level,
        mode: None,
        product_version: None,
        listed: Vec::new(),
        results: results.into_values().collect(),
    })
}

/// A scenario derived from an export.
#[derive(Debug, Clone)]
pub struct Derived {
    /// The scenario file's text.
    pub text: String,
    /// Each site of the new scenario: (the hashed code it stands for, its new code).
    pub sites: Vec<(String, String)>,
    /// What could not be reproduced exactly, said also in the file's header.
    pub notes: Vec<String>,
}

/// One site of the export: its own `TEL_SiteList` row (or the cabinet's list) and its latest
/// week's results.
struct Site<'a> {
    hash: String,
    kind: String,
    version: String,
    clients: u64,
    time_zone: Option<String>,
    week: u32,
    period_start: String,
    probes: BTreeMap<&'a str, &'a Result>,
}

impl Site<'_> {
    fn result(&self, probe: &str) -> Option<&Result> {
        self.probes.get(probe).copied()
    }
}

/// The kinds of site a hierarchy has, as `TEL_SiteList` names them.
const SITE_KINDS: [&str; 3] = ["cas", "primary", "standalone"];

/// The scenario with the shape of `export`, named `name`.
pub fn derive(export: &Export, name: &str) -> Outcome<Derived> {
    let mut notes = Vec::new();
    let sites = sites_of(export, &mut notes)?;
    if sites.is_empty() {
        return Err(export.invalid(
            "no site's TEL_SiteList row is in the export, so its sites cannot be told apart; export at basic level or above".into(),
        ));
    }
    let tops: Vec<&Site> = sites.iter().filter(|s| s.kind != "primary").collect();
    let top = match tops.as_slice() {
        [top] => *top,
        [] => {
            return Err(export.invalid(
                "no top-level site (a CAS or a stand-alone primary) is in the export".into(),
            ));
        }
        _ => {
            return Err(export.invalid(format!(
                "{} top-level sites are in the export: an export is of one hierarchy",
                tops.len()
            )));
        }
    };
    let cas = top.kind == "cas";
    let children = sites.iter().filter(|s| s.kind == "primary").count();
    if !cas && children > 0 {
        return Err(export.invalid(format!(
            "a stand-alone primary ({}) and {children} child primaries: child primaries need a CAS",
            top.hash
        )));
    }
    let mut primaries: Vec<&Site> = if cas {
        sites.iter().filter(|s| s.kind == "primary").collect()
    } else {
        vec![top]
    };
    if primaries.is_empty() {
        return Err(export.invalid("the CAS's export holds no primary site's results".into()));
    }
    if primaries.len() > MAX_PRIMARIES {
        return Err(export.invalid(format!(
            "{} primaries; a hierarchy has at most {MAX_PRIMARIES}",
            primaries.len()
        )));
    }
    primaries.sort_by(|a, b| b.clients.cmp(&a.clients).then(a.hash.cmp(&b.hash)));

    let level = Level::parse(&export.level).map_err(|e| export.invalid(e))?;
    let mode = match export.mode.clone().or_else(|| {
        top.result("TEL_Settings")
            .and_then(|r| r.rows.first()?.get("mode")?.as_str().map(str::to_string))
    }) {
        Some(mode) if ["online", "offline"].contains(&mode.to_ascii_lowercase().as_str()) => {
            mode.to_ascii_lowercase()
        }
        Some(mode) => {
            return Err(export.invalid(format!(
                "the SCP's mode is `{mode}`, neither online nor offline"
            )));
        }
        None => {
            notes.push("the export does not say the SCP's mode (TEL_Settings): offline, as the export came from the service connection tool".into());
            "offline".into()
        }
    };
    let version = export
        .product_version
        .clone()
        .unwrap_or_else(|| top.version.clone());
    // A run's period starts seven days before its day, and run 1 is seven days after install.
    let installed = chrono::NaiveDate::parse_from_str(&top.period_start, "%Y-%m-%d")
        .ok()
        .and_then(|d| {
            d.checked_sub_days(chrono::Days::new(7 * u64::from(top.week.saturating_sub(1))))
        })
        .ok_or_else(|| {
            export.invalid(format!(
                "week {} with period start `{}` gives no install date",
                top.week, top.period_start
            ))
        })?;

    let mut text = String::new();
    let _ = writeln!(
        text,
        "# Written by `harness scenario from-export {}`: the shape of the export's hierarchy\n\
         # at its latest week. Site codes leave a hierarchy hashed, so the sites are named afresh.\n\
         # The mix reproduces the counts of the client probes as of each site's first weekly run.",
        export
            .path
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
    );
    let notes_at = text.len();
    let _ = writeln!(text, "format = {FORMAT}");
    let _ = writeln!(text, "name = {}", quoted(name));
    let _ = writeln!(
        text,
        "description = {}",
        quoted(&format!(
            "from an export: {} primar{}{}, {} clients, {} level",
            primaries.len(),
            if primaries.len() == 1 { "y" } else { "ies" },
            if cas { " under a CAS" } else { "" },
            primaries.iter().map(|p| p.clients).sum::<u64>(),
            level.as_str()
        ))
    );
    let _ = writeln!(text, "seed = 1\n\n[hierarchy]");
    let _ = writeln!(text, "cas = {cas}");
    let _ = writeln!(text, "level = {}", quoted(level.as_str()));
    let _ = writeln!(text, "scp_mode = {}", quoted(&mode));
    let _ = writeln!(text, "version = {}", quoted(&version));
    let _ = writeln!(text, "installed = {}", quoted(&installed.to_string()));
    let mut codes = Vec::new();
    if cas {
        codes.push((top.hash.clone(), "CAS".to_string()));
    }
    for (i, site) in primaries.iter().enumerate() {
        let code = format!("P{:02}", i + 1);
        let _ = writeln!(text, "\n# site {} in the export", site.hash);
        let _ = writeln!(text, "[[hierarchy.primary]]\ncode = {}", quoted(&code));
        let _ = writeln!(text, "clients = {}", site.clients);
        for (key, value) in counts(export, site, &mut notes)? {
            let _ = writeln!(text, "{key} = {value}");
        }
        if let Some(zone) = &site.time_zone {
            let _ = writeln!(text, "time_zone = {}", quoted(zone));
        }
        let mix = mix_of(export, site, &code, &mut notes)?;
        write_mix(&mut text, &mix);
        codes.push((site.hash.clone(), code));
    }
    let _ = writeln!(
        text,
        "\n[run]\nweeks = 1\nengine = \"embedded\"\n\n[expect]\noutcome = \"pass\""
    );
    if !notes.is_empty() {
        let header: String = notes.iter().map(|n| format!("# note: {n}\n")).collect();
        text.insert_str(notes_at, &header);
    }
    // What is written must load: an export can describe what a scenario cannot hold (a site
    // above the hard caps, a version that is not one).
    if let Err(e) = Scenario::parse(&text, Path::new("the derived scenario")) {
        return Err(export.invalid(format!(
            "it describes a hierarchy a scenario cannot hold: {e}"
        )));
    }
    Ok(Derived {
        text,
        sites: codes,
        notes,
    })
}

/// A count in a row: a whole number, not negative.
fn count(value: Option<&Value>) -> Option<u64> {
    value?.as_u64()
}

/// Every site of the export: the latest `TEL_SiteList` row of its own (or the cabinet's list
/// when it sent none), with its latest week's results.
fn sites_of<'a>(export: &'a Export, notes: &mut Vec<String>) -> Outcome<Vec<Site<'a>>> {
    let mut latest: BTreeMap<&str, (u32, &str)> = BTreeMap::new();
    for r in &export.results {
        let entry = latest.entry(&r.site).or_insert((r.week, &r.period_start));
        if r.week > entry.0 {
            *entry = (r.week, &r.period_start);
        }
    }
    let mut sites = Vec::new();
    for (hash, (week, period_start)) in &latest {
        let probes: BTreeMap<&str, &Result> = export
            .results
            .iter()
            .filter(|r| r.site == *hash && r.week == *week)
            .map(|r| (r.probe.as_str(), r))
            .collect();
        let own = export
            .results
            .iter()
            .filter(|r| r.site == *hash && r.probe == "TEL_SiteList")
            .max_by_key(|r| r.week)
            .and_then(|r| {
                let at = r
                    .rows
                    .iter()
                    .position(|row| row.get("site").and_then(Value::as_str) == Some(*hash))?;
                Some((r, at))
            });
        let site = match own {
            Some((result, at)) => {
                let row = &result.rows[at];
                let text = |column: &str| row.get(column).and_then(Value::as_str);
                let kind = text("type").unwrap_or_default().to_ascii_lowercase();
                if !SITE_KINDS.contains(&kind.as_str()) {
                    return Err(export.bad_row(
                        result,
                        at,
                        format!(
                            "type {:?} is not one of {}",
                            row.get("type"),
                            SITE_KINDS.join(", ")
                        ),
                    ));
                }
                let Some(clients) = count(row.get("clients")) else {
                    return Err(export.bad_row(
                        result,
                        at,
                        format!("clients {:?} is not a count", row.get("clients")),
                    ));
                };
                Site {
                    hash: hash.to_string(),
                    kind,
                    version: text("version").unwrap_or_default().to_string(),
                    clients,
                    time_zone: text("time_zone").map(str::to_string),
                    week: *week,
                    period_start: period_start.to_string(),
                    probes,
                }
            }
            None => match export.listed.iter().find(|s| s.site == *hash) {
                Some(listed) => listed_site(listed, *week, period_start, probes),
                None => {
                    notes.push(format!(
                        "site {hash} sent results but no TEL_SiteList row of its own, and no site list names it: left out"
                    ));
                    continue;
                }
            },
        };
        sites.push(site);
    }
    let (week, period_start) = latest
        .values()
        .max_by_key(|(week, _)| *week)
        .copied()
        .unwrap_or((0, ""));
    for listed in export
        .listed
        .iter()
        .filter(|s| !latest.contains_key(s.site.as_str()))
    {
        notes.push(format!(
            "site {} sent nothing this week; the site list gives its {} clients, its mix is the default",
            listed.site, listed.clients
        ));
        sites.push(listed_site(listed, week, period_start, BTreeMap::new()));
    }
    Ok(sites)
}

fn listed_site<'a>(
    listed: &SiteEntry,
    week: u32,
    period_start: &str,
    probes: BTreeMap<&'a str, &'a Result>,
) -> Site<'a> {
    Site {
        hash: listed.site.clone(),
        kind: listed.site_type.to_ascii_lowercase(),
        version: listed.version.clone(),
        clients: listed.clients,
        time_zone: Some(listed.time_zone.clone()),
        week,
        period_start: period_start.to_string(),
        probes,
    }
}

fn quoted(text: &str) -> String {
    Value::String(text.to_string()).to_string()
}

/// `column` of `probe`'s first row: None when the site did not send the probe; an error when
/// the row does not hold a count there.
fn count_in(export: &Export, site: &Site, probe: &str, column: &str) -> Outcome<Option<u64>> {
    let Some(result) = site.result(probe).filter(|r| !r.rows.is_empty()) else {
        return Ok(None);
    };
    count(result.rows[0].get(column))
        .map(Some)
        .ok_or_else(|| export.bad_row(result, 0, format!("{column} is not a count")))
}

/// The sum of `column` over `probe`'s rows, as [`count_in`].
fn sum_in(export: &Export, site: &Site, probe: &str, column: &str) -> Outcome<Option<u64>> {
    let Some(result) = site.result(probe) else {
        return Ok(None);
    };
    let mut sum = 0u64;
    for (i, row) in result.rows.iter().enumerate() {
        let n = count(row.get(column))
            .ok_or_else(|| export.bad_row(result, i, format!("{column} is not a count")))?;
        sum = sum.saturating_add(n);
    }
    Ok(Some(sum))
}

/// The site's object counts that its probes reveal, as scenario keys.
fn counts(
    export: &Export,
    site: &Site,
    notes: &mut Vec<String>,
) -> Outcome<Vec<(&'static str, u64)>> {
    let mut keys = Vec::new();
    if let Some(apps) = count_in(export, site, "TEL_AppTotals", "applications")? {
        keys.push(("apps", apps));
    }
    let updates = sum_in(export, site, "TEL_UpdateCatalog", "updates")?;
    if let Some(updates) = updates {
        keys.push(("updates", updates));
    }
    let compliance = tel_hash("Update_ComplianceStatus");
    let states = site.result("TEL_LargestTables").and_then(|r| {
        r.rows
            .iter()
            .find(|row| row.get("table_hash").and_then(Value::as_str) == Some(compliance.as_str()))
            .and_then(|row| count(row.get("row_count")))
    });
    match (states, site.clients) {
        (Some(states), clients) if clients > 0 => {
            keys.push(("updates_per_client", states / clients))
        }
        (None, clients) if clients > 0 && updates.is_some() => notes.push(format!(
            "site {}: its updates per client are not in the export (TEL_LargestTables): the default is used",
            site.hash
        )),
        _ => {}
    }
    if let Some(collections) = sum_in(export, site, "TEL_CollectionTypes", "collections")? {
        keys.push(("collections", collections));
    }
    if let Some(groups) = count_in(export, site, "TEL_BoundaryGroups", "boundary_groups")? {
        keys.push(("boundary_groups", groups));
    }
    if let Some(groups) = count_in(export, site, "TEL_UpdateGroups", "update_groups")? {
        keys.push(("update_groups", groups));
    }
    let engine = site
        .result("TEL_SQLVersion")
        .and_then(|r| r.rows.first()?.get("product")?.as_str().map(str::to_string));
    if let Some(tables) = count_in(export, site, "TEL_DatabaseSize", "tables")? {
        if engine.as_deref() == Some("SQLite") {
            let base = crate::engine::sqlite::base_table_count();
            keys.push(("custom_tables", tables.saturating_sub(base)));
        } else {
            notes.push(format!(
                "site {}: its own tables are counted only for the embedded engine's exports: custom_tables left at its default",
                site.hash
            ));
        }
    }
    Ok(keys)
}

/// The rows of a count-per-value probe: (`column`'s value, clients), each checked — a row
/// without its value or without a count of clients is an error, not skipped.
fn counted(export: &Export, result: &Result, column: &str) -> Outcome<Vec<(Value, u64)>> {
    let mut counted = Vec::new();
    for (i, row) in result.rows.iter().enumerate() {
        let Some(value) = row.get(column) else {
            return Err(export.bad_row(result, i, format!("the row has no `{column}`")));
        };
        let Some(clients) = count(row.get("clients")) else {
            return Err(export.bad_row(
                result,
                i,
                format!("clients {:?} is not a count", row.get("clients")),
            ));
        };
        if clients > 0 {
            counted.push((value.clone(), clients));
        }
    }
    Ok(counted)
}

/// A counted value that must be one of `allowed`.
fn one_of<'v>(
    export: &Export,
    result: &Result,
    value: &'v Value,
    allowed: &[&str],
) -> Outcome<&'v str> {
    value
        .as_str()
        .filter(|v| allowed.contains(v))
        .ok_or_else(|| {
            let at = result
                .rows
                .iter()
                .position(|r| r.values().any(|v| v == value));
            export.bad_row(
                result,
                at.unwrap_or(0),
                format!("{value} is not one of {}", allowed.join(", ")),
            )
        })
}

fn weight(count: u64) -> u32 {
    u32::try_from(count).unwrap_or(u32::MAX)
}

/// A firmware flag: true, false, 1 or 0.
fn flag(value: Option<&Value>) -> Option<bool> {
    match value? {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => match n.as_u64()? {
            0 => Some(false),
            1 => Some(true),
            _ => None,
        },
        _ => None,
    }
}

/// The shaped mix of one primary: every field its probes reveal.
fn mix_of(export: &Export, site: &Site, code: &str, notes: &mut Vec<String>) -> Outcome<MixSpec> {
    let mut mix = MixSpec::default();
    if site.clients == 0 {
        return Ok(mix);
    }
    let mut note = |text: String| notes.push(format!("{code} (site {}): {text}", site.hash));
    if let Some(result) = site.result("TEL_ClientVersions") {
        for (value, n) in counted(export, result, "client_version")? {
            match value.as_str() {
                Some(v) => {
                    mix.client_versions.insert(v.to_string(), weight(n));
                }
                None => note(format!(
                    "{n} clients report no client version: left to the default"
                )),
            }
        }
    }
    if let Some(result) = site.result("TEL_OSVersions") {
        mix.os = os_mix(export, result, site.result("TEL_WindowsBuilds"), &mut note)?;
    }
    if let Some(result) = site.result("TEL_TopCPUs") {
        mix.cpus = cpu_mix(export, result, site.clients, &mut note)?;
    }
    if let Some(result) = site.result("TEL_VirtualMachines") {
        let mut virtual_clients = 0;
        for (kind, n) in counted(export, result, "kind")? {
            if one_of(export, result, &kind, &["virtual", "physical"])? == "virtual" {
                virtual_clients += n;
            }
        }
        mix.virtual_machines = Some(virtual_clients as f64 * 100.0 / site.clients as f64);
    }
    if let Some(result) = site.result("TEL_FirmwareSecurity") {
        for (i, row) in result.rows.iter().enumerate() {
            let Some(n) = count(row.get("clients")) else {
                return Err(export.bad_row(result, i, "clients is not a count".into()));
            };
            let flags = ["uefi", "secure_boot", "tpm"].map(|f| flag(row.get(f)));
            let [Some(uefi), Some(secure_boot), Some(tpm)] = flags else {
                return Err(export.bad_row(
                    result,
                    i,
                    "uefi, secure_boot and tpm must each be 0 or 1".into(),
                ));
            };
            if n == 0 {
                continue;
            }
            if secure_boot && !uefi {
                note(format!(
                    "{n} clients report Secure Boot without UEFI, which the generator cannot make: counted as UEFI with Secure Boot"
                ));
            }
            *mix.firmware
                .entry(firmware_key(uefi || secure_boot, secure_boot, tpm))
                .or_default() += weight(n);
        }
    }
    if let Some(result) = site.result("TEL_ClientHealth") {
        for (activity, n) in counted(export, result, "activity")? {
            // A day inside each of the probe's buckets.
            let day = match one_of(
                export,
                result,
                &activity,
                &["active", "inactive_8_30_days", "inactive_over_30_days"],
            )? {
                "active" => "2",
                "inactive_8_30_days" => "15",
                _ => "45",
            };
            mix.last_active_days.insert(day.into(), weight(n));
        }
    }
    for (probe, column, max, field) in [
        ("TEL_BiosAge", "age_years", 40, &mut mix.bios_age_years),
        ("TEL_OSAge", "age_months", 600, &mut mix.os_age_months),
    ] {
        let Some(result) = site.result(probe) else {
            continue;
        };
        for (age, n) in counted(export, result, column)? {
            match age.as_i64() {
                Some(a) if (0..=max).contains(&a) => {
                    *field.entry(a.to_string()).or_default() += weight(n);
                }
                Some(a) => {
                    let clamped = a.clamp(0, max);
                    note(format!(
                        "{probe}: {n} clients of age {a}, outside 0..={max}: made {clamped}"
                    ));
                    *field.entry(clamped.to_string()).or_default() += weight(n);
                }
                None if age.is_null() => note(format!(
                    "{probe}: {n} clients without an age: left to the default"
                )),
                None => {
                    let at = result.rows.iter().position(|r| r.get(column) == Some(&age));
                    return Err(export.bad_row(
                        result,
                        at.unwrap_or(0),
                        format!("{column} {age} is not a whole number"),
                    ));
                }
            }
        }
    }
    if let Some(result) = site.result("TEL_EndpointProtection") {
        for (state, n) in counted(export, result, "state")? {
            let state = one_of(export, result, &state, &EP_STATES)?;
            mix.endpoint_protection.insert(state.to_string(), weight(n));
        }
    }
    drop_unsound(&mut mix, site.clients, &mut note);
    Ok(mix)
}

/// OS captions and versions with the branches `TEL_WindowsBuilds` reports for their builds: the
/// two probes give only the margins, so branches are dealt to the captions of each build in turn
/// (LTSC captions take LTSB first, then by caption and version), which reproduces both probes'
/// counts whatever order the rows came in.
fn os_mix(
    export: &Export,
    versions: &Result,
    builds: Option<&Result>,
    note: &mut impl FnMut(String),
) -> Outcome<BTreeMap<String, u32>> {
    // build → clients left per branch.
    let mut left: BTreeMap<u64, [u64; 3]> = BTreeMap::new();
    if let Some(builds) = builds {
        for (i, row) in builds.rows.iter().enumerate() {
            let branch = row
                .get("branch")
                .and_then(Value::as_str)
                .and_then(|b| BRANCHES.iter().position(|x| *x == b));
            let (Some(branch), Some(build), Some(n)) =
                (branch, count(row.get("build")), count(row.get("clients")))
            else {
                return Err(export.bad_row(
                    builds,
                    i,
                    format!(
                        "needs a branch ({}), a build and a count of clients",
                        BRANCHES.join(", ")
                    ),
                ));
            };
            left.entry(build).or_default()[branch] += n;
        }
    }
    let mut rows: Vec<(String, String, u64)> = Vec::new();
    for (i, row) in versions.rows.iter().enumerate() {
        let (Some(caption), Some(version), Some(n)) = (
            row.get("caption").and_then(Value::as_str),
            row.get("version").and_then(Value::as_str),
            count(row.get("clients")),
        ) else {
            return Err(export.bad_row(
                versions,
                i,
                "needs a caption, a version and a count of clients".into(),
            ));
        };
        if n > 0 {
            rows.push((caption.to_string(), version.to_string(), n));
        }
    }
    let ltsc = |caption: &str| caption.to_ascii_uppercase().contains("LTSC");
    rows.sort_by(|a, b| (!ltsc(&a.0), &a.0, &a.1).cmp(&(!ltsc(&b.0), &b.0, &b.1)));
    let mut os = BTreeMap::new();
    for (caption, version, n) in rows {
        if caption.contains('|') || version.contains('|') {
            note(format!(
                "OS `{caption}` {version} has a `|`, which a mix key cannot hold: left out"
            ));
            continue;
        }
        let key = format!("{caption}|{version}");
        let Some(build) = version
            .rsplit('.')
            .next()
            .and_then(|b| b.parse::<u64>().ok())
        else {
            note(format!(
                "OS `{caption}` has version `{version}`, not a dotted number: left out"
            ));
            continue;
        };
        if !has_branch(&caption) || builds.is_none() {
            *os.entry(key).or_default() += weight(n);
            continue;
        }
        let order: [usize; 3] = if ltsc(&caption) { [2, 0, 1] } else { [0, 1, 2] };
        let branches = left.entry(build).or_default();
        let mut wanted = n;
        for b in order {
            let take = wanted.min(branches[b]);
            if take > 0 {
                branches[b] -= take;
                wanted -= take;
                *os.entry(format!("{key}|{}", BRANCHES[b])).or_default() += weight(take);
            }
        }
        if wanted > 0 {
            note(format!(
                "TEL_WindowsBuilds has no branch left for {wanted} clients of `{caption}` {version}: their branch is drawn"
            ));
            *os.entry(key).or_default() += weight(wanted);
        }
    }
    Ok(os)
}

/// A name as SQL Server's case-insensitive collation groups it.
fn folded(name: &str) -> String {
    name.trim_end_matches(' ').to_lowercase()
}

/// The top processors, and the clients below the top 50 spread over processors of their own
/// that keep the same 50 on top: each with fewer clients than the 50th, or — when the 50th has
/// one client, so ties are broken by name — named after it, so that they sort after it. No new
/// name is one of the top names in another case.
fn cpu_mix(
    export: &Export,
    result: &Result,
    clients: u64,
    note: &mut impl FnMut(String),
) -> Outcome<BTreeMap<String, u32>> {
    let mut top: Vec<(String, u64)> = Vec::new();
    for (cpu, n) in counted(export, result, "cpu")? {
        match cpu.as_str() {
            Some(name) => top.push((name.to_string(), n)),
            None => note(format!(
                "{n} clients report no processor: left to the default"
            )),
        }
    }
    let mut cpus: BTreeMap<String, u32> =
        top.iter().map(|(c, n)| (c.clone(), weight(*n))).collect();
    let listed: u64 = top.iter().map(|(_, n)| n).sum();
    let mut tail = clients.saturating_sub(listed);
    let Some((last_name, last)) = top.iter().min_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))
    else {
        return Ok(cpus);
    };
    if tail == 0 {
        return Ok(cpus);
    }
    let per_name = last.saturating_sub(1).max(1);
    let name = |i: u64| {
        if *last >= 2 {
            format!("Unlisted processor {i:04}")
        } else {
            format!("{last_name} #unlisted {i:04}")
        }
    };
    let room = (MAX_MIX_ENTRIES - cpus.len().min(MAX_MIX_ENTRIES)) as u64;
    let needed = tail.div_ceil(per_name);
    let per_name = if needed > room {
        note(format!(
            "{tail} clients below the top {} processors would need {needed} more processors: spread over {room}, so the top list may change",
            top.len()
        ));
        tail.div_ceil(room.max(1))
    } else {
        per_name
    };
    let taken: std::collections::BTreeSet<String> = top.iter().map(|(c, _)| folded(c)).collect();
    let mut i = 1;
    while tail > 0 {
        let candidate = name(i);
        i += 1;
        if taken.contains(&folded(&candidate)) {
            continue;
        }
        let n = tail.min(per_name);
        cpus.insert(candidate, weight(n));
        tail -= n;
    }
    Ok(cpus)
}

/// A field of the mix the scenario would refuse (a name too long, a weight sum that is not the
/// site's clients) is dropped with a note, so the scenario always loads.
fn drop_unsound(mix: &mut MixSpec, clients: u64, note: &mut impl FnMut(String)) {
    let fields: [(&str, &mut BTreeMap<String, u32>); 8] = [
        ("client_versions", &mut mix.client_versions),
        ("os", &mut mix.os),
        ("cpus", &mut mix.cpus),
        ("firmware", &mut mix.firmware),
        ("last_active_days", &mut mix.last_active_days),
        ("bios_age_years", &mut mix.bios_age_years),
        ("os_age_months", &mut mix.os_age_months),
        ("endpoint_protection", &mut mix.endpoint_protection),
    ];
    for (field, map) in fields {
        let sum: u64 = map.values().map(|w| u64::from(*w)).sum();
        if !map.is_empty() && sum != clients {
            note(format!(
                "{field}: the probe counts {sum} clients, the site has {clients}: shares kept, counts approximate"
            ));
        }
    }
    for (field, problem) in mix.problems() {
        note(format!(
            "{field}: {problem}: the field is left to the default"
        ));
        match field {
            "client_versions" => mix.client_versions.clear(),
            "os" => mix.os.clear(),
            "cpus" => mix.cpus.clear(),
            "firmware" => mix.firmware.clear(),
            "last_active_days" => mix.last_active_days.clear(),
            "bios_age_years" => mix.bios_age_years.clear(),
            "os_age_months" => mix.os_age_months.clear(),
            "endpoint_protection" => mix.endpoint_protection.clear(),
            _ => mix.virtual_machines = None,
        }
    }
}

fn write_mix(text: &mut String, mix: &MixSpec) {
    if let Some(vm) = mix.virtual_machines {
        let _ = writeln!(text, "\n[hierarchy.primary.mix]\nvirtual_machines = {vm:?}");
    }
    for (field, map) in [
        ("client_versions", &mix.client_versions),
        ("os", &mix.os),
        ("cpus", &mix.cpus),
        ("firmware", &mix.firmware),
        ("last_active_days", &mix.last_active_days),
        ("bios_age_years", &mix.bios_age_years),
        ("os_age_months", &mix.os_age_months),
        ("endpoint_protection", &mix.endpoint_protection),
    ] {
        if map.is_empty() {
            continue;
        }
        let _ = writeln!(text, "\n[hierarchy.primary.mix.{field}]");
        for (name, weight) in map {
            let _ = writeln!(text, "{} = {weight}", quoted(name));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn top_cpus(rows: &[(&str, u64)]) -> (Export, Result) {
        let result = Result {
            site: "s".into(),
            probe: "TEL_TopCPUs".into(),
            week: 1,
            period_start: "2026-01-05".into(),
            rows: rows
                .iter()
                .map(|(cpu, n)| {
                    Row::from([
                        ("cpu".to_string(), Value::from(*cpu)),
                        ("clients".to_string(), Value::from(*n)),
                    ])
                })
                .collect(),
            lines: Vec::new(),
        };
        let export = Export {
            path: "x.csv".into(),
            level: "full".into(),
            mode: None,
            product_version: None,
            listed: Vec::new(),
            results: vec![result.clone()],
        };
        (export, result)
    }

    #[test]
    fn the_tail_below_the_top_takes_no_name_of_the_top_in_any_case() {
        let (export, result) = top_cpus(&[
            ("Unlisted processor 0001", 5),
            ("unlisted processor 0002 ", 5),
            ("A", 3),
        ]);
        let cpus = cpu_mix(&export, &result, 20, &mut |_| {}).unwrap();
        assert_eq!(cpus["Unlisted processor 0001"], 5);
        assert_eq!(cpus["unlisted processor 0002 "], 5);
        // 7 clients below the top, at most 2 per name (the last of the top has 3), on names
        // the collation does not merge with the top's.
        let tail: Vec<(&String, &u32)> = cpus.iter().filter(|(_, n)| **n <= 2).collect();
        assert_eq!(tail.iter().map(|(_, n)| **n).sum::<u32>(), 7);
        assert!(tail.iter().all(|(name, _)| name.ends_with("0003")
            || name.ends_with("0004")
            || name.ends_with("0005")
            || name.ends_with("0006")));
    }

    #[test]
    fn a_tail_of_single_clients_sorts_after_the_last_of_the_top() {
        let (export, result) = top_cpus(&[("Ω 1", 1), ("Ω 2", 1)]);
        let cpus = cpu_mix(&export, &result, 4, &mut |_| {}).unwrap();
        let tail: Vec<&String> = cpus.keys().filter(|k| k.contains("#unlisted")).collect();
        assert_eq!(tail.len(), 2, "{cpus:?}");
        assert!(tail.iter().all(|name| name.as_str() > "Ω 2"), "{tail:?}");
    }
}
