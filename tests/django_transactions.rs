//! Django's own transaction tests (`tests/transactions/tests.py` and
//! `tests/transaction_hooks/tests.py`), ported to txmanager and run on
//! SQLite files and on PostgreSQL (with the `postgres` feature; it fails
//! without a server).
//!
//! The mapping: `atomic()` is `commit_on_success` (a nested one is a
//! savepoint), `set_rollback` / `get_rollback` are `set_rollback` /
//! `rollback_marked`, `on_commit(robust=True)` is `on_commit_robust`, and
//! `set_autocommit(False)` is a `commit_manually` block. Django checks with
//! `Reporter.objects.all()` on its own connection; these tests check the
//! same through the block's handle, and what really committed through a
//! second connection. Which upstream tests do not apply, and why, is in
//! docs/modes.md ("Django's and diesel's own test suites").

mod common;

use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, Mutex};

use common::AppError;
use common::backends::{Harness, Statements, for_each_backend};
use txmanager::{Error, Mode, Scope, Transaction, TransactionManager};

/// Opens a `commit_on_success` block (Django's `atomic()`) in `scope`: an
/// outermost transaction on the manager, a savepoint on a handle.
fn atomic<B, S, T, F>(scope: &mut S, f: F) -> Result<T, AppError>
where
    B: txmanager::Backend,
    S: Scope<B>,
    F: FnOnce(&mut Transaction<'_, B>) -> Result<T, AppError>,
{
    scope.run(Mode::CommitOnSuccess, f)
}

/// Django's `raise Exception("Oops, ...")`.
fn oops<T>() -> Result<T, AppError> {
    Err(AppError::MeantToDoThat)
}

fn assert_oops<T: std::fmt::Debug>(result: Result<T, AppError>) {
    assert!(
        matches!(result, Err(AppError::MeantToDoThat)),
        "expected the closure's own error, got {result:?}"
    );
}

// ---------------------------------------------------------------------------
// AtomicTests, AtomicInsideTransactionTests, AtomicWithoutAutocommitTests.
//
// Django runs each AtomicTests body three times: as it is, inside an open
// `atomic()` (AtomicInsideTransactionTests) and with autocommit off
// (AtomicWithoutAutocommitTests, whose cleanup rolls back). Each body below
// takes the scope it runs in, checks what its own connection sees, and
// returns that; `in_three_settings!` runs it on the manager (then a second
// connection must see the same), inside an outer `commit_on_success` (the
// same once it commits), and inside a `commit_manually` block that rolls
// back at the end (nothing is committed).
// ---------------------------------------------------------------------------

macro_rules! in_three_settings {
    ($body:ident: $plain:ident, $inside:ident, $manual:ident) => {
        fn $plain<H: Harness>()
        where
            TransactionManager<H::B>: Statements,
            for<'a> Transaction<'a, H::B>: Statements,
        {
            let db = H::new();
            let mut tm = db.manager();
            let seen = $body::<H, _>(&mut tm);
            assert_eq!(db.committed(), seen, "what committed");
            assert!(db.outside_transaction(&tm));
        }

        fn $inside<H: Harness>()
        where
            TransactionManager<H::B>: Statements,
            for<'a> Transaction<'a, H::B>: Statements,
        {
            let db = H::new();
            let mut tm = db.manager();
            let seen = tm
                .commit_on_success(|tx| Ok::<_, Error>($body::<H, _>(tx)))
                .unwrap();
            assert_eq!(db.committed(), seen, "what the outer block committed");
            assert!(db.outside_transaction(&tm));
        }

        fn $manual<H: Harness>()
        where
            TransactionManager<H::B>: Statements,
            for<'a> Transaction<'a, H::B>: Statements,
        {
            let db = H::new();
            let mut tm = db.manager();
            tm.commit_manually(|tx| {
                $body::<H, _>(tx);
                assert!(db.committed().is_empty(), "seen before commit");
                tx.rollback()
            })
            .unwrap();
            assert!(db.committed().is_empty());
            assert!(db.outside_transaction(&tm));
        }
    };
}

/// AtomicTests.test_commit (and test_decorator_syntax_commit, whose
/// decorator is the same block here).
fn commit<H: Harness, S>(s: &mut S) -> Vec<String>
where
    S: Scope<H::B> + Statements,
    for<'a> Transaction<'a, H::B>: Statements,
{
    atomic(s, |tx| Ok(tx.insert("Tintin", "")?)).unwrap();
    let seen = s.names().unwrap();
    assert_eq!(seen, ["Tintin "]);
    seen
}
in_three_settings!(commit:
    a_block_that_succeeds_keeps_its_work,
    a_block_that_succeeds_inside_a_transaction_keeps_its_work,
    a_block_that_succeeds_in_a_manual_block_keeps_its_work_until_that_rolls_back);

/// AtomicTests.test_rollback (and test_decorator_syntax_rollback).
fn rollback<H: Harness, S>(s: &mut S) -> Vec<String>
where
    S: Scope<H::B> + Statements,
    for<'a> Transaction<'a, H::B>: Statements,
{
    assert_oops(atomic(s, |tx| {
        tx.insert("Haddock", "")?;
        oops::<()>()
    }));
    let seen = s.names().unwrap();
    assert!(seen.is_empty(), "{seen:?}");
    seen
}
in_three_settings!(rollback:
    a_block_that_fails_keeps_nothing,
    a_block_that_fails_inside_a_transaction_keeps_nothing,
    a_block_that_fails_in_a_manual_block_keeps_nothing);

/// AtomicTests.test_nested_commit_commit.
fn nested_commit_commit<H: Harness, S>(s: &mut S) -> Vec<String>
where
    S: Scope<H::B> + Statements,
    for<'a> Transaction<'a, H::B>: Statements,
{
    atomic(s, |tx| {
        tx.insert("Tintin", "")?;
        atomic(tx, |inner| Ok(inner.insert("Archibald", "Haddock")?))
    })
    .unwrap();
    let seen = s.names().unwrap();
    assert_eq!(seen, ["Tintin ", "Archibald Haddock"]);
    seen
}
in_three_settings!(nested_commit_commit:
    nested_blocks_that_both_succeed_keep_both,
    nested_blocks_that_both_succeed_inside_a_transaction_keep_both,
    nested_blocks_that_both_succeed_in_a_manual_block_keep_both);

/// AtomicTests.test_nested_commit_rollback.
fn nested_commit_rollback<H: Harness, S>(s: &mut S) -> Vec<String>
where
    S: Scope<H::B> + Statements,
    for<'a> Transaction<'a, H::B>: Statements,
{
    atomic(s, |tx| {
        tx.insert("Tintin", "")?;
        assert_oops(atomic(tx, |inner| {
            inner.insert("Haddock", "")?;
            oops::<()>()
        }));
        Ok(())
    })
    .unwrap();
    let seen = s.names().unwrap();
    assert_eq!(seen, ["Tintin "]);
    seen
}
in_three_settings!(nested_commit_rollback:
    a_failed_inner_block_loses_only_its_own_work,
    a_failed_inner_block_inside_a_transaction_loses_only_its_own_work,
    a_failed_inner_block_in_a_manual_block_loses_only_its_own_work);

/// AtomicTests.test_nested_rollback_commit.
fn nested_rollback_commit<H: Harness, S>(s: &mut S) -> Vec<String>
where
    S: Scope<H::B> + Statements,
    for<'a> Transaction<'a, H::B>: Statements,
{
    assert_oops(atomic(s, |tx| {
        tx.insert("", "Tintin")?;
        atomic(tx, |inner| Ok(inner.insert("", "Haddock")?))?;
        oops::<()>()
    }));
    let seen = s.names().unwrap();
    assert!(seen.is_empty(), "{seen:?}");
    seen
}
in_three_settings!(nested_rollback_commit:
    a_failed_outer_block_loses_its_succeeded_inner_block,
    a_failed_outer_block_inside_a_transaction_loses_its_succeeded_inner_block,
    a_failed_outer_block_in_a_manual_block_loses_its_succeeded_inner_block);

/// AtomicTests.test_nested_rollback_rollback.
fn nested_rollback_rollback<H: Harness, S>(s: &mut S) -> Vec<String>
where
    S: Scope<H::B> + Statements,
    for<'a> Transaction<'a, H::B>: Statements,
{
    assert_oops(atomic(s, |tx| {
        tx.insert("", "Tintin")?;
        assert_oops(atomic(tx, |inner| {
            inner.insert("Haddock", "")?;
            oops::<()>()
        }));
        oops::<()>()
    }));
    let seen = s.names().unwrap();
    assert!(seen.is_empty(), "{seen:?}");
    seen
}
in_three_settings!(nested_rollback_rollback:
    nested_blocks_that_both_fail_keep_nothing,
    nested_blocks_that_both_fail_inside_a_transaction_keep_nothing,
    nested_blocks_that_both_fail_in_a_manual_block_keep_nothing);

/// Code to run in a block, for the `test_reuse_*` tests: Django reuses one
/// `atomic` object around different code.
type Body<'b, B> = dyn Fn(&mut Transaction<'_, B>) -> Result<(), AppError> + 'b;

