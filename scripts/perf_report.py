#!/usr/bin/env python3
"""Turns criterion's results into the ratio table and plot of docs/PERFORMANCE.md.

Reads target/criterion/<workload>/{txmanager,rusqlite}/<variant>/new/estimates.json
(written by `cargo bench --bench workloads` and `cargo bench --bench contention`)
and target/perf/memory.json (written by `cargo bench --bench memory`), then
prints a Markdown table of median time ratios (txmanager / rusqlite; for W3
the throughput ratio rusqlite-time / txmanager-time) and writes the plot to
docs/perf/ratios.svg. Standard library only.

    python3 scripts/perf_report.py
"""
import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
CRITERION = ROOT / "target" / "criterion"
SVG = ROOT / "docs" / "perf" / "ratios.svg"

# workload -> (description, target, "time" (lower is better) or "throughput")
WORKLOADS = {
    "W1_commit_on_success_insert": ("commit_on_success, one insert per block, 20k blocks", 1.05, "time"),
    "W2_versioned_save": ("get + versioned save per block, 1k rows, 20k saves", 1.10, "time"),
    "W3_contention": ("optimistic increments via the retry helper, 4,000 per run", 0.95, "throughput"),
    "W4_autocommit_insert": ("default autocommit inserts, 20k", 1.03, "time"),
    "W5_nested_savepoint": ("block with a nested savepoint block writing one row, 20k", 1.10, "time"),
}


def median_ns(path):
    with open(path) as f:
        return json.load(f)["median"]["point_estimate"]


def results():
    rows = []
    for workload, (description, target, kind) in WORKLOADS.items():
        base = CRITERION / workload
        if not (base / "txmanager").is_dir():
            print(f"missing {base}: run the benchmarks first", file=sys.stderr)
            continue
        for variant in sorted(p.name for p in (base / "txmanager").iterdir() if p.is_dir()):
            ours = median_ns(base / "txmanager" / variant / "new" / "estimates.json")
            theirs = median_ns(base / "rusqlite" / variant / "new" / "estimates.json")
            ratio = ours / theirs if kind == "time" else theirs / ours
            met = ratio <= target if kind == "time" else ratio >= target
            rows.append((workload, variant, description, ours, theirs, ratio, target, kind, met))
    return rows


def table(rows):
    lines = [
        "| id | variant | workload | txmanager (median) | rusqlite (median) | ratio | target | met |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for workload, variant, description, ours, theirs, ratio, target, kind, met in rows:
        sign = "≤" if kind == "time" else "≥"
        what = "time" if kind == "time" else "throughput"
        lines.append(
            f"| {workload[:2]} | {variant} | {description} | {ours / 1e6:.1f} ms | {theirs / 1e6:.1f} ms "
            f"| {ratio:.3f} ({what}) | {sign} {target:.2f} | {'yes' if met else 'NO'} |"
        )
    memory = ROOT / "target" / "perf" / "memory.json"
    if memory.exists():
        lines += ["", "| workload | storage | txmanager peak (heap + SQLite) | rusqlite peak (heap + SQLite) | difference |", "|---|---|---|---|---|"]
        for m in json.loads(memory.read_text()):
            t = m["txmanager_heap"] + m["txmanager_sqlite"]
            r = m["rusqlite_heap"] + m["rusqlite_sqlite"]
            lines.append(f"| {m['workload']} | {m['storage']} | {t / 1024:.1f} KiB | {r / 1024:.1f} KiB | {(t - r) / 1024:+.1f} KiB |")
    return "\n".join(lines)


def svg(rows):
    width, bar_h, gap, left, right = 760, 22, 10, 300, 60
    height = 50 + len(rows) * (bar_h + gap) + 50
    scale_max = max([1.25] + [r[5] * 1.05 for r in rows])
    x = lambda v: left + (width - left - right) * v / scale_max
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{width / 2}" y="20" text-anchor="middle" font-size="14">txmanager ÷ hand-written rusqlite (median; W3: throughput ratio)</text>',
    ]
    for tick in [0, 0.25, 0.5, 0.75, 1.0, 1.25]:
        if tick <= scale_max:
            out.append(f'<line x1="{x(tick)}" y1="35" x2="{x(tick)}" y2="{height - 45}" stroke="#ddd"/>')
            out.append(f'<text x="{x(tick)}" y="{height - 10}" text-anchor="middle">{tick:.2f}</text>')
    for i, (workload, variant, _, _, _, ratio, target, kind, met) in enumerate(rows):
        y = 40 + i * (bar_h + gap)
        color = "#4a90d9" if met else "#d9534f"
        out.append(f'<text x="{left - 8}" y="{y + 15}" text-anchor="end">{workload[:2]} {variant}</text>')
        out.append(f'<rect x="{left}" y="{y}" width="{x(ratio) - left}" height="{bar_h}" fill="{color}"/>')
        out.append(f'<line x1="{x(target)}" y1="{y - 2}" x2="{x(target)}" y2="{y + bar_h + 2}" stroke="black" stroke-width="2" stroke-dasharray="3,2"/>')
        out.append(f'<text x="{x(max(ratio, target)) + 6}" y="{y + 15}">{ratio:.3f}</text>')
    out.append(f'<text x="{width / 2}" y="{height - 28}" text-anchor="middle" fill="#555">dashed: target (W3 must reach it; the others must stay below it); red: target missed</text>')
    out.append("</svg>")
    SVG.parent.mkdir(parents=True, exist_ok=True)
    SVG.write_text("\n".join(out) + "\n")


if __name__ == "__main__":
    rows = results()
    print(table(rows))
    if rows:
        svg(rows)
        print(f"\nplot written to {SVG.relative_to(ROOT)}")
