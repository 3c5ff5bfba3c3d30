//! One body of tests for both backends: the modes, nesting, hooks, panics,
//! refused transaction control and retries, each written once as a generic
//! function over a [`Harness`] and instantiated for SQLite (always) and
//! PostgreSQL (with the `postgres` feature; it fails without a server).
//!
//! Where the backends must differ, the test says so (see
//! `a_swallowed_statement_error`, and docs/postgresql.md).

mod common;

use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, Mutex};

use common::backends::{Harness, Statements, for_each_backend};
use txmanager::{Error, Mode, RetryPolicy, Transaction, TransactionManager};

for_each_backend!(
    commit_on_success_commits_on_ok_and_rolls_back_on_err,
    autocommit_keeps_the_writes_made_before_a_failure,
    a_manual_block_that_forgets_to_commit_is_rolled_back_and_says_so,
    a_manual_block_whose_writes_nested_blocks_rolled_back_ends_ok,
    manual_commit_and_rollback_act_on_the_work_since_the_last_one,
    a_failed_nested_block_rolls_back_to_its_savepoint_only,
    a_nested_block_whose_outer_block_fails_is_rolled_back_with_it,
    hooks_run_after_the_outermost_commit_and_are_dropped_on_rollback,
    a_panic_rolls_back_and_leaves_the_connection_outside_any_transaction,
    raw_transaction_control_is_refused_and_the_block_stays_one_unit,
    autocommit_inside_a_transaction_is_refused,
    a_swallowed_statement_error,
    a_statement_error_returned_from_a_nested_block_leaves_the_outer_work,
    the_retry_helper_runs_a_block_once_when_it_succeeds,
    a_retried_block_runs_again_from_scratch_and_only_the_last_run_is_committed,
    a_block_that_keeps_conflicting_gives_up_at_the_attempt_limit_and_says_so,
    an_error_a_retry_cannot_cure_is_not_retried,
    a_block_marked_to_roll_back_returns_ok_keeps_nothing_and_runs_no_hooks,
    a_nested_block_marked_to_roll_back_undoes_only_its_savepoint,
    clearing_the_rollback_mark_lets_the_block_commit,
    a_manual_block_marked_to_roll_back_refuses_commit_and_rolls_back_at_its_end,
    set_rollback_in_an_autocommit_block_is_refused,
    robust_hooks_keep_going_after_a_failing_or_panicking_hook,
    a_panicking_plain_hook_propagates_and_drops_the_hooks_after_it,
    a_test_transaction_always_rolls_back_with_nested_blocks_and_no_hooks,
    hooks_run_in_order_once_the_data_is_committed,
    hooks_of_a_rolled_back_transaction_never_run_later,
    a_hook_in_autocommit_mode_runs_at_once,
    manual_commit_runs_the_hooks_so_far_and_rollback_drops_them,
    a_hook_queued_after_a_manual_commit_runs_at_the_next_commit_even_with_nothing_written,
);

/// A way to list the committed reporters from inside an `on_commit` hook
/// (`Send + 'static`): a connection of its own.
trait CommittedProbe {
    fn probe(&self) -> Box<dyn Fn() -> Vec<String> + Send>;
}

impl CommittedProbe for common::backends::SqliteDb {
    fn probe(&self) -> Box<dyn Fn() -> Vec<String> + Send> {
        let path = self.0.path.clone();
        Box::new(move || {
            let conn = txmanager::rusqlite::Connection::open(&path).unwrap();
            let mut stmt = conn
                .prepare("SELECT first_name || ' ' || last_name FROM reporter ORDER BY id")
                .unwrap();
            stmt.query_map([], |r| r.get(0))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap()
        })
    }
}

#[cfg(feature = "postgres")]
impl CommittedProbe for common::backends::pg::PgHarness {
    fn probe(&self) -> Box<dyn Fn() -> Vec<String> + Send> {
        let config = self.0.config().clone();
        Box::new(move || {
            let mut client = config.connect(::postgres::NoTls).unwrap();
            client
                .query(
                    "SELECT first_name || ' ' || last_name FROM reporter ORDER BY id",
                    &[],
                )
                .unwrap()
                .iter()
                .map(|r| r.get(0))
                .collect()
        })
    }
}

