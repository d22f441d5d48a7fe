//! The service connection tool of an offline service connection point:
//! `-prepare` writes the week's usage data into a cabinet, `-export` into a CSV file for a person,
//! `-connect` (on an internet-connected machine) uploads every cabinet of a folder and downloads
//! the update packs each hierarchy is entitled to, and `-import` takes into the site database only
//! the packs meant for its hierarchy.
//!
//! Nothing is half-written: cabinets, packs and manifests are written to a temporary file and
//! renamed; `-connect` validates every cabinet before it sends any.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use usage_protocol::Receipt;
use usage_protocol::client::{RetryPolicy, Upstream, UpstreamError};
use usage_protocol::connect;
use usage_protocol::payload::UsagePayload;
use usage_protocol::usage_cab::{self, CabError};

use crate::engine::{EngineError, ImportedPack, SiteDatabase, StagedBatch};
use crate::hash::tel_hash;
use crate::payload::{self, PayloadBuildError};
use crate::probes::Catalog;

/// Largest payload a cabinet may inflate to when it is read back.
const MAX_PAYLOAD_BYTES: u64 = 64 << 20;
/// Largest update pack `-import` reads (the shipped ones are tens of kilobytes).
const MAX_PACK_BYTES: u64 = 64 << 20;
/// Largest cabinet `-connect` reads from the transfer folder (the service takes 8 MiB bodies).
const MAX_CAB_BYTES: u64 = 64 << 20;
/// The most update packs one `-connect` takes, and their most bytes in all: a hierarchy is
/// offered the few packs it lacks, and a service offering thousands would fill the medium.
const MAX_PACKS_PER_CONNECT: usize = 64;
const MAX_CONNECT_PACK_BYTES: u64 = 1 << 30;

/// Largest manifest or receipt `-import` reads.
const MAX_MANIFEST_BYTES: u64 = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum SctError {
    #[error(transparent)]
    Payload(#[from] PayloadBuildError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("building the cabinet {}: {source}", path.display())]
    Build {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("writing CSV {}: {source}", path.display())]
    Csv { path: PathBuf, source: csv::Error },
    #[error("{} is not a usable usage cabinet: {source}", path.display())]
    Cab { path: PathBuf, source: CabError },
    #[error("{}: the payload inside is invalid: {message}", path.display())]
    CabPayload { path: PathBuf, message: String },
    #[error(
        "{} already holds another hierarchy's usage data ({other}); cabinet names must be unique \
         in a transfer folder: prepare into another file name",
        path.display()
    )]
    NameClash { path: PathBuf, other: String },
    #[error("no .cab file in {}", dir.display())]
    NoCabinets { dir: PathBuf },
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    #[error("update pack {id}: downloaded {actual}, the service announced {expected}")]
    PackDigest {
        id: String,
        expected: String,
        actual: String,
    },
    #[error("{}: {message}", path.display())]
    Manifest { path: PathBuf, message: String },
    #[error("the service's answer to -connect is refused: {0}")]
    HostileAnswer(String),
    #[error(
        "site {site} is a child of {parent}: only the top-level site has the service connection \
         point; run the service connection tool there"
    )]
    NotTopLevel { site: String, parent: String },
}

/// Writes `bytes` to `path` durably and whole: a reader never sees half a cabinet or manifest.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), SctError> {
    usage_protocol::durable::write_file(path, bytes).map_err(SctError::from)
}

#[derive(Debug, Clone, PartialEq)]
pub struct PreparedCab {
    pub path: PathBuf,
    pub hierarchy_hash: String,
    pub week: u32,
    pub bytes: u64,
    /// What the cabinet carries.
    pub payload: UsagePayload,
}

/// The service connection tool runs at the top-level site (the CAS, or a stand-alone primary):
/// a child primary's database holds only its own part of the hierarchy.
fn at_top_level(info: &crate::engine::SiteInfo) -> Result<(), SctError> {
    match &info.parent {
        Some(parent) => Err(SctError::NotTopLevel {
            site: info.code.clone(),
            parent: parent.clone(),
        }),
        None => Ok(()),
    }
}

