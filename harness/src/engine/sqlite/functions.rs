//! The SQL functions SQLite lacks and the probes call.

use rusqlite::Connection;
use rusqlite::functions::FunctionFlags;

use crate::hash::tel_hash;

/// Registers the product's hash as `tel_hash(value)`; NULL hashes to NULL.
pub fn register_functions(conn: &Connection) -> rusqlite::Result<()> {
    conn.create_scalar_function(
        "tel_hash",
        1,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| {
            let value: Option<String> = ctx.get(0)?;
            Ok(value.map(|v| tel_hash(&v)))
        },
    )
}