fn commit_on_success_commits_on_ok_and_rolls_back_on_err<H: Harness>()
where
    TransactionManager<H::B>: Statements,
    for<'a> Transaction<'a, H::B>: Statements,
{
    let db = H::new();
    let mut tm = db.manager();
    tm.commit_on_success(|tx| {
        tx.insert("Alice", "Smith")?;
        tx.insert("Ben", "Jones")
    })
    .unwrap();
    assert_eq!(db.committed(), ["Alice Smith", "Ben Jones"]);
    let err = tm
        .commit_on_success(|tx| {
            tx.insert("Carol", "Doe")?;
            Err::<(), _>(common::AppError::MeantToDoThat)
        })
        .unwrap_err();
    assert!(matches!(err, common::AppError::MeantToDoThat));
    assert_eq!(db.committed(), ["Alice Smith", "Ben Jones"]);
    assert!(db.outside_transaction(&tm));
}

fn autocommit_keeps_the_writes_made_before_a_failure<H: Harness>()
where
    TransactionManager<H::B>: Statements,
    for<'a> Transaction<'a, H::B>: Statements,
{
    let db = H::new();
    let mut tm = db.manager();
    tm.insert("Alice", "Smith").unwrap();
    let err = tm
        .autocommit(|tx| {
            tx.insert("Ben", "Jones")?;
            tx.failing()
        })
        .unwrap_err();
    assert!(matches!(err, Error::Statement { .. }), "{err:?}");
    assert_eq!(db.committed(), ["Alice Smith", "Ben Jones"]);
    assert!(db.outside_transaction(&tm));
}

fn a_manual_block_that_forgets_to_commit_is_rolled_back_and_says_so<H: Harness>()
where
    TransactionManager<H::B>: Statements,
    for<'a> Transaction<'a, H::B>: Statements,
{
    let db = H::new();
    let mut tm = db.manager();
    let err = tm
        .commit_manually(|tx| tx.insert("David", "Davidson"))
        .unwrap_err();
    assert!(matches!(err, Error::PendingCommitRollback), "{err:?}");
    assert!(db.committed().is_empty());
    assert!(db.outside_transaction(&tm));
    // A manual block that only read ends fine.
    let n = tm.commit_manually(|tx| tx.count()).unwrap();
    assert_eq!(n, 0);
}

/// On PostgreSQL the server counts a row written in a savepoint even when
/// the savepoint is then rolled back, so asking it whether the transaction
/// wrote would answer yes: the block must not ask when nothing it kept
/// could have written.
fn a_manual_block_whose_writes_nested_blocks_rolled_back_ends_ok<H: Harness>()
where
    TransactionManager<H::B>: Statements,
    for<'a> Transaction<'a, H::B>: Statements,
{
    let db = H::new();
    let mut tm = db.manager();
    tm.commit_manually(|tx| {
        let err = tx
            .commit_on_success(|inner| {
                inner.insert("Nobody", "Here")?;
                Err::<(), _>(common::AppError::MeantToDoThat)
            })
            .unwrap_err();
        assert!(matches!(err, common::AppError::MeantToDoThat));
        // A nested block that swallowed a statement error (PostgreSQL:
        // BlockAborted; SQLite: released, so its write is the outer block's).
        let swallowed = nested_block_swallowing_a_statement_error(tx);
        if H::ERROR_ABORTS {
            assert!(
                matches!(swallowed, Err(Error::BlockAborted)),
                "{swallowed:?}"
            );
        } else {
            swallowed.unwrap();
            tx.rollback()?;
        }
        Ok::<_, Error>(())
    })
    .unwrap();
    assert!(db.committed().is_empty());
    assert!(db.outside_transaction(&tm));
}

fn manual_commit_and_rollback_act_on_the_work_since_the_last_one<H: Harness>()
where
    TransactionManager<H::B>: Statements,
    for<'a> Transaction<'a, H::B>: Statements,
{
    let db = H::new();
    let mut tm = db.manager();
    tm.commit_manually(|tx| {
        tx.insert("Alice", "Smith")?;
        tx.commit()?;
        assert_eq!(db.committed(), ["Alice Smith"], "visible after commit()");
        tx.insert("Ben", "Jones")?;
        tx.rollback()?;
        tx.insert("Carol", "Doe")?;
        tx.commit()
    })
    .unwrap();
    assert_eq!(db.committed(), ["Alice Smith", "Carol Doe"]);
    assert!(db.outside_transaction(&tm));
}

fn a_failed_nested_block_rolls_back_to_its_savepoint_only<H: Harness>()
where
    TransactionManager<H::B>: Statements,
    for<'a> Transaction<'a, H::B>: Statements,
{
    let db = H::new();
    let mut tm = db.manager();
    tm.commit_on_success(|tx| {
        tx.insert("Alice", "Smith")?;
        let inner = tx.commit_on_success(|inner| {
            inner.insert("Nobody", "Here")?;
            Err::<(), _>(Error::PendingCommitRollback) // any error
        });
        assert!(inner.is_err());
        assert!(
            db.committed().is_empty(),
            "nothing visible before the outer commit"
        );
        tx.insert("Ben", "Jones")
    })
    .unwrap();
    assert_eq!(db.committed(), ["Alice Smith", "Ben Jones"]);
    assert!(db.outside_transaction(&tm));
}

