//! The three modes, each rule checked through a second connection on a real file.

mod common;

use std::panic::{self, AssertUnwindSafe};
use std::time::Duration;

use common::{AppError, Db, INSERT};
use txmanager::rusqlite::ErrorCode;
use txmanager::{Error, Mode, Settings};

// ---------- autocommit ----------

#[test]
fn default_execute_commits_each_statement_as_it_runs() {
    let db = Db::new();
    let tm = db.manager();
    tm.execute(INSERT, ("Alice", "Smith")).unwrap();
    assert_eq!(db.committed(), ["Alice Smith"]);
    tm.execute(INSERT, ("Ben", "Jones")).unwrap();
    assert_eq!(db.committed(), ["Alice Smith", "Ben Jones"]);
    assert!(tm.is_autocommit());
}

#[test]
fn autocommit_block_commits_each_statement_before_the_block_ends() {
    let db = Db::new();
    let mut tm = db.manager();
    tm.autocommit(|tx| {
        tx.execute(INSERT, ("Alice", "Smith"))?;
        assert_eq!(
            db.committed(),
            ["Alice Smith"],
            "visible to others mid-block"
        );
        assert_eq!(tx.mode(), Mode::Autocommit);
        Ok::<_, Error>(())
    })
    .unwrap();
    assert!(tm.is_autocommit());
}

#[test]
fn autocommit_block_that_fails_keeps_the_writes_made_before_failing() {
    let db = Db::new();
    let mut tm = db.manager();
    let result: Result<(), AppError> = tm.autocommit(|tx| {
        tx.execute(INSERT, ("Ben", "Jones"))?;
        Err(AppError::MeantToDoThat)
    });
    assert!(matches!(result, Err(AppError::MeantToDoThat)));
    assert_eq!(db.committed(), ["Ben Jones"]);
    assert!(tm.is_autocommit());
}

// ---------- commit_on_success ----------

#[test]
fn commit_on_success_commits_on_ok_and_nothing_is_visible_before() {
    let db = Db::new();
    let mut tm = db.manager();
    tm.commit_on_success(|tx| {
        tx.execute(INSERT, ("Alice", "Smith"))?;
        tx.execute(INSERT, ("Ben", "Jones"))?;
        assert!(
            db.committed().is_empty(),
            "uncommitted work leaked to another connection"
        );
        Ok::<_, Error>(())
    })
    .unwrap();
    assert_eq!(db.committed(), ["Alice Smith", "Ben Jones"]);
    assert!(tm.is_autocommit());
}

#[test]
fn commit_on_success_rolls_back_on_err_and_returns_the_callers_error() {
    let db = Db::new();
    let mut tm = db.manager();
    let result: Result<(), AppError> = tm.commit_on_success(|tx| {
        tx.execute(INSERT, ("Carol", "Doe"))?;
        Err(AppError::MeantToDoThat)
    });
    assert!(matches!(result, Err(AppError::MeantToDoThat)));
    assert!(db.committed().is_empty());
    assert!(tm.is_autocommit());
}

#[test]
fn commit_on_success_accepts_a_boxed_error_type() {
    type BoxError = Box<dyn std::error::Error + Send + Sync>;
    let db = Db::new();
    let mut tm = db.manager();
    let result: Result<(), BoxError> = tm.commit_on_success(|tx| {
        tx.execute(INSERT, ("Carol", "Doe"))?;
        Err("I meant to do that".into())
    });
    assert_eq!(result.unwrap_err().to_string(), "I meant to do that");
    assert!(db.committed().is_empty());
}

#[test]
fn commit_on_success_rolls_back_on_panic_and_the_panic_continues() {
    let db = Db::new();
    let mut tm = db.manager();
    let caught = panic::catch_unwind(AssertUnwindSafe(|| {
        let _ = tm.commit_on_success(|tx| {
            tx.execute(INSERT, ("Carol", "Doe"))?;
            panic!("boom");
            #[allow(unreachable_code)]
            Ok::<_, Error>(())
        });
    }));
    let payload = caught.expect_err("the panic must reach the caller");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"boom"));
    assert!(db.committed().is_empty());
    assert!(tm.is_autocommit());
    // The manager is healthy afterwards.
    tm.commit_on_success(|tx| tx.execute(INSERT, ("Ben", "Jones")))
        .unwrap();
    assert_eq!(db.committed(), ["Ben Jones"]);
}

