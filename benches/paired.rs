//! Paired ratios: for each workload, timed runs of three sides alternate,
//! each on a fresh database: txmanager; hand-written rusqlite through its
//! `Transaction` API, as a typical user writes it; and the *limit*,
//! hand-written rusqlite with every statement cached, `BEGIN`, `COMMIT` and
//! the savepoint statements included. The order rotates through all six
//! permutations, and each ratio is taken within its round. Ratios are
//! throughput ratios, txmanager's throughput ÷ the other side's (higher is
//! better). The median of each ratio, with its quartiles, is what
//! `docs/PERFORMANCE.md` reports: a burst of machine noise lands on one
//! round, not on one side, and the median discards it.
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
    /// Rounds for this case (W3, contention-bound and noisy, runs more).
    rounds: usize,
    ours: Run,
    theirs: Run,
    limit: Run,
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
    limit: fn(&mut Connection, i64),
) -> Case {
    let raw = |schema: String, run: fn(&mut Connection, i64)| -> Run {
        Box::new(move || {
            timed(common::raw(storage, &schema), |f: &mut Fresh<_>| {
                (0..BLOCKS).for_each(|i| run(&mut f.db, i))
            })
        })
    };
    Case {
        workload,
        variant: storage.to_string(),
        rounds: 0,
        theirs: raw(schema.clone(), theirs),
        limit: raw(schema.clone(), limit),
        ours: Box::new(move || {
            timed(common::manager(storage, &schema), |f: &mut Fresh<_>| {
                (0..BLOCKS).for_each(|i| ours(&mut f.db, i))
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
        rounds: 0,
        ours: side(common::w3_txmanager),
        theirs: side(common::w3_rusqlite),
        limit: side(common::w3_limit),
    }
}

/// Runs the three sides of one round in the order given by `round`: the six
/// permutations in turn, so that no side is always first or last.
fn round(case: &Case, round: usize) -> [f64; 3] {
    const ORDERS: [[usize; 3]; 6] = [
        [0, 1, 2],
        [1, 2, 0],
        [2, 0, 1],
        [2, 1, 0],
        [1, 0, 2],
        [0, 2, 1],
    ];
    let sides = [&case.ours, &case.theirs, &case.limit];
    let mut times = [0.0; 3];
    for side in ORDERS[round % 6] {
        times[side] = sides[side]().as_secs_f64();
    }
    times
}

/// Median and quartiles.
fn summary(mut ratios: Vec<f64>) -> (f64, f64, f64) {
    ratios.sort_by(f64::total_cmp);
    (
        quantile(&ratios, 0.25),
        quantile(&ratios, 0.5),
        quantile(&ratios, 0.75),
    )
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
            common::limit_insert_block,
        ));
        cases.push(blocks(
            "W2_versioned_save",
            storage,
            items(),
            common::txm_save_block,
            common::raw_save_block,
            common::limit_save_block,
        ));
    }
    // Autocommit has no transaction-control statements: the limit is the
    // hand-written loop itself.
    cases.push(blocks(
        "W4_autocommit_insert",
        Storage::Wal,
        CREATE_ROW.into(),
        common::txm_autocommit_insert,
        common::raw_autocommit_insert,
        common::raw_autocommit_insert,
    ));
    for storage in [Storage::Memory, Storage::Wal] {
        cases.push(blocks(
            "W5_nested_savepoint",
            storage,
            CREATE_ROW.into(),
            common::txm_nested_block,
            common::raw_nested_block,
            common::limit_nested_block,
        ));
    }
    // Contention-bound and noisy on 2 cores: twice the rounds.
    cases.push(contention(4));
    cases.push(contention(1));
    for case in &mut cases {
        case.rounds = if case.workload == "W3_contention" {
            rounds * 2
        } else {
            rounds
        };
    }

    let mut json = Vec::new();
    println!(
        "| workload | variant | ÷ Transaction API: median | quartiles | ÷ limit: median | quartiles | rounds |"
    );
    println!("|---|---|---|---|---|---|---|");
    for case in &cases {
        // One warm-up round, not counted.
        round(case, 0);
        let (mut typical, mut limit) = (Vec::new(), Vec::new());
        for r in 0..case.rounds {
            let [ours, theirs, fastest] = round(case, r);
            typical.push(theirs / ours);
            limit.push(fastest / ours);
        }
        let (p25, median, p75) = summary(typical);
        let (l25, lmedian, l75) = summary(limit);
        println!(
            "| {} | {} | {median:.3} | {p25:.3}–{p75:.3} | {lmedian:.3} | {l25:.3}–{l75:.3} | {} |",
            case.workload, case.variant, case.rounds
        );
        json.push(format!(
            "{{\"workload\":\"{}\",\"variant\":\"{}\",\"median\":{median},\"p25\":{p25},\"p75\":{p75},\"limit_median\":{lmedian},\"limit_p25\":{l25},\"limit_p75\":{l75},\"rounds\":{}}}",
            case.workload, case.variant, case.rounds
        ));
    }
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/perf");
    std::fs::create_dir_all(&out).expect("target/perf");
    std::fs::write(out.join("paired.json"), format!("[{}]\n", json.join(",\n")))
        .expect("paired.json");
}
