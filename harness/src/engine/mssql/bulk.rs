//! Rows into one table through TDS bulk inserts, and the rows a bulk insert cannot carry.
//!
//! tiberius sends a bulk-load string within the size the server gives for the column, which for
//! `NVARCHAR(MAX)` is 65,535 bytes: text over 32,767 UTF-16 code units is refused even there. A
//! row holding such text is sent with a parameterised `INSERT` instead (a parameter has no such
//! limit), in its place among the others, so that the rows keep their order (and their IDENTITY
//! numbers follow it).

use tiberius::{ColumnData, IntoSql, ToSql, TokenRow};

use super::connection::Connection;

/// The longest text, in UTF-16 code units, that a bulk insert carries.
pub(super) const BULK_TEXT_LIMIT: usize = 32_767;

/// One row of values, in the order of the columns it is sent to.
pub(super) type Values = Vec<ColumnData<'static>>;

/// A text value the row owns.
pub(super) fn owned(s: &str) -> ColumnData<'static> {
    s.to_string().into_sql()
}

/// How a run of rows is sent, in order.
#[derive(Debug, PartialEq)]
pub(super) enum Chunk {
    /// Rows a bulk insert carries.
    Bulk(Vec<Values>),
    /// One row with text too long for a bulk insert.
    Insert(Values),
}

/// True when a bulk insert can carry every value of `row`.
pub(super) fn fits_bulk(row: &[ColumnData<'_>]) -> bool {
    row.iter().all(|value| match value {
        ColumnData::String(Some(text)) => text.encode_utf16().count() <= BULK_TEXT_LIMIT,
        _ => true,
    })
}

/// The chunks `rows` are sent in: runs of rows a bulk insert carries, and single rows it does
/// not, in the order of `rows`.
pub(super) fn plan(rows: Vec<Values>) -> Vec<Chunk> {
    let mut chunks = Vec::new();
    for row in rows {
        if !fits_bulk(&row) {
            chunks.push(Chunk::Insert(row));
            continue;
        }
        match chunks.last_mut() {
            Some(Chunk::Bulk(run)) => run.push(row),
            _ => chunks.push(Chunk::Bulk(vec![row])),
        }
    }
    chunks
}

/// The parameterised `INSERT` of one row into `columns` of `table`.
pub(super) fn insert_sql(table: &str, columns: &[&str]) -> String {
    let params: Vec<String> = (1..=columns.len()).map(|i| format!("@P{i}")).collect();
    format!(
        "INSERT INTO {table} ({}) VALUES ({})",
        columns.join(", "),
        params.join(", ")
    )
}

/// Inserts `rows` into `columns` of `table`: in bulk where it can, row by row where it cannot.
pub(super) async fn load(
    conn: &mut Connection,
    table: &str,
    columns: &[&str],
    rows: Vec<Values>,
) -> tiberius::Result<()> {
    for chunk in plan(rows) {
        match chunk {
            Chunk::Bulk(rows) => bulk(conn, table, columns, rows).await?,
            Chunk::Insert(row) => {
                let params: Vec<&dyn ToSql> = row.iter().map(|v| v as &dyn ToSql).collect();
                conn.execute(insert_sql(table, columns), &params).await?;
            }
        }
    }
    Ok(())
}

async fn bulk(
    conn: &mut Connection,
    table: &str,
    columns: &[&str],
    rows: Vec<Values>,
) -> tiberius::Result<()> {
    let mut request = conn.bulk_insert_columns(table, columns).await?;
    for values in rows {
        let mut row = TokenRow::with_capacity(values.len());
        for v in values {
            row.push(v);
        }
        request.send(row).await?;
    }
    request.finalize().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(note: &str) -> Values {
        vec![1i64.into_sql(), owned(note)]
    }

    #[test]
    fn text_up_to_the_limit_goes_in_bulk() {
        assert!(fits_bulk(&row(&"a".repeat(BULK_TEXT_LIMIT))));
        assert!(!fits_bulk(&row(&"a".repeat(BULK_TEXT_LIMIT + 1))));
        assert!(fits_bulk(&[None::<String>.into_sql(), 5i32.into_sql()]));
    }

    #[test]
    fn the_limit_counts_utf16_code_units_not_characters() {
        // U+1F600 takes two UTF-16 code units: 16,384 of them are 32,768 units.
        let emoji = "\u{1F600}".repeat(16_384);
        assert_eq!(emoji.chars().count(), 16_384);
        assert!(!fits_bulk(&row(&emoji)));
        let accented = "é".repeat(BULK_TEXT_LIMIT);
        assert!(
            fits_bulk(&row(&accented)),
            "one unit each, though two UTF-8 bytes"
        );
    }

    #[test]
    fn long_rows_are_inserted_one_by_one_in_their_place() {
        let long = "x".repeat(BULK_TEXT_LIMIT + 10);
        let plan = plan(vec![
            row("a"),
            row("b"),
            row(&long),
            row("c"),
            row(&long),
            row(&long),
        ]);
        assert_eq!(
            plan,
            vec![
                Chunk::Bulk(vec![row("a"), row("b")]),
                Chunk::Insert(row(&long)),
                Chunk::Bulk(vec![row("c")]),
                Chunk::Insert(row(&long)),
                Chunk::Insert(row(&long)),
            ]
        );
        assert_eq!(super::plan(Vec::new()), Vec::new());
    }

    #[test]
    fn the_insert_names_every_column() {
        assert_eq!(
            insert_sql(
                "dbo.TEL_TelemetryResults",
                &["Week", "ProbeName", "ResultData"]
            ),
            "INSERT INTO dbo.TEL_TelemetryResults (Week, ProbeName, ResultData) VALUES (@P1, @P2, @P3)"
        );
    }
}
