//! W3: threads, one connection each, on one WAL file, doing optimistic
//! read-modify-write increments of one shared counter; txmanager through the
//! retry helper, against a hand-written rusqlite `BEGIN IMMEDIATE` loop with
//! the same statements. 4,000 increments per iteration, by 4 threads and by 1.
//! Every iteration checks that no update was lost.

mod common;

use std::thread;
use std::time::{Duration, Instant};

use common::{CREATE_ITEM, Item};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use txmanager::rusqlite::{Connection, ErrorCode, TransactionBehavior};
use txmanager::{Opener, Record, RetryPolicy};

const INCREMENTS: i64 = 4_000;
const SCHEMA: &str = "INSERT INTO item (id, version, name, qty) VALUES (1, 1, 'counter', 0)";

fn fresh_file() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("contention.db");
    drop(common::raw_at(&path, &format!("{CREATE_ITEM}; {SCHEMA}")));
    (dir, path)
}

fn total(path: &std::path::Path) -> i64 {
    Connection::open(path)
        .unwrap()
        .query_row("SELECT qty FROM item WHERE id = 1", [], |r| r.get(0))
        .unwrap()
}

fn txmanager_run(path: &std::path::Path, threads: i64) -> Duration {
    let opener = Opener::new(path);
    let policy = RetryPolicy::new(10_000).with_max_elapsed(Duration::from_secs(600));
    let start = Instant::now();
    thread::scope(|s| {
        for _ in 0..threads {
            let (opener, policy) = (opener.clone(), policy.clone());
            s.spawn(move || {
                let mut tm = opener.open().unwrap();
                for _ in 0..INCREMENTS / threads {
                    tm.commit_on_success_with_retry(&policy, |tx| {
                        let mut counter = Item::get(tx, 1)?;
                        counter.qty += 1;
                        counter.save(tx)
                    })
                    .expect("no error may reach the caller");
                }
            });
        }
    });
    start.elapsed()
}

fn rusqlite_run(path: &std::path::Path, threads: i64) -> Duration {
    let start = Instant::now();
    thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(move || {
                let mut conn = common::raw_at(path, "");
                for _ in 0..INCREMENTS / threads {
                    loop {
                        let attempt = conn
                            .transaction_with_behavior(TransactionBehavior::Immediate)
                            .and_then(|tx| {
                                common::raw_versioned_increment(&tx, 1)?;
                                tx.commit()
                            });
                        match attempt {
                            Ok(()) => break,
                            Err(e) if e.sqlite_error_code() == Some(ErrorCode::DatabaseBusy) => {
                                continue;
                            }
                            Err(e) => panic!("{e}"),
                        }
                    }
                }
            });
        }
    });
    start.elapsed()
}

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
                        let (_dir, path) = fresh_file();
                        rusqlite_run(&path, threads);
                        let (_dir, path) = fresh_file();
                        let elapsed = txmanager_run(&path, threads);
                        assert_eq!(total(&path), INCREMENTS, "lost updates");
                        elapsed
                    })
                    .sum()
            })
        });
        group.bench_function(BenchmarkId::new("rusqlite", &label), |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| {
                        let (_dir, path) = fresh_file();
                        txmanager_run(&path, threads);
                        let (_dir, path) = fresh_file();
                        let elapsed = rusqlite_run(&path, threads);
                        assert_eq!(total(&path), INCREMENTS, "lost updates");
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