fn a_nested_block_whose_outer_block_fails_is_rolled_back_with_it<H: Harness>()
where
    TransactionManager<H::B>: Statements,
    for<'a> Transaction<'a, H::B>: Statements,
{
    let db = H::new();
    let mut tm = db.manager();
    let result: Result<(), Error> = tm.commit_on_success(|tx| {
        tx.commit_on_success(|inner| inner.insert("Alice", "Smith"))?;
        tx.commit_manually(|inner| {
            inner.insert("Ben", "Jones")?;
            inner.commit()
        })?;
        Err(Error::PendingCommitRollback)
    });
    assert!(result.is_err());
    assert!(db.committed().is_empty());
    assert!(db.outside_transaction(&tm));
}

fn hooks_run_after_the_outermost_commit_and_are_dropped_on_rollback<H: Harness>()
where
    TransactionManager<H::B>: Statements,
    for<'a> Transaction<'a, H::B>: Statements,
{
    let db = H::new();
    let mut tm = db.manager();
    let log = Arc::new(Mutex::new(Vec::new()));
    let (a, b, c) = (log.clone(), log.clone(), log.clone());
    tm.commit_on_success(|tx| {
        tx.on_commit(move || a.lock().unwrap().push("outer"));
        let _ = tx.commit_on_success(|inner| {
            inner.on_commit(move || b.lock().unwrap().push("rolled back"));
            Err::<(), _>(Error::PendingCommitRollback)
        });
        tx.commit_on_success(|inner| {
            inner.on_commit(move || c.lock().unwrap().push("released"));
            assert!(log.lock().unwrap().is_empty(), "no hook before the commit");
            inner.insert("Alice", "Smith")
        })
    })
    .unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let kept = seen.clone();
    let _ = tm.commit_on_success(|tx| {
        tx.on_commit(move || kept.lock().unwrap().push("never"));
        Err::<(), _>(Error::PendingCommitRollback)
    });
    assert!(seen.lock().unwrap().is_empty());
    assert_eq!(db.committed(), ["Alice Smith"]);
}

fn a_panic_rolls_back_and_leaves_the_connection_outside_any_transaction<H: Harness>()
where
    TransactionManager<H::B>: Statements,
    for<'a> Transaction<'a, H::B>: Statements,
{
    let db = H::new();
    let mut tm = db.manager();
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
        let _ = tm.commit_on_success(|tx| {
            tx.insert("Alice", "Smith")?;
            tx.commit_on_success(|inner| -> Result<(), Error> {
                inner.insert("Ben", "Jones")?;
                panic!("boom")
            })
        });
    }));
    assert!(outcome.is_err());
    assert!(db.committed().is_empty());
    assert!(db.outside_transaction(&tm));
    tm.commit_on_success(|tx| tx.insert("Carol", "Doe"))
        .unwrap();
    assert_eq!(db.committed(), ["Carol Doe"]);
}

fn raw_transaction_control_is_refused_and_the_block_stays_one_unit<H: Harness>()
where
    TransactionManager<H::B>: Statements,
    for<'a> Transaction<'a, H::B>: Statements,
{
    let db = H::new();
    let mut tm = db.manager();
    for sql in ["COMMIT", "ROLLBACK", "BEGIN", "SAVEPOINT x", "END"] {
        let result: Result<(), Error> = tm.commit_on_success(|tx| {
            tx.insert("Alice", "Smith")?;
            let err = tx.raw(sql).unwrap_err();
            assert!(
                matches!(err, Error::TransactionControlRefused { .. }),
                "{sql}: {err:?}"
            );
            assert!(
                db.committed().is_empty(),
                "{sql} committed the block's work"
            );
            Err(Error::PendingCommitRollback)
        });
        assert!(result.is_err());
        assert!(db.committed().is_empty(), "{sql}");
        assert!(db.outside_transaction(&tm), "{sql}");
    }
    let err = tm.raw("BEGIN").unwrap_err();
    assert!(
        matches!(err, Error::TransactionControlRefused { .. }),
        "{err:?}"
    );
    assert!(db.outside_transaction(&tm));
}

fn autocommit_inside_a_transaction_is_refused<H: Harness>()
where
    TransactionManager<H::B>: Statements,
    for<'a> Transaction<'a, H::B>: Statements,
{
    let db = H::new();
    let mut tm = db.manager();
    let err = tm
        .commit_on_success(|tx| {
            tx.insert("Alice", "Smith")?;
            tx.autocommit(|inner| inner.insert("Ben", "Jones"))
        })
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::AutocommitInTransaction {
                enclosing: Mode::CommitOnSuccess
            }
        ),
        "{err:?}"
    );
    assert!(db.committed().is_empty());
}