#[test]
fn a_commit_failing_because_readers_hold_the_file_is_rolled_back_and_reported() {
    // Outside WAL, COMMIT needs an exclusive lock; an open reader blocks it.
    let db = Db::new();
    let settings = Settings::default()
        .with_wal(false)
        .with_busy_timeout(Duration::from_millis(50));
    let mut tm = db.manager_with(&settings);
    let reader = db.observer();
    reader
        .execute_batch("BEGIN; SELECT count(*) FROM reporter;")
        .unwrap();
    let err = tm
        .commit_on_success(|tx| tx.execute(INSERT, ("Alice", "Smith")))
        .unwrap_err();
    assert!(matches!(err, Error::CommitFailed { .. }), "{err:?}");
    assert_eq!(err.sqlite_error_code(), Some(ErrorCode::DatabaseBusy));
    assert!(tm.is_autocommit());
    reader.execute_batch("COMMIT").unwrap();
    assert!(
        db.committed().is_empty(),
        "the failed block must not be committed later"
    );
}

// ---------- commit_manually ----------

#[test]
fn commit_manually_commits_and_rolls_back_any_number_of_times() {
    let db = Db::new();
    let mut tm = db.manager();
    tm.commit_manually(|tx| {
        tx.execute(INSERT, ("Alice", "Smith"))?;
        tx.commit()?;
        assert_eq!(db.committed(), ["Alice Smith"], "commit() is a real commit");
        tx.execute(INSERT, ("Nobody", "Here"))?;
        tx.rollback()?;
        tx.execute(INSERT, ("Ben", "Jones"))?;
        assert_eq!(db.committed(), ["Alice Smith"]);
        tx.commit()?;
        tx.commit() // a second commit with nothing pending is harmless
    })
    .unwrap();
    assert_eq!(db.committed(), ["Alice Smith", "Ben Jones"]);
    assert!(tm.is_autocommit());
}

#[test]
fn commit_manually_ending_with_uncommitted_writes_rolls_back_and_fails() {
    let db = Db::new();
    let mut tm = db.manager();
    let err = tm
        .commit_manually(|tx| {
            tx.execute(INSERT, ("Carol", "Doe"))?;
            tx.commit()?;
            tx.execute(INSERT, ("David", "Davidson"))?;
            Ok::<_, Error>(()) // forgot to commit
        })
        .unwrap_err();
    assert!(matches!(err, Error::PendingCommitRollback));
    assert!(
        err.to_string()
            .contains("transaction managed block ended with pending COMMIT/ROLLBACK")
    );
    assert_eq!(
        db.committed(),
        ["Carol Doe"],
        "only the committed part survives"
    );
    assert!(tm.is_autocommit());
}

#[test]
fn commit_manually_block_that_only_reads_may_end_without_committing() {
    let db = Db::new();
    let mut tm = db.manager();
    let n: i64 = tm
        .commit_manually(|tx| tx.query_row("SELECT count(*) FROM reporter", [], |r| r.get(0)))
        .unwrap();
    assert_eq!(n, 0);
    assert!(tm.is_autocommit());
}