/// `-prepare -usagedatadest FILE`: every probe run not yet acknowledged into a cabinet, stamped
/// with the week's cycle (latest when `None`). Runs above the level in force are dropped, never
/// sent. The batch is staged at the site; `-import` of the receipt marks it delivered. Refuses
/// to overwrite another hierarchy's cabinet.
pub async fn prepare(
    db: &dyn SiteDatabase,
    catalog: &Catalog,
    week: Option<u32>,
    dest: &Path,
) -> Result<PreparedCab, SctError> {
    let info = db.site_info().await?;
    at_top_level(&info)?;
    let backlog = payload::backlog(db, catalog, week).await?;
    let payload = payload::whole(&backlog)?;
    if dest.exists() {
        let existing = fs_err::read(dest)?;
        if let Ok(cab) = usage_cab::read(&existing, MAX_PAYLOAD_BYTES)
            && let Ok(other) = UsagePayload::from_json(&cab.payload_json)
            && other.hierarchy_id != payload.payload.hierarchy_id
        {
            return Err(SctError::NameClash {
                path: dest.to_path_buf(),
                other: other.hierarchy_id,
            });
        }
    }
    if let Some(parent) = dest.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs_err::create_dir_all(parent)?;
    }
    let (json, _) = payload::encode(&payload.payload);
    let date = time::Date::parse(
        &payload.payload.period.start,
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .unwrap_or(time::Date::MIN);
    let bytes = usage_cab::write(&json, &info.version, date).map_err(|source| SctError::Build {
        path: dest.to_path_buf(),
        source,
    })?;
    write_atomically(dest, &bytes)?;
    if !backlog.above_level.is_empty() {
        db.mark_dropped(&backlog.above_level, "level_change")
            .await?;
    }
    // A cabinet prepared again replaces the batch staged before: what was not acknowledged is
    // in this one too.
    db.stage_outbox(&StagedBatch {
        idempotency_key: connect::idempotency_key(
            &payload.payload.hierarchy_id,
            payload.payload.period.week,
        ),
        entries: payload.entries,
        body: bytes.clone(),
    })
    .await?;
    Ok(PreparedCab {
        path: dest.to_path_buf(),
        hierarchy_hash: payload.payload.hierarchy_id.clone(),
        week: payload.payload.period.week,
        bytes: bytes.len() as u64,
        payload: payload.payload,
    })
}

/// `-export -dest FILE.csv`: what `-prepare` would carry, as CSV, one line per result row, each
/// with its own week and period.
pub async fn export(
    db: &dyn SiteDatabase,
    catalog: &Catalog,
    week: Option<u32>,
    dest: &Path,
) -> Result<usize, SctError> {
    at_top_level(&db.site_info().await?)?;
    let payload = payload::pending_payload(db, catalog, week).await?;
    write_csv(&payload, dest)
}

/// The columns of an export, in order.
pub const EXPORT_COLUMNS: [&str; 8] = [
    "hierarchy_id",
    "week",
    "period_start",
    "level",
    "site",
    "probe",
    "row_no",
    "data",
];

/// Writes `payload` as `-export` does; the number of result rows written.
pub fn write_csv(payload: &UsagePayload, dest: &Path) -> Result<usize, SctError> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let csv_err = |source: csv::Error| SctError::Csv {
        path: dest.to_path_buf(),
        source,
    };
    writer.write_record(EXPORT_COLUMNS).map_err(csv_err)?;
    let mut rows = 0;
    for result in &payload.results {
        for (n, row) in result.rows.iter().enumerate() {
            let data = serde_json::to_string(row).expect("rows serialise");
            let record = [
                payload.hierarchy_id.as_str(),
                &result.week_in(payload).to_string(),
                result
                    .period_start
                    .as_deref()
                    .unwrap_or(&payload.period.start),
                &payload.level,
                &result.site,
                &result.probe,
                &(n + 1).to_string(),
                &data,
            ];
            writer
                .write_record(record.map(|cell| neutralise_formula(cell).into_owned()))
                .map_err(csv_err)?;
            rows += 1;
        }
    }
    let bytes = writer
        .into_inner()
        .map_err(|e| csv_err(e.into_error().into()))?;
    write_atomically(dest, &bytes)?;
    Ok(rows)
}