/// The backends differ here, on purpose. SQLite keeps a transaction usable
/// after a failed statement, so a block that ignores the error commits its
/// other work. PostgreSQL aborts the transaction; its `COMMIT` would report
/// success and discard everything, so txmanager rolls back and fails the
/// block with `BlockAborted` instead, and nothing is committed.
fn a_swallowed_statement_error<H: Harness>()
where
    TransactionManager<H::B>: Statements,
    for<'a> Transaction<'a, H::B>: Statements,
{
    let db = H::new();
    let mut tm = db.manager();
    let result = tm.commit_on_success(|tx| {
        tx.insert("Alice", "Smith")?;
        let _ignored = tx.failing();
        Ok::<_, Error>(())
    });
    if H::ERROR_ABORTS {
        assert!(matches!(result, Err(Error::BlockAborted)), "{result:?}");
        assert!(db.committed().is_empty());
    } else {
        result.unwrap();
        assert_eq!(db.committed(), ["Alice Smith"]);
    }
    assert!(db.outside_transaction(&tm));

    // In manual mode, commit() after the failed statement.
    let result = tm.commit_manually(|tx| {
        tx.insert("Ben", "Jones")?;
        let _ignored = tx.failing();
        tx.commit()
    });
    if H::ERROR_ABORTS {
        assert!(matches!(result, Err(Error::BlockAborted)), "{result:?}");
        assert!(!db.committed().contains(&"Ben Jones".to_owned()));
    } else {
        result.unwrap();
        assert!(db.committed().contains(&"Ben Jones".to_owned()));
    }
    assert!(db.outside_transaction(&tm));

    // In manual mode, the closure returns Ok without committing: the
    // aborted block says so first (SQLite: the forgotten commit).
    let result = tm.commit_manually(|tx| {
        tx.insert("Carol", "Doe")?;
        let _ignored = tx.failing();
        Ok::<_, Error>(())
    });
    if H::ERROR_ABORTS {
        assert!(matches!(result, Err(Error::BlockAborted)), "{result:?}");
    } else {
        assert!(
            matches!(result, Err(Error::PendingCommitRollback)),
            "{result:?}"
        );
    }
    assert!(!db.committed().contains(&"Carol Doe".to_owned()));
    assert!(db.outside_transaction(&tm));

    // rollback() undoes the work since the last commit and, on PostgreSQL,
    // makes the aborted block usable again: what follows commits.
    tm.commit_manually(|tx| {
        tx.insert("Dan", "Roe")?;
        let _ignored = tx.failing();
        tx.rollback()?;
        tx.insert("Eve", "Poe")?;
        tx.commit()
    })
    .unwrap();
    let committed = db.committed();
    assert!(committed.contains(&"Eve Poe".to_owned()), "{committed:?}");
    assert!(!committed.contains(&"Dan Roe".to_owned()), "{committed:?}");
    assert!(db.outside_transaction(&tm));
}

fn a_statement_error_returned_from_a_nested_block_leaves_the_outer_work<H: Harness>()
where
    TransactionManager<H::B>: Statements,
    for<'a> Transaction<'a, H::B>: Statements,
{
    let db = H::new();
    let mut tm = db.manager();
    tm.commit_on_success(|tx| {
        tx.insert("Alice", "Smith")?;
        let err = tx
            .commit_on_success(|inner| {
                inner.insert("Nobody", "Here")?;
                inner.failing()
            })
            .unwrap_err();
        assert!(matches!(err, Error::Statement { .. }), "{err:?}");
        // Also when the nested block swallowed it: the savepoint is rolled
        // back and the outer block goes on (PostgreSQL: BlockAborted).
        let swallowed = nested_block_swallowing_a_statement_error(tx);
        if H::ERROR_ABORTS {
            assert!(
                matches!(swallowed, Err(Error::BlockAborted)),
                "{swallowed:?}"
            );
        }
        tx.insert("Ben", "Jones")
    })
    .unwrap();
    let committed = db.committed();
    assert!(committed.starts_with(&["Alice Smith".to_owned()]));
    assert!(committed.contains(&"Ben Jones".to_owned()));
    assert!(!committed.contains(&"Nobody Here".to_owned()));
    if H::ERROR_ABORTS {
        assert!(!committed.contains(&"Nobody Either".to_owned()));
    }
}

