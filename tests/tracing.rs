//! The `tracing` feature: spans per block and per retried block, with their
//! fields, and events for savepoints, rollbacks, conflicts and retries, as a
//! subscriber prints them.
#![cfg(feature = "tracing")]

use std::io::Write;
use std::sync::{Arc, Mutex};

use tracing_subscriber::fmt::format::FmtSpan;
use txmanager::{Error, Record, RetryPolicy, TransactionManager};

#[derive(Debug, Clone, Default, Record)]
pub struct Page {
    #[record(primary_key)]
    pub id: Option<i64>,
    #[record(version(auto_increment))]
    pub version: Option<i64>,
    pub title: String,
}

/// Runs `f` with a subscriber that prints everything (spans when they close)
/// into a buffer, and returns what it printed.
fn traced(f: impl FnOnce() -> Result<(), Error>) -> String {
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);
    impl Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("buffer").extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_max_level(tracing::Level::TRACE)
        .with_span_events(FmtSpan::CLOSE)
        .with_ansi(false)
        .without_time()
        .finish();
    tracing::subscriber::with_default(subscriber, f).expect("the traced work");
    let bytes = buffer.0.lock().expect("buffer").clone();
    String::from_utf8(bytes).expect("utf-8 output")
}

fn line_with<'a>(output: &'a str, parts: &[&str]) -> &'a str {
    output
        .lines()
        .find(|line| parts.iter().all(|part| line.contains(part)))
        .unwrap_or_else(|| panic!("no line with {parts:?} in:\n{output}"))
}

#[test]
fn a_nested_block_that_fails_is_traced_as_a_rolled_back_savepoint_inside_a_committed_block() {
    let output = traced(|| {
        let mut tm = TransactionManager::open_in_memory()?;
        tm.execute("CREATE TABLE t (x)", [])?;
        tm.commit_on_success(|tx| {
            tx.execute("INSERT INTO t VALUES (1)", [])?;
            let inner = tx.commit_on_success(|tx| {
                tx.execute("INSERT INTO t VALUES (2)", [])?;
                Err::<(), _>(Error::PendingCommitRollback) // any error
            });
            assert!(inner.is_err());
            Ok::<_, Error>(())
        })
    });
    line_with(&output, &["savepoint opened", "depth=1"]);
    line_with(&output, &["savepoint rolled back", "depth=1"]);
    line_with(
        &output,
        &[
            "txmanager.block",
            "close",
            "mode=commit_on_success depth=1",
            "outcome=\"rolled_back\"",
        ],
    );
    line_with(
        &output,
        &[
            "txmanager.block",
            "close",
            "mode=commit_on_success depth=0",
            "outcome=\"ok\"",
        ],
    );
    assert!(!output.contains("transaction rolled back"), "{output}");
}

#[test]
fn a_stale_save_puts_the_conflicting_table_and_key_on_the_blocks_span() {
    let output = traced(|| {
        let mut tm = TransactionManager::open_in_memory()?;
        tm.execute(
            "CREATE TABLE page (id INTEGER PRIMARY KEY, version INTEGER, title TEXT)",
            [],
        )?;
        Page {
            title: "Home".into(),
            ..Default::default()
        }
        .save(&tm)?;
        let stale = Page::get(&tm, 1)?;
        Page::get(&tm, 1)?.save(&tm)?;
        let refused = tm.commit_on_success(|tx| stale.clone().save(tx));
        assert!(matches!(refused, Err(Error::RecordModified { .. })));
        Ok(())
    });
    line_with(
        &output,
        &[
            "version conflict",
            "table=\"page\"",
            "pk=1",
            "expected=1",
            "found=2",
        ],
    );
    line_with(
        &output,
        &[
            "txmanager.block",
            "close",
            "outcome=\"rolled_back\"",
            "conflict_table=\"page\"",
            "conflict_pk=1",
        ],
    );
    line_with(&output, &["transaction rolled back", "depth=0"]);
}

