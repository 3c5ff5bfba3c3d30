//! diesel's own transaction tests (`diesel_tests/tests/transactions.rs` and
//! the tests in `diesel/src/connection/transaction_manager.rs`), ported to
//! txmanager and run on SQLite files and on PostgreSQL (with the `postgres`
//! feature; it fails without a server).
//!
//! The mapping: `conn.transaction(...)` is `commit_on_success` (nested: a
//! savepoint) and `test_transaction` is `test_transaction`. Which upstream
//! tests do not apply, and why, is in docs/modes.md ("Django's and diesel's
//! own test suites").

mod common;

use common::AppError;
use common::backends::{Harness, Statements, for_each_backend};
use txmanager::{Error, Transaction, TransactionManager};

/// transactions.rs `transaction_executes_fn_in_a_sql_transaction`: another
/// connection sees nothing of a block until it commits.
fn another_connection_sees_a_blocks_work_only_after_it_commits<H: Harness>()
where
    TransactionManager<H::B>: Statements,
    for<'a> Transaction<'a, H::B>: Statements,
{
    let db = H::new();
    let mut tm = db.manager();
    tm.commit_on_success(|tx| {
        tx.insert("Alice", "Smith")?;
        assert_eq!(tx.names()?, ["Alice Smith"]);
        assert!(db.committed().is_empty(), "seen before the commit");
        Ok::<_, Error>(())
    })
    .unwrap();
    assert_eq!(db.committed(), ["Alice Smith"]);
    assert!(db.outside_transaction(&tm));
}

/// transactions.rs `transaction_returns_the_returned_value`.
fn a_block_returns_its_closures_value<H: Harness>()
where
    TransactionManager<H::B>: Statements,
    for<'a> Transaction<'a, H::B>: Statements,
{
    let db = H::new();
    let mut tm = db.manager();
    let answer = tm.commit_on_success(|_| Ok::<_, Error>(1)).unwrap();
    assert_eq!(answer, 1);
}

/// transactions.rs `transaction_is_rolled_back_when_returned_an_error`.
fn a_block_whose_closure_returns_an_error_is_rolled_back<H: Harness>()
where
    TransactionManager<H::B>: Statements,
    for<'a> Transaction<'a, H::B>: Statements,
{
    let db = H::new();
    let mut tm = db.manager();
    let err = tm
        .commit_on_success(|tx| {
            tx.insert("Alice", "Smith")?;
            Err::<(), _>(AppError::MeantToDoThat)
        })
        .unwrap_err();
    assert!(matches!(err, AppError::MeantToDoThat), "{err:?}");
    assert!(db.committed().is_empty());
    assert!(db.outside_transaction(&tm));
}

/// transactions.rs `transaction_rollback_returns_error`: diesel lets raw
/// `ROLLBACK` run inside the closure, so its own rollback then fails and the
/// block returns that database error. txmanager refuses the raw `ROLLBACK`
/// before it runs, so the transaction stays whole, the block's rollback
/// works, and the closure's own error comes back.
fn a_raw_rollback_in_a_block_is_refused_and_the_closures_error_comes_back<H: Harness>()
where
    TransactionManager<H::B>: Statements,
    for<'a> Transaction<'a, H::B>: Statements,
{
    let db = H::new();
    let mut tm = db.manager();
    let err = tm
        .commit_on_success(|tx| {
            tx.insert("Alice", "Smith")?;
            let refused = tx.raw("ROLLBACK").unwrap_err();
            assert!(
                matches!(refused, Error::TransactionControlRefused { .. }),
                "{refused:?}"
            );
            assert_eq!(tx.names()?, ["Alice Smith"], "the ROLLBACK ran");
            Err::<(), _>(AppError::MeantToDoThat)
        })
        .unwrap_err();
    assert!(matches!(err, AppError::MeantToDoThat), "{err:?}");
    assert!(db.committed().is_empty());
    assert!(db.outside_transaction(&tm));
}