fn the_retry_helper_runs_a_block_once_when_it_succeeds<H: Harness>()
where
    TransactionManager<H::B>: Statements,
    for<'a> Transaction<'a, H::B>: Statements,
{
    let db = H::new();
    let mut tm = db.manager();
    let done = tm
        .commit_on_success_with_retry(&RetryPolicy::default(), |tx| {
            tx.insert("Alice", "Smith")?;
            tx.count()
        })
        .unwrap();
    assert_eq!((done.value, done.attempts), (1, 1));
    assert_eq!(db.committed(), ["Alice Smith"]);
}

/// A version conflict, the error these retry tests let a retry cure.
fn conflict() -> Error {
    Error::RecordModified {
        table: "reporter",
        pk: 1.into(),
        expected: 1,
        found: Some(2),
    }
}

/// Retries conflicts too, quickly.
fn quick() -> RetryPolicy {
    RetryPolicy::new(5)
        .with_backoff(
            std::time::Duration::from_millis(1),
            std::time::Duration::from_millis(2),
        )
        .with_conflict_retries(true)
}

fn a_retried_block_runs_again_from_scratch_and_only_the_last_run_is_committed<H: Harness>()
where
    TransactionManager<H::B>: Statements,
    for<'a> Transaction<'a, H::B>: Statements,
{
    let db = H::new();
    let mut tm = db.manager();
    let mut runs = 0;
    let done = tm
        .commit_on_success_with_retry(&quick(), |tx| {
            runs += 1;
            tx.insert("Run", &runs.to_string())?;
            if runs < 3 { Err(conflict()) } else { Ok(runs) }
        })
        .unwrap();
    assert_eq!((done.value, done.attempts), (3, 3));
    assert_eq!(
        db.committed(),
        ["Run 3"],
        "failed attempts were rolled back"
    );
    assert!(db.outside_transaction(&tm));
}

fn a_block_that_keeps_conflicting_gives_up_at_the_attempt_limit_and_says_so<H: Harness>()
where
    TransactionManager<H::B>: Statements,
    for<'a> Transaction<'a, H::B>: Statements,
{
    let db = H::new();
    let mut tm = db.manager();
    let err = tm
        .commit_on_success_with_retry(&quick(), |tx| {
            tx.insert("Never", "Committed")?;
            Err::<(), _>(conflict())
        })
        .unwrap_err();
    assert_eq!(err.attempts(), 5);
    assert_eq!(err.gave_up(), txmanager::GaveUp::AttemptLimit);
    let message = err.to_string();
    assert!(
        message.contains("after 5 attempts") && message.contains("rolled back"),
        "{message}"
    );
    assert!(matches!(err.into_inner(), Error::RecordModified { .. }));
    assert!(db.committed().is_empty());
    assert!(db.outside_transaction(&tm));
}

fn an_error_a_retry_cannot_cure_is_not_retried<H: Harness>()
where
    TransactionManager<H::B>: Statements,
    for<'a> Transaction<'a, H::B>: Statements,
{
    let db = H::new();
    let mut tm = db.manager();
    let mut runs = 0;
    let err = tm
        .commit_on_success_with_retry(&quick(), |tx| {
            runs += 1;
            tx.failing()
        })
        .unwrap_err();
    assert_eq!(
        (runs, err.attempts(), err.gave_up()),
        (1, 1, txmanager::GaveUp::NotRetryable)
    );
    assert!(db.outside_transaction(&tm));
}

/// A hook that records `what` in `log` when it runs.
fn record(
    log: &Arc<Mutex<Vec<&'static str>>>,
    what: &'static str,
) -> impl FnOnce() + Send + 'static {
    let log = Arc::clone(log);
    move || log.lock().unwrap().push(what)
}

fn a_block_marked_to_roll_back_returns_ok_keeps_nothing_and_runs_no_hooks<H: Harness>()
where
    TransactionManager<H::B>: Statements,
    for<'a> Transaction<'a, H::B>: Statements,
{
    let db = H::new();
    let mut tm = db.manager();
    let log = Arc::new(Mutex::new(Vec::new()));
    let value = tm
        .commit_on_success(|tx| {
            tx.insert("Alice", "Smith")?;
            tx.on_commit(record(&log, "never"));
            assert!(!tx.rollback_marked());
            tx.set_rollback(true)?;
            assert!(tx.rollback_marked());
            tx.insert("Ben", "Jones")?;
            Ok::<_, Error>(7)
        })
        .unwrap();
    assert_eq!(value, 7, "the closure's value is returned as it is");
    assert!(db.committed().is_empty());
    assert!(
        log.lock().unwrap().is_empty(),
        "a marked block's hooks never run"
    );
    assert!(db.outside_transaction(&tm));
    tm.commit_on_success(|tx| tx.insert("Carol", "Doe"))
        .unwrap();
    assert_eq!(db.committed(), ["Carol Doe"]);
}

