//! Stress on PostgreSQL, through records: 8 connections × optimistic
//! increments of one versioned row (`Counter::get`, `value += 1`,
//! `save`), each through the retry helper, at READ COMMITTED (a stale
//! version matches no row: `RecordModified`, retried because the policy
//! opts in to conflict retries) and at SERIALIZABLE (the server fails the
//! stale writer with 40001, which is retried by default). The result must
//! have no lost update, and no error may reach the caller.
//!
//! The issue asks for 1,000 increments per connection; CI runs
//! [`INCREMENTS`] per connection to keep its time small on 2 cores:
//! measured on the shared 2-core build machine, both tests together took
//! 8.8 s with 250 and 16.2 s with 1,000 (the raw-SQL version this replaced
//! took 11.1 s with 1,000). `TXMANAGER_STRESS_INCREMENTS=1000` runs the
//! issue's full count.
#![cfg(feature = "postgres")]

mod common;

use std::thread;
use std::time::Duration;

use common::pg::PgDb;
use txmanager::{PgBlockOptions, PgIsolation, Record, RetryPolicy};

const WRITERS: i64 = 8;
/// Increments per writer in CI; see the module docs.
const INCREMENTS: i64 = 250;

#[derive(Debug, Clone, Default, Record)]
struct Counter {
    #[record(primary_key)]
    id: Option<i64>,
    #[record(version(auto_increment))]
    version: Option<i64>,
    value: i64,
}

fn increments() -> i64 {
    std::env::var("TXMANAGER_STRESS_INCREMENTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(INCREMENTS)
}

fn increments_are_never_lost_at(isolation: PgIsolation) {
    let db = PgDb::new();
    db.observer()
        .batch_execute(
            "CREATE TABLE counter (id BIGSERIAL PRIMARY KEY, version BIGINT NOT NULL, value BIGINT NOT NULL)",
        )
        .unwrap();
    Counter::default().save(&db.manager()).unwrap();
    let per_writer = increments();
    let policy = RetryPolicy::new(10_000)
        .with_backoff(Duration::from_micros(200), Duration::from_millis(20))
        .with_max_elapsed(Duration::from_secs(300))
        .with_conflict_retries(true);
    let writers: Vec<_> = (0..WRITERS)
        .map(|_| {
            let mut tm = db.manager();
            tm.set_block_options(PgBlockOptions::default().with_isolation(isolation));
            let policy = policy.clone();
            thread::spawn(move || -> Result<u32, String> {
                let mut retries = 0;
                for _ in 0..per_writer {
                    let done = tm
                        .commit_on_success_with_retry(&policy, |tx| {
                            let mut counter = Counter::get(tx, 1)?;
                            counter.value += 1;
                            counter.save(tx)
                        })
                        .map_err(|e| format!("{e:?}"))?;
                    retries += done.attempts - 1;
                }
                Ok(retries)
            })
        })
        .collect();
    let mut retries = 0;
    for writer in writers {
        retries += writer
            .join()
            .expect("writer thread")
            .expect("an error reached the caller");
    }
    let row = db
        .observer()
        .query_one("SELECT version, value FROM counter WHERE id = 1", &[])
        .unwrap();
    let (version, value): (i64, i64) = (row.get(0), row.get(1));
    assert_eq!(
        value,
        WRITERS * per_writer,
        "lost updates ({retries} retries)"
    );
    assert_eq!(version, 1 + WRITERS * per_writer);
    assert!(
        retries > 0,
        "8 writers on one row never collided: not a stress test"
    );
}

#[test]
fn eight_writers_lose_no_increment_at_read_committed() {
    increments_are_never_lost_at(PgIsolation::ReadCommitted);
}

#[test]
fn eight_writers_lose_no_increment_at_serializable() {
    increments_are_never_lost_at(PgIsolation::Serializable);
}
