//! The T-SQL the engine installs into every site database, and how it is cut into batches. No
//! server is needed for any of this, so it is compiled with or without the `mssql` feature and
//! checked statically by `tests/mssql_sql.rs`.

use crate::probes::{self, Dialect};

/// Tables, and `fnGetHierarchyID`.
pub const SCHEMA: &str = include_str!("../../../sql/mssql/schema.sql");
/// The product's hash, `fnTelHash`, and the functions it is made of (after `SCHEMA`).
pub const HASH: &str = include_str!("../../../sql/mssql/hash.sql");
/// `TEL_RunProbe` and `TEL_RunWeekly`.
pub const WEEKLY: &str = include_str!("../../../sql/mssql/weekly.sql");
/// The procedure a probe's query is wrapped in.
pub const PROBE_TEMPLATE: &str = include_str!("../../../sql/mssql/probe_procedure.sql");

/// Splits a T-SQL script into batches at `GO` lines, as sqlcmd does.
pub fn batches(script: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in script.lines() {
        if line.trim().eq_ignore_ascii_case("GO") {
            if !current.trim().is_empty() {
                out.push(std::mem::take(&mut current));
            }
            current.clear();
        } else {
            current.push_str(line);
            current.push('\n');
        }
    }
    if !current.trim().is_empty() {
        out.push(current);
    }
    out
}

/// The `CREATE PROCEDURE` of a probe: its file as it is when it is a whole procedure, else its
/// query wrapped in the template.
pub fn probe_procedure(probe: &probes::Probe) -> String {
    let sql = probe.sql(Dialect::MsSql);
    let code: String = sql
        .lines()
        .filter(|l| !l.trim_start().starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n");
    if code.trim_start().to_ascii_uppercase().starts_with("CREATE") {
        sql.to_string()
    } else {
        PROBE_TEMPLATE
            .replace("TEL_PROBE_NAME", probe.name)
            .replace("PROBE_QUERY", code.trim())
    }
}

/// `name` as a bracketed T-SQL identifier.
pub fn quote_identifier(name: &str) -> String {
    format!("[{}]", name.replace(']', "]]"))
}