fn a_nested_block_marked_to_roll_back_undoes_only_its_savepoint<H: Harness>()
where
    TransactionManager<H::B>: Statements,
    for<'a> Transaction<'a, H::B>: Statements,
{
    let db = H::new();
    let mut tm = db.manager();
    let log = Arc::new(Mutex::new(Vec::new()));
    tm.commit_on_success(|tx| {
        tx.insert("Alice", "Smith")?;
        tx.on_commit(record(&log, "outer"));
        let inner = tx.commit_on_success(|inner| {
            inner.insert("Ben", "Jones")?;
            inner.on_commit(record(&log, "inner"));
            inner.set_rollback(true)?;
            Ok::<_, Error>("inner value")
        })?;
        assert_eq!(inner, "inner value");
        assert!(!tx.rollback_marked(), "the mark was the nested block's own");
        assert_eq!(tx.count()?, 1, "the nested block's row was rolled back");
        tx.insert("Carol", "Doe")
    })
    .unwrap();
    assert_eq!(db.committed(), ["Alice Smith", "Carol Doe"]);
    assert_eq!(*log.lock().unwrap(), ["outer"]);
    assert!(db.outside_transaction(&tm));
}

fn clearing_the_rollback_mark_lets_the_block_commit<H: Harness>()
where
    TransactionManager<H::B>: Statements,
    for<'a> Transaction<'a, H::B>: Statements,
{
    let db = H::new();
    let mut tm = db.manager();
    tm.commit_on_success(|tx| {
        tx.insert("Alice", "Smith")?;
        tx.set_rollback(true)?;
        tx.set_rollback(false)?;
        assert!(!tx.rollback_marked());
        Ok::<_, Error>(())
    })
    .unwrap();
    assert_eq!(db.committed(), ["Alice Smith"]);
}

fn a_manual_block_marked_to_roll_back_refuses_commit_and_rolls_back_at_its_end<H: Harness>()
where
    TransactionManager<H::B>: Statements,
    for<'a> Transaction<'a, H::B>: Statements,
{
    let db = H::new();
    let mut tm = db.manager();
    let log = Arc::new(Mutex::new(Vec::new()));
    tm.commit_manually(|tx| {
        tx.insert("Alice", "Smith")?;
        tx.commit()?;
        tx.insert("Ben", "Jones")?;
        tx.on_commit(record(&log, "never"));
        tx.set_rollback(true)?;
        let refused = tx.commit().unwrap_err();
        match &refused {
            Error::RollbackMarkRefused { operation, .. } => assert_eq!(*operation, "commit()"),
            other => panic!("expected the commit to be refused, got {other:?}"),
        }
        assert_eq!(tx.count()?, 2, "the refused commit changed nothing");
        tx.rollback()?;
        assert!(tx.rollback_marked(), "rollback() keeps the mark");
        tx.insert("Carol", "Doe")?;
        // Dirty and not committed, but marked: no PendingCommitRollback.
        Ok::<_, Error>(())
    })
    .unwrap();
    assert_eq!(db.committed(), ["Alice Smith"]);
    assert!(log.lock().unwrap().is_empty());
    assert!(db.outside_transaction(&tm));
}

fn set_rollback_in_an_autocommit_block_is_refused<H: Harness>()
where
    TransactionManager<H::B>: Statements,
    for<'a> Transaction<'a, H::B>: Statements,
{
    let db = H::new();
    let mut tm = db.manager();
    tm.autocommit(|tx| {
        tx.insert("Alice", "Smith")?;
        let refused = tx.set_rollback(true).unwrap_err();
        assert!(
            matches!(
                refused,
                Error::RollbackMarkRefused {
                    operation: "set_rollback(true)",
                    ..
                }
            ),
            "{refused:?}"
        );
        assert!(!tx.rollback_marked());
        Ok::<_, Error>(())
    })
    .unwrap();
    assert_eq!(db.committed(), ["Alice Smith"]);
}

