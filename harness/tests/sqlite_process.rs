//! SQLite's process-wide settings, in a test binary of their own: they apply only before the
//! process's first SQLite call, which any other test here would make first.

use rusqlite::Connection;

#[test]
fn memory_statistics_are_off_after_configure_process_and_sqlite_still_works() {
    assert!(
        harness::engine::sqlite::configure_process(),
        "SQLite took the settings before its first call"
    );
    let conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "CREATE TABLE t (x TEXT);
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000)
         INSERT INTO t SELECT printf('%.500c', 'x') FROM n;",
    )
    .unwrap();
    let rows: i64 = conn
        .query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, 2000);
    // With statistics on, SQLite counts every byte it holds; off, the count stays at zero.
    assert_eq!(unsafe { rusqlite::ffi::sqlite3_memory_used() }, 0);
    // Once SQLite has started, the settings are refused (and the process keeps what it has).
    assert!(!harness::engine::sqlite::configure_process());
}
