#!/usr/bin/env python3
"""Turns the benchmark output into the tables and plots of docs/PERFORMANCE.md.

Reads, all under target/perf/:
  paired.json        paired ratios, both baselines   (cargo bench --bench paired)
  instructions.json  instruction counts              (scripts/count_instructions.sh)
  memory.json        peak memory per workload        (cargo bench --bench memory)
  memory_types.json  memory at 1 → 1,000 record types (cargo bench --bench memory)
  curves.json        cost curves                     (cargo bench --bench curves)
  curves_instructions.json  the curves' instruction counts (scripts/count_curves.sh)
prints the Markdown tables and writes docs/perf/ratios.svg and
docs/perf/curves.svg. Standard library only.

    python3 scripts/perf_report.py
"""
import json
import math
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent
PERF = ROOT / "target" / "perf"
RATIOS_SVG = ROOT / "docs" / "perf" / "ratios.svg"
CURVES_SVG = ROOT / "docs" / "perf" / "curves.svg"

# (workload, variant) -> (description, goal against the Transaction API).
# Every ratio is a throughput ratio: txmanager ÷ hand-written, higher is better.
GOALS = {
    ("W1_commit_on_success_insert", "memory"): ("commit_on_success, one insert per block, 20k blocks", 1.12),
    ("W1_commit_on_success_insert", "wal"): ("commit_on_success, one insert per block, 20k blocks", 1.00),
    ("W2_versioned_save", "memory"): ("get + versioned save per block, 1k rows, 20k saves", 1.07),
    ("W2_versioned_save", "wal"): ("get + versioned save per block, 1k rows, 20k saves", 0.98),
    ("W3_contention", "4_threads"): ("optimistic increments of one row via the retry helper, 4,000 per run", 0.97),
    ("W3_contention", "1_threads"): ("the same with 1 thread (for reference)", None),
    ("W4_autocommit_insert", "wal"): ("default autocommit inserts, 20k", 0.98),
    ("W5_nested_savepoint", "memory"): ("block with a nested savepoint block writing one row, 20k", 1.10),
    ("W5_nested_savepoint", "wal"): ("block with a nested savepoint block writing one row, 20k", 1.10),
}
LIMIT_GOAL = 0.95


def load(name):
    path = PERF / name
    return json.loads(path.read_text()) if path.exists() else []


def rows():
    insn = {m["workload"]: m for m in load("instructions.json")}
    out = []
    order = list(GOALS)
    for p in load("paired.json"):
        description, goal = GOALS[(p["workload"], p["variant"])]
        m = insn.get(p["workload"][:2].lower()) if p["variant"] == "memory" else None
        out.append(dict(
            p, description=description, goal=goal,
            met=goal is None or p["median"] >= goal,
            limit_met=p["limit_median"] >= LIMIT_GOAL,
            insn=(m["rusqlite"] / m["txmanager"], m["limit"] / m["txmanager"]) if m else None,
        ))
    out.sort(key=lambda r: order.index((r["workload"], r["variant"])))
    return out


def yes(met):
    return "yes" if met else "**no**"


