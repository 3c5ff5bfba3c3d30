//! Stress: eight threads, each with its own manager on one WAL file, run
//! optimistic read-modify-write increments of shared counters through the
//! retry helper. No update may be lost and no error may reach a caller.
//! Moderate counts here; `cargo run --release --example stress` runs 8 × 1,000.

mod common;

use std::thread;
use std::time::Duration;

use common::Db;
use txmanager::{BeginMode, Opener, Record, RetryPolicy, Settings};

#[derive(Debug, Clone, Default, Record)]
pub struct Counter {
    #[record(primary_key)]
    pub id: Option<i64>,
    #[record(version(auto_increment))]
    pub version: Option<i64>,
    pub value: i64,
}

const THREADS: i64 = 8;
const INCREMENTS: i64 = 60;
const COUNTERS: i64 = 3;

/// Runs the workload and returns the total number of retries.
fn hammer(settings: Settings) -> u64 {
    let db = Db::new();
    let opener = Opener::new(&db.path).with_settings(settings);
    let tm = opener.open().unwrap();
    tm.execute(
        "CREATE TABLE counter (id INTEGER PRIMARY KEY, version INTEGER NOT NULL, value INTEGER NOT NULL)",
        [],
    )
    .unwrap();
    for _ in 0..COUNTERS {
        Counter::default().save(&tm).unwrap();
    }
    // Patient enough that no error reaches the caller under this contention.
    let policy = RetryPolicy::new(10_000)
        .with_backoff(Duration::from_micros(200), Duration::from_millis(20))
        .with_max_elapsed(Duration::from_secs(120));

    let retries: u64 = thread::scope(|s| {
        let workers: Vec<_> = (0..THREADS)
            .map(|t| {
                let (opener, policy) = (opener.clone(), policy.clone());
                s.spawn(move || {
                    let mut tm = opener.open().unwrap();
                    let mut retries = 0;
                    for i in 0..INCREMENTS {
                        let id = 1 + (t + i) % COUNTERS;
                        let done = tm
                            .commit_on_success_with_retry(&policy, |tx| {
                                let mut c = Counter::get(tx, id)?;
                                c.value += 1;
                                c.save(tx)
                            })
                            .unwrap_or_else(|e| panic!("an error reached the caller: {e}"));
                        retries += u64::from(done.attempts - 1);
                    }
                    retries
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).sum()
    });

    let total: i64 = db
        .observer()
        .query_row("SELECT sum(value) FROM counter", [], |r| r.get(0))
        .unwrap();
    assert_eq!(
        total,
        THREADS * INCREMENTS,
        "lost updates ({retries} retries)"
    );
    retries
}

#[test]
fn eight_immediate_writers_lose_no_update_and_see_no_error() {
    hammer(Settings::default());
}

#[test]
fn eight_deferred_writers_retry_their_failed_lock_upgrades_and_lose_no_update() {
    // BEGIN DEFERRED: a stale snapshot's write fails with SQLITE_BUSY at
    // once; the retry helper runs the whole read-modify-write again.
    hammer(Settings::default().with_begin_mode(BeginMode::Deferred));
}
