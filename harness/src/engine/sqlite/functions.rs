//! The SQL functions and the collation SQLite lacks and the probes use.

use rusqlite::Connection;
use rusqlite::functions::FunctionFlags;

use crate::hash::tel_hash;

/// The site databases' collation on SQL Server, which Configuration Manager requires.
pub const SITE_COLLATION: &str = "SQL_Latin1_General_CP1_CI_AS";

/// Registers the product's hash as `tel_hash(value)` (NULL hashes to NULL) and the collation
/// [`SITE_COLLATION`], so that `GROUP BY x COLLATE SQL_Latin1_General_CP1_CI_AS` groups as SQL
/// Server does: without regard to case or trailing spaces (for ASCII; its order between unequal
/// strings is not SQL Server's dictionary order, so probes order by a binary expression).
pub fn register_functions(conn: &Connection) -> rusqlite::Result<()> {
    conn.create_collation(SITE_COLLATION, site_collation)?;
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

/// [`SITE_COLLATION`]'s comparison: ASCII case folded, trailing spaces ignored.
/// It runs for every comparison of a grouping sort, so it compares in place, allocating nothing.
pub fn site_collation(a: &str, b: &str) -> std::cmp::Ordering {
    fn folded(s: &str) -> impl Iterator<Item = u8> + '_ {
        s.trim_end_matches(' ')
            .bytes()
            .map(|b| b.to_ascii_lowercase())
    }
    folded(a).cmp(folded(b))
}
