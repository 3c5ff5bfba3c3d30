//! Paired ratios: for each workload, timed runs of txmanager and of
//! hand-written rusqlite alternate (AB, BA, AB, …), each on a fresh database,
//! and the ratio is taken within each pair. The median of those ratios, with
//! its quartiles, is what `docs/PERFORMANCE.md` reports: a burst of machine
//! noise lands on one pair, not on one side, and the median discards it.
//! (Criterion, in `workloads.rs` and `contention.rs`, times each side in its
//! own window; its absolute timings are reported beside these ratios.)
//!
//! `cargo bench --bench paired` (rounds: `PAIRED_ROUNDS`, default 21). Writes
//! `target/perf/paired.json` for `scripts/perf_report.py`.

mod common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use common::{CREATE_ITEM, CREATE_ROW, Fresh, Storage};
use txmanager::TransactionManager;
use txmanager::rusqlite::Connection;

const BLOCKS: i64 = 20_000;

/// One side of a workload: set up a fresh database, then the timed run.
type Run = Box<dyn Fn() -> Duration>;

struct Case {
    workload: &'static str,
    variant: String,
    /// `true` for W3, whose target is a throughput ratio (rusqlite time ÷ txmanager time).
    throughput: bool,
    ours: Run,
    theirs: Run,
}

fn timed<D>(db: D, run: impl FnOnce(&mut D)) -> Duration {
    let mut db = db;
    let start = Instant::now();
    run(&mut db);
    let elapsed = start.elapsed();
    black_box(&db);
    elapsed
}

fn blocks(
    workload: &'static str,
    storage: Storage,
    schema: String,
    ours: fn(&mut TransactionManager, i64),
    theirs: fn(&mut Connection, i64),
) -> Case {
    let schema2 = schema.clone();
    Case {
        workload,
        variant: storage.to_string(),
        throughput: false,
        ours: Box::new(move || {
            timed(common::manager(storage, &schema), |f: &mut Fresh<_>| {
                (0..BLOCKS).for_each(|i| ours(&mut f.db, i))
            })
        }),
        theirs: Box::new(move || {
            timed(common::raw(storage, &schema2), |f: &mut Fresh<_>| {
                (0..BLOCKS).for_each(|i| theirs(&mut f.db, i))
            })
        }),
    }
}

fn contention(threads: i64) -> Case {
    let side = |run: fn(&std::path::Path, i64) -> Duration| -> Run {
        Box::new(move || {
            let (_dir, path) = common::w3_fresh_file();
            let elapsed = run(&path, threads);
            assert_eq!(
                common::w3_total(&path),
                common::W3_INCREMENTS,
                "lost updates"
            );
            elapsed
        })
    };
    Case {
        workload: "W3_contention",
        variant: format!("{threads}_threads"),
        throughput: true,
        ours: side(common::w3_txmanager),
        theirs: side(common::w3_rusqlite),
    }
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    let i = (q * (sorted.len() - 1) as f64).round() as usize;
    sorted[i]
}

fn main() {
    // Under `cargo test --benches` (or any filter argument) run nothing.
    if std::env::args().skip(1).any(|a| !a.starts_with("--bench")) {
        return;
    }
    let rounds: usize = std::env::var("PAIRED_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(21);
    let items = || format!("{CREATE_ITEM}; {}", common::item_rows());
    let mut cases = Vec::new();
    for storage in [Storage::Memory, Storage::Wal] {
        cases.push(blocks(
            "W1_commit_on_success_insert",
            storage,
            CREATE_ROW.into(),
            common::txm_insert_block,
            common::raw_insert_block,
        ));
        cases.push(blocks(
            "W2_versioned_save",
            storage,
            items(),
            common::txm_save_block,
            common::raw_save_block,
        ));
    }
    cases.push(blocks(
        "W4_autocommit_insert",
        Storage::Wal,
        CREATE_ROW.into(),
        common::txm_autocommit_insert,
        common::raw_autocommit_insert,
    ));
    for storage in [Storage::Memory, Storage::Wal] {
        cases.push(blocks(
            "W5_nested_savepoint",
            storage,
            CREATE_ROW.into(),
            common::txm_nested_block,
            common::raw_nested_block,
        ));
    }
    cases.push(contention(4));
    cases.push(contention(1));

    let mut json = Vec::new();
    println!("| workload | variant | median ratio | quartiles | rounds |");
    println!("|---|---|---|---|---|");
    for case in &cases {
        // One warm-up pair, not counted.
        (case.ours)();
        (case.theirs)();
        let mut ratios: Vec<f64> = (0..rounds)
            .map(|round| {
                let (ours, theirs) = if round % 2 == 0 {
                    let ours = (case.ours)();
                    (ours, (case.theirs)())
                } else {
                    let theirs = (case.theirs)();
                    ((case.ours)(), theirs)
                };
                let (ours, theirs) = (ours.as_secs_f64(), theirs.as_secs_f64());
                if case.throughput {
                    theirs / ours
                } else {
                    ours / theirs
                }
            })
            .collect();
        ratios.sort_by(f64::total_cmp);
        let (p25, median, p75) = (
            quantile(&ratios, 0.25),
            quantile(&ratios, 0.5),
            quantile(&ratios, 0.75),
        );
        println!(
            "| {} | {} | {median:.3} | {p25:.3}–{p75:.3} | {rounds} |",
            case.workload, case.variant
        );
        json.push(format!(
            "{{\"workload\":\"{}\",\"variant\":\"{}\",\"throughput\":{},\"median\":{median},\"p25\":{p25},\"p75\":{p75},\"rounds\":{rounds}}}",
            case.workload, case.variant, case.throughput
        ));
    }
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/perf");
    std::fs::create_dir_all(&out).expect("target/perf");
    std::fs::write(out.join("paired.json"), format!("[{}]\n", json.join(",\n")))
        .expect("paired.json");
}
