//! W3: threads, one connection each, on one WAL file, doing optimistic
//! read-modify-write increments of one shared counter; txmanager through the
//! retry helper, against a hand-written rusqlite `BEGIN IMMEDIATE` loop with
//! the same statements. 4,000 increments per iteration, by 4 threads and by 1.
//! Every iteration checks that no update was lost.

mod common;

use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};

fn w3_contention(c: &mut Criterion) {
    let mut group = c.benchmark_group("W3_contention");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(6));
    for threads in [4, 1] {
        let label = format!("{threads}_threads");
        // Each timed run follows an untimed run of the other implementation,
        // so both see the same preceding load (file churn, page cache):
        // without this, whichever ran second was measured on a busier disk.
        group.bench_function(BenchmarkId::new("txmanager", &label), |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| {
                        let (_dir, path) = common::w3_fresh_file();
                        common::w3_rusqlite(&path, threads);
                        let (_dir, path) = common::w3_fresh_file();
                        let elapsed = common::w3_txmanager(&path, threads);
                        assert_eq!(
                            common::w3_total(&path),
                            common::W3_INCREMENTS,
                            "lost updates"
                        );
                        elapsed
                    })
                    .sum()
            })
        });
        group.bench_function(BenchmarkId::new("rusqlite", &label), |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| {
                        let (_dir, path) = common::w3_fresh_file();
                        common::w3_txmanager(&path, threads);
                        let (_dir, path) = common::w3_fresh_file();
                        let elapsed = common::w3_rusqlite(&path, threads);
                        assert_eq!(
                            common::w3_total(&path),
                            common::W3_INCREMENTS,
                            "lost updates"
                        );
                        elapsed
                    })
                    .sum()
            })
        });
    }
    group.finish();
}

criterion_group!(contention, w3_contention);
criterion_main!(contention);