/// The function the `test_reuse_*` tests wrap once and call at two levels.
fn run_body<B: txmanager::Backend>(
    tx: &mut Transaction<'_, B>,
    body: &Body<'_, B>,
) -> Result<(), AppError> {
    body(tx)
}

/// AtomicTests.test_reuse_commit_commit: one `atomic` object entered at two
/// levels. Here one wrapped function (`txmanager::commit_on_success`) is
/// called on the scope and again, inside it, on the handle.
fn reuse_commit_commit<H: Harness, S>(s: &mut S) -> Vec<String>
where
    S: Scope<H::B> + Statements,
    for<'a> Transaction<'a, H::B>: Statements,
{
    let atomic = txmanager::commit_on_success(run_body::<H::B>);
    atomic
        .call(s, &|tx: &mut Transaction<'_, H::B>| {
            tx.insert("Tintin", "")?;
            atomic.call(tx, &|inner: &mut Transaction<'_, H::B>| {
                Ok(inner.insert("Archibald", "Haddock")?)
            })
        })
        .unwrap();
    let seen = s.names().unwrap();
    assert_eq!(seen, ["Tintin ", "Archibald Haddock"]);
    seen
}
in_three_settings!(reuse_commit_commit:
    one_wrapped_function_used_at_two_levels_keeps_both,
    one_wrapped_function_used_at_two_levels_inside_a_transaction_keeps_both,
    one_wrapped_function_used_at_two_levels_in_a_manual_block_keeps_both);

