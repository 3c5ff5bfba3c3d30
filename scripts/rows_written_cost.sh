#!/usr/bin/env bash
# What PostgreSQL's manual-block row count costs as the database grows.
#
#   scripts/with-postgres.sh scripts/rows_written_cost.sh
#
# A manual block that runs a known read before any known write counts the
# rows its transaction wrote, before that read and at its end, with
# `ROWS_WRITTEN_SQL` (src/pg.rs; read from there, so this script measures
# what the code sends): three per-relation counters summed over the rows of
# pg_class, so its cost grows with the number of relations in the whole
# database, every schema's. For 10, 100 and 1,000 user tables (each with a
# BIGSERIAL key and a TEXT column: a table, its toast table, a sequence and
# two indexes in pg_class), it prints the server's own planning and
# execution times (EXPLAIN ANALYZE, median of 21, inside a transaction that
# wrote a row) of:
#   - the count as txmanager sends it;
#   - the count over heap relations only (relkind 'r' and 'm'): a toast
#     row is only written together with a row of its table, which the sum
#     counts already, and a partitioned table ('p') holds no rows itself;
#   - the count gated on the transaction id, for the end-of-block check:
#     `CASE WHEN pg_current_xact_id_if_assigned() IS NULL THEN $before ELSE
#     <count> END`; a transaction without an id has written no row, so the
#     scan is skipped (EXPLAIN shows it "never executed");
# and, with pgbench (one client, ROWS_WRITTEN_SECONDS each, default 3), the
# client-side latency of `SELECT 1` and of the count, sent as txmanager
# sends it (an unnamed statement: parse, bind, execute in one round trip).
# Server-side times are the figures to compare: on a shared machine the
# client-side ones carry the scheduler's noise.
#
# Environment: ROWS_WRITTEN_TABLES (default "10 100 1000"),
# ROWS_WRITTEN_SECONDS (default 3).
set -euo pipefail
cd "$(dirname "$0")/.."
: "${TXMANAGER_PG_URL:?run this through scripts/with-postgres.sh, which starts a throwaway server}"
seconds=${ROWS_WRITTEN_SECONDS:-3}
tables=${ROWS_WRITTEN_TABLES:-10 100 1000}

bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
if [ -z "$bin" ] || [ ! -x "$bin/pgbench" ]; then
    bin=$(dirname "$(command -v pgbench)")
fi

check=$(python3 - <<'EOF'
import re
src = open("src/pg.rs").read()
m = re.search(r'const ROWS_WRITTEN_SQL: &\'static str = "(.*?)";', src, re.S)
print(re.sub(r'\\\n\s*', '', m.group(1)))
EOF
)
heap_only=${check/"relkind IN ('r', 't', 'm', 'p')"/"relkind IN ('r', 'm')"}
if [ "$heap_only" = "$check" ]; then
    echo "rows_written_cost: ROWS_WRITTEN_SQL no longer selects relkind IN ('r', 't', 'm', 'p'); update this script" >&2
    exit 1
fi
gated="SELECT CASE WHEN pg_current_xact_id_if_assigned() IS NULL THEN 0::int8 ELSE ($check) END"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "SELECT 1" >"$work/baseline.sql"
echo "$check" >"$work/check.sql"

psql() { "$bin/psql" -X -q -v ON_ERROR_STOP=1 "$TXMANAGER_PG_URL" "$@"; }

# "planning / execution" medians in ms of 21 EXPLAIN ANALYZE runs of $1,
# in a transaction that has written a row (so it has a transaction id).
server_ms() {
    {
        echo "BEGIN; INSERT INTO t_1 (label) VALUES ('x');"
        for _ in $(seq 21); do echo "EXPLAIN (ANALYZE, TIMING OFF, SUMMARY ON) $1;"; done
        echo "ROLLBACK;"
    } | psql -At | python3 -c '
import statistics, sys
times = [float(l.split()[2]) for l in sys.stdin if l.startswith(("Planning Time", "Execution Time"))]
print("%.3f / %.3f" % (statistics.median(times[0::2]), statistics.median(times[1::2])))'
}

# Average client-side latency in µs of one query file, one client.
latency() {
    "$bin/pgbench" -n -c 1 -j 1 -T "$seconds" -M extended -f "$1" "$TXMANAGER_PG_URL" 2>/dev/null \
        | awk '/latency average/ { printf "%.0f", $4 * 1000 }'
}

echo "commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'); PostgreSQL $("$bin/postgres" --version | awk '{print $3}'); $(nproc) cores; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| user tables | pg_class rows counted | count as sent: planning / execution, ms | heap relations only | gated, transaction id assigned | client latency: SELECT 1 / count, µs |"
echo "|---|---|---|---|---|---|"
made=0
for n in $tables; do
    psql -c "DO \$\$ BEGIN FOR i IN $((made + 1))..$n LOOP
        EXECUTE format('CREATE TABLE t_%s (id BIGSERIAL PRIMARY KEY, label TEXT)', i);
        END LOOP; END \$\$"
    made=$n
    psql -c "VACUUM ANALYZE pg_class" >/dev/null
    rows=$(psql -At -c "SELECT count(*) FROM pg_class WHERE relkind IN ('r', 't', 'm', 'p')")
    echo "| $n | $rows | $(server_ms "$check") | $(server_ms "$heap_only") | $(server_ms "$gated") | $(latency "$work/baseline.sql") / $(latency "$work/check.sql") |"
done
echo
echo "The gated form in a transaction without an id (nothing written): its scan is"
psql -At -c "EXPLAIN (ANALYZE, TIMING OFF, COSTS OFF) $gated" | grep -m1 'Seq Scan on pg_class' | sed 's/^ *-> *//'
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
