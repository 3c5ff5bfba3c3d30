#!/usr/bin/env bash
# Prints a directory holding a shared libsqlite3 that txmanager can link with
# default features off (no bundled SQLite), for SQLITE3_LIB_DIR.
#
# rusqlite 0.43 needs SQLite 3.45.3 or newer (txmanager itself needs 3.35 for
# RETURNING). The system's library is used when it is new enough; otherwise
# (Debian 12 ships 3.40.1) a shared library is compiled once, into
# target/sqlite-shared, from the SQLite amalgamation that libsqlite3-sys
# carries, so the unbundled build still links a separate, dynamic libsqlite3.
set -euo pipefail
cd "$(dirname "$0")/.."
minimum=3.45.3

if ! pkg-config --exists sqlite3 2>/dev/null && command -v apt-get >/dev/null 2>&1; then
    echo "installing libsqlite3-dev and pkg-config" >&2
    apt-get install -y -qq libsqlite3-dev pkg-config >/dev/null
fi
if pkg-config --atleast-version="$minimum" sqlite3 2>/dev/null; then
    echo "system SQLite $(pkg-config --modversion sqlite3) is new enough" >&2
    pkg-config --variable=libdir sqlite3
    exit 0
fi
echo "system SQLite $(pkg-config --modversion sqlite3 2>/dev/null || echo missing) is older than $minimum;" \
    "building a shared libsqlite3 from libsqlite3-sys's amalgamation" >&2

out=target/sqlite-shared
sys=$(cargo metadata --format-version 1 --locked 2>/dev/null | python3 -c '
import json, sys, os
meta = json.load(sys.stdin)
print(next(os.path.dirname(p["manifest_path"]) for p in meta["packages"] if p["name"] == "libsqlite3-sys"))')
if [[ ! -f $out/libsqlite3.so || $out/libsqlite3.so -ot $sys/sqlite3/sqlite3.c ]]; then
    mkdir -p "$out"
    cc -O1 -fPIC -shared -DSQLITE_THREADSAFE=1 \
        -o "$out/libsqlite3.so" "$sys/sqlite3/sqlite3.c" -lpthread -ldl -lm
fi
echo "$(grep -m1 '#define SQLITE_VERSION ' "$sys/sqlite3/sqlite3.h" | cut -d'"' -f2) in $out" >&2
realpath "$out"