/// A CSV cell a spreadsheet would run as a formula (it begins with `=`, `+`, `-`, `@`, a tab or
/// a carriage return — a base64 hash can begin with `+`) gets a leading `'`, so that opening the
/// export runs nothing.
fn neutralise_formula(cell: &str) -> std::borrow::Cow<'_, str> {
    if cell.starts_with(FORMULA_STARTS) {
        format!("'{cell}").into()
    } else {
        cell.into()
    }
}

const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// A cell of an export as it was before [`neutralise_formula`].
pub fn restore_formula(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if rest.starts_with(FORMULA_STARTS) => rest,
        _ => cell,
    }
}

/// One hierarchy's update packs in a `-connect` destination folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackManifest {
    /// Hashed hierarchy ID the packs are meant for.
    pub hierarchy_id: String,
    pub packs: Vec<ManifestPack>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestPack {
    #[serde(flatten)]
    pub pack: ImportedPack,
    /// File name in the hierarchy's folder.
    pub file: String,
}

pub const MANIFEST: &str = "manifest.json";
/// The upstream's receipt of a hierarchy's cabinet, beside its packs.
pub const RECEIPT: &str = "receipt.json";

/// The folder name of a hierarchy's packs: its hash (a base64 SHA-256 digest, checked by the
/// caller), made safe for file systems.
pub fn hierarchy_folder(hierarchy_hash: &str) -> String {
    debug_assert!(usage_protocol::payload::is_sha256_base64(hierarchy_hash));
    hierarchy_hash
        .trim_end_matches('=')
        .replace('+', "-")
        .replace('/', "_")
}

/// Checks what a service answered to `-connect` before any of it names a file: every result is
/// for a hierarchy whose cabinet was sent, and every pack id has the form of one. A hostile or
/// broken service could otherwise choose where files land.
fn check_answer(
    answer: &connect::ConnectAnswer,
    sent: &[String],
    files: &[String],
) -> Result<(), SctError> {
    let hostile = |m: String| Err(SctError::HostileAnswer(m));
    let offers: Vec<&usage_protocol::update_pack::PackOffer> = answer
        .results
        .iter()
        .flat_map(|r| &r.update_packs)
        .collect();
    if offers.len() > MAX_PACKS_PER_CONNECT {
        return hostile(format!(
            "{} update packs offered, more than the {MAX_PACKS_PER_CONNECT} one -connect takes",
            offers.len()
        ));
    }
    let announced: u64 = offers.iter().map(|o| o.size).fold(0, u64::saturating_add);
    if let Some(o) = offers.iter().find(|o| o.size > MAX_PACK_BYTES) {
        return hostile(format!(
            "update pack {} announced at {} bytes, more than the {MAX_PACK_BYTES} a pack may be",
            o.id, o.size
        ));
    }
    if announced > MAX_CONNECT_PACK_BYTES {
        return hostile(format!(
            "update packs of {announced} bytes in all, more than the {MAX_CONNECT_PACK_BYTES} one -connect takes"
        ));
    }
    let mut hierarchies = std::collections::BTreeSet::new();
    for r in &answer.results {
        if !hierarchies.insert(r.hierarchy_id.as_str()) {
            return hostile(format!("two results for hierarchy {}", r.hierarchy_id));
        }
        if !files.contains(&r.file) {
            return hostile(format!(
                "a result for `{}`, a cabinet that was not sent",
                r.file.escape_debug()
            ));
        }
        // Pack files are named by id: two ids that differ only in case are one file on the
        // case-insensitive file systems transfer media often have.
        let mut ids = std::collections::BTreeSet::new();
        if let Some(o) = r
            .update_packs
            .iter()
            .find(|o| !ids.insert(o.id.to_ascii_lowercase()))
        {
            return hostile(format!(
                "update pack {} offered twice to hierarchy {} (ids are told apart without case)",
                o.id, r.hierarchy_id
            ));
        }
        if !usage_protocol::payload::is_sha256_base64(&r.hierarchy_id) {
            return hostile(format!(
                "hierarchy id `{}` is not a base64 SHA-256 digest",
                r.hierarchy_id.escape_debug()
            ));
        }
        if !sent.contains(&r.hierarchy_id) {
            return hostile(format!(
                "a result for hierarchy {}, whose usage data was not sent",
                r.hierarchy_id
            ));
        }
        if let Some(offer) = r.update_packs.iter().find(|o| !o.has_valid_id()) {
            return hostile(format!(
                "update pack id `{}` is not a pack id (letters, digits, `.`, `_`, `-`)",
                offer.id.escape_debug()
            ));
        }
    }
    if let Some(missing) = files
        .iter()
        .find(|f| !answer.results.iter().any(|r| &r.file == *f))
    {
        return hostile(format!(
            "no result for the cabinet `{}`, which was sent",
            missing.escape_debug()
        ));
    }
    Ok(())
}

