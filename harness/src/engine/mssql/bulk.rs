//! TDS bulk inserts: rows of column values streamed into one table.

use tiberius::{ColumnData, IntoSql, TokenRow};

use super::connection::Connection;

/// A text value the row owns.
pub(super) fn owned(s: &str) -> ColumnData<'static> {
    s.to_string().into_sql()
}

/// One row of values, in the order of the columns it is sent to.
pub(super) fn token_row(values: Vec<ColumnData<'static>>) -> TokenRow<'static> {
    let mut row = TokenRow::with_capacity(values.len());
    for v in values {
        row.push(v);
    }
    row
}

/// Bulk-inserts `rows` into `table` (all columns, in table order, unless `columns` says).
pub(super) async fn bulk(
    conn: &mut Connection,
    table: &str,
    columns: &[&str],
    rows: Vec<TokenRow<'static>>,
) -> tiberius::Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut request = conn.bulk_insert_columns(table, columns).await?;
    for row in rows {
        request.send(row).await?;
    }
    request.finalize().await?;
    Ok(())
}
