#!/usr/bin/env python3
"""T-SQL queries to SQLite, for harness/tests/dialect_differential.rs.

Reads {"queries": {"<name>": "<T-SQL>", ...}} as JSON on stdin and writes, as JSON on stdout,
{"sqlglot": "<version>", "results": {"<name>": {"sql": "<SQLite>", "bridged": [...]}
                                              | {"error": "<why>"}}}
or {"unavailable": "<why>"} when sqlglot cannot be imported. One process translates every query.

The translation is sqlglot's (read="tsql", write="sqlite", unsupported features raise). Before
SQLite text is written, a few T-SQL constructs that sqlglot renders for SQLite with another
meaning, or in a form SQLite cannot parse, are rewritten in the syntax tree so that the test can
give them T-SQL's meaning; each rewrite is listed in "bridged" and none touches the query's logic:

- dbo.f(...)          -> f(...): SQLite has no schema-qualified functions; the test registers the
                         function under its T-SQL name (fnTelHash).
- N'text'             -> 'text': sqlglot writes N'text' for SQLite, which SQLite reads as a
                         column N aliased 'text'. SQLite text is Unicode already.
- DATEDIFF(u, a, b)   -> DATEDIFF('u', a, b): sqlglot writes CAST(JULIANDAY(b) - JULIANDAY(a) AS
                         INTEGER), a truncated difference; T-SQL counts the unit boundaries crossed
                         from a to b. The test registers DATEDIFF with T-SQL's meaning.
- COLLATE Latin1_General_BIN2 -> COLLATE BINARY: BIN2 orders NVARCHAR by code point, and SQLite's
                         BINARY (memcmp of UTF-8) is code-point order.
- COLLATE SQL_Latin1_General_CP1_CI_AS is kept: the test registers a SQLite collation of that
                         name that compares as SQL Server's does (ASCII case and trailing spaces
                         ignored). Any other collation is an
                         error: the test cannot give it its meaning.
"""

import json
import sys

PINNED = "30.30.0"


def main():
    try:
        import sqlglot
        from sqlglot import exp
        from sqlglot.errors import ErrorLevel
    except ImportError as e:  # python3 is there, sqlglot is not
        json.dump({"unavailable": f"python3 cannot import sqlglot ({e})"}, sys.stdout)
        return
    if sqlglot.__version__ != PINNED:
        json.dump(
            {"unavailable": f"sqlglot {sqlglot.__version__} is installed, the test pins {PINNED}"},
            sys.stdout,
        )
        return

    def bridge(tree, bridged):
        def rewrite(node):
            if (
                isinstance(node, exp.Dot)
                and isinstance(node.this, exp.Identifier)
                and node.this.name.lower() == "dbo"
                and isinstance(node.expression, exp.Func)
            ):
                bridged.append(f"dbo.{node.expression.name or node.expression.sql_name()} -> unqualified")
                return node.expression
            if isinstance(node, exp.National):
                bridged.append("N'...' -> '...'")
                return exp.Literal.string(node.this)
            if isinstance(node, exp.DateDiff):
                unit = node.args.get("unit")
                unit = unit.name.upper() if unit is not None else "DAY"

                def operand(e):
                    # sqlglot wraps each operand in TimeStrToTime to say "a date"; T-SQL's
                    # DATEDIFF takes the value as it is.
                    return e.this if isinstance(e, exp.TimeStrToTime) else e

                bridged.append(f"DATEDIFF({unit}, ...) -> registered DATEDIFF (T-SQL meaning)")
                return exp.Anonymous(
                    this="DATEDIFF",
                    expressions=[
                        exp.Literal.string(unit),
                        operand(node.expression),
                        operand(node.this),
                    ],
                )
            if isinstance(node, exp.Collate):
                name = node.expression.name
                if name.lower() == "sql_latin1_general_cp1_ci_as":
                    # Kept: the test registers it with SQL Server's meaning.
                    bridged.append("COLLATE SQL_Latin1_General_CP1_CI_AS (registered)")
                    return node
                if name.lower() != "latin1_general_bin2":
                    raise ValueError(f"collation {name} has no SQLite equivalent in this test")
                bridged.append("COLLATE Latin1_General_BIN2 -> COLLATE BINARY")
                return exp.Collate(this=node.this, expression=exp.var("BINARY"))
            return node

        # Children first, so that a rewritten node is built from rewritten children.
        for node in reversed(list(tree.walk(bfs=False))):
            new = rewrite(node)
            if new is not node:
                if node is tree:
                    tree = new
                else:
                    node.replace(new)
        return tree

    queries = json.load(sys.stdin)["queries"]
    results = {}
    for name, sql in queries.items():
        try:
            trees = sqlglot.parse(sql, read="tsql", error_level=ErrorLevel.RAISE)
            trees = [t for t in trees if t is not None]
            if len(trees) != 1:
                raise ValueError(f"{len(trees)} statements, not one query")
            bridged = []
            tree = bridge(trees[0], bridged)
            text = tree.sql(dialect="sqlite", unsupported_level=ErrorLevel.RAISE)
            results[name] = {"sql": text, "bridged": sorted(set(bridged))}
        except Exception as e:  # reported per query; the test fails on it
            results[name] = {"error": f"{type(e).__name__}: {e}"}
    json.dump({"sqlglot": sqlglot.__version__, "results": results}, sys.stdout)


if __name__ == "__main__":
    main()
