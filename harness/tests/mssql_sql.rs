//! Every T-SQL file of the SQL Server dialect goes through a strict T-SQL check (`tsql`:
//! sqlparser's MsSqlDialect for statements and expressions, read to the last token of every
//! batch, plus a lint for traps SQL Server rejects): the schema batch by batch, the weekly
//! procedures, and every probe procedure as the engine installs it. No SQL Server is needed for
//! this, so it runs everywhere.

mod tsql;

use harness::engine::mssql::{HASH, PROBE_TEMPLATE, SCHEMA, WEEKLY, batches, probe_procedure};
use harness::probes::{self, Dialect};
use sqlparser::dialect::MsSqlDialect;
use sqlparser::parser::Parser;

/// Every batch of every T-SQL script the engine installs, named.
fn installed_batches() -> Vec<(String, String)> {
    let mut all = Vec::new();
    for (file, script) in [
        ("schema.sql", SCHEMA),
        ("hash.sql", HASH),
        ("weekly.sql", WEEKLY),
    ] {
        for (i, batch) in batches(script).into_iter().enumerate() {
            all.push((format!("{file} batch {}", i + 1), batch));
        }
    }
    for probe in probes::CATALOG {
        for (i, batch) in batches(&probe_procedure(probe)).into_iter().enumerate() {
            all.push((format!("{} procedure batch {}", probe.name, i + 1), batch));
        }
    }
    all
}

