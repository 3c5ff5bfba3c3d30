//! W1, W2, W4, W5: txmanager against hand-written rusqlite running the same
//! SQL on the same schema, in the same run. One iteration is the whole
//! workload on a fresh database (set up outside the timed region).
//!
//! `cargo bench --bench workloads`; `python3 scripts/perf_report.py` turns
//! the results into the table and plot in docs/PERFORMANCE.md.

mod common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use common::{CREATE_ITEM, CREATE_ROW, Storage};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use txmanager::TransactionManager;
use txmanager::rusqlite::Connection;

const BLOCKS: i64 = 20_000;

/// Times `run` on a fresh database `iters` times; `setup` is not timed.
fn timed<D>(iters: u64, setup: impl Fn() -> D, run: impl Fn(&mut D)) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let mut db = setup();
        let start = Instant::now();
        run(&mut db);
        total += start.elapsed();
        black_box(&db);
    }
    total
}

fn configure<'a>(
    c: &'a mut Criterion,
    name: &str,
) -> criterion::BenchmarkGroup<'a, criterion::measurement::WallTime> {
    let mut group = c.benchmark_group(name);
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    group
}

/// Benchmarks one workload both ways on `storage`: `ours` through
/// txmanager, `theirs` as hand-written rusqlite, each called with the block
/// number 0..BLOCKS on a fresh database with `schema`.
fn pair(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    storage: Storage,
    schema: &str,
    ours: impl Fn(&mut TransactionManager, i64),
    theirs: impl Fn(&mut Connection, i64),
) {
    group.bench_function(BenchmarkId::new("txmanager", storage), |b| {
        b.iter_custom(|iters| {
            timed(
                iters,
                || common::manager(storage, schema),
                |f| (0..BLOCKS).for_each(|i| ours(&mut f.db, i)),
            )
        })
    });
    group.bench_function(BenchmarkId::new("rusqlite", storage), |b| {
        b.iter_custom(|iters| {
            timed(
                iters,
                || common::raw(storage, schema),
                |f| (0..BLOCKS).for_each(|i| theirs(&mut f.db, i)),
            )
        })
    });
}

fn w1_commit_on_success_insert(c: &mut Criterion) {
    let mut group = configure(c, "W1_commit_on_success_insert");
    for storage in [Storage::Memory, Storage::Wal] {
        pair(
            &mut group,
            storage,
            CREATE_ROW,
            common::txm_insert_block,
            common::raw_insert_block,
        );
    }
    group.finish();
}

fn w2_versioned_save(c: &mut Criterion) {
    let mut group = configure(c, "W2_versioned_save");
    let schema = format!("{CREATE_ITEM}; {}", common::item_rows());
    for storage in [Storage::Memory, Storage::Wal] {
        pair(
            &mut group,
            storage,
            &schema,
            common::txm_save_block,
            common::raw_save_block,
        );
    }
    group.finish();
}

fn w4_autocommit_insert(c: &mut Criterion) {
    let mut group = configure(c, "W4_autocommit_insert");
    pair(
        &mut group,
        Storage::Wal,
        CREATE_ROW,
        common::txm_autocommit_insert,
        common::raw_autocommit_insert,
    );
    group.finish();
}

fn w5_nested_savepoint(c: &mut Criterion) {
    let mut group = configure(c, "W5_nested_savepoint");
    for storage in [Storage::Memory, Storage::Wal] {
        pair(
            &mut group,
            storage,
            CREATE_ROW,
            common::txm_nested_block,
            common::raw_nested_block,
        );
    }
    group.finish();
}

criterion_group!(
    workloads,
    w1_commit_on_success_insert,
    w2_versioned_save,
    w4_autocommit_insert,
    w5_nested_savepoint
);
criterion_main!(workloads);