/// AtomicTests.test_reuse_commit_rollback.
fn reuse_commit_rollback<H: Harness, S>(s: &mut S) -> Vec<String>
where
    S: Scope<H::B> + Statements,
    for<'a> Transaction<'a, H::B>: Statements,
{
    let atomic = txmanager::commit_on_success(run_body::<H::B>);
    atomic
        .call(s, &|tx: &mut Transaction<'_, H::B>| {
            tx.insert("Tintin", "")?;
            assert_oops(atomic.call(tx, &|inner: &mut Transaction<'_, H::B>| {
                inner.insert("Haddock", "")?;
                oops()
            }));
            Ok(())
        })
        .unwrap();
    let seen = s.names().unwrap();
    assert_eq!(seen, ["Tintin "]);
    seen
}
in_three_settings!(reuse_commit_rollback:
    one_wrapped_function_failing_at_the_inner_level_loses_only_the_inner_work,
    one_wrapped_function_failing_at_the_inner_level_inside_a_transaction_loses_only_the_inner_work,
    one_wrapped_function_failing_at_the_inner_level_in_a_manual_block_loses_only_the_inner_work);

/// AtomicTests.test_reuse_rollback_commit and test_reuse_rollback_rollback:
/// the outer level fails after the inner level succeeded, then after it
/// failed.
fn reuse_rollback<H: Harness, S>(s: &mut S) -> Vec<String>
where
    S: Scope<H::B> + Statements,
    for<'a> Transaction<'a, H::B>: Statements,
{
    reuse_rollback_once::<H, S>(s, false);
    reuse_rollback_once::<H, S>(s, true);
    let seen = s.names().unwrap();
    assert!(seen.is_empty(), "{seen:?}");
    seen
}

fn reuse_rollback_once<H: Harness, S>(s: &mut S, inner_fails: bool)
where
    S: Scope<H::B> + Statements,
    for<'a> Transaction<'a, H::B>: Statements,
{
    let atomic = txmanager::commit_on_success(run_body::<H::B>);
    assert_oops(atomic.call(s, &|tx: &mut Transaction<'_, H::B>| {
        tx.insert("", "Tintin")?;
        let inner = atomic.call(tx, &|inner: &mut Transaction<'_, H::B>| {
            inner.insert("", "Haddock")?;
            if inner_fails { oops() } else { Ok(()) }
        });
        if inner_fails {
            assert_oops(inner);
        } else {
            inner?;
        }
        oops()
    }));
}
in_three_settings!(reuse_rollback:
    one_wrapped_function_failing_at_the_outer_level_keeps_nothing,
    one_wrapped_function_failing_at_the_outer_level_inside_a_transaction_keeps_nothing,
    one_wrapped_function_failing_at_the_outer_level_in_a_manual_block_keeps_nothing);

/// AtomicTests.test_force_rollback.
fn force_rollback<H: Harness, S>(s: &mut S) -> Vec<String>
where
    S: Scope<H::B> + Statements,
    for<'a> Transaction<'a, H::B>: Statements,
{
    atomic(s, |tx| {
        tx.insert("Tintin", "")?;
        assert!(!tx.rollback_marked());
        tx.set_rollback(true)?;
        Ok(())
    })
    .unwrap();
    let seen = s.names().unwrap();
    assert!(seen.is_empty(), "{seen:?}");
    seen
}
in_three_settings!(force_rollback:
    a_block_marked_to_roll_back_keeps_nothing_though_it_succeeds,
    a_block_marked_to_roll_back_inside_a_transaction_keeps_nothing_though_it_succeeds,
    a_block_marked_to_roll_back_in_a_manual_block_keeps_nothing_though_it_succeeds);

/// AtomicTests.test_prevent_rollback: Django swallows a database error from
/// an inner `atomic(savepoint=False)`, clears the mark and rolls back to a
/// savepoint it took by hand. txmanager has neither savepoint-less nested
/// blocks nor hand-made savepoints; the same recovery is a nested block
/// around the failing statement: its savepoint is rolled back, the outer
/// block is not marked, and the work before it is kept, on both backends.
fn prevent_rollback<H: Harness, S>(s: &mut S) -> Vec<String>
where
    S: Scope<H::B> + Statements,
    for<'a> Transaction<'a, H::B>: Statements,
{
    atomic(s, |tx| {
        tx.insert("Tintin", "")?;
        let err = atomic(tx, |inner| Ok(inner.failing()?)).unwrap_err();
        assert!(
            matches!(err, AppError::Db(Error::Statement { .. })),
            "{err:?}"
        );
        assert!(!tx.rollback_marked());
        Ok(())
    })
    .unwrap();
    let seen = s.names().unwrap();
    assert_eq!(seen, ["Tintin "]);
    seen
}
in_three_settings!(prevent_rollback:
    a_database_error_in_a_nested_block_leaves_the_outer_block_unmarked_and_its_work_kept,
    a_database_error_in_a_nested_block_inside_a_transaction_leaves_the_outer_work_kept,
    a_database_error_in_a_nested_block_in_a_manual_block_leaves_the_outer_work_kept);

