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
use usage_protocol::payload::{Row, UsagePayload};
use usage_protocol::usage_cab;

use crate::bounded_file::{self, Links};
use crate::hash::tel_hash;
use crate::scenario::{
    BRANCHES, EP_STATES, FORMAT, Level, MAX_MIX_ENTRIES, MixSpec, firmware_key, has_branch,
};
use crate::sct::{EXPORT_COLUMNS, restore_formula};

/// The largest export read (a full-level export of a 25-primary hierarchy is a few megabytes).
const MAX_EXPORT_BYTES: u64 = 256 << 20;
/// The most primaries a hierarchy has (a CAS supports 25).
const MAX_PRIMARIES: usize = 25;

#[derive(Debug, thiserror::Error)]
pub enum FromExportError {
    #[error("reading {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: bounded_file::BoundedReadError,
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
}

/// What an export says, whichever form it came in.
#[derive(Debug, Clone)]
pub struct Export {
    path: PathBuf,
    level: String,
    /// The cabinet's header says these; a CSV has them only in the probes' rows.
    mode: Option<String>,
    product_version: Option<String>,
    results: Vec<Result>,
}

/// Reads an export: a cabinet (by its `MSCF` signature) or a CSV with `-export`'s columns.
pub fn read(path: &Path) -> std::result::Result<Export, FromExportError> {
    let bytes = bounded_file::read(path, MAX_EXPORT_BYTES, Links::Follow).map_err(|source| {
        FromExportError::Read {
            path: path.to_path_buf(),
            source,
        }
    })?;
    let invalid = |message: String| FromExportError::Invalid {
        path: path.to_path_buf(),
        message,
    };
    if bytes.starts_with(b"MSCF") {
        let cab = usage_cab::read(&bytes, MAX_EXPORT_BYTES)
            .map_err(|e| invalid(format!("not a usable usage cabinet: {e}")))?;
        let payload = UsagePayload::from_json(&cab.payload_json)
            .map_err(|e| invalid(format!("the payload inside is invalid: {e}")))?;
        return Ok(from_payload(path, payload));
    }
    read_csv(path, &bytes)
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
        })
        .collect();
    Export {
        path: path.to_path_buf(),
        level: payload.level,
        mode: Some(payload.mode),
        product_version: Some(payload.product_version),
        results,
    }
}

fn read_csv(path: &Path, bytes: &[u8]) -> std::result::Result<Export, FromExportError> {
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
    let mut level = None;
    // (site, probe, week) → its result, in the order met.
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
        level.get_or_insert_with(|| cell(3).to_string());
        let key = (cell(4).to_string(), cell(5).to_string(), week);
        results
            .entry(key)
            .or_insert_with(|| Result {
                site: cell(4).to_string(),
                probe: cell(5).to_string(),
                week,
                period_start: cell(2).to_string(),
                rows: Vec::new(),
            })
            .rows
            .push(data);
    }
    Ok(Export {
        path: path.to_path_buf(),
        level: level.ok_or_else(|| line_error(2, "the export has no result rows".into()))?,
        mode: None,
        product_version: None,
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

/// One site of the export, as its own `TEL_SiteList` row and its latest week's results say.
struct Site<'a> {
    hash: String,
    kind: String,
    version: String,
    clients: u64,
    time_zone: String,
    week: u32,
    period_start: String,
    probes: BTreeMap<&'a str, &'a [Row]>,
}

impl Site<'_> {
    fn rows(&self, probe: &str) -> Option<&[Row]> {
        self.probes.get(probe).copied()
    }
}