/// transactions.rs `transactions_can_be_nested`.
fn nested_blocks_roll_back_their_own_work_and_go_with_the_outer_block<H: Harness>()
where
    TransactionManager<H::B>: Statements,
    for<'a> Transaction<'a, H::B>: Statements,
{
    let db = H::new();
    let mut tm = db.manager();
    let err = tm
        .commit_on_success(|tx| {
            tx.insert("One", "")?;
            assert_eq!(tx.count()?, 1);
            let inner = tx.commit_on_success(|inner| {
                inner.insert("Two", "")?;
                assert_eq!(inner.count()?, 2);
                Err::<(), _>(AppError::MeantToDoThat)
            });
            assert!(matches!(inner, Err(AppError::MeantToDoThat)), "{inner:?}");
            assert_eq!(tx.count()?, 1);
            tx.commit_on_success(|inner| {
                inner.insert("Three", "")?;
                assert_eq!(inner.count()?, 2);
                Ok::<_, AppError>(())
            })?;
            assert_eq!(tx.count()?, 2);
            Err::<(), _>(AppError::MeantToDoThat)
        })
        .unwrap_err();
    assert!(matches!(err, AppError::MeantToDoThat), "{err:?}");
    assert!(db.committed().is_empty());
    assert!(db.outside_transaction(&tm));
}

/// transactions.rs `test_transaction_always_rolls_back`.
fn a_test_transaction_returns_its_value_and_keeps_nothing<H: Harness>()
where
    TransactionManager<H::B>: Statements,
    for<'a> Transaction<'a, H::B>: Statements,
{
    let db = H::new();
    let mut tm = db.manager();
    let result = tm
        .test_transaction(|tx| {
            tx.insert("Alice", "Smith")?;
            assert_eq!(tx.count()?, 1);
            Ok::<_, Error>("success")
        })
        .unwrap();
    assert_eq!(result, "success");
    assert_eq!(tm.count().unwrap(), 0);
    assert!(db.committed().is_empty());
    assert!(db.outside_transaction(&tm));
}

/// transactions.rs `test_transaction_panics_on_error`: diesel's
/// `test_transaction` panics when the closure fails. txmanager's returns
/// the closure's error instead (still rolling back), so a test can assert
/// on it.
fn a_failing_test_transaction_returns_the_error_and_keeps_nothing<H: Harness>()
where
    TransactionManager<H::B>: Statements,
    for<'a> Transaction<'a, H::B>: Statements,
{
    let db = H::new();
    let mut tm = db.manager();
    let err = tm
        .test_transaction(|tx| {
            tx.insert("Alice", "Smith")?;
            Err::<(), _>(AppError::MeantToDoThat)
        })
        .unwrap_err();
    assert!(matches!(err, AppError::MeantToDoThat), "{err:?}");
    assert!(db.committed().is_empty());
    assert!(db.outside_transaction(&tm));
}

/// transactions.rs `regression_test_for_2123`: a nested block that swallows
/// a failed statement, then another nested block, then a new outermost
/// block, which must begin normally. On PostgreSQL the failed statement
/// aborted the first nested block: it returns `BlockAborted` and only its
/// savepoint is rolled back; on SQLite it returns `Ok`.
fn a_nested_block_that_swallows_an_error_leaves_the_manager_usable<H: Harness>()
where
    TransactionManager<H::B>: Statements,
    for<'a> Transaction<'a, H::B>: Statements,
{
    let db = H::new();
    let mut tm = db.manager();
    tm.commit_on_success(|tx| {
        tx.insert("Alice", "Smith")?;
        let swallowed = tx.commit_on_success(|inner| {
            assert!(inner.failing().is_err());
            Ok::<_, Error>(())
        });
        if H::ERROR_ABORTS {
            assert!(
                matches!(swallowed, Err(Error::BlockAborted)),
                "{swallowed:?}"
            );
        } else {
            swallowed.unwrap();
        }
        tx.commit_on_success(|inner| inner.count())
    })
    .unwrap();
    assert_eq!(db.committed(), ["Alice Smith"]);
    let n = tm.commit_on_success(|tx| tx.count()).unwrap();
    assert_eq!(n, 1);
    assert!(db.outside_transaction(&tm));
}

/// transaction_manager.rs
/// `transaction_manager_returns_an_error_when_attempting_to_commit_outside_of_a_transaction`
/// and `..._to_rollback_outside_of_a_transaction`: the manager has no
/// `commit()` (that does not compile); in an autocommit block `commit()` and
/// `rollback()` are refused.
fn commit_and_rollback_outside_a_transaction_are_refused<H: Harness>()
where
    TransactionManager<H::B>: Statements,
    for<'a> Transaction<'a, H::B>: Statements,
{
    let db = H::new();
    let mut tm = db.manager();
    tm.autocommit(|tx| {
        let err = tx.commit().unwrap_err();
        assert!(matches!(err, Error::NotInManualMode { .. }), "{err:?}");
        let err = tx.rollback().unwrap_err();
        assert!(matches!(err, Error::NotInManualMode { .. }), "{err:?}");
        Ok::<_, Error>(())
    })
    .unwrap();
    assert!(db.outside_transaction(&tm));
}