/// AtomicTests.test_decorator_syntax_commit / _rollback with the attribute,
/// and test_alternate_decorator_syntax_commit / _rollback with the wrapping
/// function (Django's `@atomic` and `@atomic()`). SQLite only: the
/// attribute's handle type is SQLite's.
mod decorator_syntax {
    use super::*;
    use txmanager::commit_on_success;

    #[commit_on_success]
    fn make_reporter(tx: &mut Transaction<'_>, first: &str) -> Result<(), AppError> {
        tx.execute(common::INSERT, (first, ""))?;
        if first == "Haddock" {
            return Err(AppError::MeantToDoThat);
        }
        Ok(())
    }

    #[test]
    fn a_function_with_the_attribute_commits_on_ok_and_rolls_back_on_err() {
        let db = common::Db::new();
        let mut tm = db.manager();
        make_reporter(&mut tm, "Tintin").unwrap();
        assert_oops(make_reporter(&mut tm, "Haddock"));
        assert_eq!(db.committed(), ["Tintin "]);
        assert!(tm.is_autocommit());
    }

    #[test]
    fn a_function_wrapped_by_commit_on_success_commits_on_ok_and_rolls_back_on_err() {
        let db = common::Db::new();
        let mut tm = db.manager();
        let wrapped = commit_on_success(|tx: &mut Transaction<'_>, first: &str| {
            tx.execute(common::INSERT, (first, ""))?;
            if first == "Haddock" { oops() } else { Ok(()) }
        });
        wrapped.call(&mut tm, "Tintin").unwrap();
        assert_oops(wrapped.call(&mut tm, "Haddock"));
        assert_eq!(db.committed(), ["Tintin "]);
        assert!(tm.is_autocommit());
    }
}

// ---------------------------------------------------------------------------
// AtomicErrorsTests
// ---------------------------------------------------------------------------

/// AtomicErrorsTests.test_atomic_prevents_setting_autocommit: autocommit
/// inside a block is refused, and the block goes on to commit.
fn autocommit_inside_a_block_is_refused_and_the_block_goes_on<H: Harness>()
where
    TransactionManager<H::B>: Statements,
    for<'a> Transaction<'a, H::B>: Statements,
{
    let db = H::new();
    let mut tm = db.manager();
    tm.commit_on_success(|tx| {
        tx.insert("Tintin", "")?;
        let err = tx
            .autocommit(|inner| inner.insert("Not", "Me"))
            .unwrap_err();
        assert!(
            matches!(err, Error::AutocommitInTransaction { .. }),
            "{err:?}"
        );
        assert!(
            db.committed().is_empty(),
            "the refusal committed the outer work"
        );
        Ok::<_, Error>(())
    })
    .unwrap();
    assert_eq!(db.committed(), ["Tintin "]);
    assert!(db.outside_transaction(&tm));
}

/// AtomicErrorsTests.test_atomic_prevents_calling_transaction_methods:
/// `commit()` and `rollback()` inside a `commit_on_success` block are
/// refused and change nothing.
fn commit_and_rollback_inside_a_block_are_refused_and_change_nothing<H: Harness>()
where
    TransactionManager<H::B>: Statements,
    for<'a> Transaction<'a, H::B>: Statements,
{
    let db = H::new();
    let mut tm = db.manager();
    let err = tm
        .commit_on_success(|tx| {
            tx.insert("Tintin", "")?;
            let err = tx.commit().unwrap_err();
            assert!(matches!(err, Error::NotInManualMode { .. }), "{err:?}");
            assert!(db.committed().is_empty(), "commit() committed");
            let err = tx.rollback().unwrap_err();
            assert!(matches!(err, Error::NotInManualMode { .. }), "{err:?}");
            assert_eq!(tx.names()?, ["Tintin "], "rollback() rolled back");
            oops::<()>()
        })
        .unwrap_err();
    assert!(matches!(err, AppError::MeantToDoThat));
    assert!(db.committed().is_empty());
    assert!(db.outside_transaction(&tm));
}

/// AtomicErrorsTests.test_atomic_prevents_queries_in_broken_transaction.
/// Django marks the block after a swallowed IntegrityError and refuses
/// every later query in it. txmanager differs by backend, deliberately:
/// on SQLite a failed statement undoes only itself, so the block goes on
/// and commits (the closure chose to swallow the error); on PostgreSQL the
/// server aborted the transaction, so the next statement fails and the
/// block ends with `BlockAborted`, keeping nothing. Either way the row
/// committed before the block is kept.
fn a_swallowed_integrity_error_inside_a_block<H: Harness>()
where
    TransactionManager<H::B>: Statements,
    for<'a> Transaction<'a, H::B>: Statements,
{
    let db = H::new();
    let mut tm = db.manager();
    tm.insert_with_id(1, "Archibald", "Haddock").unwrap();
    let result = tm.commit_on_success(|tx| {
        let err = tx.insert_with_id(1, "Cuthbert", "Calculus").unwrap_err();
        assert!(matches!(err, Error::Statement { .. }), "{err:?}");
        let update = tx.raw("UPDATE reporter SET last_name = 'Calculus' WHERE id = 1");
        assert_eq!(update.is_err(), H::ERROR_ABORTS, "{update:?}");
        Ok::<_, Error>(())
    });
    if H::ERROR_ABORTS {
        assert!(matches!(result, Err(Error::BlockAborted)), "{result:?}");
        assert_eq!(db.committed(), ["Archibald Haddock"]);
    } else {
        result.unwrap();
        assert_eq!(db.committed(), ["Archibald Calculus"]);
    }
    assert!(db.outside_transaction(&tm));
}