#[test]
fn commit_manually_counts_ddl_as_a_write() {
    let db = Db::new();
    let mut tm = db.manager();
    let err = tm
        .commit_manually(|tx| tx.execute("CREATE TABLE extra (x)", []).map(drop))
        .unwrap_err();
    assert!(matches!(err, Error::PendingCommitRollback));
    let tables: i64 = db
        .observer()
        .query_row(
            "SELECT count(*) FROM sqlite_schema WHERE name = 'extra'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(tables, 0, "the DDL must have been rolled back");
}

#[test]
fn commit_manually_sees_writes_made_through_a_prepared_statement() {
    let db = Db::new();
    let mut tm = db.manager();
    let err = tm
        .commit_manually(|tx| {
            let mut insert = tx.prepare(INSERT)?;
            insert.execute(("Eve", "Prepared"))?;
            Ok::<_, Error>(())
        })
        .unwrap_err();
    assert!(matches!(err, Error::PendingCommitRollback), "{err:?}");
    assert!(db.committed().is_empty());
}

#[test]
fn commit_manually_returns_the_callers_error_not_its_own_when_dirty() {
    // Django replaced the caller's exception with TransactionManagementError here.
    let db = Db::new();
    let mut tm = db.manager();
    let result: Result<(), AppError> = tm.commit_manually(|tx| {
        tx.execute(INSERT, ("David", "Davidson"))?;
        Err(AppError::MeantToDoThat)
    });
    assert!(matches!(result, Err(AppError::MeantToDoThat)));
    assert!(db.committed().is_empty());
    assert!(tm.is_autocommit());
}

#[test]
fn commit_manually_rolls_back_uncommitted_work_on_panic() {
    let db = Db::new();
    let mut tm = db.manager();
    let caught = panic::catch_unwind(AssertUnwindSafe(|| {
        let _ = tm.commit_manually(|tx| {
            tx.execute(INSERT, ("Alice", "Smith"))?;
            tx.commit()?;
            tx.execute(INSERT, ("Ben", "Jones"))?;
            panic!("boom");
            #[allow(unreachable_code)]
            Ok::<_, Error>(())
        });
    }));
    assert!(caught.is_err());
    assert_eq!(db.committed(), ["Alice Smith"]);
    assert!(tm.is_autocommit());
}

#[test]
fn commit_manually_after_commit_does_not_hold_the_write_lock_until_the_next_statement() {
    let db = Db::new();
    let mut tm = db.manager();
    tm.commit_manually(|tx| {
        tx.execute(INSERT, ("Alice", "Smith"))?;
        tx.commit()?;
        // Another writer can get in between our commit and our next statement.
        db.observer().execute(INSERT, ("Ben", "Jones")).unwrap();
        tx.execute(INSERT, ("Carol", "Doe"))?;
        tx.commit()
    })
    .unwrap();
    assert_eq!(db.committed(), ["Alice Smith", "Ben Jones", "Carol Doe"]);
}

// ---------- misuse ----------

#[test]
fn commit_outside_manual_mode_is_refused_and_the_transaction_stays_as_it_was() {
    let db = Db::new();
    let mut tm = db.manager();
    tm.commit_on_success(|tx| {
        tx.execute(INSERT, ("Alice", "Smith"))?;
        let err = tx.commit().unwrap_err();
        assert!(
            matches!(
                err,
                Error::NotInManualMode {
                    operation: "commit",
                    mode: Mode::CommitOnSuccess
                }
            ),
            "{err:?}"
        );
        assert!(
            db.committed().is_empty(),
            "a refused commit must not commit"
        );
        assert!(tx.is_dirty());
        Ok::<_, Error>(())
    })
    .unwrap();
    assert_eq!(db.committed(), ["Alice Smith"]);
}

#[test]
fn rollback_outside_manual_mode_is_refused_and_nothing_is_rolled_back() {
    let db = Db::new();
    let mut tm = db.manager();
    tm.commit_on_success(|tx| {
        tx.execute(INSERT, ("Alice", "Smith"))?;
        let err = tx.rollback().unwrap_err();
        assert!(matches!(
            err,
            Error::NotInManualMode {
                operation: "rollback",
                ..
            }
        ));
        Ok::<_, Error>(())
    })
    .unwrap();
    assert_eq!(db.committed(), ["Alice Smith"]);

    let err = tm.autocommit(|tx| tx.rollback()).unwrap_err();
    assert!(matches!(
        err,
        Error::NotInManualMode {
            mode: Mode::Autocommit,
            ..
        }
    ));
}

#[test]
fn a_failed_begin_is_reported_as_the_begin_step_and_the_closure_does_not_run() {
    let db = Db::new();
    let mut tm = db.manager_with(&Settings::default().with_busy_timeout(Duration::from_millis(20)));
    let writer = db.observer();
    writer.execute_batch("BEGIN IMMEDIATE").unwrap();
    let mut ran = false;
    let err = tm
        .commit_on_success(|_| {
            ran = true;
            Ok::<_, Error>(())
        })
        .unwrap_err();
    assert_eq!(err.step(), Some(txmanager::Step::Begin), "{err:?}");
    assert_eq!(err.sqlite_error_code(), Some(ErrorCode::DatabaseBusy));
    assert!(!ran);
    writer.execute_batch("ROLLBACK").unwrap();
    assert!(tm.is_autocommit());
}

#[test]
fn a_failing_statement_reports_its_sql() {
    let db = Db::new();
    let mut tm = db.manager();
    let err = tm
        .commit_on_success(|tx| tx.execute("INSERT INTO no_such_table VALUES (1)", []))
        .unwrap_err();
    match err {
        Error::Statement { sql, .. } => assert_eq!(sql, "INSERT INTO no_such_table VALUES (1)"),
        other => panic!("expected a statement error, got {other:?}"),
    }
}

#[test]
fn the_manager_is_send() {
    fn assert_send<T: Send>() {}
    assert_send::<txmanager::TransactionManager>();
    assert_send::<txmanager::Error>();
    fn assert_sync<T: Sync>() {}
    assert_sync::<txmanager::Error>();
    assert_sync::<Settings>();
}
