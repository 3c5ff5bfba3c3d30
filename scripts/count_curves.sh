#!/usr/bin/env bash
# Counts instructions for the CPU-bound cost curves (columns, nesting,
# statements per block, table size) with callgrind: each point's txmanager
# side and hand-written side, once each, counting only inside the timed
# region (`timed` in benches/curves.rs), so database setup is not counted.
# Instruction counts do not move with machine load, unlike the timed curves.
# Writes target/perf/curves_instructions.json for scripts/perf_report.py.
# Needs valgrind. Takes several minutes (table size 10^6 is the slowest).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(cargo bench --bench curves --no-run --message-format=json 2>/dev/null \
    | python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("executable") and m.get("target", {}).get("name") == "curves":
        print(m["executable"])')
count() {
    valgrind --tool=callgrind --toggle-collect='curves::timed*' --callgrind-out-file=/dev/null \
        "$bin" count "$@" 2>&1 | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
mkdir -p target/perf
points="${CURVE_POINTS:-columns_save:2,4,8,16,32,64 columns_load:2,4,8,16,32,64 nesting:1,2,4,8,16,32 statements:1,10,100,1000,10000 table_size:1000,10000,100000,1000000}"
json="["
for spec in $points; do
    curve=${spec%%:*}
    for x in $(echo "${spec#*:}" | tr , " "); do
        x=${x//,/}
        ours=$(count "$curve" "$x" txmanager)
        theirs=$(count "$curve" "$x" rusqlite)
        python3 -c "print(f'$curve $x: txmanager {$ours:,} hand-written {$theirs:,} instructions, hand-written/txmanager {$theirs/$ours:.3f}')"
        json="$json{\"curve\":\"$curve\",\"x\":$x,\"txmanager\":$ours,\"rusqlite\":$theirs},"
    done
done
echo "${json%,}]" > target/perf/curves_instructions.json
