//! `on_commit` hooks, and SQLite ending a transaction on its own.

mod common;

use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, Mutex};

use common::{AppError, Db, INSERT};
use txmanager::Error;

type Log = Arc<Mutex<Vec<&'static str>>>;

fn log() -> Log {
    Arc::new(Mutex::new(Vec::new()))
}

fn entries(log: &Log) -> Vec<&'static str> {
    log.lock().unwrap().clone()
}

fn push(log: &Log, entry: &'static str) -> impl FnOnce() + Send + 'static {
    let log = Arc::clone(log);
    move || log.lock().unwrap().push(entry)
}

// ---------- hooks ----------

#[test]
fn hooks_run_after_the_outermost_commit_in_order() {
    let db = Db::new();
    let mut tm = db.manager();
    let log = log();
    let path = db.path.clone();
    tm.commit_on_success(|tx| {
        tx.execute(INSERT, ("Alice", "Smith"))?;
        tx.on_commit(push(&log, "first"));
        tx.commit_on_success(|inner| {
            inner.on_commit(push(&log, "second"));
            Ok::<_, Error>(())
        })?;
        let seen = Arc::clone(&log);
        tx.on_commit(move || {
            // The data is committed by the time a hook runs.
            let n: i64 = txmanager::rusqlite::Connection::open(&path)
                .unwrap()
                .query_row("SELECT count(*) FROM reporter", [], |r| r.get(0))
                .unwrap();
            assert_eq!(n, 1);
            seen.lock().unwrap().push("third");
        });
        assert!(
            entries(&log).is_empty(),
            "no hook may run before the commit"
        );
        Ok::<_, Error>(())
    })
    .unwrap();
    assert_eq!(entries(&log), ["first", "second", "third"]);
}

#[test]
fn hooks_are_dropped_when_the_transaction_rolls_back() {
    let db = Db::new();
    let mut tm = db.manager();
    let log = log();
    let result: Result<(), AppError> = tm.commit_on_success(|tx| {
        tx.on_commit(push(&log, "never"));
        Err(AppError::MeantToDoThat)
    });
    assert!(result.is_err());
    tm.commit_on_success(|tx| {
        tx.on_commit(push(&log, "next block"));
        Ok::<_, Error>(())
    })
    .unwrap();
    assert_eq!(
        entries(&log),
        ["next block"],
        "dropped hooks must not run later either"
    );
}

#[test]
fn a_nested_blocks_hooks_are_dropped_when_its_savepoint_rolls_back() {
    let db = Db::new();
    let mut tm = db.manager();
    let log = log();
    tm.commit_on_success(|tx| {
        tx.on_commit(push(&log, "outer"));
        let _: Result<(), AppError> = tx.commit_on_success(|inner| {
            inner.on_commit(push(&log, "rolled back"));
            Err(AppError::MeantToDoThat)
        });
        tx.commit_on_success(|inner| {
            inner.on_commit(push(&log, "released"));
            Ok::<_, Error>(())
        })
    })
    .unwrap();
    assert_eq!(entries(&log), ["outer", "released"]);
}

#[test]
fn a_hook_in_autocommit_mode_runs_at_once() {
    let db = Db::new();
    let mut tm = db.manager();
    let log = log();
    tm.autocommit(|tx| {
        tx.on_commit(push(&log, "now"));
        assert_eq!(entries(&log), ["now"]);
        Ok::<_, Error>(())
    })
    .unwrap();
}

#[test]
fn manual_commit_runs_the_hooks_so_far_and_rollback_drops_them() {
    let db = Db::new();
    let mut tm = db.manager();
    let log = log();
    tm.commit_manually(|tx| {
        tx.on_commit(push(&log, "committed"));
        tx.commit()?;
        assert_eq!(entries(&log), ["committed"]);
        tx.on_commit(push(&log, "rolled back"));
        tx.rollback()?;
        tx.on_commit(push(&log, "never committed"));
        Ok::<_, Error>(())
    })
    .unwrap();
    assert_eq!(entries(&log), ["committed"]);
}

#[test]
fn a_panicking_hook_leaves_the_data_committed_and_the_manager_usable() {
    let db = Db::new();
    let mut tm = db.manager();
    let log = log();
    let caught = panic::catch_unwind(AssertUnwindSafe(|| {
        let _ = tm.commit_on_success(|tx| {
            tx.execute(INSERT, ("Alice", "Smith"))?;
            tx.on_commit(|| panic!("hook boom"));
            tx.on_commit(push(&log, "after the panic"));
            Ok::<_, Error>(())
        });
    }));
    assert!(caught.is_err(), "the hook's panic reaches the caller");
    assert_eq!(db.committed(), ["Alice Smith"]);
    assert!(
        entries(&log).is_empty(),
        "hooks after a panicking one are dropped"
    );
    assert!(tm.is_autocommit());
    tm.commit_on_success(|tx| {
        tx.execute(INSERT, ("Ben", "Jones"))?;
        tx.on_commit(push(&log, "later block"));
        Ok::<_, Error>(())
    })
    .unwrap();
    assert_eq!(db.committed(), ["Alice Smith", "Ben Jones"]);
    assert_eq!(entries(&log), ["later block"]);
}

// ---------- SQLite ending the transaction on its own ----------

#[test]
fn sqlite_rolling_back_on_its_own_is_detected() {
    // A RAISE(ROLLBACK) trigger makes SQLite roll back the whole transaction
    // itself, as it does for SQLITE_FULL and some I/O errors.
    let db = Db::new();
    db.observer()
        .execute_batch(
            "CREATE TRIGGER no_mallory BEFORE INSERT ON reporter
             WHEN NEW.first_name = 'Mallory' BEGIN SELECT RAISE(ROLLBACK, 'no Mallory'); END;",
        )
        .unwrap();
    let mut tm = db.manager();
    let err = tm
        .commit_on_success(|tx| {
            tx.execute(INSERT, ("Alice", "Smith"))?;
            let first = tx.execute(INSERT, ("Mallory", "X")).unwrap_err();
            assert!(
                matches!(first, Error::Statement { .. }),
                "the statement's own error comes first"
            );
            let refused = tx.execute(INSERT, ("Ben", "Jones")).unwrap_err();
            assert!(
                matches!(refused, Error::TransactionClosedUnderneath { .. }),
                "{refused:?}"
            );
            Ok::<_, Error>(())
        })
        .unwrap_err();
    assert!(
        matches!(err, Error::TransactionClosedUnderneath { .. }),
        "{err:?}"
    );
    assert!(db.committed().is_empty());
    assert!(tm.is_autocommit());
}

#[test]
fn a_hook_queued_after_a_manual_commit_runs_at_the_next_commit_even_with_nothing_written() {
    // Found by the property test: the second commit has no transaction to
    // commit, but it is still the commit point for the hook.
    let db = Db::new();
    let mut tm = db.manager();
    let log = log();
    tm.commit_manually(|tx| {
        tx.commit()?;
        tx.on_commit(push(&log, "queued between commits"));
        tx.commit()
    })
    .unwrap();
    assert_eq!(entries(&log), ["queued between commits"]);
}