/// transaction_manager.rs `sqlite_transaction_is_rolled_back_upon_syntax_error`:
/// the syntax error comes back, the block is rolled back and the connection
/// is outside any transaction (on both backends here).
fn a_syntax_error_in_a_block_rolls_it_back<H: Harness>()
where
    TransactionManager<H::B>: Statements,
    for<'a> Transaction<'a, H::B>: Statements,
{
    let db = H::new();
    let mut tm = db.manager();
    let err = tm
        .commit_on_success(|tx| {
            tx.insert("Alice", "Smith")?;
            tx.raw("SELECT * FROM reporter WHERE")
        })
        .unwrap_err();
    assert!(matches!(err, Error::Statement { .. }), "{err:?}");
    assert!(db.committed().is_empty());
    assert!(db.outside_transaction(&tm));
    tm.commit_on_success(|tx| tx.insert("Ben", "Jones"))
        .unwrap();
    assert_eq!(db.committed(), ["Ben Jones"]);
}

/// transaction_manager.rs
/// `sqlite_transaction_is_rolled_back_upon_deferred_constraint_failure`
/// (with a deferred foreign key, which both databases defer): every
/// statement succeeds, `COMMIT` fails, the block returns `CommitFailed`,
/// nothing is kept and the connection is outside any transaction.
fn a_deferred_constraint_failing_at_commit_rolls_the_block_back<H: Harness>()
where
    TransactionManager<H::B>: Statements,
    for<'a> Transaction<'a, H::B>: Statements,
{
    let db = H::new();
    let mut tm = db.manager();
    tm.raw(
        "CREATE TABLE parent (id INTEGER PRIMARY KEY);
         CREATE TABLE child (parent_id INTEGER REFERENCES parent (id)
                             DEFERRABLE INITIALLY DEFERRED)",
    )
    .unwrap();
    let err = tm
        .commit_on_success(|tx| {
            tx.insert("Alice", "Smith")?;
            tx.raw("INSERT INTO child (parent_id) VALUES (42)")
        })
        .unwrap_err();
    assert!(matches!(err, Error::CommitFailed { .. }), "{err:?}");
    assert!(db.committed().is_empty());
    assert!(db.outside_transaction(&tm));
    tm.commit_on_success(|tx| tx.insert("Ben", "Jones"))
        .unwrap();
    assert_eq!(db.committed(), ["Ben Jones"]);
}

/// transaction_manager.rs
/// `some_libpq_failures_are_recoverable_by_rolling_back_the_savepoint_only`:
/// a statement that fails in a nested block (there, a write in a read-only
/// transaction; here, a missing table) rolls back that savepoint only, and
/// the outer block goes on and commits, on both backends.
fn a_failure_in_a_nested_block_is_recovered_by_its_savepoint_alone<H: Harness>()
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
        tx.count()
    })
    .unwrap();
    assert_eq!(db.committed(), ["Alice Smith"]);
    assert!(db.outside_transaction(&tm));
}

for_each_backend!(
    another_connection_sees_a_blocks_work_only_after_it_commits,
    a_block_returns_its_closures_value,
    a_block_whose_closure_returns_an_error_is_rolled_back,
    a_raw_rollback_in_a_block_is_refused_and_the_closures_error_comes_back,
    nested_blocks_roll_back_their_own_work_and_go_with_the_outer_block,
    a_test_transaction_returns_its_value_and_keeps_nothing,
    a_failing_test_transaction_returns_the_error_and_keeps_nothing,
    a_nested_block_that_swallows_an_error_leaves_the_manager_usable,
    commit_and_rollback_outside_a_transaction_are_refused,
    a_syntax_error_in_a_block_rolls_it_back,
    a_deferred_constraint_failing_at_commit_rolls_the_block_back,
    a_failure_in_a_nested_block_is_recovered_by_its_savepoint_alone,
);