/// The scenario with the shape of `export`, named `name`.
pub fn derive(export: &Export, name: &str) -> std::result::Result<Derived, FromExportError> {
    let invalid = |message: String| FromExportError::Invalid {
        path: export.path.clone(),
        message,
    };
    let mut notes = Vec::new();
    let sites = sites_of(export, &mut notes);
    if sites.is_empty() {
        return Err(invalid(
            "no site's TEL_SiteList row is in the export, so its sites cannot be told apart; export at basic level or above".into(),
        ));
    }
    let tops: Vec<&Site> = sites
        .iter()
        .filter(|s| s.kind == "cas" || s.kind == "standalone")
        .collect();
    let top = match tops.as_slice() {
        [top] => *top,
        [] => {
            return Err(invalid(
                "no top-level site (a CAS or a stand-alone primary) is in the export".into(),
            ));
        }
        _ => {
            return Err(invalid(format!(
                "{} top-level sites are in the export: an export is of one hierarchy",
                tops.len()
            )));
        }
    };
    let cas = top.kind == "cas";
    let mut primaries: Vec<&Site> = if cas {
        sites.iter().filter(|s| s.kind == "primary").collect()
    } else {
        vec![top]
    };
    if primaries.is_empty() {
        return Err(invalid(
            "the CAS's export holds no primary site's results".into(),
        ));
    }
    if primaries.len() > MAX_PRIMARIES {
        return Err(invalid(format!(
            "{} primaries; a hierarchy has at most {MAX_PRIMARIES}",
            primaries.len()
        )));
    }
    primaries.sort_by(|a, b| b.clients.cmp(&a.clients).then(a.hash.cmp(&b.hash)));

    let level = Level::parse(&export.level).map_err(invalid)?;
    let mode = export
        .mode
        .clone()
        .or_else(|| text_of(top.rows("TEL_Settings"), "mode"))
        .unwrap_or_else(|| {
            notes.push("the export does not say the SCP's mode (TEL_Settings): offline, as the export came from the service connection tool".into());
            "offline".into()
        })
        .to_ascii_lowercase();
    let version = export
        .product_version
        .clone()
        .unwrap_or_else(|| top.version.clone());
    let installed = chrono::NaiveDate::parse_from_str(&top.period_start, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.checked_sub_days(chrono::Days::new(7 * u64::from(top.week))))
        .ok_or_else(|| invalid(format!("period start `{}` is not a date", top.period_start)))?;

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
    let _ = writeln!(text, "format = {}", FORMAT);
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
        for (key, value) in counts(site, &mut notes) {
            let _ = writeln!(text, "{key} = {value}");
        }
        let _ = writeln!(text, "time_zone = {}", quoted(&site.time_zone));
        let mix = mix_of(site, &code, &mut notes);
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
    Ok(Derived {
        text,
        sites: codes,
        notes,
    })
}

/// Every site the export names in its own `TEL_SiteList` row, with its latest week's results.
fn sites_of<'a>(export: &'a Export, notes: &mut Vec<String>) -> Vec<Site<'a>> {
    let mut latest: BTreeMap<&str, (u32, &str)> = BTreeMap::new();
    for r in &export.results {
        let entry = latest.entry(&r.site).or_insert((r.week, &r.period_start));
        if r.week > entry.0 {
            *entry = (r.week, &r.period_start);
        }
    }
    let mut sites = Vec::new();
    for (hash, (week, period_start)) in latest {
        let probes: BTreeMap<&str, &[Row]> = export
            .results
            .iter()
            .filter(|r| r.site == hash && r.week == week)
            .map(|r| (r.probe.as_str(), r.rows.as_slice()))
            .collect();
        let Some(own) = probes.get("TEL_SiteList").and_then(|rows| {
            rows.iter()
                .find(|row| row.get("site").and_then(Value::as_str) == Some(hash))
        }) else {
            notes.push(format!(
                "site {hash} has no TEL_SiteList row of its own in week {week}: left out"
            ));
            continue;
        };
        let text = |column: &str| {
            own.get(column)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        sites.push(Site {
            hash: hash.to_string(),
            kind: text("type").to_ascii_lowercase(),
            version: text("version"),
            clients: own.get("clients").and_then(Value::as_u64).unwrap_or(0),
            time_zone: text("time_zone"),
            week,
            period_start: period_start.to_string(),
            probes,
        });
    }
    sites
}

fn quoted(text: &str) -> String {
    Value::String(text.to_string()).to_string()
}

fn text_of(rows: Option<&[Row]>, column: &str) -> Option<String> {
    rows?.first()?.get(column)?.as_str().map(str::to_string)
}

fn number_of(rows: Option<&[Row]>, column: &str) -> Option<u64> {
    rows?.first()?.get(column)?.as_u64()
}

fn sum_of(rows: Option<&[Row]>, column: &str) -> Option<u64> {
    Some(rows?.iter().filter_map(|r| r.get(column)?.as_u64()).sum())
}