#[test]
fn every_installed_batch_passes_the_strict_check() {
    let mut failures = Vec::new();
    for (name, batch) in installed_batches() {
        for finding in tsql::check_batch(&batch) {
            failures.push(format!("{name}:{finding}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_script_has_the_batches_it_should() {
    assert!(batches(SCHEMA).len() >= 2, "tables, fnGetHierarchyID");
    let hash = batches(HASH);
    assert!(
        hash.last()
            .is_some_and(|b| b.contains("CREATE FUNCTION dbo.fnTelHash (@value NVARCHAR(MAX))")),
        "fnTelHash comes last, after what it calls, and takes NVARCHAR(MAX)"
    );
    assert_eq!(batches(WEEKLY).len(), 2, "TEL_RunProbe and TEL_RunWeekly");
    assert!(PROBE_TEMPLATE.contains("PROBE_QUERY"));
    for probe in probes::CATALOG {
        let procedure = probe_procedure(probe);
        assert!(
            procedure.contains(probe.name),
            "{} procedure is not named after it",
            probe.name
        );
        assert_eq!(batches(&procedure).len(), 1, "{}", probe.name);
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

/// Why the check is more than `Parser::parse_sql`: sqlparser reads `BEGIN TRY;` and `END TRY;` as
/// transaction statements, ends the procedure at the first `END`, and returns success with the
/// rest of the batch unread.
#[test]
fn the_plain_parse_alone_lets_these_through() {
    let broken = "CREATE PROCEDURE dbo.p AS\nSET NOCOUNT ON;\nBEGIN TRY;\n    SELECT 1;\nEND TRY;\nBEGIN CATCH;\n    THIS IS NOT T-SQL;\nEND CATCH;";
    assert!(Parser::parse_sql(&MsSqlDialect {}, broken).is_ok());
    let findings = strict_findings(broken);
    assert!(
        findings.contains("END TRY must be followed by BEGIN CATCH"),
        "{findings}"
    );
    assert!(findings.contains("does not parse"), "{findings}");
}

fn strict_findings(sql: &str) -> String {
    tsql::check_batch(sql)
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_strict_check_catches_a_semicolon_after_end_try() {
    let run_probe = &batches(WEEKLY)[0];
    assert!(run_probe.contains("END TRY"), "{run_probe}");
    let planted = run_probe.replacen("END TRY", "END TRY;", 1);
    let findings = strict_findings(&planted);
    assert!(
        findings.contains("END TRY must be followed by BEGIN CATCH"),
        "{findings}"
    );
}

#[test]
fn the_strict_check_reads_catch_blocks() {
    let run_probe = &batches(WEEKLY)[0];
    let planted = run_probe.replacen(
        "BEGIN CATCH",
        "BEGIN CATCH\n    THIS IS NOT T-SQL AT ALL;",
        1,
    );
    assert!(planted != *run_probe);
    let findings = strict_findings(&planted);
    assert!(findings.contains("does not parse"), "{findings}");
}

#[test]
fn the_strict_check_reads_every_batch_to_its_last_token() {
    for sql in [
        "SELECT 1 FROM dbo.Sites garbage garbage;",
        "CREATE PROCEDURE dbo.p AS BEGIN SELECT 1; END\nSELEC 2",
        "CREATE PROCEDURE dbo.p AS BEGIN SELECT 1;",
        "BEGIN SELECT 1; END END",
        "IF 1 = 1 BEGIN SELECT 1; END ELSE ELSE SELECT 2;",
        "BEGIN TRY SELECT 1; END TRY SELECT 2;",
        "BEGIN TRY SELECT 1; END CATCH",
        "CREATE FUNCTION dbo.f () RETURNS INT AS BEGIN RETURN 1; END SELECT 2;",
    ] {
        assert!(!tsql::check_batch(sql).is_empty(), "accepted: {sql}");
    }
}

#[test]
fn the_strict_check_accepts_sound_control_flow() {
    for sql in [
        "SELECT 1; SELECT 2",
        "CREATE OR ALTER PROCEDURE dbo.p (@a INT) AS\nSET NOCOUNT ON;\nBEGIN TRY\n    SELECT @a;\nEND TRY\n-- a comment may stand here\nBEGIN CATCH\n    IF XACT_STATE() <> 0 ROLLBACK TRANSACTION;\n    THROW;\nEND CATCH",
        "CREATE FUNCTION dbo.f (@v NVARCHAR(MAX)) RETURNS INT AS BEGIN DECLARE @n INT = 0; WHILE @n < 3 BEGIN SET @n = @n + 1; END; IF @n = 3 RETURN 1; ELSE RETURN 2; RETURN 0; END",
        "BEGIN TRANSACTION; DELETE FROM dbo.Sites WHERE SiteCode = N'P01'; COMMIT TRANSACTION;",
    ] {
        let findings = strict_findings(sql);
        assert!(findings.is_empty(), "{sql}\n{findings}");
    }
}

#[test]
fn the_lint_finds_a_create_procedure_that_is_not_first_in_its_batch() {
    let findings = strict_findings("SET NOCOUNT ON;\nCREATE PROCEDURE dbo.p AS SELECT 1;");
    assert!(
        findings.contains("first statement of its batch"),
        "{findings}"
    );
    let findings = strict_findings("SELECT 1;\nCREATE OR ALTER VIEW dbo.v AS SELECT 1 AS one;");
    assert!(
        findings.contains("first statement of its batch"),
        "{findings}"
    );
}

#[test]
fn the_lint_finds_an_unterminated_statement_before_throw() {
    let findings = strict_findings(
        "BEGIN TRY SELECT 1; END TRY BEGIN CATCH ROLLBACK TRANSACTION THROW; END CATCH",
    );
    assert!(findings.contains("before THROW"), "{findings}");
    let findings = strict_findings(
        "BEGIN TRY SELECT 1; END TRY BEGIN CATCH SELECT 2 THROW 50000, 'x', 1; END CATCH",
    );
    assert!(findings.contains("before THROW"), "{findings}");
}

#[test]
fn the_strict_check_reads_function_bodies() {
    let guid_x = batches(HASH)
        .into_iter()
        .find(|b| b.contains("CREATE FUNCTION dbo.fnTelGuidX"))
        .expect("fnTelGuidX");
    assert!(strict_findings(&guid_x).is_empty());
    let planted = guid_x.replacen("SET @i = @i + 1;", "SET @i = = 1;", 2);
    let findings = strict_findings(&planted);
    assert!(findings.contains("does not parse"), "{findings}");
    let planted = guid_x.replacen("    END;\n", "    END;\n    END;\n", 1);
    assert!(!strict_findings(&planted).is_empty());
}