/// AtomicErrorsTests.test_atomic_allows_queries_after_fixing_transaction,
/// which Django skips on databases with atomic transactions (PostgreSQL):
/// SQLite only. After the swallowed error, clearing the mark (a no-op here:
/// nothing set it) and updating commits the update.
#[test]
fn queries_after_a_swallowed_integrity_error_commit_on_sqlite() {
    let db = common::Db::new();
    let mut tm = db.manager();
    tm.insert_with_id(1, "Archibald", "Haddock").unwrap();
    tm.commit_on_success(|tx| {
        assert!(tx.insert_with_id(1, "Cuthbert", "Calculus").is_err());
        tx.set_rollback(false)?;
        tx.raw("UPDATE reporter SET last_name = 'Calculus' WHERE id = 1")
    })
    .unwrap();
    assert_eq!(db.committed(), ["Archibald Calculus"]);
    assert!(tm.is_autocommit());
}

// ---------------------------------------------------------------------------
// NonAutocommitTests (autocommit off: a commit_manually block)
// ---------------------------------------------------------------------------

/// NonAutocommitTests.test_orm_query_after_error_and_rollback: after an
/// integrity error and `rollback()`, queries work again, on both backends.
fn queries_work_after_an_error_and_a_manual_rollback<H: Harness>()
where
    TransactionManager<H::B>: Statements,
    for<'a> Transaction<'a, H::B>: Statements,
{
    let db = H::new();
    let mut tm = db.manager();
    tm.commit_manually(|tx| {
        tx.insert_with_id(1, "Archibald", "Haddock")?;
        let err = tx.insert_with_id(1, "Cuthbert", "Calculus").unwrap_err();
        assert!(matches!(err, Error::Statement { .. }), "{err:?}");
        tx.rollback()?;
        assert!(tx.names()?.is_empty());
        tx.insert("Tintin", "")?;
        tx.commit()
    })
    .unwrap();
    assert_eq!(db.committed(), ["Tintin "]);
    assert!(db.outside_transaction(&tm));
}

/// NonAutocommitTests.test_orm_query_without_autocommit: a statement runs
/// in a manual block, and the cleanup's rollback takes it back.
fn a_statement_runs_in_a_manual_block_and_its_rollback_takes_it_back<H: Harness>()
where
    TransactionManager<H::B>: Statements,
    for<'a> Transaction<'a, H::B>: Statements,
{
    let db = H::new();
    let mut tm = db.manager();
    tm.commit_manually(|tx| {
        tx.insert("Tintin", "")?;
        assert_eq!(tx.names()?, ["Tintin "]);
        tx.rollback()
    })
    .unwrap();
    assert!(db.committed().is_empty());
    assert!(db.outside_transaction(&tm));
}

// ---------------------------------------------------------------------------
// DurableTransactionTests (DurableTestsBase). `atomic(durable=True)` promises
// an outermost block. In txmanager a function that needs the manager
// (`&mut TransactionManager`) can only open an outermost block: inside a
// block the manager is borrowed by the handle, so nesting one is a compile
// error (test_nested_both_durable, test_nested_inner_durable: the
// second `compile_fail` doctest on `TransactionManager`).
// ---------------------------------------------------------------------------

/// DurableTestsBase.test_commit and test_sequence_of_durables.
fn outermost_blocks_commit_one_after_another<H: Harness>()
where
    TransactionManager<H::B>: Statements,
    for<'a> Transaction<'a, H::B>: Statements,
{
    let db = H::new();
    let mut tm = db.manager();
    tm.commit_on_success(|tx| tx.insert("Tintin", "1")).unwrap();
    assert_eq!(db.committed(), ["Tintin 1"]);
    tm.commit_on_success(|tx| tx.insert("Tintin", "2")).unwrap();
    assert_eq!(db.committed(), ["Tintin 1", "Tintin 2"]);
    assert!(db.outside_transaction(&tm));
}

/// DurableTestsBase.test_nested_outer_durable.
fn an_outermost_block_with_a_nested_block_commits_both<H: Harness>()
where
    TransactionManager<H::B>: Statements,
    for<'a> Transaction<'a, H::B>: Statements,
{
    let db = H::new();
    let mut tm = db.manager();
    tm.commit_on_success(|tx| {
        tx.insert("Tintin", "")?;
        tx.commit_on_success(|inner| inner.insert("Archibald", "Haddock"))?;
        assert!(db.committed().is_empty(), "the nested block committed");
        Ok::<_, Error>(())
    })
    .unwrap();
    assert_eq!(db.committed(), ["Tintin ", "Archibald Haddock"]);
}

