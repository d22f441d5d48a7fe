#!/usr/bin/env bash
# Seeding measured against a peer on the same machine, in the same minutes: the sqlite3 CLI's
# `.import` of the very rows the harness seeded, into the same schema with the same page size and
# journal settings as the harness's load (16 KiB pages, the rollback journal in memory,
# synchronous=OFF; see create_database in harness/src/engine/sqlite/mod.rs).
#
#   ci/seeding-vs-sqlite3.sh [SCENARIO] [REPEATS] [HARNESS]
#
# SCENARIO (default scenarios/scale/standalone-max.toml) is run REPEATS times (default 5) by
# HARNESS (default target/release/harness); each run's seeding time of its first site with
# clients comes from report.json (a CAS has none; in a hierarchy, sites are seeded two at a time,
# so a standalone scenario is the fair comparison). That site's seeded tables (every table but the TEL_ tables the weekly runs write)
# are exported to CSV once, then imported REPEATS times by sqlite3 into a fresh database made
# from harness/sql/sqlite/schema.sql. Prints both medians with their spread, and the ratio
# harness / sqlite3 (below 1: the harness is faster). The alternation of the two keeps the
# machine's noise out of the ratio as far as it can. Needs sqlite3 and python3. Paths given may
# be relative to where it is run from; the defaults are the repository's.
set -euo pipefail
from_here() { case "$1" in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }
scenario=$(from_here "${1:-$(dirname "$0")/../scenarios/scale/standalone-max.toml}")
repeats=${2:-5}
harness=$(from_here "${3:-$(dirname "$0")/../target/release/harness}")
cd "$(dirname "$0")/.."
command -v sqlite3 >/dev/null || { echo "needs the sqlite3 CLI (apt-get install sqlite3)" >&2; exit 2; }
command -v python3 >/dev/null || { echo "needs python3 (it reads report.json)" >&2; exit 2; }
[ -x "$harness" ] || { echo "needs $harness (cargo build --release -p harness)" >&2; exit 2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

seeding_ms() { # report.json → "site rows ms" of the first site seeded with clients
    python3 -c '
import json, sys
seeded = [s for s in json.load(open(sys.argv[1]))["scenarios"][0]["timings"]["seeding"] if s["clients"] > 0]
if not seeded:
    print("the scenario seeds no site with clients: nothing to compare", file=sys.stderr)
    sys.exit(2)
s = seeded[0]
print(s["site"], s["rows"], s["ms"])' "$1"
}

# One run first: the database whose rows the peer imports.
"$harness" run "$scenario" --out "$work/run" --no-progress >/dev/null
first=$(seeding_ms "$work/run/report.json")
read -r site rows _ <<<"$first"
db=$(ls "$work"/run/*/sites/"$site".db)
# The seeded tables: every table but those the weekly runs and the service connection point
# write (the TEL_ tables other than the settings and the probe catalog, and UpdatePacks); the
# customer's own tables are not in schema.sql, so their definitions come from the database.
written_by_runs="'UpdatePacks'"
for t in $(sqlite3 "$db" "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'TEL\_%' ESCAPE '\' AND name NOT IN ('TEL_Settings', 'TEL_ProbeCatalog')"); do
    written_by_runs="$written_by_runs, '$t'"
done
tables=$(sqlite3 "$db" "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\_%' ESCAPE '\' AND name NOT IN ($written_by_runs) ORDER BY name")
schema_tables=$(sqlite3 :memory: ".read harness/sql/sqlite/schema.sql" "SELECT name FROM sqlite_master WHERE type = 'table'")
custom=""
mkdir -p "$work/csv"
exported=0
for t in $tables; do
    sqlite3 -csv "$db" "SELECT * FROM \"$t\"" > "$work/csv/$t.csv"
    exported=$((exported + $(sqlite3 "$db" "SELECT COUNT(*) FROM \"$t\"")))
    if ! grep -qx "$t" <<<"$schema_tables"; then
        custom="$custom$(sqlite3 "$db" "SELECT sql FROM sqlite_master WHERE name = '$t'");"$'\n'
    fi
done

import_ms() {
    local target="$work/peer.db"
    rm -f "$target" "$target-wal" "$target-shm"
    {
        echo "PRAGMA page_size = 16384;"
        echo "PRAGMA journal_mode = MEMORY;"
        echo "PRAGMA synchronous = OFF;"
        cat harness/sql/sqlite/schema.sql
        echo "$custom"
        for t in $tables; do echo ".import --csv $work/csv/$t.csv $t"; done
    } > "$work/import.sql"
    local start end
    start=$(date +%s%N)
    sqlite3 "$target" < "$work/import.sql" >/dev/null
    end=$(date +%s%N)
    echo $(((end - start) / 1000000))
}

harness_times=()
peer_times=()
for i in $(seq "$repeats"); do
    "$harness" run "$scenario" --out "$work/run-$i" --no-progress >/dev/null
    this=$(seeding_ms "$work/run-$i/report.json")
    read -r _ _ ms <<<"$this"
    rm -rf "$work/run-$i"
    harness_times+=("$ms")
    peer_times+=("$(import_ms)")
    echo "run $i: harness ${ms%.*} ms, sqlite3 .import ${peer_times[-1]} ms" >&2
done

python3 - "$site" "$rows" "$exported" "${harness_times[*]}" "${peer_times[*]}" <<'EOF'
import statistics, sys
site, rows, exported = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
h = [float(x) for x in sys.argv[4].split()]
p = [float(x) for x in sys.argv[5].split()]
def line(name, xs):
    return f"{name:<24} median {statistics.median(xs):8.0f} ms  (min {min(xs):.0f}, max {max(xs):.0f}, n={len(xs)})"
print(f"site {site}: {rows:,} rows seeded by the harness; {exported:,} rows exported for sqlite3")
print(line("harness seeding", h))
print(line("sqlite3 .import", p))
print(f"ratio harness / sqlite3: {statistics.median(h) / statistics.median(p):.2f}")
EOF
