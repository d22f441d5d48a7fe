//! Probes loaded at run time from a directory (`harness run --probes DIR`, `[run] probes_dir`):
//! the TEL queries a user changes or adds, run beside the shipped catalog.
//!
//! A probe `NAME` is three or four files:
//! - `NAME.toml`: `level`, `category`, `description`, and optionally `name` (defaults to
//!   `NAME`), `replaces = "TEL_X"` (it runs as `TEL_X` in place of the shipped probe) and
//!   `volatile = ["column"]` (measured values: checked to be non-negative integers only);
//! - `NAME.sqlite.sql` and `NAME.mssql.sql`: the query in each dialect (`:week` and
//!   `:week_start` may be used on SQLite, as the shipped probes do);
//! - optionally `NAME.expected.json`: the rows it must return, as JSON objects, order-free —
//!   an array (the same rows at every site) or an object of arrays by site code.
//!
//! Everything is checked before a run starts: the header's keys, the name (a T-SQL identifier),
//! the SQLite query prepared against the site schema, the T-SQL parsed to its last token, the
//! expected rows; a problem names the file and its line. Loaded probes live for the rest of the
//! process: they are leaked on purpose (a few KiB per load), so a probe is `&'static` like the
//! shipped ones.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::Digest as _;
use usage_protocol::payload::Row;

use super::{Check, Probe};
use crate::scenario::Level;

/// The rows a loaded probe must return.
#[derive(Debug, Clone, Default)]
pub struct ExpectedRows {
    /// The rows every site not named below must return.
    pub every_site: Option<Vec<Row>>,
    pub by_site: BTreeMap<String, Vec<Row>>,
}