#[test]
fn a_conflict_found_by_concurrency_check_or_get_version_is_traced_like_a_stale_save() {
    let output = traced(|| {
        let tm = TransactionManager::open_in_memory()?;
        tm.execute(
            "CREATE TABLE page (id INTEGER PRIMARY KEY, version INTEGER, title TEXT)",
            [],
        )?;
        let mut page = Page {
            title: "Home".into(),
            ..Default::default()
        };
        page.save(&tm)?;
        let stale = page.clone();
        page.save(&tm)?;
        assert!(txmanager::concurrency_check(&tm, &stale).is_err());
        assert!(Page::get_version(&tm, 1, 7).is_err());
        Ok(())
    });
    line_with(
        &output,
        &[
            "version conflict",
            "table=\"page\"",
            "expected=1",
            "found=2",
        ],
    );
    line_with(
        &output,
        &[
            "version conflict",
            "table=\"page\"",
            "expected=7",
            "found=2",
        ],
    );
}

#[test]
fn a_retried_block_is_traced_with_each_retry_and_its_attempts() {
    let output = traced(|| {
        let mut tm = TransactionManager::open_in_memory()?;
        let policy = RetryPolicy::new(3).with_conflict_retries(true);
        let mut runs = 0;
        let done = tm
            .commit_on_success_with_retry(&policy, |_tx| {
                runs += 1;
                if runs == 1 {
                    return Err(Error::RecordModified {
                        table: "page",
                        pk: 1.into(),
                        expected: 1,
                        found: Some(2),
                    });
                }
                Ok(runs)
            })
            .map_err(|failed| failed.into_inner())?;
        assert_eq!(done.attempts, 2);
        Ok(())
    });
    line_with(&output, &["retrying", "attempt=1", "cause=\"conflict\""]);
    line_with(
        &output,
        &["txmanager.retry", "close", "attempts=2", "outcome=\"ok\""],
    );
}

#[test]
fn a_failing_robust_hook_is_logged_as_an_error_and_the_next_hook_still_runs() {
    let ran = Arc::new(Mutex::new(false));
    let later = Arc::clone(&ran);
    let output = traced(|| {
        let mut tm = TransactionManager::open_in_memory()?;
        tm.commit_on_success(|tx| {
            tx.on_commit_robust(|| Err("the mail server is down"));
            tx.on_commit_robust(|| -> Result<(), Error> { panic!("the queue is full") });
            tx.on_commit(move || *later.lock().expect("flag") = true);
            Ok::<_, Error>(())
        })
    });
    line_with(
        &output,
        &["ERROR", "on_commit hook failed", "the mail server is down"],
    );
    line_with(
        &output,
        &[
            "ERROR",
            "on_commit hook failed",
            "panicked: the queue is full",
        ],
    );
    assert!(
        *ran.lock().expect("flag"),
        "the hook after the failures ran"
    );
}

/// PostgreSQL's retried errors are traced with their own cause, not as
/// SQLite's "busy".
#[cfg(feature = "postgres")]
#[test]
fn a_postgres_retry_is_traced_with_the_servers_cause() {
    let url = std::env::var("TXMANAGER_PG_URL")
        .expect("TXMANAGER_PG_URL: run through scripts/with-postgres.sh");
    let output = traced(|| {
        let mut tm = TransactionManager::<txmanager::Postgres>::connect(&url)?;
        let mut runs = 0;
        tm.commit_on_success_with_retry(&RetryPolicy::new(3), |tx| {
            runs += 1;
            let code = match runs {
                1 => "serialization_failure",
                2 => "deadlock_detected",
                _ => return Ok(runs),
            };
            tx.execute_batch(&format!(
                "DO $$ BEGIN RAISE EXCEPTION 'injected' USING ERRCODE = '{code}'; END $$"
            ))?;
            Ok::<_, Error>(runs)
        })
        .map_err(|failed| failed.into_inner())?;
        Ok(())
    });
    line_with(
        &output,
        &["retrying", "attempt=1", "cause=\"serialization_failure\""],
    );
    line_with(&output, &["retrying", "attempt=2", "cause=\"deadlock\""]);
}
