//! Stress on PostgreSQL: 8 connections × 1,000 optimistic increments of one
//! versioned row, each through the retry helper, at READ COMMITTED (a stale
//! version matches no row: a conflict, retried because the policy opts in)
//! and at SERIALIZABLE (the server fails the stale writer with 40001, which
//! is retried by default). The result must have no lost update, and no error
//! may reach the caller.
#![cfg(feature = "postgres")]

mod common;

use std::thread;
use std::time::Duration;

use common::pg::PgDb;
use txmanager::{Error, PgBlockOptions, PgIsolation, RetryPolicy, Retryable};

const WRITERS: i64 = 8;
const INCREMENTS: i64 = 1_000;

/// The application's error: the database's, or a version conflict found by
/// the optimistic check.
#[derive(Debug)]
enum IncrementError {
    Db(Error),
    Conflict,
}

impl From<Error> for IncrementError {
    fn from(e: Error) -> Self {
        IncrementError::Db(e)
    }
}

impl Retryable for IncrementError {
    fn is_retryable(&self) -> bool {
        matches!(self, IncrementError::Db(e) if e.is_retryable())
    }
    fn is_conflict(&self) -> bool {
        matches!(self, IncrementError::Conflict)
    }
}

fn increments_are_never_lost_at(isolation: PgIsolation) {
    let db = PgDb::new();
    db.observer()
        .batch_execute(
            "CREATE TABLE counter (id BIGINT PRIMARY KEY, version BIGINT NOT NULL, value BIGINT NOT NULL);
             INSERT INTO counter VALUES (1, 1, 0);",
        )
        .unwrap();
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
                for _ in 0..INCREMENTS {
                    let done = tm
                        .commit_on_success_with_retry(&policy, |tx| {
                            let row = tx.query_one("SELECT version, value FROM counter WHERE id = 1", &[])?;
                            let (version, value): (i64, i64) = (row.get(0), row.get(1));
                            let changed = tx.execute(
                                "UPDATE counter SET version = $1, value = $2 WHERE id = 1 AND version = $3",
                                &[&(version + 1), &(value + 1), &version],
                            )?;
                            if changed == 0 {
                                return Err(IncrementError::Conflict);
                            }
                            Ok(())
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
    let (version, value): (i64, i64) = {
        let row = db
            .observer()
            .query_one("SELECT version, value FROM counter WHERE id = 1", &[])
            .unwrap();
        (row.get(0), row.get(1))
    };
    assert_eq!(
        value,
        WRITERS * INCREMENTS,
        "lost updates ({retries} retries)"
    );
    assert_eq!(version, 1 + WRITERS * INCREMENTS);
}

#[test]
fn eight_writers_lose_no_increment_at_read_committed() {
    increments_are_never_lost_at(PgIsolation::ReadCommitted);
}

#[test]
fn eight_writers_lose_no_increment_at_serializable() {
    increments_are_never_lost_at(PgIsolation::Serializable);
}
