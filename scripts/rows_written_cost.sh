#!/usr/bin/env bash
# What PostgreSQL's manual-block row count costs as the database grows.
#
#   scripts/with-postgres.sh scripts/rows_written_cost.sh
#
# A manual block that runs a known read before any known write counts the
# rows its transaction wrote, before that read and at its end (and as
# nested blocks open and roll back inside it), with `ROWS_WRITTEN_SQL`
# (src/pg.rs; read from there, so this script measures what the code
# sends). The count sums three per-relation counters over the heap
# relations of pg_class, so a scan costs more as the database grows; it
# is gated on the transaction id: the first count while the transaction
# has none scans and is kept (passed as $1 afterwards), and every later
# count while it still has none returns $1 without scanning. For 10, 100
# and 1,000 user tables (each with a BIGSERIAL key and a TEXT column: a
# table, its toast table, a sequence and two indexes in pg_class), it
# prints the server's own planning and execution times (EXPLAIN ANALYZE,
# median of 21) of:
#   - the former count (every table, toast table, materialized view and
#     partitioned table: relkind 'r', 't', 'm', 'p'; no gate), in a
#     transaction that wrote a row;
#   - the count as sent, in a transaction that wrote a row (it has an id:
#     the scan runs);
#   - the count as sent, first in a transaction without an id ($1 NULL:
#     the scan runs, and its result is kept);
#   - the count as sent, later in a transaction without an id ($1 the kept
#     count: no scan, EXPLAIN shows it "never executed");
# and, with pgbench (one client, ROWS_WRITTEN_SECONDS each, default 3), the
# client-side latency of `SELECT 1`, the former count as it was sent (an
# unnamed statement: parse, bind, execute in one round trip), and the
# first and later counts as sent now (prepared once: bind and execute);
# each its own transaction, so without an id.
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

sent=$(python3 - <<'EOF'
import re
src = open("src/pg.rs").read()
m = re.search(r'const ROWS_WRITTEN_SQL: &\'static str = "(.*?)";', src, re.S)
print(re.sub(r'\\\n\s*', '', m.group(1)))
EOF
)
case "$sent" in
*"pg_current_xact_id_if_assigned() IS NULL"*"\$1::pg_catalog.int8"*"\$2::pg_catalog.oid[]"*) ;;
*)
    echo "rows_written_cost: ROWS_WRITTEN_SQL no longer takes the kept count as \$1 and the counted tables as \$2; update this script" >&2
    exit 1
    ;;
esac
former="SELECT coalesce(sum(pg_stat_get_xact_tuples_inserted(oid) + pg_stat_get_xact_tuples_updated(oid) + pg_stat_get_xact_tuples_deleted(oid)), 0)::int8 FROM pg_class WHERE relkind IN ('r', 't', 'm', 'p')"
# $2 is the ids of the tables already counted in the transaction: none.
sent=${sent//\$2/\'\{\}\'}
first=${sent//\$1/NULL}
later=${sent//\$1/0}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "SELECT 1" >"$work/baseline.sql"
echo "$former" >"$work/former.sql"
echo "$first" >"$work/first.sql"
printf '\\set kept 0\n%s\n' "${sent//\$1/:kept}" >"$work/later.sql"

psql() { "$bin/psql" -X -q -v ON_ERROR_STOP=1 "$TXMANAGER_PG_URL" "$@"; }

# "planning / execution" medians in ms of 21 EXPLAIN ANALYZE runs of $2,
# in a transaction that has written a row (so it has a transaction id)
# when $1 is "id", or has not when it is "no-id".
server_ms() {
    {
        echo "BEGIN;"
        if [ "$1" = id ]; then echo "INSERT INTO t_1 (label) VALUES ('x');"; fi
        for _ in $(seq 21); do echo "EXPLAIN (ANALYZE, TIMING OFF, SUMMARY ON) $2;"; done
        echo "ROLLBACK;"
    } | psql -At | python3 -c '
import statistics, sys
times = [float(l.split()[2]) for l in sys.stdin if l.startswith(("Planning Time", "Execution Time"))]
print("%.3f / %.3f" % (statistics.median(times[0::2]), statistics.median(times[1::2])))'
}

# Average client-side latency in µs of one query file, one client, sent
# with pgbench's protocol $2 (extended: unnamed; prepared: once).
latency() {
    "$bin/pgbench" -n -c 1 -j 1 -T "$seconds" -M "$2" -f "$1" "$TXMANAGER_PG_URL" 2>/dev/null \
        | awk '/latency average/ { printf "%.0f", $4 * 1000 }'
}

echo "commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'); PostgreSQL $("$bin/postgres" --version | awk '{print $3}'); $(nproc) cores; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| user tables | pg_class rows: former kinds / heap | former count (id) | as sent, id | as sent, no id, first | as sent, no id, later | client latency, µs: SELECT 1 / former / first / later |"
echo "|---|---|---|---|---|---|---|"
made=0
for n in $tables; do
    psql -c "DO \$\$ BEGIN FOR i IN $((made + 1))..$n LOOP
        EXECUTE format('CREATE TABLE t_%s (id BIGSERIAL PRIMARY KEY, label TEXT)', i);
        END LOOP; END \$\$"
    made=$n
    psql -c "VACUUM ANALYZE pg_class" >/dev/null
    rows=$(psql -At -c "SELECT count(*) FILTER (WHERE relkind IN ('r', 't', 'm', 'p')) || ' / ' || count(*) FILTER (WHERE relkind IN ('r', 'm')) FROM pg_class")
    echo "| $n | $rows | $(server_ms id "$former") | $(server_ms id "$first") | $(server_ms no-id "$first") | $(server_ms no-id "$later") | $(latency "$work/baseline.sql" extended) / $(latency "$work/former.sql" extended) / $(latency "$work/first.sql" prepared) / $(latency "$work/later.sql" prepared) |"
done
echo
echo "A later count as sent, in a transaction without an id: its scan is"
psql -At -c "EXPLAIN (ANALYZE, TIMING OFF, COSTS OFF) $later" | grep -m1 'Seq Scan on pg_class' | sed 's/^ *-> *//'
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
