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