fn robust_hooks_keep_going_after_a_failing_or_panicking_hook<H: Harness>()
where
    TransactionManager<H::B>: Statements,
    for<'a> Transaction<'a, H::B>: Statements,
{
    let db = H::new();
    let mut tm = db.manager();
    let log = Arc::new(Mutex::new(Vec::new()));
    let (before_err, after) = (Arc::clone(&log), Arc::clone(&log));
    tm.commit_on_success(|tx| {
        tx.insert("Alice", "Smith")?;
        tx.on_commit(record(&log, "first"));
        tx.on_commit_robust(move || {
            before_err.lock().unwrap().push("failing");
            Err("the mail server is down")
        });
        tx.on_commit_robust(|| -> Result<(), Error> { panic!("robust hook panics") });
        tx.on_commit_robust(move || {
            after.lock().unwrap().push("last");
            Ok::<_, Error>(())
        });
        Ok::<_, Error>(())
    })
    .unwrap();
    assert_eq!(*log.lock().unwrap(), ["first", "failing", "last"]);
    assert_eq!(db.committed(), ["Alice Smith"]);
    assert!(db.outside_transaction(&tm));
    // Outside a transaction a robust hook runs at once, and its panic is caught too.
    tm.autocommit(|tx| {
        tx.on_commit_robust(|| -> Result<(), Error> { panic!("caught") });
        Ok::<_, Error>(())
    })
    .unwrap();
}

fn a_panicking_plain_hook_propagates_and_drops_the_hooks_after_it<H: Harness>()
where
    TransactionManager<H::B>: Statements,
    for<'a> Transaction<'a, H::B>: Statements,
{
    let db = H::new();
    let mut tm = db.manager();
    let log = Arc::new(Mutex::new(Vec::new()));
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
        tm.commit_on_success(|tx| {
            tx.insert("Alice", "Smith")?;
            tx.on_commit(record(&log, "first"));
            tx.on_commit(|| panic!("plain hook panics"));
            tx.on_commit(record(&log, "dropped"));
            tx.on_commit_robust({
                let log = Arc::clone(&log);
                move || {
                    log.lock().unwrap().push("robust but after");
                    Ok::<_, Error>(())
                }
            });
            Ok::<_, Error>(())
        })
    }));
    assert!(outcome.is_err(), "the plain hook's panic propagates");
    assert_eq!(*log.lock().unwrap(), ["first"]);
    assert_eq!(
        db.committed(),
        ["Alice Smith"],
        "the commit happened before the hooks"
    );
    assert!(db.outside_transaction(&tm));
    tm.commit_on_success(|tx| tx.insert("Ben", "Jones"))
        .unwrap();
    assert_eq!(db.committed(), ["Alice Smith", "Ben Jones"]);
}

fn a_test_transaction_always_rolls_back_with_nested_blocks_and_no_hooks<H: Harness>()
where
    TransactionManager<H::B>: Statements,
    for<'a> Transaction<'a, H::B>: Statements,
{
    let db = H::new();
    let mut tm = db.manager();
    let log = Arc::new(Mutex::new(Vec::new()));
    let seen = tm
        .test_transaction(|tx| {
            assert!(tx.rollback_marked());
            tx.insert("Alice", "Smith")?;
            tx.on_commit(record(&log, "outer"));
            tx.commit_on_success(|inner| {
                inner.on_commit(record(&log, "released"));
                inner.insert("Ben", "Jones")
            })?;
            let _ = tx.commit_on_success(|inner| {
                inner.insert("Nobody", "Ever")?;
                Err::<(), _>(common::AppError::MeantToDoThat)
            });
            tx.commit_manually(|inner| {
                inner.insert("Carol", "Doe")?;
                inner.commit()
            })?;
            let refused = tx.set_rollback(false).unwrap_err();
            assert!(
                matches!(
                    refused,
                    Error::RollbackMarkRefused {
                        operation: "set_rollback(false)",
                        ..
                    }
                ),
                "{refused:?}"
            );
            tx.count()
        })
        .unwrap();
    assert_eq!(seen, 3, "the test saw its own writes, nested ones included");
    assert!(
        db.committed().is_empty(),
        "a second connection sees nothing"
    );
    assert!(
        log.lock().unwrap().is_empty(),
        "hooks never run in a test transaction"
    );
    assert!(db.outside_transaction(&tm));
    let err = tm
        .test_transaction(|tx| {
            tx.insert("Dan", "Brown")?;
            Err::<(), _>(common::AppError::MeantToDoThat)
        })
        .unwrap_err();
    assert!(matches!(err, common::AppError::MeantToDoThat));
    assert!(db.committed().is_empty());
    tm.commit_on_success(|tx| tx.insert("Eve", "Stone"))
        .unwrap();
    assert_eq!(db.committed(), ["Eve Stone"]);
}

/// A nested block that writes, swallows a statement error and returns `Ok`.
fn nested_block_swallowing_a_statement_error<B: txmanager::Backend>(
    tx: &mut Transaction<'_, B>,
) -> Result<(), Error>
where
    for<'a> Transaction<'a, B>: Statements,
{
    tx.commit_on_success(|inner| {
        inner.insert("Nobody", "Either")?;
        let _ = inner.failing();
        Ok::<_, Error>(())
    })
}