/// How `-connect` authenticates to the service.
#[derive(Debug, Clone)]
pub enum Credentials {
    /// A hierarchy token the service issued.
    Token(String),
    /// The mock service's admin token: each cabinet's hierarchy is registered first (what a
    /// tenant's onboarding does for the real service), and its token used.
    Admin(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uploaded {
    pub file: String,
    pub hierarchy_hash: String,
    pub week: u32,
    pub receipt: String,
    pub replayed: bool,
    pub packs: usize,
}

/// The `*.cab` files of a folder, by name.
fn cabinets_in(dir: &Path) -> Result<Vec<PathBuf>, SctError> {
    // Regular files only, not links: a link could lead anywhere (`/dev/zero`, a huge file).
    let mut cabs: Vec<PathBuf> = fs_err::read_dir(dir)?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("cab")))
        .collect();
    cabs.sort();
    Ok(cabs)
}

/// `-connect -usagedatasrc DIR -updatepackdest DIR`: uploads every cabinet of `src` in one request
/// and downloads each hierarchy's update packs into `dest/<hierarchy>/` with a manifest.
pub async fn connect(
    url: &str,
    credentials: &Credentials,
    src: &Path,
    dest: &Path,
) -> Result<Vec<Uploaded>, SctError> {
    let cabs = cabinets_in(src)?;
    if cabs.is_empty() {
        return Err(SctError::NoCabinets {
            dir: src.to_path_buf(),
        });
    }
    let mut files = Vec::new();
    let mut sent = Vec::new();
    for path in &cabs {
        let bytes = read_regular_file(path, MAX_CAB_BYTES)?;
        // Checked here first, so a damaged file is named before anything leaves the machine.
        let cab = usage_cab::read(&bytes, MAX_PAYLOAD_BYTES).map_err(|source| SctError::Cab {
            path: path.clone(),
            source,
        })?;
        let payload =
            UsagePayload::from_json(&cab.payload_json).map_err(|e| SctError::CabPayload {
                path: path.clone(),
                message: e.to_string(),
            })?;
        sent.push(payload.hierarchy_id);
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("UsageData.cab")
            .to_string();
        files.push((name, bytes));
    }
    let token = match credentials {
        Credentials::Token(token) => token.clone(),
        Credentials::Admin(admin_token) => {
            // Any registered hierarchy's token authenticates the request; every cabinet's
            // hierarchy must be registered for it to be stored.
            let admin = Upstream::new(url, admin_token.clone(), RetryPolicy::default());
            let mut token = String::new();
            for hierarchy in &sent {
                token = admin.register(hierarchy).await?;
            }
            token
        }
    };
    let token = token.as_str();
    let upstream = Upstream::public(url);
    let names: Vec<String> = files.iter().map(|(name, _)| name.clone()).collect();
    let answer = upstream.sct_connect(token, files).await?;
    check_answer(&answer, &sent, &names)?;
    let mut uploaded = Vec::new();
    for r in answer.results {
        let folder = dest.join(hierarchy_folder(&r.hierarchy_id));
        fs_err::create_dir_all(&folder)?;
        let mut manifest = PackManifest {
            hierarchy_id: r.hierarchy_id.clone(),
            packs: Vec::new(),
        };
        for offer in &r.update_packs {
            let bytes = upstream.download_pack(token, offer).await?;
            if bytes.len() as u64 != offer.size {
                return Err(SctError::HostileAnswer(format!(
                    "update pack {} is {} bytes, announced at {}",
                    offer.id,
                    bytes.len(),
                    offer.size
                )));
            }
            let actual = usage_protocol::sha256_hex(&bytes);
            if actual != offer.sha256 {
                return Err(SctError::PackDigest {
                    id: offer.id.clone(),
                    expected: offer.sha256.clone(),
                    actual,
                });
            }
            let file = format!("{}.pack", offer.id);
            write_atomically(&folder.join(&file), &bytes)?;
            manifest.packs.push(ManifestPack {
                pack: ImportedPack {
                    id: offer.id.clone(),
                    name: offer.name.clone(),
                    version: offer.version.clone(),
                    sha256: actual,
                },
                file,
            });
        }
        let text = serde_json::to_vec_pretty(&manifest).expect("manifests serialise");
        write_atomically(&folder.join(MANIFEST), &text)?;
        // The receipt goes back to the site beside its packs; -import marks the batch delivered.
        let receipt = serde_json::to_vec_pretty(&r.receipt).expect("receipts serialise");
        write_atomically(&folder.join(RECEIPT), &receipt)?;
        uploaded.push(Uploaded {
            file: r.file,
            hierarchy_hash: r.hierarchy_id,
            week: r.week,
            receipt: r.receipt.id,
            replayed: r.replayed,
            packs: manifest.packs.len(),
        });
    }
    Ok(uploaded)
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportOutcome {
    pub imported: Vec<String>,
    /// Hashed IDs of the other hierarchies whose packs were left alone.
    pub left_alone: Vec<String>,
    /// The receipt that acknowledged the site's staged batch, when the folder brought it.
    pub acknowledged: Option<String>,
}

/// `-import -updatepacksrc DIR`: imports the packs meant for this site's hierarchy, each checked
/// against its digest; other hierarchies' packs are left alone and reported.
pub async fn import(db: &dyn SiteDatabase, src: &Path) -> Result<ImportOutcome, SctError> {
    let own = tel_hash(&db.site_info().await?.hierarchy_id);
    let mut outcome = ImportOutcome::default();
    // Only real folders directly under `src`: a symbolic link could lead anywhere, and one that
    // leads to a folder is refused, not passed over in silence. A folder with anything named
    // like a manifest is read (and refused if it is not a regular file).
    let mut folders = Vec::new();
    for entry in fs_err::read_dir(src)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_symlink() {
            return Err(SctError::Manifest {
                path: entry.path(),
                message: "a link in the transfer folder: not followed".into(),
            });
        }
        if kind.is_dir() && fs_err::symlink_metadata(entry.path().join(MANIFEST)).is_ok() {
            folders.push(entry.path());
        }
    }
    folders.sort();
    for folder in folders {
        let path = folder.join(MANIFEST);
        let manifest = read_manifest(&path, &read_regular_file(&path, MAX_MANIFEST_BYTES)?)?;
        // A hierarchy's packs are in the folder named after it, and only there: a copy of its
        // manifest in another folder would import its packs twice.
        let named = folder.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if !usage_protocol::payload::is_sha256_base64(&manifest.hierarchy_id)
            || hierarchy_folder(&manifest.hierarchy_id) != named
        {
            return Err(SctError::Manifest {
                path: path.clone(),
                message: format!(
                    "the manifest is for hierarchy `{}`, whose packs are not in a folder named `{named}`",
                    manifest.hierarchy_id.escape_debug()
                ),
            });
        }
        if manifest.hierarchy_id != own {
            outcome.left_alone.push(manifest.hierarchy_id);
            continue;
        }
        check_pack_files(&path, &manifest)?;
        let mut packs = Vec::new();
        for p in &manifest.packs {
            let bytes = read_regular_file(&folder.join(&p.file), MAX_PACK_BYTES)?;
            let actual = usage_protocol::sha256_hex(&bytes);
            if actual != p.pack.sha256 {
                return Err(SctError::PackDigest {
                    id: p.pack.id.clone(),
                    expected: p.pack.sha256.clone(),
                    actual,
                });
            }
            packs.push(p.pack.clone());
        }
        db.import_update_packs(&packs).await?;
        outcome.imported.extend(packs.into_iter().map(|p| p.id));
        outcome.acknowledged = acknowledge(db, &folder.join(RECEIPT)).await?;
    }
    Ok(outcome)
}