// ---------------------------------------------------------------------------
// transaction_hooks: TestConnectionOnCommit. `do(n)` creates a thing and
// queues a hook that notes `n`; `assertDone` checks the notes and what
// committed.
// ---------------------------------------------------------------------------

type Notes = Arc<Mutex<Vec<u32>>>;

fn do_<B: txmanager::Backend>(
    tx: &mut Transaction<'_, B>,
    notes: &Notes,
    n: u32,
) -> Result<(), AppError>
where
    for<'a> Transaction<'a, B>: Statements,
{
    tx.insert(&n.to_string(), "thing")?;
    let notes = Arc::clone(notes);
    tx.on_commit(move || notes.lock().unwrap().push(n));
    Ok(())
}

fn notified(notes: &Notes) -> Vec<u32> {
    notes.lock().unwrap().clone()
}

fn assert_done<H: Harness>(db: &H, notes: &Notes, nums: &[u32]) {
    assert_eq!(notified(notes), nums, "hooks that ran");
    let things: Vec<String> = nums.iter().map(|n| format!("{n} thing")).collect();
    assert_eq!(db.committed(), things, "what committed");
}

/// TestConnectionOnCommit.test_executes_immediately_if_no_transaction.
fn a_hook_in_an_autocommit_block_runs_at_once<H: Harness>()
where
    TransactionManager<H::B>: Statements,
    for<'a> Transaction<'a, H::B>: Statements,
{
    let db = H::new();
    let mut tm = db.manager();
    let notes = Notes::default();
    tm.autocommit(|tx| {
        do_(tx, &notes, 1)?;
        assert_eq!(notified(&notes), [1], "not run at once");
        Ok::<_, AppError>(())
    })
    .unwrap();
    assert_done(&db, &notes, &[1]);
}

/// TestConnectionOnCommit.test_delays_execution_until_after_transaction_commit.
fn a_hook_waits_for_the_commit<H: Harness>()
where
    TransactionManager<H::B>: Statements,
    for<'a> Transaction<'a, H::B>: Statements,
{
    let db = H::new();
    let mut tm = db.manager();
    let notes = Notes::default();
    tm.commit_on_success(|tx| {
        do_(tx, &notes, 1)?;
        assert!(notified(&notes).is_empty());
        Ok::<_, AppError>(())
    })
    .unwrap();
    assert_done(&db, &notes, &[1]);
}

/// TestConnectionOnCommit.test_does_not_execute_if_transaction_rolled_back
/// and test_hooks_cleared_after_rollback.
fn a_hook_of_a_rolled_back_block_never_runs_and_is_cleared<H: Harness>()
where
    TransactionManager<H::B>: Statements,
    for<'a> Transaction<'a, H::B>: Statements,
{
    let db = H::new();
    let mut tm = db.manager();
    let notes = Notes::default();
    assert_oops(tm.commit_on_success(|tx| {
        do_(tx, &notes, 1)?;
        oops::<()>()
    }));
    assert_done(&db, &notes, &[]);
    tm.commit_on_success(|tx| do_(tx, &notes, 2)).unwrap();
    assert_done(&db, &notes, &[2]);
}

/// TestConnectionOnCommit.test_executes_only_after_final_transaction_committed.
fn a_hook_from_a_nested_block_waits_for_the_outermost_commit<H: Harness>()
where
    TransactionManager<H::B>: Statements,
    for<'a> Transaction<'a, H::B>: Statements,
{
    let db = H::new();
    let mut tm = db.manager();
    let notes = Notes::default();
    tm.commit_on_success(|tx| {
        tx.commit_on_success(|inner| {
            do_(inner, &notes, 1)?;
            assert!(notified(&notes).is_empty());
            Ok::<_, AppError>(())
        })?;
        assert!(
            notified(&notes).is_empty(),
            "ran at the savepoint's release"
        );
        Ok::<_, AppError>(())
    })
    .unwrap();
    assert_done(&db, &notes, &[1]);
}

/// TestConnectionOnCommit.test_discards_hooks_from_rolled_back_savepoint.
fn hooks_of_a_rolled_back_savepoint_are_dropped_and_the_others_run<H: Harness>()
where
    TransactionManager<H::B>: Statements,
    for<'a> Transaction<'a, H::B>: Statements,
{
    let db = H::new();
    let mut tm = db.manager();
    let notes = Notes::default();
    tm.commit_on_success(|tx| {
        tx.commit_on_success(|inner| do_(inner, &notes, 1))?;
        assert_oops(tx.commit_on_success(|inner| {
            do_(inner, &notes, 2)?;
            oops::<()>()
        }));
        tx.commit_on_success(|inner| do_(inner, &notes, 3))
    })
    .unwrap();
    assert_done(&db, &notes, &[1, 3]);
}

/// TestConnectionOnCommit.test_no_hooks_run_from_failed_transaction.
fn no_hook_runs_when_the_outer_block_fails<H: Harness>()
where
    TransactionManager<H::B>: Statements,
    for<'a> Transaction<'a, H::B>: Statements,
{
    let db = H::new();
    let mut tm = db.manager();
    let notes = Notes::default();
    assert_oops(tm.commit_on_success(|tx| {
        tx.commit_on_success(|inner| do_(inner, &notes, 1))?;
        oops::<()>()
    }));
    assert_done(&db, &notes, &[]);
}

