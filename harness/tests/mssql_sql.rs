//! Every T-SQL file of the SQL Server dialect goes through a T-SQL parser (sqlparser's
//! MsSqlDialect): the schema batch by batch, the weekly procedure, and every probe procedure as
//! the engine installs it. No SQL Server is needed for this, so it runs everywhere.

use harness::engine::mssql::{PROBE_TEMPLATE, SCHEMA, WEEKLY, batches, probe_procedure};
use harness::probes::{self, Dialect};
use sqlparser::dialect::MsSqlDialect;
use sqlparser::parser::Parser;

fn parse(what: &str, sql: &str) {
    if let Err(e) = Parser::parse_sql(&MsSqlDialect {}, sql) {
        panic!("{what} does not parse as T-SQL: {e}\n---\n{sql}");
    }
}

#[test]
fn the_schema_parses_batch_by_batch() {
    let batches = batches(SCHEMA);
    assert!(batches.len() >= 3, "tables, fnTelHash, fnGetHierarchyID");
    for (i, batch) in batches.iter().enumerate() {
        parse(&format!("schema.sql batch {}", i + 1), batch);
    }
}

#[test]
fn the_weekly_procedures_parse() {
    let batches = batches(WEEKLY);
    assert_eq!(batches.len(), 2, "TEL_RunProbe and TEL_RunWeekly");
    for (i, batch) in batches.iter().enumerate() {
        parse(&format!("weekly.sql batch {}", i + 1), batch);
    }
}

#[test]
fn every_probe_procedure_parses() {
    assert!(PROBE_TEMPLATE.contains("PROBE_QUERY"));
    for probe in probes::CATALOG {
        let procedure = probe_procedure(probe);
        assert!(
            procedure.contains(probe.name),
            "{} procedure is not named after it",
            probe.name
        );
        parse(&format!("{} procedure", probe.name), &procedure);
    }
}

#[test]
fn every_probe_has_a_tsql_file_writing_its_columns() {
    for probe in probes::CATALOG {
        let sql = probe.sql(Dialect::MsSql);
        assert!(
            sql.to_ascii_uppercase().contains("SELECT"),
            "{} has no query",
            probe.name
        );
        assert!(
            !sql.contains("tel_hash("),
            "{} calls the SQLite hash; T-SQL has dbo.fnTelHash",
            probe.name
        );
        assert!(
            !sql.to_ascii_uppercase().contains(" LIMIT "),
            "{} uses LIMIT; T-SQL has TOP",
            probe.name
        );
    }
}
