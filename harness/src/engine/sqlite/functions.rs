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
    register_site_collation(conn)?;
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
pub fn site_collation(a: &str, b: &str) -> std::cmp::Ordering {
    site_collation_bytes(a.as_bytes(), b.as_bytes())
}

/// [`site_collation`] on the UTF-8 bytes. It runs for every comparison of a grouping sort (tens
/// of millions in a run at the supported maximum), so it compares in place, allocating nothing.
fn site_collation_bytes(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    fn folded(s: &[u8]) -> impl Iterator<Item = u8> + '_ {
        let end = s.iter().rposition(|&c| c != b' ').map_or(0, |i| i + 1);
        s[..end].iter().map(|c| c.to_ascii_lowercase())
    }
    folded(a).cmp(folded(b))
}

/// Registers [`SITE_COLLATION`] on the raw bytes SQLite holds. rusqlite's `create_collation`
/// hands the callback `&str`s it first checks as UTF-8 (`from_utf8_lossy`) on every call,
/// which cost as much as the comparison itself; case folding and trimming spaces are ASCII
/// operations, which need no decoding.
fn register_site_collation(conn: &Connection) -> rusqlite::Result<()> {
    use rusqlite::ffi;
    use std::os::raw::{c_int, c_void};

    unsafe extern "C" fn compare(
        _: *mut c_void,
        len_a: c_int,
        a: *const c_void,
        len_b: c_int,
        b: *const c_void,
    ) -> c_int {
        // SAFETY: SQLite passes each string as a pointer to `len` readable bytes, valid for
        // the call; an empty string may come as a null pointer, read as no bytes.
        let bytes = |p: *const c_void, len: c_int| -> &[u8] {
            match usize::try_from(len) {
                Ok(len) if len > 0 && !p.is_null() => unsafe {
                    std::slice::from_raw_parts(p.cast::<u8>(), len)
                },
                _ => &[],
            }
        };
        site_collation_bytes(bytes(a, len_a), bytes(b, len_b)) as c_int
    }

    let name = std::ffi::CString::new(SITE_COLLATION).expect("the name has no NUL");
    // SAFETY: the handle is this open connection's; the callback is a plain function with no
    // state (null user data, no destructor) and SQLite copies the name.
    let rc = unsafe {
        ffi::sqlite3_create_collation_v2(
            conn.handle(),
            name.as_ptr(),
            ffi::SQLITE_UTF8,
            std::ptr::null_mut(),
            Some(compare),
            None,
        )
    };
    if rc == ffi::SQLITE_OK {
        Ok(())
    } else {
        Err(rusqlite::Error::SqliteFailure(ffi::Error::new(rc), None))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Through SQLite, the collation groups as the `&str` comparison the oracles use does:
    /// case and trailing spaces aside, empty strings too, and nothing beyond ASCII folded.
    #[test]
    fn sqlite_groups_with_the_site_collation_as_the_oracles_compare() {
        let conn = Connection::open_in_memory().unwrap();
        register_functions(&conn).unwrap();
        let names = [
            "Intel(R) Core(TM)",
            "INTEL(R) CORE(TM) ",
            "intel(r) core(tm)",
            "",
            " ",
            "Éva",
            "éva",
            "b",
            "B  ",
        ];
        conn.execute_batch("CREATE TABLE t (name TEXT)").unwrap();
        for n in names {
            conn.execute("INSERT INTO t VALUES (?1)", [n]).unwrap();
        }
        let groups: Vec<i64> = conn
            .prepare(&format!(
                "SELECT COUNT(*) FROM t GROUP BY name COLLATE {SITE_COLLATION} ORDER BY MIN(name)"
            ))
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let mut expected: Vec<Vec<&str>> = Vec::new();
        for n in names {
            match expected
                .iter_mut()
                .find(|g| site_collation(g[0], n) == std::cmp::Ordering::Equal)
            {
                Some(group) => group.push(n),
                None => expected.push(vec![n]),
            }
        }
        expected.sort_by_key(|g| g.iter().min().copied());
        let sizes: Vec<i64> = expected.iter().map(|g| g.len() as i64).collect();
        assert_eq!(groups, sizes);
        assert_eq!(sizes.len(), 5, "Intel, empty, Éva, éva, b");
    }
}