/// The site's object counts that its probes reveal, as scenario keys.
fn counts(site: &Site, notes: &mut Vec<String>) -> Vec<(&'static str, u64)> {
    let mut keys = Vec::new();
    if let Some(apps) = number_of(site.rows("TEL_AppTotals"), "applications") {
        keys.push(("apps", apps));
    }
    let updates = sum_of(site.rows("TEL_UpdateCatalog"), "updates");
    if let Some(updates) = updates {
        keys.push(("updates", updates));
    }
    let compliance = tel_hash("Update_ComplianceStatus");
    let states = site.rows("TEL_LargestTables").and_then(|rows| {
        rows.iter()
            .find(|r| r.get("table_hash").and_then(Value::as_str) == Some(compliance.as_str()))?
            .get("row_count")?
            .as_u64()
    });
    match (states, site.clients) {
        (Some(states), clients) if clients > 0 => keys.push(("updates_per_client", states / clients)),
        (None, clients) if clients > 0 && updates.is_some() => notes.push(format!(
            "site {}: its updates per client are not in the export (TEL_LargestTables): the default is used",
            site.hash
        )),
        _ => {}
    }
    if let Some(collections) = sum_of(site.rows("TEL_CollectionTypes"), "collections") {
        keys.push(("collections", collections));
    }
    if let Some(groups) = number_of(site.rows("TEL_BoundaryGroups"), "boundary_groups") {
        keys.push(("boundary_groups", groups));
    }
    if let Some(groups) = number_of(site.rows("TEL_UpdateGroups"), "update_groups") {
        keys.push(("update_groups", groups));
    }
    let engine = text_of(site.rows("TEL_SQLVersion"), "product");
    if let Some(tables) = number_of(site.rows("TEL_DatabaseSize"), "tables") {
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
    keys
}

/// The values a count-per-value probe reports: `column`'s value → clients.
fn counted(rows: &[Row], column: &str) -> Vec<(Value, u64)> {
    rows.iter()
        .filter_map(|r| Some((r.get(column)?.clone(), r.get("clients")?.as_u64()?)))
        .filter(|(_, clients)| *clients > 0)
        .collect()
}

fn weight(count: u64) -> u32 {
    u32::try_from(count).unwrap_or(u32::MAX)
}

fn flag(value: Option<&Value>) -> bool {
    match value {
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_i64() != Some(0),
        _ => false,
    }
}

/// The shaped mix of one primary: every field its probes reveal.
fn mix_of(site: &Site, code: &str, notes: &mut Vec<String>) -> MixSpec {
    let mut mix = MixSpec::default();
    if site.clients == 0 {
        return mix;
    }
    let mut note = |text: String| notes.push(format!("{code} (site {}): {text}", site.hash));
    if let Some(rows) = site.rows("TEL_ClientVersions") {
        for (value, n) in counted(rows, "client_version") {
            if let Some(v) = value.as_str() {
                mix.client_versions.insert(v.to_string(), weight(n));
            }
        }
    }
    if let Some(rows) = site.rows("TEL_OSVersions") {
        mix.os = os_mix(rows, site.rows("TEL_WindowsBuilds"), &mut note);
    }
    if let Some(rows) = site.rows("TEL_TopCPUs") {
        mix.cpus = cpu_mix(rows, site.clients, &mut note);
    }
    if let Some(rows) = site.rows("TEL_VirtualMachines") {
        let virtual_clients: u64 = counted(rows, "kind")
            .into_iter()
            .filter(|(kind, _)| kind == "virtual")
            .map(|(_, n)| n)
            .sum();
        mix.virtual_machines = Some(virtual_clients as f64 * 100.0 / site.clients as f64);
    }
    if let Some(rows) = site.rows("TEL_FirmwareSecurity") {
        for row in rows {
            let Some(n) = row
                .get("clients")
                .and_then(Value::as_u64)
                .filter(|n| *n > 0)
            else {
                continue;
            };
            let (uefi, secure_boot, tpm) = (
                flag(row.get("uefi")),
                flag(row.get("secure_boot")),
                flag(row.get("tpm")),
            );
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
    if let Some(rows) = site.rows("TEL_ClientHealth") {
        for (activity, n) in counted(rows, "activity") {
            // A day inside each of the probe's buckets.
            let day = match activity.as_str() {
                Some("active") => "2",
                Some("inactive_8_30_days") => "15",
                Some("inactive_over_30_days") => "45",
                _ => {
                    note(format!(
                        "activity {activity} is not one TEL_ClientHealth reports: left out"
                    ));
                    continue;
                }
            };
            mix.last_active_days.insert(day.into(), weight(n));
        }
    }
    for (probe, column, max, field) in [
        ("TEL_BiosAge", "age_years", 40, &mut mix.bios_age_years),
        ("TEL_OSAge", "age_months", 600, &mut mix.os_age_months),
    ] {
        let Some(rows) = site.rows(probe) else {
            continue;
        };
        for (age, n) in counted(rows, column) {
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
                None => note(format!(
                    "{probe}: {n} clients without an age: left to the default"
                )),
            }
        }
    }
    if let Some(rows) = site.rows("TEL_EndpointProtection") {
        for (state, n) in counted(rows, "state") {
            match state.as_str().filter(|s| EP_STATES.contains(s)) {
                Some(s) => {
                    mix.endpoint_protection.insert(s.to_string(), weight(n));
                }
                None => note(format!(
                    "Endpoint Protection state {state} is not one the probe reports: left out"
                )),
            }
        }
    }
    drop_unsound(&mut mix, site.clients, &mut note);
    mix
}

/// OS captions and versions with the branches `TEL_WindowsBuilds` reports for their builds: the
/// two probes give only the margins, so branches are dealt to the captions of each build in turn
/// (LTSC captions take LTSB first), which reproduces both probes' counts.
fn os_mix(
    versions: &[Row],
    builds: Option<&[Row]>,
    note: &mut impl FnMut(String),
) -> BTreeMap<String, u32> {
    // build → clients left per branch.
    let mut left: BTreeMap<u64, [u64; 3]> = BTreeMap::new();
    for row in builds.unwrap_or_default() {
        let branch = row
            .get("branch")
            .and_then(Value::as_str)
            .and_then(|b| BRANCHES.iter().position(|x| *x == b));
        let build = row.get("build").and_then(Value::as_u64);
        let n = row.get("clients").and_then(Value::as_u64);
        if let (Some(branch), Some(build), Some(n)) = (branch, build, n) {
            left.entry(build).or_default()[branch] += n;
        }
    }
    let mut rows: Vec<(String, String, u64)> = versions
        .iter()
        .filter_map(|r| {
            let caption = r.get("caption")?.as_str()?;
            let version = r.get("version")?.as_str()?;
            let n = r.get("clients")?.as_u64().filter(|n| *n > 0)?;
            Some((caption.to_string(), version.to_string(), n))
        })
        .collect();
    rows.sort_by_key(|(caption, _, _)| !caption.to_ascii_uppercase().contains("LTSC"));
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
        let order: [usize; 3] = if caption.to_ascii_uppercase().contains("LTSC") {
            [2, 0, 1]
        } else {
            [0, 1, 2]
        };
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
    os
}

/// The top processors, and the clients below the top 50 spread over processors of their own,
/// each with fewer clients than the 50th (or, when it has one, sorting after it), so that the
/// same 50 stay on top.
fn cpu_mix(rows: &[Row], clients: u64, note: &mut impl FnMut(String)) -> BTreeMap<String, u32> {
    let top: Vec<(String, u64)> = counted(rows, "cpu")
        .into_iter()
        .filter_map(|(cpu, n)| Some((cpu.as_str()?.to_string(), n)))
        .collect();
    let mut cpus: BTreeMap<String, u32> =
        top.iter().map(|(c, n)| (c.clone(), weight(*n))).collect();
    let listed: u64 = top.iter().map(|(_, n)| n).sum();
    let mut tail = clients.saturating_sub(listed);
    let Some((last_name, last)) = top.iter().min_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))
    else {
        return cpus;
    };
    if tail == 0 {
        return cpus;
    }
    let (per_name, prefix) = if *last >= 2 {
        (*last - 1, "Unlisted processor")
    } else if last_name.as_str() < "Unlisted processor" {
        (1, "Unlisted processor")
    } else {
        (1, "~Unlisted processor")
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
    let mut i = 1;
    while tail > 0 {
        let n = tail.min(per_name);
        cpus.insert(format!("{prefix} {i:04}"), weight(n));
        tail -= n;
        i += 1;
    }
    cpus
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