/// Hooks run after the outermost commit, in the order they were added
/// (a nested block's in their place), and by then the data is committed:
/// a hook's own connection sees it.
fn hooks_run_in_order_once_the_data_is_committed<H: Harness + CommittedProbe>()
where
    TransactionManager<H::B>: Statements,
    for<'a> Transaction<'a, H::B>: Statements,
{
    let db = H::new();
    let mut tm = db.manager();
    let log = Arc::new(Mutex::new(Vec::new()));
    let (seen, probe) = (Arc::clone(&log), db.probe());
    tm.commit_on_success(|tx| {
        tx.insert("Alice", "Smith")?;
        tx.on_commit(record(&log, "first"));
        tx.commit_on_success(|inner| {
            inner.on_commit(record(&log, "second"));
            Ok::<_, Error>(())
        })?;
        tx.on_commit(move || {
            assert_eq!(probe(), ["Alice Smith"], "committed before the hook runs");
            seen.lock().unwrap().push("third");
        });
        assert!(log.lock().unwrap().is_empty(), "no hook before the commit");
        Ok::<_, Error>(())
    })
    .unwrap();
    assert_eq!(*log.lock().unwrap(), ["first", "second", "third"]);
}

/// The hooks of a block that rolled back are dropped: they do not run at
/// the next block's commit either.
fn hooks_of_a_rolled_back_transaction_never_run_later<H: Harness>()
where
    TransactionManager<H::B>: Statements,
    for<'a> Transaction<'a, H::B>: Statements,
{
    let db = H::new();
    let mut tm = db.manager();
    let log = Arc::new(Mutex::new(Vec::new()));
    let result: Result<(), Error> = tm.commit_on_success(|tx| {
        tx.insert("Alice", "Smith")?;
        tx.on_commit(record(&log, "never"));
        Err(Error::PendingCommitRollback) // any error
    });
    assert!(result.is_err());
    tm.commit_on_success(|tx| {
        tx.on_commit(record(&log, "next block"));
        tx.insert("Ben", "Jones")
    })
    .unwrap();
    assert_eq!(*log.lock().unwrap(), ["next block"]);
    assert_eq!(db.committed(), ["Ben Jones"]);
}

fn a_hook_in_autocommit_mode_runs_at_once<H: Harness>()
where
    TransactionManager<H::B>: Statements,
    for<'a> Transaction<'a, H::B>: Statements,
{
    let db = H::new();
    let mut tm = db.manager();
    let log = Arc::new(Mutex::new(Vec::new()));
    tm.autocommit(|tx| {
        tx.insert("Alice", "Smith")?;
        tx.on_commit(record(&log, "now"));
        assert_eq!(*log.lock().unwrap(), ["now"]);
        Ok::<_, Error>(())
    })
    .unwrap();
    assert_eq!(db.committed(), ["Alice Smith"]);
}

/// `commit()` runs the hooks queued so far; `rollback()` drops those
/// queued since; a hook queued and never committed never runs.
fn manual_commit_runs_the_hooks_so_far_and_rollback_drops_them<H: Harness>()
where
    TransactionManager<H::B>: Statements,
    for<'a> Transaction<'a, H::B>: Statements,
{
    let db = H::new();
    let mut tm = db.manager();
    let log = Arc::new(Mutex::new(Vec::new()));
    tm.commit_manually(|tx| {
        tx.insert("Alice", "Smith")?;
        tx.on_commit(record(&log, "committed"));
        tx.commit()?;
        assert_eq!(*log.lock().unwrap(), ["committed"]);
        tx.insert("Nobody", "Here")?;
        tx.on_commit(record(&log, "rolled back"));
        tx.rollback()?;
        tx.on_commit(record(&log, "never committed"));
        Ok::<_, Error>(())
    })
    .unwrap();
    assert_eq!(*log.lock().unwrap(), ["committed"]);
    assert_eq!(db.committed(), ["Alice Smith"]);
    assert!(db.outside_transaction(&tm));
}

/// Found by the property test: the second `commit()` has no transaction
/// to commit, but it is still the commit point for the hook.
fn a_hook_queued_after_a_manual_commit_runs_at_the_next_commit_even_with_nothing_written<
    H: Harness,
>()
where
    TransactionManager<H::B>: Statements,
    for<'a> Transaction<'a, H::B>: Statements,
{
    let db = H::new();
    let mut tm = db.manager();
    let log = Arc::new(Mutex::new(Vec::new()));
    tm.commit_manually(|tx| {
        tx.commit()?;
        tx.on_commit(record(&log, "queued between commits"));
        tx.commit()
    })
    .unwrap();
    assert_eq!(*log.lock().unwrap(), ["queued between commits"]);
    assert!(db.outside_transaction(&tm));
}