const MAX_RECEIPT_BYTES: u64 = MAX_MANIFEST_BYTES;

/// A transfer folder's manifest from the bytes of the file at `path` (which errors name).
pub fn read_manifest(path: &Path, bytes: &[u8]) -> Result<PackManifest, SctError> {
    serde_json::from_slice(bytes).map_err(|e| SctError::Manifest {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// Every pack file the manifest at `path` names must be a plain name in the manifest's own
/// folder. Checked for the site's own hierarchy only: another's folder is left alone as it is.
pub fn check_pack_files(path: &Path, manifest: &PackManifest) -> Result<(), SctError> {
    let refused = |message: String| {
        Err(SctError::Manifest {
            path: path.to_path_buf(),
            message,
        })
    };
    let mut ids = std::collections::BTreeSet::new();
    for p in &manifest.packs {
        if !usage_protocol::update_pack::is_valid_pack_id(&p.pack.id) {
            return refused(format!(
                "pack id `{}` is not a pack id (letters, digits, `.`, `_`, `-`)",
                p.pack.id.escape_debug()
            ));
        }
        if !ids.insert(p.pack.id.to_ascii_lowercase()) {
            return refused(format!("pack {} is listed twice", p.pack.id));
        }
    }
    if let Some(p) = manifest.packs.iter().find(|p| !is_plain_file_name(&p.file)) {
        return Err(SctError::Manifest {
            path: path.to_path_buf(),
            message: format!(
                "pack file `{}` is not a plain file name in the manifest's folder",
                p.file.escape_debug()
            ),
        });
    }
    Ok(())
}

/// A name that stays in its folder: no separator, not `.` or `..`, nothing hidden.
fn is_plain_file_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && !name.starts_with('.')
        && !name.contains(['/', '\\', '\0', ':'])
}

/// Reads a regular file (not a link, a device or a pipe) of at most `limit` bytes.
fn read_regular_file(path: &Path, limit: u64) -> Result<Vec<u8>, SctError> {
    use usage_protocol::bounded_file::{self, BoundedReadError, Links};
    bounded_file::read(path, limit, Links::Refuse).map_err(|e| match e {
        BoundedReadError::Io(e) => SctError::Io(e),
        refused => SctError::Manifest {
            path: path.to_path_buf(),
            message: refused.to_string(),
        },
    })
}

/// Marks the staged batch delivered when `receipt` (if the folder has one) acknowledges it. A
/// receipt of another batch (imported before, or of an older cabinet) changes nothing.
async fn acknowledge(db: &dyn SiteDatabase, receipt: &Path) -> Result<Option<String>, SctError> {
    if !receipt.is_file() {
        return Ok(None);
    }
    let text = read_regular_file(receipt, MAX_RECEIPT_BYTES)?;
    let receipt: Receipt = serde_json::from_slice(&text).map_err(|e| SctError::Manifest {
        path: receipt.to_path_buf(),
        message: e.to_string(),
    })?;
    match db.outbox().await? {
        Some(staged) if staged.idempotency_key == receipt.idempotency_key => {
            db.mark_delivered(&staged.idempotency_key, &receipt.id)
                .await?;
            Ok(Some(receipt.id))
        }
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exported_csv_cells_can_begin_with_a_formula() {
        for cell in ["=1+1", "+AbC=", "-2", "@SUM(A1)", "\tx", "\rx"] {
            assert_eq!(neutralise_formula(cell), format!("'{cell}"));
        }
        for cell in ["{\"a\":1}", "P01", "2026-01-05", "AbC+="] {
            assert_eq!(neutralise_formula(cell), cell);
        }
    }

    #[test]
    fn plain_file_names_stay_in_their_folder() {
        for bad in [
            "", ".", "..", "../x", "a/b", "a\\b", ".hidden", "c:x", "a\0b",
        ] {
            assert!(!is_plain_file_name(bad), "{bad:?}");
        }
        assert!(is_plain_file_name("cm-2403.pack"));
    }
}