/// TestConnectionOnCommit.test_inner_savepoint_rolled_back_with_outer.
fn a_released_savepoints_hooks_are_dropped_with_its_enclosing_savepoint<H: Harness>()
where
    TransactionManager<H::B>: Statements,
    for<'a> Transaction<'a, H::B>: Statements,
{
    let db = H::new();
    let mut tm = db.manager();
    let notes = Notes::default();
    tm.commit_on_success(|tx| {
        assert_oops(tx.commit_on_success(|middle| {
            middle.commit_on_success(|inner| do_(inner, &notes, 1))?;
            oops::<()>()
        }));
        do_(tx, &notes, 2)
    })
    .unwrap();
    assert_done(&db, &notes, &[2]);
}

/// TestConnectionOnCommit.test_inner_savepoint_does_not_affect_outer.
fn a_failed_inner_savepoint_keeps_the_enclosing_blocks_hooks<H: Harness>()
where
    TransactionManager<H::B>: Statements,
    for<'a> Transaction<'a, H::B>: Statements,
{
    let db = H::new();
    let mut tm = db.manager();
    let notes = Notes::default();
    tm.commit_on_success(|tx| {
        tx.commit_on_success(|middle| {
            do_(middle, &notes, 1)?;
            assert_oops(middle.commit_on_success(|_| oops::<()>()));
            Ok::<_, AppError>(())
        })
    })
    .unwrap();
    assert_done(&db, &notes, &[1]);
}

/// TestConnectionOnCommit.test_runs_hooks_in_order_registered.
fn hooks_run_in_the_order_they_were_queued_across_nesting<H: Harness>()
where
    TransactionManager<H::B>: Statements,
    for<'a> Transaction<'a, H::B>: Statements,
{
    let db = H::new();
    let mut tm = db.manager();
    let notes = Notes::default();
    tm.commit_on_success(|tx| {
        do_(tx, &notes, 1)?;
        tx.commit_on_success(|inner| do_(inner, &notes, 2))?;
        do_(tx, &notes, 3)
    })
    .unwrap();
    assert_done(&db, &notes, &[1, 2, 3]);
}

/// TestConnectionOnCommit.test_hooks_cleared_after_successful_commit.
fn hooks_run_once_and_are_cleared_after_a_commit<H: Harness>()
where
    TransactionManager<H::B>: Statements,
    for<'a> Transaction<'a, H::B>: Statements,
{
    let db = H::new();
    let mut tm = db.manager();
    let notes = Notes::default();
    tm.commit_on_success(|tx| do_(tx, &notes, 1)).unwrap();
    tm.commit_on_success(|tx| do_(tx, &notes, 2)).unwrap();
    assert_done(&db, &notes, &[1, 2]);
}

/// TestConnectionOnCommit.test_error_in_hook_doesnt_prevent_clearing_hooks:
/// a plain hook that panics propagates the panic to the block's caller
/// (the commit has happened), and the next block runs only its own hook.
fn a_panicking_hook_does_not_leave_hooks_behind<H: Harness>()
where
    TransactionManager<H::B>: Statements,
    for<'a> Transaction<'a, H::B>: Statements,
{
    let db = H::new();
    let mut tm = db.manager();
    let notes = Notes::default();
    let panicked = panic::catch_unwind(AssertUnwindSafe(|| {
        tm.commit_on_success(|tx| {
            tx.on_commit(|| panic!("ForcedError"));
            Ok::<_, Error>(())
        })
    }));
    assert!(panicked.is_err(), "the hook's panic was swallowed");
    assert!(db.outside_transaction(&tm));
    tm.commit_on_success(|tx| do_(tx, &notes, 1)).unwrap();
    assert_done(&db, &notes, &[1]);
}

/// TestConnectionOnCommit.test_robust_if_no_transaction: a robust hook that
/// fails in an autocommit block runs at once, and the failure is logged,
/// not raised.
fn a_failing_robust_hook_in_an_autocommit_block_does_not_fail_it<H: Harness>()
where
    TransactionManager<H::B>: Statements,
    for<'a> Transaction<'a, H::B>: Statements,
{
    let db = H::new();
    let mut tm = db.manager();
    let notes = Notes::default();
    tm.autocommit(|tx| {
        tx.on_commit_robust(|| Err("ForcedError"));
        do_(tx, &notes, 1)
    })
    .unwrap();
    assert_done(&db, &notes, &[1]);
}