def tables(rows):
    lines = [
        "| id | variant | workload | time ÷ Transaction API: median (quartiles) | goal | timed median meets it | time ÷ limit: median (quartiles) | timed median ≥ 0.95 | instructions ÷ API / ÷ limit | rounds |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        goal = f"≥ {r['goal']:.2f}" if r["goal"] else "—"
        insn = f"{r['insn'][0]:.3f} / {r['insn'][1]:.3f}" if r["insn"] else "—"
        lines.append(
            f"| {r['workload'][:2]} | {r['variant']} | {r['description']} "
            f"| **{r['median']:.3f}** ({r['p25']:.3f}–{r['p75']:.3f}) | {goal} | {yes(r['met']) if r['goal'] else '—'} "
            f"| **{r['limit_median']:.3f}** ({r['limit_p25']:.3f}–{r['limit_p75']:.3f}) | {yes(r['limit_met'])} | {insn} | {r['rounds']} |"
        )
    insn = load("instructions.json")
    if insn:
        lines += ["", "| workload (in memory, 20k blocks) | txmanager | Transaction API | limit | API ÷ txmanager | limit ÷ txmanager | txmanager − limit, per block |",
                  "|---|---|---|---|---|---|---|"]
        for m in insn:
            t, r, l = m["txmanager"], m["rusqlite"], m["limit"]
            lines.append(f"| {m['workload'].upper()} | {t:,} | {r:,} | {l:,} | {r / t:.3f} | {l / t:.3f} | {(t - l) / 20000:+.0f} |")
    memory = load("memory.json")
    if memory:
        lines += ["", "| workload | storage | txmanager peak (heap + SQLite) | rusqlite peak (heap + SQLite) | difference |",
                  "|---|---|---|---|---|"]
        for m in memory:
            t = m["txmanager_heap"] + m["txmanager_sqlite"]
            r = m["rusqlite_heap"] + m["rusqlite_sqlite"]
            lines.append(f"| {m['workload']} | {m['storage']} | {t / 1024:.1f} KiB | {r / 1024:.1f} KiB | {(t - r) / 1024:+.1f} KiB |")
    types = load("memory_types.json")
    if types:
        lines += ["", "| record types | heap kept after use: txmanager / by hand | per type | peak RSS: txmanager / by hand |",
                  "|---|---|---|---|"]
        for m in types:
            per = (m["txmanager_heap"] - m["rusqlite_heap"]) / m["types"]
            lines.append(
                f"| {m['types']:,} | {m['txmanager_heap'] / 1024:.1f} / {m['rusqlite_heap'] / 1024:.1f} KiB | {per:.0f} B "
                f"| {m['txmanager_rss_kib']:,} / {m['rusqlite_rss_kib']:,} KiB |")
    curves = load("curves.json")
    if curves:
        insn = curve_instructions()
        lines += ["", "| curve | x | instructions: hand-written ÷ txmanager | time: txmanager ÷ hand-written throughput, median (quartiles) | µs per operation: txmanager / hand-written |",
                  "|---|---|---|---|---|"]
        for c in curves:
            i = insn.get((c["curve"], c["x"]))
            i = f"**{i:.3f}**" if i else "—"
            lines.append(f"| {c['curve']} | {c['x']:,} | {i} | {c['median']:.3f} ({c['p25']:.3f}–{c['p75']:.3f}) | {c['txmanager_us']:.2f} / {c['rusqlite_us']:.2f} |")
        writers = [c for c in curves if "blocks_per_s" in c]
        if writers:
            lines += ["", "| writers | count | blocks/s: txmanager / by hand | retries per run | p99 block latency, ms | errors that reached the caller |",
                      "|---|---|---|---|---|---|"]
            for c in writers:
                b, r, p, e = c["blocks_per_s"], c["retries_per_run"], c["p99_ms"], c["errors"]
                lines.append(f"| {c['curve']} | {c['x']} | {b[0]:,.0f} / {b[1]:,.0f} | {r[0]:.1f} / {r[1]:.1f} | {p[0]:.3f} / {p[1]:.3f} | {e[0]} / {e[1]} |")
    return "\n".join(lines)


def ratios_svg(rows):
    width, bar_h, gap, left, right = 900, 12, 14, 120, 170
    height = 60 + len(rows) * (2 * bar_h + gap) + 50
    scale_max = max([1.5] + [max(r["p75"], r["limit_p75"]) * 1.05 for r in rows])
    x = lambda v: left + (width - left - right) * v / scale_max
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{width / 2}" y="20" text-anchor="middle" font-size="14">txmanager throughput ÷ hand-written rusqlite: paired medians</text>',
        f'<rect x="{left}" y="30" width="12" height="10" fill="#4a90d9"/><text x="{left + 16}" y="39">÷ Transaction API (dashed: goal)</text>',
        f'<rect x="{left + 260}" y="30" width="12" height="10" fill="#9b7fd1"/><text x="{left + 276}" y="39">÷ limit, every statement cached (goal 0.95)</text>',
        f'<path d="M{left + 560},30 l5,5 l-5,5 l-5,-5 z" fill="#2ca25f"/><text x="{left + 570}" y="39">instruction ratio</text>',
    ]
    ticks = [t / 4 for t in range(0, int(scale_max * 4) + 1)]
    for tick in ticks:
        out.append(f'<line x1="{x(tick)}" y1="48" x2="{x(tick)}" y2="{height - 45}" stroke="{"#888" if tick == 1 else "#ddd"}"/>')
        out.append(f'<text x="{x(tick)}" y="{height - 30}" text-anchor="middle">{tick:.2f}</text>')
    for i, r in enumerate(rows):
        y = 52 + i * (2 * bar_h + gap)
        out.append(f'<text x="{left - 8}" y="{y + bar_h + 4}" text-anchor="end">{r["workload"][:2]} {r["variant"]}</text>')
        for k, (m, lo, hi, goal, met, color) in enumerate([
            (r["median"], r["p25"], r["p75"], r["goal"], r["met"], "#4a90d9"),
            (r["limit_median"], r["limit_p25"], r["limit_p75"], LIMIT_GOAL, r["limit_met"], "#9b7fd1"),
        ]):
            yy = y + k * bar_h
            mid = yy + bar_h / 2
            out.append(f'<rect x="{left}" y="{yy}" width="{x(m) - left}" height="{bar_h - 1}" fill="{color if met else "#d9534f"}"/>')
            out.append(f'<line x1="{x(lo)}" y1="{mid}" x2="{x(hi)}" y2="{mid}" stroke="#333"/>')
            if goal:
                out.append(f'<line x1="{x(goal)}" y1="{yy}" x2="{x(goal)}" y2="{yy + bar_h}" stroke="black" stroke-width="2" stroke-dasharray="3,2"/>')
            label = f"{m:.3f}"
            if r["insn"]:
                v = r["insn"][k]
                out.append(f'<path d="M{x(v):.1f},{yy} l4,{bar_h / 2} l-4,{bar_h / 2} l-4,{-bar_h / 2} z" fill="#2ca25f" stroke="white"/>')
                label += f" (instructions {v:.3f})"
            out.append(f'<text x="{x(max(hi, goal or 0, r["insn"][k] if r["insn"] else 0)) + 6}" y="{yy + bar_h - 2}" font-size="11">{label}</text>')
    out.append(f'<text x="{width / 2}" y="{height - 10}" text-anchor="middle" fill="#555">whiskers: quartiles of the timed ratios; red: the timed median misses the goal; right of 1.00, txmanager is faster</text>')
    out.append("</svg>")
    RATIOS_SVG.parent.mkdir(parents=True, exist_ok=True)
    RATIOS_SVG.write_text("\n".join(out) + "\n")


