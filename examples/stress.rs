//! Eight threads, each with its own manager on one WAL file, run optimistic
//! read-modify-write increments of shared counters through the retry helper,
//! then check that no update was lost. Prints throughput and retries for
//! BEGIN IMMEDIATE (the default) and BEGIN DEFERRED.
//!
//! `cargo run --release --example stress [threads] [increments per thread]`
//! (default 8 × 1,000).

use std::thread;
use std::time::{Duration, Instant};

use txmanager::{BeginMode, Opener, Record, RetryPolicy, Settings};

#[derive(Debug, Clone, Default, Record)]
pub struct Counter {
    #[record(primary_key)]
    pub id: Option<i64>,
    #[record(version(auto_increment))]
    pub version: Option<i64>,
    pub value: i64,
}

const COUNTERS: i64 = 4;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn run(behavior: BeginMode, threads: i64, increments: i64) -> Result<(), BoxError> {
    let dir = tempfile::tempdir()?;
    let opener = Opener::new(dir.path().join("stress.db"))
        .with_settings(Settings::default().with_begin_mode(behavior));
    let tm = opener.open()?;
    tm.execute(
        "CREATE TABLE counter (id INTEGER PRIMARY KEY, version INTEGER NOT NULL, value INTEGER NOT NULL)",
        [],
    )?;
    for _ in 0..COUNTERS {
        Counter::default().save(&tm)?;
    }
    let policy = RetryPolicy::new(10_000)
        .with_backoff(Duration::from_micros(200), Duration::from_millis(20))
        .with_max_elapsed(Duration::from_secs(600));

    let start = Instant::now();
    let retries: Result<u64, BoxError> = thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let (opener, policy) = (opener.clone(), policy.clone());
                s.spawn(move || -> Result<u64, BoxError> {
                    let mut tm = opener.open()?;
                    let mut retries = 0;
                    for i in 0..increments {
                        let id = 1 + (t + i) % COUNTERS;
                        let done = tm.commit_on_success_with_retry(&policy, |tx| {
                            let mut c = Counter::get(tx, id)?;
                            c.value += 1;
                            c.save(tx)
                        })?;
                        retries += u64::from(done.attempts - 1);
                    }
                    Ok(retries)
                })
            })
            .collect();
        let mut total = 0;
        for worker in workers {
            total += worker.join().map_err(|_| "a worker panicked")??;
        }
        Ok(total)
    });
    let retries = retries?;
    let elapsed = start.elapsed();

    let total: i64 = tm.query_row("SELECT sum(value) FROM counter", [], |r| r.get(0))?;
    let expected = threads * increments;
    println!(
        "{behavior:?}: {threads} threads × {increments} increments in {elapsed:.2?}: \
         {:.0} commits/s, {retries} retries, total {total} (expected {expected})",
        expected as f64 / elapsed.as_secs_f64()
    );
    if total != expected {
        return Err(format!("lost updates: {total} != {expected}").into());
    }
    Ok(())
}

fn main() -> Result<(), BoxError> {
    let mut args = std::env::args().skip(1);
    let threads = args.next().map(|a| a.parse()).transpose()?.unwrap_or(8);
    let increments = args.next().map(|a| a.parse()).transpose()?.unwrap_or(1_000);
    run(BeginMode::Immediate, threads, increments)?;
    run(BeginMode::Deferred, threads, increments)?;
    println!("no lost updates, no error reached a caller");
    Ok(())
}