/// TestConnectionOnCommit.test_robust_transaction: robust hooks that fail
/// or panic after a commit do not stop the hooks after them.
fn failing_robust_hooks_after_a_commit_do_not_stop_the_later_hooks<H: Harness>()
where
    TransactionManager<H::B>: Statements,
    for<'a> Transaction<'a, H::B>: Statements,
{
    let db = H::new();
    let mut tm = db.manager();
    let notes = Notes::default();
    tm.commit_on_success(|tx| {
        tx.on_commit_robust(|| Err("ForcedError"));
        do_(tx, &notes, 1)?;
        tx.on_commit_robust(|| -> Result<(), &'static str> { panic!("ForcedError") });
        do_(tx, &notes, 2)
    })
    .unwrap();
    assert_done(&db, &notes, &[1, 2]);
}

/// TestConnectionOnCommit.test_raises_exception_non_autocommit_mode.
/// Django refuses `on_commit` with autocommit off; txmanager's manual block
/// deliberately differs: the hook runs after the block's next `commit()`,
/// and is dropped by `rollback()`.
fn a_hook_in_a_manual_block_runs_after_the_next_commit<H: Harness>()
where
    TransactionManager<H::B>: Statements,
    for<'a> Transaction<'a, H::B>: Statements,
{
    let db = H::new();
    let mut tm = db.manager();
    let notes = Notes::default();
    tm.commit_manually(|tx| {
        do_(tx, &notes, 1)?;
        tx.rollback()?;
        do_(tx, &notes, 2)?;
        assert!(notified(&notes).is_empty());
        tx.commit()?;
        assert_eq!(notified(&notes), [2]);
        Ok::<_, AppError>(())
    })
    .unwrap();
    assert_done(&db, &notes, &[2]);
}

for_each_backend!(
    a_block_that_succeeds_keeps_its_work,
    a_block_that_succeeds_inside_a_transaction_keeps_its_work,
    a_block_that_succeeds_in_a_manual_block_keeps_its_work_until_that_rolls_back,
    a_block_that_fails_keeps_nothing,
    a_block_that_fails_inside_a_transaction_keeps_nothing,
    a_block_that_fails_in_a_manual_block_keeps_nothing,
    nested_blocks_that_both_succeed_keep_both,
    nested_blocks_that_both_succeed_inside_a_transaction_keep_both,
    nested_blocks_that_both_succeed_in_a_manual_block_keep_both,
    a_failed_inner_block_loses_only_its_own_work,
    a_failed_inner_block_inside_a_transaction_loses_only_its_own_work,
    a_failed_inner_block_in_a_manual_block_loses_only_its_own_work,
    a_failed_outer_block_loses_its_succeeded_inner_block,
    a_failed_outer_block_inside_a_transaction_loses_its_succeeded_inner_block,
    a_failed_outer_block_in_a_manual_block_loses_its_succeeded_inner_block,
    nested_blocks_that_both_fail_keep_nothing,
    nested_blocks_that_both_fail_inside_a_transaction_keep_nothing,
    nested_blocks_that_both_fail_in_a_manual_block_keep_nothing,
    one_wrapped_function_used_at_two_levels_keeps_both,
    one_wrapped_function_used_at_two_levels_inside_a_transaction_keeps_both,
    one_wrapped_function_used_at_two_levels_in_a_manual_block_keeps_both,
    one_wrapped_function_failing_at_the_inner_level_loses_only_the_inner_work,
    one_wrapped_function_failing_at_the_inner_level_inside_a_transaction_loses_only_the_inner_work,
    one_wrapped_function_failing_at_the_inner_level_in_a_manual_block_loses_only_the_inner_work,
    one_wrapped_function_failing_at_the_outer_level_keeps_nothing,
    one_wrapped_function_failing_at_the_outer_level_inside_a_transaction_keeps_nothing,
    one_wrapped_function_failing_at_the_outer_level_in_a_manual_block_keeps_nothing,
    a_block_marked_to_roll_back_keeps_nothing_though_it_succeeds,
    a_block_marked_to_roll_back_inside_a_transaction_keeps_nothing_though_it_succeeds,
    a_block_marked_to_roll_back_in_a_manual_block_keeps_nothing_though_it_succeeds,
    a_database_error_in_a_nested_block_leaves_the_outer_block_unmarked_and_its_work_kept,
    a_database_error_in_a_nested_block_inside_a_transaction_leaves_the_outer_work_kept,
    a_database_error_in_a_nested_block_in_a_manual_block_leaves_the_outer_work_kept,
    autocommit_inside_a_block_is_refused_and_the_block_goes_on,
    commit_and_rollback_inside_a_block_are_refused_and_change_nothing,
    a_swallowed_integrity_error_inside_a_block,
    queries_work_after_an_error_and_a_manual_rollback,
    a_statement_runs_in_a_manual_block_and_its_rollback_takes_it_back,
    outermost_blocks_commit_one_after_another,
    an_outermost_block_with_a_nested_block_commits_both,
    a_hook_in_an_autocommit_block_runs_at_once,
    a_hook_waits_for_the_commit,
    a_hook_of_a_rolled_back_block_never_runs_and_is_cleared,
    a_hook_from_a_nested_block_waits_for_the_outermost_commit,
    hooks_of_a_rolled_back_savepoint_are_dropped_and_the_others_run,
    no_hook_runs_when_the_outer_block_fails,
    a_released_savepoints_hooks_are_dropped_with_its_enclosing_savepoint,
    a_failed_inner_savepoint_keeps_the_enclosing_blocks_hooks,
    hooks_run_in_the_order_they_were_queued_across_nesting,
    hooks_run_once_and_are_cleared_after_a_commit,
    a_panicking_hook_does_not_leave_hooks_behind,
    a_failing_robust_hook_in_an_autocommit_block_does_not_fail_it,
    failing_robust_hooks_after_a_commit_do_not_stop_the_later_hooks,
    a_hook_in_a_manual_block_runs_after_the_next_commit,
);