PANELS = [
    ("columns_save", "versioned save (get + save) vs columns per record"),
    ("columns_load", "load (get) vs columns per record"),
    ("nesting", "one block vs nesting depth (savepoints)"),
    ("statements", "inserts vs statements per block"),
    ("table_size", "versioned save vs table rows (WAL file)"),
    ("threads", "writer threads on one WAL file (retry helper)"),
    ("processes", "writer processes on one WAL file (retry helper)"),
]


def curve_instructions():
    return {(m["curve"], m["x"]): m["rusqlite"] / m["txmanager"] for m in load("curves_instructions.json")}


def curves_svg(curves):
    by = {}
    for c in curves:
        by.setdefault(c["curve"], []).append(c)
    panels = [(k, t) for k, t in PANELS if k in by]
    # One panel per curve for the ratio, plus table size's absolute cost.
    cols, pw, ph, ml, mt = 2, 400, 230, 55, 40
    n = len(panels) + (1 if "table_size" in by else 0)
    rows_n = math.ceil(n / cols)
    width, height = cols * pw + 20, rows_n * ph + 60
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="11">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{width / 2}" y="20" text-anchor="middle" font-size="14">Cost curves: txmanager ÷ hand-written rusqlite (above 1: txmanager does the work faster)</text>',
    ]

    def panel(i, title, points, series, ylabel, ymin=None, ymax=None, ref=None):
        px, py = 10 + (i % cols) * pw, 35 + (i // cols) * ph
        x0, x1, y0, y1 = px + ml, px + pw - 20, py + ph - 40, py + mt
        xs = [p["x"] for p in points]
        lx = lambda v: math.log10(v)
        xmin, xmax = lx(min(xs)), lx(max(xs))
        if xmax == xmin:
            xmax = xmin + 1
        # The range follows the medians and instruction ratios; quartile
        # whiskers are clipped to it, so a noisy round does not flatten the
        # lines that matter.
        vals = [s[1](p)[0] for s in series for p in points]
        lo = min(vals + ([ymin] if ymin is not None else []))
        hi = max(vals + ([ymax] if ymax is not None else []))
        pad = (hi - lo) * 0.08 or 0.1
        lo, hi = (lo - pad if ymin != 0 else 0), hi + pad
        clip = lambda v: min(max(v, lo), hi)
        X = lambda v: x0 + (x1 - x0) * (lx(v) - xmin) / (xmax - xmin)
        Y = lambda v: y0 - (y0 - y1) * (v - lo) / (hi - lo)
        out.append(f'<text x="{px + pw / 2}" y="{py + 20}" text-anchor="middle" font-size="12">{title}</text>')
        out.append(f'<rect x="{x0}" y="{y1}" width="{x1 - x0}" height="{y0 - y1}" fill="none" stroke="#ccc"/>')
        for k in range(5):
            v = lo + (hi - lo) * k / 4
            out.append(f'<text x="{x0 - 4}" y="{Y(v) + 4}" text-anchor="end">{(("{:.2f}" if hi < 10 else "{:.0f}").format(v))}</text>')
        for v in xs:
            out.append(f'<text x="{X(v)}" y="{y0 + 14}" text-anchor="middle">{v:,}</text>')
        out.append(f'<text x="{px + 12}" y="{(y0 + y1) / 2}" transform="rotate(-90 {px + 12} {(y0 + y1) / 2})" text-anchor="middle">{ylabel}</text>')
        if ref is not None and lo < ref < hi:
            out.append(f'<line x1="{x0}" y1="{Y(ref)}" x2="{x1}" y2="{Y(ref)}" stroke="#888" stroke-dasharray="4,3"/>')
        for s_i, (name, get, color) in enumerate(series):
            pts = sorted(points, key=lambda p: p["x"])
            path = " ".join(f"{'M' if j == 0 else 'L'}{X(p['x']):.1f},{Y(get(p)[0]):.1f}" for j, p in enumerate(pts))
            out.append(f'<path d="{path}" fill="none" stroke="{color}" stroke-width="2"/>')
            for p in pts:
                v = get(p)
                out.append(f'<circle cx="{X(p["x"]):.1f}" cy="{Y(v[0]):.1f}" r="3" fill="{color}"/>')
                if len(v) == 3:
                    out.append(f'<line x1="{X(p["x"]):.1f}" y1="{Y(clip(v[1])):.1f}" x2="{X(p["x"]):.1f}" y2="{Y(clip(v[2])):.1f}" stroke="{color}"/>')
            out.append(f'<text x="{x1 - 4}" y="{y1 + 14 + 13 * s_i}" text-anchor="end" fill="{color}">{name}</text>')

    insn = curve_instructions()
    i = 0
    for key, title in panels:
        series = [("time (paired median)", lambda p: (p["median"], p["p25"], p["p75"]), "#4a90d9")]
        if any((key, p["x"]) in insn for p in by[key]):
            points = [p for p in by[key] if (key, p["x"]) in insn]
            series.append(("instructions", lambda p, key=key: (insn.get((key, p["x"]), p["median"]),), "#2ca25f"))
        panel(i, title, by[key], series, "ratio", ymin=0.9, ymax=1.1, ref=1.0)
        i += 1
    if "table_size" in by:
        counts = {m["x"]: m for m in load("curves_instructions.json") if m["curve"] == "table_size"}
        sized = [p for p in by["table_size"] if p["x"] in counts]
        if sized:
            per = lambda side: lambda p: (counts[p["x"]][side] / 10_000,)
            panel(i, "versioned save: instructions per save vs table rows", sized,
                  [("txmanager", per("txmanager"), "#4a90d9"), ("hand-written", per("rusqlite"), "#e08a2c")],
                  "instructions", ymin=0)
        else:
            panel(i, "versioned save: µs per save vs table rows", by["table_size"],
                  [("txmanager", lambda p: (p["txmanager_us"],), "#4a90d9"), ("hand-written", lambda p: (p["rusqlite_us"],), "#e08a2c")],
                  "µs", ymin=0)
    out.append(f'<text x="{width / 2}" y="{height - 8}" text-anchor="middle" fill="#555">x axes logarithmic; above the dashed 1.00 line txmanager is faster</text>')
    out.append("</svg>")
    CURVES_SVG.write_text("\n".join(out) + "\n")


if __name__ == "__main__":
    data = rows()
    if not data:
        raise SystemExit("no target/perf/paired.json: run `cargo bench --bench paired` first")
    print(tables(data))
    ratios_svg(data)
    curves = load("curves.json")
    if curves:
        curves_svg(curves)
    print(f"\nplots written to {RATIOS_SVG.relative_to(ROOT)} and {CURVES_SVG.relative_to(ROOT)}")
