//! `harness view`: a site's `TEL_TelemetryResults` as a table — what `SELECT * FROM
//! TEL_TelemetryResults` shows in the product, read from a kept embedded site database.

use std::fmt::Write;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

#[derive(Debug, thiserror::Error)]
pub enum ViewError {
    #[error(
        "no site database {code}.db under {out}/*/sites/ (run a scenario with --out {out} first)"
    )]
    NotFound { code: String, out: String },
    #[error("site {code} exists in several scenarios ({0}); choose one with --scenario", scenarios.join(", "))]
    Ambiguous {
        code: String,
        scenarios: Vec<String>,
    },
    #[error("reading {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("listing {}: {source}", path.display())]
    List {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Finds `<out>/<scenario>/sites/<CODE>.db`; without a scenario, the only one that has the site.
pub fn find_site_db(out: &Path, scenario: Option<&str>, code: &str) -> Result<PathBuf, ViewError> {
    let file = format!("{}.db", code.to_ascii_uppercase());
    if let Some(name) = scenario {
        let path = out
            .join(crate::pipeline::safe_name(name))
            .join("sites")
            .join(&file);
        return if path.exists() {
            Ok(path)
        } else {
            Err(ViewError::NotFound {
                code: code.into(),
                out: out.display().to_string(),
            })
        };
    }
    let mut found = Vec::new();
    let entries = std::fs::read_dir(out).map_err(|source| ViewError::List {
        path: out.to_path_buf(),
        source,
    })?;
    for entry in entries.flatten() {
        let path = entry.path().join("sites").join(&file);
        if path.exists() {
            found.push((entry.file_name().to_string_lossy().into_owned(), path));
        }
    }
    match found.len() {
        0 => Err(ViewError::NotFound {
            code: code.into(),
            out: out.display().to_string(),
        }),
        1 => Ok(found.remove(0).1),
        _ => Err(ViewError::Ambiguous {
            code: code.into(),
            scenarios: found.into_iter().map(|(s, _)| s).collect(),
        }),
    }
}

/// Renders the rows of `TEL_TelemetryResults` (optionally of one week and one probe).
pub fn render(db: &Path, week: Option<u32>, probe: Option<&str>) -> Result<String, ViewError> {
    let read = |source| ViewError::Read {
        path: db.to_path_buf(),
        source,
    };
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(read)?;
    let mut stmt = conn
        .prepare(
            "SELECT ID, Week, ProbeName, SiteHash, RowNo, ResultData FROM TEL_TelemetryResults
             WHERE (?1 IS NULL OR Week = ?1) AND (?2 IS NULL OR ProbeName = ?2 COLLATE NOCASE)
             ORDER BY ID",
        )
        .map_err(read)?;
    let rows: Vec<[String; 6]> = stmt
        .query_map(rusqlite::params![week, probe], |r| {
            Ok([
                r.get::<_, i64>(0)?.to_string(),
                r.get::<_, i64>(1)?.to_string(),
                r.get(2)?,
                r.get(3)?,
                r.get::<_, i64>(4)?.to_string(),
                r.get(5)?,
            ])
        })
        .map_err(read)?
        .collect::<Result<_, _>>()
        .map_err(read)?;
    let header = ["ID", "Week", "ProbeName", "SiteHash", "RowNo", "ResultData"];
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row.iter()).take(5) {
            *w = (*w).max(cell.len());
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, cells: [&str; 6]| {
        for (i, cell) in cells.iter().enumerate() {
            if i == 5 {
                let _ = writeln!(out, "{cell}");
            } else {
                let _ = write!(out, "{cell:<w$}  ", w = widths[i]);
            }
        }
    };
    line(&mut out, header);
    for row in &rows {
        line(
            &mut out,
            [&row[0], &row[1], &row[2], &row[3], &row[4], &row[5]],
        );
    }
    let _ = writeln!(out, "({} rows)", rows.len());
    Ok(out)
}
