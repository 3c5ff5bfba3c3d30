#!/usr/bin/env bash
# Counts instructions for W1, W2 and W5 (20,000 blocks, in memory) through
# txmanager, hand-written rusqlite (Transaction API) and the limit (every
# statement cached) with callgrind, prints the ratios (hand-written ÷
# txmanager: above 1, txmanager executes fewer instructions) and
# writes target/perf/instructions.json for scripts/perf_report.py.
# Needs valgrind (apt-get install valgrind). Setup cost is subtracted.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(cargo bench --bench instructions --no-run --message-format=json 2>/dev/null \
    | python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("executable") and m.get("target", {}).get("name") == "instructions":
        print(m["executable"])')
count() {
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "$1" 2>&1 \
        | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
mkdir -p target/perf
json="["
for w in w1 w2 w5; do
    setup=$(count "setup-$w")
    ours=$(( $(count "$w-txmanager") - setup ))
    theirs=$(( $(count "$w-rusqlite") - setup ))
    limit=$(( $(count "$w-limit") - setup ))
    python3 -c "print(f'$w: txmanager {$ours:,}, rusqlite Transaction API {$theirs:,} ({$theirs/$ours:.3f}x), limit {$limit:,} ({$limit/$ours:.3f}x) instructions; {($ours-$limit)/20000:.0f} more per block than the limit')"
    json="$json{\"workload\":\"$w\",\"txmanager\":$ours,\"rusqlite\":$theirs,\"limit\":$limit},"
done
echo "${json%,}]" > target/perf/instructions.json
