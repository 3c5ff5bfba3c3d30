#!/usr/bin/env python3
"""Turns the benchmark output into the tables and plot of docs/PERFORMANCE.md.

Reads, all under target/:
  perf/paired.json       paired ratios      (cargo bench --bench paired)
  criterion/.../new/estimates.json  absolute medians  (cargo bench --bench workloads / contention)
  perf/instructions.json instruction counts (scripts/count_instructions.sh)
  perf/memory.json       peak memory        (cargo bench --bench memory)
prints the Markdown tables and writes docs/perf/ratios.svg. Standard library only.

    python3 scripts/perf_report.py
"""
import json
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent
TARGET = ROOT / "target"
SVG = ROOT / "docs" / "perf" / "ratios.svg"

# workload -> (description, target); W3's target is a throughput floor.
WORKLOADS = {
    "W1_commit_on_success_insert": ("commit_on_success, one insert per block, 20k blocks", 1.05),
    "W2_versioned_save": ("get + versioned save per block, 1k rows, 20k saves", 1.10),
    "W3_contention": ("optimistic increments via the retry helper, 4,000 per run", 0.95),
    "W4_autocommit_insert": ("default autocommit inserts, 20k", 1.03),
    "W5_nested_savepoint": ("block with a nested savepoint block writing one row, 20k", 1.10),
}


def load(path):
    return json.loads(path.read_text()) if path.exists() else []


def criterion_ms(workload, side, variant):
    path = TARGET / "criterion" / workload / side / variant / "new" / "estimates.json"
    if not path.exists():
        return None
    return json.loads(path.read_text())["median"]["point_estimate"] / 1e6


def rows():
    instructions = {m["workload"]: m["txmanager"] / m["rusqlite"] for m in load(TARGET / "perf" / "instructions.json")}
    out = []
    for p in load(TARGET / "perf" / "paired.json"):
        description, target = WORKLOADS[p["workload"]]
        met = p["median"] >= target if p["throughput"] else p["median"] <= target
        key = p["workload"][:2].lower()
        insn = instructions.get(key) if p["variant"] == "memory" else None
        out.append(dict(p, description=description, target=target, met=met, instructions=insn,
                        ours_ms=criterion_ms(p["workload"], "txmanager", p["variant"]),
                        theirs_ms=criterion_ms(p["workload"], "rusqlite", p["variant"])))
    order = list(WORKLOADS)
    out.sort(key=lambda r: (order.index(r["workload"]), r["variant"]))
    return out


def table(rows):
    lines = [
        "| id | variant | workload | paired median ratio | quartiles | instructions ratio | criterion medians (txmanager / rusqlite) | target | met |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        kind = "throughput" if r["throughput"] else "time"
        sign = "≥" if r["throughput"] else "≤"
        insn = f"{r['instructions']:.3f}" if r["instructions"] else "—"
        crit = f"{r['ours_ms']:.1f} / {r['theirs_ms']:.1f} ms" if r["ours_ms"] and r["theirs_ms"] else "—"
        lines.append(
            f"| {r['workload'][:2]} | {r['variant']} | {r['description']} | **{r['median']:.3f}** ({kind}) "
            f"| {r['p25']:.3f}–{r['p75']:.3f} | {insn} | {crit} | {sign} {r['target']:.2f} | {'yes' if r['met'] else 'NO'} |"
        )
    memory = load(TARGET / "perf" / "memory.json")
    if memory:
        lines += ["", "| workload | storage | txmanager peak (heap + SQLite) | rusqlite peak (heap + SQLite) | difference |",
                  "|---|---|---|---|---|"]
        for m in memory:
            t = m["txmanager_heap"] + m["txmanager_sqlite"]
            r = m["rusqlite_heap"] + m["rusqlite_sqlite"]
            lines.append(f"| {m['workload']} | {m['storage']} | {t / 1024:.1f} KiB | {r / 1024:.1f} KiB | {(t - r) / 1024:+.1f} KiB |")
    return "\n".join(lines)


def svg(rows):
    width, bar_h, gap, left, right = 780, 22, 10, 300, 70
    height = 50 + len(rows) * (bar_h + gap) + 50
    scale_max = max([1.25] + [r["p75"] * 1.05 for r in rows])
    x = lambda v: left + (width - left - right) * v / scale_max
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{width / 2}" y="20" text-anchor="middle" font-size="14">txmanager ÷ hand-written rusqlite: paired median (W3: throughput)</text>',
    ]
    for tick in [0, 0.25, 0.5, 0.75, 1.0, 1.25]:
        if tick <= scale_max:
            out.append(f'<line x1="{x(tick)}" y1="35" x2="{x(tick)}" y2="{height - 45}" stroke="#ddd"/>')
            out.append(f'<text x="{x(tick)}" y="{height - 10}" text-anchor="middle">{tick:.2f}</text>')
    for i, r in enumerate(rows):
        y = 40 + i * (bar_h + gap)
        color = "#4a90d9" if r["met"] else "#d9534f"
        mid = y + bar_h / 2
        out.append(f'<text x="{left - 8}" y="{y + 15}" text-anchor="end">{r["workload"][:2]} {r["variant"]}</text>')
        out.append(f'<rect x="{left}" y="{y}" width="{x(r["median"]) - left}" height="{bar_h}" fill="{color}"/>')
        out.append(f'<line x1="{x(r["p25"])}" y1="{mid}" x2="{x(r["p75"])}" y2="{mid}" stroke="#333" stroke-width="1.5"/>')
        for q in (r["p25"], r["p75"]):
            out.append(f'<line x1="{x(q)}" y1="{mid - 5}" x2="{x(q)}" y2="{mid + 5}" stroke="#333" stroke-width="1.5"/>')
        out.append(f'<line x1="{x(r["target"])}" y1="{y - 2}" x2="{x(r["target"])}" y2="{y + bar_h + 2}" stroke="black" stroke-width="2" stroke-dasharray="3,2"/>')
        out.append(f'<text x="{x(max(r["p75"], r["target"])) + 6}" y="{y + 15}">{r["median"]:.3f}</text>')
    out.append(f'<text x="{width / 2}" y="{height - 28}" text-anchor="middle" fill="#555">whiskers: quartiles of the paired ratios; dashed: target; red: target missed</text>')
    out.append("</svg>")
    SVG.parent.mkdir(parents=True, exist_ok=True)
    SVG.write_text("\n".join(out) + "\n")


if __name__ == "__main__":
    data = rows()
    if not data:
        raise SystemExit("no target/perf/paired.json: run `cargo bench --bench paired` first")
    print(table(data))
    svg(data)
    print(f"\nplot written to {SVG.relative_to(ROOT)}")