impl ExpectedRows {
    /// What site `code` must return, when the file says.
    pub fn for_site(&self, code: &str) -> Option<&[Row]> {
        self.by_site
            .get(&code.to_ascii_uppercase())
            .or(self.every_site.as_ref())
            .map(Vec::as_slice)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProbeFileError {
    #[error("{}: cannot read: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}{at}: {message}", path.display())]
    Invalid {
        path: PathBuf,
        /// `:LINE` (or `:LINE:COLUMN`) when the problem has a place.
        at: String,
        message: String,
    },
}

/// The file names of a loaded probe's queries: `NAME.sqlite.sql`, `NAME.mssql.sql`.
const SQLITE_SUFFIX: &str = ".sqlite.sql";
const MSSQL_SUFFIX: &str = ".mssql.sql";
const EXPECTED_SUFFIX: &str = ".expected.json";

impl ProbeFileError {
    /// A problem of `path`, at `line` when it has one.
    pub fn invalid(path: &Path, line: Option<usize>, message: impl Into<String>) -> Self {
        Self::Invalid {
            path: path.to_path_buf(),
            at: line.map(|l| format!(":{l}")).unwrap_or_default(),
            message: message.into(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    name: Option<toml::Spanned<String>>,
    level: Level,
    category: String,
    description: String,
    replaces: Option<toml::Spanned<String>>,
    #[serde(default)]
    volatile: Vec<String>,
}

/// A probe read from a directory, and the shipped probe it replaces.
pub(super) struct LoadedProbe {
    pub probe: &'static Probe,
    pub replaces: Option<String>,
    /// The line of `replaces` in the header.
    pub replaces_line: Option<usize>,
    /// SHA-256 of everything read for it, names and texts.
    pub digest: String,
}

/// Reads every probe of `dir` (each `*.toml` with its `.sql` files), in name order.
pub(super) fn load_dir(dir: &Path) -> Result<Vec<LoadedProbe>, ProbeFileError> {
    let read_dir = |source| ProbeFileError::Read {
        path: dir.to_path_buf(),
        source,
    };
    let mut headers: Vec<PathBuf> = Vec::new();
    let mut others: Vec<PathBuf> = Vec::new();
    for entry in fs_err::read_dir(dir).map_err(read_dir)? {
        let path = entry.map_err(read_dir)?.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if name.to_ascii_lowercase().ends_with(".toml") {
            headers.push(path);
        } else if [".sql", ".json"]
            .iter()
            .any(|s| name.to_ascii_lowercase().ends_with(s))
        {
            others.push(path);
        }
    }
    headers.sort();
    // A query or expected-rows file no probe reads is a mistake (a misspelt suffix or a
    // probe renamed in its header): say so rather than run without it.
    for other in &others {
        let name = other
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let owned = headers.iter().any(|h| {
            let stem = h.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
            [SQLITE_SUFFIX, MSSQL_SUFFIX, EXPECTED_SUFFIX]
                .iter()
                .any(|suffix| name == format!("{stem}{suffix}"))
        });
        if !owned {
            return Err(ProbeFileError::invalid(
                other,
                None,
                format!(
                    "no probe reads this file: a probe NAME is NAME.toml with NAME{SQLITE_SUFFIX}, NAME{MSSQL_SUFFIX} and NAME{EXPECTED_SUFFIX}"
                ),
            ));
        }
    }
    if headers.is_empty() {
        return Err(ProbeFileError::invalid(
            dir,
            None,
            "no probes here: a probe is NAME.toml with NAME.sqlite.sql and NAME.mssql.sql",
        ));
    }
    headers.iter().map(|h| load_one(h)).collect()
}

/// The largest probe file read: a query or header far beyond any real one is a mistake (or
/// `/dev/zero`), not something to hold in memory.
const MAX_QUERY_BYTES: u64 = 1 << 20;
/// The largest expected-rows file read.
const MAX_EXPECTED_BYTES: u64 = 64 << 20;

/// A probe file's text: a regular file (after links) of at most `limit` bytes, in UTF-8, a
/// leading byte-order mark dropped (editors on Windows write one).
fn read(path: &Path, limit: u64) -> Result<String, ProbeFileError> {
    use usage_protocol::bounded_file::{self, BoundedReadError, Links};
    let bytes = bounded_file::read(path, limit, Links::Follow).map_err(|e| match e {
        BoundedReadError::Io(source) => ProbeFileError::Read {
            path: path.to_path_buf(),
            source,
        },
        refused => ProbeFileError::invalid(path, None, refused.to_string()),
    })?;
    let text = String::from_utf8(bytes)
        .map_err(|e| ProbeFileError::invalid(path, None, format!("not UTF-8: {e}")))?;
    Ok(text
        .strip_prefix('\u{feff}')
        .map(str::to_string)
        .unwrap_or(text))
}

fn load_one(header_path: &Path) -> Result<LoadedProbe, ProbeFileError> {
    let stem = header_path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default()
        .to_string();
    let sibling = |suffix: &str| header_path.with_file_name(format!("{stem}{suffix}"));
    let text = read(header_path, MAX_QUERY_BYTES)?;
    let header: Header = toml::from_str(&text).map_err(|e| {
        let line = e.span().map(|s| line_of(&text, s.start));
        ProbeFileError::invalid(header_path, line, e.message().to_string())
    })?;
    let at =
        |key: &Option<toml::Spanned<String>>| key.as_ref().map(|k| line_of(&text, k.span().start));
    let name = header
        .replaces
        .as_ref()
        .or(header.name.as_ref())
        .map_or_else(|| stem.clone(), |n| n.get_ref().clone());
    if let (Some(replaces), Some(own)) = (&header.replaces, &header.name)
        && replaces.get_ref() != own.get_ref()
    {
        return Err(ProbeFileError::invalid(
            header_path,
            at(&header.name),
            format!(
                "`name` is {} but `replaces` is {}: a replacement runs under the name it replaces",
                own.get_ref(),
                replaces.get_ref()
            ),
        ));
    }
    if !is_identifier(&name) {
        return Err(ProbeFileError::invalid(
            header_path,
            at(&header.replaces).or(at(&header.name)),
            format!(
                "`{name}` is not a probe name: letters, digits and `_`, starting with a letter, at most 128"
            ),
        ));
    }
    let replaces_line = at(&header.replaces);

    // The SQLite query is checked against the site schema by the embedded engine
    // (`engine::sqlite::check_loaded_probes`), before any run.
    let sqlite = read(&sibling(SQLITE_SUFFIX), MAX_QUERY_BYTES)?;
    let mssql_path = sibling(MSSQL_SUFFIX);
    let mssql = read(&mssql_path, MAX_QUERY_BYTES)?;
    check_tsql(&mssql)
        .map_err(|(line, message)| ProbeFileError::invalid(&mssql_path, line, message))?;

    let mut digest = sha2::Sha256::new();
    for part in [stem.as_str(), &text, &sqlite, &mssql] {
        digest.update((part.len() as u64).to_le_bytes());
        digest.update(part.as_bytes());
    }
    let expected_path = sibling(EXPECTED_SUFFIX);
    let check = if expected_path.exists() {
        let text = read(&expected_path, MAX_EXPECTED_BYTES)?;
        digest.update((text.len() as u64).to_le_bytes());
        digest.update(text.as_bytes());
        let rows = parse_expected(&text)
            .map_err(|(line, message)| ProbeFileError::invalid(&expected_path, line, message))?;
        Check::Expected(Box::leak(Box::new(rows)))
    } else {
        Check::Unchecked
    };
    let volatile: Vec<&'static str> = header.volatile.into_iter().map(leak).collect();
    let probe = Probe {
        name: leak(name),
        level: header.level,
        category: leak(header.category),
        description: leak(header.description),
        sqlite: leak(sqlite),
        mssql: leak(mssql),
        check,
        volatile: Box::leak(volatile.into_boxed_slice()),
        file: Some(leak(header_path.display().to_string())),
    };
    Ok(LoadedProbe {
        probe: Box::leak(Box::new(probe)),
        replaces: header.replaces.map(toml::Spanned::into_inner),
        replaces_line,
        digest: format!("{:x}", digest.finalize()),
    })
}

fn leak(text: String) -> &'static str {
    Box::leak(text.into_boxed_str())
}

/// The 1-based line of byte `offset` in `text`.
pub fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// A name a T-SQL procedure may carry unquoted, and the payload a plain string.
fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= 128
}

/// The T-SQL read to its last token: one query (a `SELECT`, possibly with a `WITH`), as the
/// probe procedure's body.
fn check_tsql(sql: &str) -> Result<(), (Option<usize>, String)> {
    use sqlparser::dialect::MsSqlDialect;
    use sqlparser::parser::Parser;
    let statements = Parser::parse_sql(&MsSqlDialect {}, sql).map_err(|e| {
        let message = e.to_string();
        (tsql_error_line(&message), message)
    })?;
    match statements.as_slice() {
        [sqlparser::ast::Statement::Query(query)] => reads_only(query)
            .then_some(())
            .ok_or((Some(1), "the query must only read: one SELECT (a WITH before it is fine), no INTO, no INSERT, UPDATE, DELETE or MERGE, no OPENQUERY, OPENROWSET or OPENDATASOURCE".into())),
        [] => Err((Some(1), "no query: the file must hold one SELECT".into())),
        [_] => Err((Some(1), "not a query: the file must hold one SELECT".into())),
        _ => Err((
            Some(1),
            format!(
                "{} statements: the file must hold one SELECT",
                statements.len()
            ),
        )),
    }
}

/// Whether a query only reads: every part of it a SELECT without INTO (or a set operation or
/// nesting of such), and no rowset function that reaches another server.
fn reads_only(query: &sqlparser::ast::Query) -> bool {
    use sqlparser::ast::SetExpr;
    fn body(set: &SetExpr) -> bool {
        match set {
            SetExpr::Select(select) => select.into.is_none(),
            SetExpr::Query(q) => reads_only(q),
            SetExpr::SetOperation { left, right, .. } => body(left) && body(right),
            SetExpr::Values(_) => true,
            _ => false,
        }
    }
    let ctes = query
        .with
        .as_ref()
        .is_none_or(|with| with.cte_tables.iter().all(|cte| reads_only(&cte.query)));
    let text = query.to_string().to_ascii_uppercase();
    let remote = ["OPENQUERY", "OPENROWSET", "OPENDATASOURCE", "OPENXML"]
        .iter()
        .any(|f| text.contains(f));
    ctes && body(&query.body) && !remote
}

/// The line sqlparser's message names (`... at Line: 3, Column: 7`).
fn tsql_error_line(message: &str) -> Option<usize> {
    let rest = &message[message.find("Line: ")? + "Line: ".len()..];
    rest.split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

fn parse_expected(text: &str) -> Result<ExpectedRows, (Option<usize>, String)> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum File {
        Every(Vec<Row>),
        BySite(BTreeMap<String, Vec<Row>>),
    }
    let file: serde_json::Value =
        serde_json::from_str(text).map_err(|e| (Some(e.line()), e.to_string()))?;
    match serde_json::from_value(file) {
        Ok(File::Every(rows)) => Ok(ExpectedRows {
            every_site: Some(rows),
            by_site: BTreeMap::new(),
        }),
        Ok(File::BySite(by_site)) if by_site.is_empty() => Err((
            Some(1),
            "names no site: give rows by site code, `\"*\"` for every other site".into(),
        )),
        Ok(File::BySite(by_site)) => Ok(ExpectedRows {
            every_site: by_site.get("*").cloned(),
            // Site codes are upper case in the model; `p01` means P01.
            by_site: by_site
                .into_iter()
                .filter(|(k, _)| k != "*")
                .map(|(k, rows)| (k.to_ascii_uppercase(), rows))
                .collect(),
        }),
        Err(_) => Err((
            None,
            "expected rows are an array of JSON objects, or an object of such arrays by site code"
                .into(),
        )),
    }
}

impl Probe {
    /// Whether this probe was loaded from a directory rather than shipped.
    pub fn is_loaded(&self) -> bool {
        self.file.is_some()
    }

    /// The file a loaded probe's SQLite query was read from.
    pub fn sqlite_file(&self) -> Option<PathBuf> {
        self.loaded_file(SQLITE_SUFFIX)
    }

    /// The file a loaded probe's expected rows were read from.
    pub fn expected_file(&self) -> Option<PathBuf> {
        self.loaded_file(EXPECTED_SUFFIX)
    }

    fn loaded_file(&self, suffix: &str) -> Option<PathBuf> {
        let header = Path::new(self.file?);
        let stem = header.file_stem()?.to_str()?;
        Some(header.with_file_name(format!("{stem}{suffix}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tsql_errors_name_their_line() {
        let (line, _) = check_tsql("SELECT a\nFROM t\nWHERE AND b").unwrap_err();
        assert_eq!(line, Some(3));
        assert!(check_tsql("SELECT a FROM dbo.t; SELECT 1").is_err());
        assert!(check_tsql("DELETE FROM dbo.t").is_err());
        assert!(check_tsql("WITH x AS (SELECT 1 AS a) SELECT a FROM x").is_ok());
    }

    #[test]
    fn names_are_identifiers() {
        assert!(is_identifier("TEL_MyProbe2"));
        assert!(!is_identifier("TEL My"));
        assert!(!is_identifier("2TEL"));
        assert!(!is_identifier("x]; DROP TABLE t;--"));
    }

    #[test]
    fn expected_rows_by_site_fall_back_to_every_site() {
        let rows = parse_expected(r#"{"*": [{"a": 1}], "P01": [{"a": 2}]}"#).unwrap();
        assert_eq!(rows.for_site("P01").unwrap()[0]["a"], 2);
        assert_eq!(rows.for_site("P02").unwrap()[0]["a"], 1);
        let (line, _) = parse_expected("[\n{\"a\": }]").unwrap_err();
        assert_eq!(line, Some(2));
    }
}
