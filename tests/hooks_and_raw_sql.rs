//! `on_commit` hooks; raw transaction-control SQL; the broken state.

mod common;

use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, Mutex};

use common::{AppError, Db, INSERT};
use txmanager::{Error, Step};

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

// ---------- raw transaction control ----------

#[test]
fn a_raw_commit_inside_a_block_is_detected_and_stops_the_block() {
    let db = Db::new();
    let mut tm = db.manager();
    let err = tm
        .commit_on_success(|tx| {
            tx.execute(INSERT, ("Alice", "Smith"))?;
            let err = tx.execute("COMMIT", []).unwrap_err();
            assert!(
                matches!(&err, Error::TransactionClosedUnderneath { statement: Some(s) } if s == "COMMIT"),
                "{err:?}"
            );
            // Later statements would run in autocommit mode: they are refused.
            let refused = tx.execute(INSERT, ("Ben", "Jones")).unwrap_err();
            assert!(matches!(refused, Error::TransactionClosedUnderneath { .. }));
            Ok::<_, Error>(()) // even if the closure swallows the error
        })
        .unwrap_err();
    assert!(
        matches!(err, Error::TransactionClosedUnderneath { .. }),
        "{err:?}"
    );
    assert_eq!(
        db.committed(),
        ["Alice Smith"],
        "the raw COMMIT did commit; nothing after it"
    );
    assert!(tm.is_autocommit());
    tm.commit_on_success(|tx| tx.execute(INSERT, ("Carol", "Doe")))
        .unwrap();
    assert_eq!(db.committed(), ["Alice Smith", "Carol Doe"]);
}

#[test]
fn a_raw_rollback_in_a_nested_block_stops_every_enclosing_block() {
    let db = Db::new();
    let mut tm = db.manager();
    let err = tm
        .commit_on_success(|tx| {
            tx.execute(INSERT, ("Alice", "Smith"))?;
            let inner = tx.commit_on_success(|inner| inner.execute("ROLLBACK", []).map(drop));
            assert!(matches!(
                inner,
                Err(Error::TransactionClosedUnderneath { .. })
            ));
            tx.execute(INSERT, ("Ben", "Jones")).map(drop)
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
fn a_raw_commit_through_a_prepared_statement_is_noticed_when_the_block_ends() {
    let db = Db::new();
    let mut tm = db.manager();
    let err = tm
        .commit_on_success(|tx| {
            tx.execute(INSERT, ("Alice", "Smith"))?;
            tx.prepare("COMMIT")?.execute([])?;
            Ok::<_, Error>(())
        })
        .unwrap_err();
    assert!(
        matches!(err, Error::TransactionClosedUnderneath { statement: None }),
        "{err:?}"
    );
    assert!(tm.is_autocommit());
}

#[test]
fn a_raw_begin_in_autocommit_mode_is_rolled_back_and_reported() {
    let db = Db::new();
    let mut tm = db.manager();
    let err = tm.execute("BEGIN", []).unwrap_err();
    assert!(
        matches!(
            err,
            Error::TransactionOpenedUnderneath { statement: Some(_) }
        ),
        "{err:?}"
    );
    assert!(tm.is_autocommit());

    let err = tm
        .autocommit(|tx| {
            tx.prepare("BEGIN")?.execute([])?;
            tx.prepare(INSERT)?.execute(("Alice", "Smith"))?;
            Ok::<_, Error>(())
        })
        .unwrap_err();
    assert!(
        matches!(err, Error::TransactionOpenedUnderneath { statement: None }),
        "{err:?}"
    );
    assert!(
        db.committed().is_empty(),
        "the stray transaction was rolled back"
    );
    assert!(tm.is_autocommit());
}

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

// ---------- broken state ----------

#[test]
fn a_failed_savepoint_rollback_breaks_the_manager_until_reset() {
    let db = Db::new();
    let mut tm = db.manager();
    let result: Result<(), AppError> = tm.commit_on_success(|tx| {
        tx.execute(INSERT, ("Alice", "Smith"))?;
        let inner: Result<(), AppError> = tx.commit_on_success(|inner| {
            // Destroy our savepoint behind txmanager's back, then fail.
            inner.execute_batch("RELEASE SAVEPOINT \"txmanager_sp_1\"")?;
            Err(AppError::MeantToDoThat)
        });
        assert!(
            matches!(inner, Err(AppError::MeantToDoThat)),
            "the first error wins"
        );
        let refused = tx.execute(INSERT, ("Ben", "Jones")).unwrap_err();
        assert!(matches!(refused, Error::Broken { .. }), "{refused:?}");
        Ok(())
    });
    match result {
        Err(AppError::Db(Error::Broken { reason })) => {
            assert!(reason.contains("ROLLBACK TO SAVEPOINT failed"), "{reason}");
        }
        other => panic!("expected a broken manager, got {other:?}"),
    }
    assert!(
        db.committed().is_empty(),
        "a broken block must never commit"
    );
    assert!(tm.is_broken());
    let refused = tm.commit_on_success(|_| Ok::<_, Error>(())).unwrap_err();
    assert!(matches!(refused, Error::Broken { .. }));
    assert!(matches!(
        tm.execute(INSERT, ("Carol", "Doe")),
        Err(Error::Broken { .. })
    ));

    tm.reset().unwrap();
    assert!(!tm.is_broken());
    assert!(tm.is_autocommit());
    tm.commit_on_success(|tx| tx.execute(INSERT, ("Carol", "Doe")))
        .unwrap();
    assert_eq!(db.committed(), ["Carol Doe"]);
}

#[test]
fn a_failed_release_is_reported_as_the_release_step() {
    let db = Db::new();
    let mut tm = db.manager();
    let err = tm
        .commit_on_success(|tx| {
            tx.commit_on_success(|inner| {
                inner.execute_batch("RELEASE SAVEPOINT \"txmanager_sp_1\"")
            })
        })
        .unwrap_err();
    // The inner block's RELEASE fails first; its error is what the outer returned.
    assert_eq!(err.step(), Some(Step::ReleaseSavepoint), "{err:?}");
    assert!(tm.is_broken());
    tm.reset().unwrap();
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
