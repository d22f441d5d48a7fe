//! Typed values out of result rows. A value that cannot be read as what the harness expects is an
//! error naming its column, never a silent `0` or `""`.

use tiberius::{FromSql, Row};

#[derive(Debug, thiserror::Error)]
pub enum ValueError {
    #[error("column {column}: cannot read the value: {source}")]
    Unreadable {
        column: String,
        #[source]
        source: tiberius::error::Error,
    },
    #[error("column {column} is NULL")]
    Null { column: String },
    #[error("column {column}: {value} does not fit {target}")]
    OutOfRange {
        column: String,
        value: i64,
        target: &'static str,
    },
}

/// The name of column `i` of `row`, for messages (`#N` when it has none).
fn column_name(row: &Row, i: usize) -> String {
    match row.columns().get(i).map(|c| c.name()) {
        Some(name) if !name.is_empty() => name.to_string(),
        _ => format!("#{}", i + 1),
    }
}

/// Column `i`, NULL as `None`.
pub fn optional<'a, T: FromSql<'a>>(row: &'a Row, i: usize) -> Result<Option<T>, ValueError> {
    row.try_get(i).map_err(|source| ValueError::Unreadable {
        column: column_name(row, i),
        source,
    })
}

/// Column `i`, which must not be NULL.
pub fn required<'a, T: FromSql<'a>>(row: &'a Row, i: usize) -> Result<T, ValueError> {
    optional(row, i)?.ok_or_else(|| ValueError::Null {
        column: column_name(row, i),
    })
}

/// A text column that must not be NULL.
pub fn text(row: &Row, i: usize) -> Result<String, ValueError> {
    required::<&str>(row, i).map(str::to_string)
}

/// A text column that may be NULL.
pub fn optional_text(row: &Row, i: usize) -> Result<Option<String>, ValueError> {
    Ok(optional::<&str>(row, i)?.map(str::to_string))
}

/// An `INT` column holding a count or number that cannot be negative.
pub fn unsigned(row: &Row, i: usize) -> Result<u32, ValueError> {
    let value: i32 = required(row, i)?;
    u32::try_from(value).map_err(|_| ValueError::OutOfRange {
        column: column_name(row, i),
        value: value.into(),
        target: "an unsigned 32-bit number",
    })
}

/// A `BIGINT` column holding a count or duration that cannot be negative.
pub fn unsigned_big(row: &Row, i: usize) -> Result<u64, ValueError> {
    let value: i64 = required(row, i)?;
    u64::try_from(value).map_err(|_| ValueError::OutOfRange {
        column: column_name(row, i),
        value,
        target: "an unsigned 64-bit number",
    })
}
