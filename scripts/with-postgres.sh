#!/usr/bin/env bash
# Runs a command against a throwaway PostgreSQL server.
#
#   scripts/with-postgres.sh CMD [ARGS...]
#
# Starts a private cluster in a temporary directory (its own port, its own
# socket directory, fsync off: for tests and benchmarks only), exports
# TXMANAGER_PG_URL pointing at a fresh database, runs CMD, and always stops
# the cluster and deletes the directory, however CMD ends. Exits with CMD's
# status. A signal sent to this script alone (`kill PID`) is acted on when
# CMD ends (bash runs a trap only after its foreground command): signal the
# process group instead, as Ctrl-C and `timeout` do, to stop both at once.
# Nothing can clean up after `kill -9`: the directory and server are left.
#
# Uses the newest /usr/lib/postgresql/*/bin, or initdb/pg_ctl on PATH; when
# neither exists it installs the distribution's `postgresql` package (needs
# root and apt-get). PostgreSQL refuses to run as root, so when this script
# runs as root the server runs as the `postgres` user (created by the
# package).
#
# Environment:
#   TXMANAGER_PG_PORT         port to try first (default: a random free one)
#   TXMANAGER_PG_MAX_CONNECTIONS  max_connections (default 200: parallel tests)
set -euo pipefail

if [ "$#" -eq 0 ]; then
    echo "usage: $0 CMD [ARGS...]" >&2
    exit 2
fi

find_bin() {
    local dir
    dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
    if [ -n "$dir" ] && [ -x "$dir/initdb" ]; then
        echo "$dir"
    elif command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
        dirname "$(command -v initdb)"
    fi
}

bin=$(find_bin)
if [ -z "$bin" ]; then
    echo "with-postgres: no PostgreSQL server binaries found; installing the distribution's postgresql package" >&2
    if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        echo "with-postgres: cannot install (needs root and apt-get); install PostgreSQL's server (initdb, pg_ctl) and retry" >&2
        exit 1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
    bin=$(find_bin)
    if [ -z "$bin" ]; then
        echo "with-postgres: installed postgresql but found no initdb" >&2
        exit 1
    fi
fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/txmanager-pg.XXXXXX")
as=()
if [ "$(id -u)" -eq 0 ]; then
    if ! id postgres >/dev/null 2>&1; then
        echo "with-postgres: running as root, but there is no 'postgres' user to run the server as" >&2
        rm -rf "$dir"
        exit 1
    fi
    chown postgres "$dir"
    chmod 700 "$dir"
    as=(runuser -u postgres --)
fi

started=0
stop() {
    if [ "$started" -eq 1 ]; then
        "${as[@]}" "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
}
trap stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

"${as[@]}" "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C --no-sync >"$dir/initdb.log" 2>&1 || {
    cat "$dir/initdb.log" >&2
    exit 1
}

# A port nobody else uses: try a few random ones (another run of this script
# may be starting at the same moment), starting with the one asked for.
port=${TXMANAGER_PG_PORT:-}
for attempt in 1 2 3 4 5 6 7 8; do
    if [ -z "$port" ]; then
        port=$((20000 + RANDOM % 20000))
    fi
    if "${as[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
        -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=${TXMANAGER_PG_MAX_CONNECTIONS:-200}" \
        start >/dev/null 2>&1; then
        started=1
        break
    fi
    port=""
done
if [ "$started" -ne 1 ]; then
    echo "with-postgres: the server did not start; its log:" >&2
    cat "$dir/server.log" >&2 || true
    exit 1
fi

"${as[@]}" "$bin/createdb" -h "$dir" -p "$port" -U postgres txmanager_test

export TXMANAGER_PG_URL="postgresql://postgres@127.0.0.1:$port/txmanager_test"
echo "with-postgres: PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on port $port (fsync off, throwaway); TXMANAGER_PG_URL=$TXMANAGER_PG_URL" >&2

# Not `exec`: the trap must run after the command to stop the server.
status=0
"$@" || status=$?
exit "$status"
