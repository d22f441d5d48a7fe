//! `harness view`: a site's `TEL_TelemetryResults` as a table — what `SELECT * FROM
//! TEL_TelemetryResults` shows in the product, read from a kept embedded site database.

use std::fmt::Write;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

#[derive(Debug, thiserror::Error)]
#[error("reading {}: {source}", path.display())]
pub struct ViewError {
    path: PathBuf,
    source: rusqlite::Error,
}

/// Renders the rows of `TEL_TelemetryResults` (optionally of one week and one probe).
pub fn render(db: &Path, week: Option<u32>, probe: Option<&str>) -> Result<String, ViewError> {
    let read = |source| ViewError {
        path: db.to_path_buf(),
        source,
    };
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(read)?;
    // Every column of the table; ResultData, the long one, goes last so the others line up.
    const COLUMNS: [&str; 8] = [
        "ID",
        "Week",
        "ProbeName",
        "SiteHash",
        "HierarchyHash",
        "RowNo",
        "CollectedOn",
        "ResultData",
    ];
    let mut stmt = conn
        .prepare(&format!(
            "SELECT {} FROM TEL_TelemetryResults
             WHERE (?1 IS NULL OR Week = ?1) AND (?2 IS NULL OR ProbeName = ?2 COLLATE NOCASE)
             ORDER BY ID",
            COLUMNS.map(|c| format!("CAST({c} AS TEXT)")).join(", ")
        ))
        .map_err(read)?;
    let rows: Vec<Vec<String>> = stmt
        .query_map(rusqlite::params![week, probe], |r| {
            (0..COLUMNS.len()).map(|i| r.get(i)).collect()
        })
        .map_err(read)?
        .collect::<Result<_, _>>()
        .map_err(read)?;
    let last = COLUMNS.len() - 1;
    let mut widths: Vec<usize> = COLUMNS.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row).take(last) {
            *w = (*w).max(cell.len());
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, cells: &[&str]| {
        for (i, cell) in cells.iter().enumerate() {
            if i == last {
                let _ = writeln!(out, "{cell}");
            } else {
                let _ = write!(out, "{cell:<w$}  ", w = widths[i]);
            }
        }
    };
    line(&mut out, &COLUMNS);
    for row in &rows {
        line(
            &mut out,
            &row.iter().map(String::as_str).collect::<Vec<_>>(),
        );
    }
    let _ = writeln!(out, "({} rows)", rows.len());
    Ok(out)
}
