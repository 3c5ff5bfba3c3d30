//! Nested blocks: savepoints, what each mode means inside another, decorators.

mod common;

use std::panic::{self, AssertUnwindSafe};

use common::{AppError, Db, INSERT};
use txmanager::{Error, Mode, Transaction};

#[test]
fn inner_success_is_released_and_the_outer_block_decides() {
    let db = Db::new();
    let mut tm = db.manager();
    let result: Result<(), AppError> = tm.commit_on_success(|tx| {
        tx.commit_on_success(|inner| inner.execute(INSERT, ("Alice", "Smith")))?;
        assert!(
            db.committed().is_empty(),
            "an inner success must not commit"
        );
        Err(AppError::MeantToDoThat)
    });
    assert!(matches!(result, Err(AppError::MeantToDoThat)));
    assert!(
        db.committed().is_empty(),
        "the outer failure undoes the inner success"
    );
    assert!(tm.is_autocommit());
}

#[test]
fn inner_failure_rolls_back_to_its_savepoint_only() {
    let db = Db::new();
    let mut tm = db.manager();
    tm.commit_on_success(|tx| {
        tx.execute(INSERT, ("Alice", "Smith"))?;
        let inner: Result<(), AppError> = tx.commit_on_success(|inner| {
            inner.execute(INSERT, ("Carol", "Doe"))?;
            Err(AppError::MeantToDoThat)
        });
        assert!(matches!(inner, Err(AppError::MeantToDoThat)));
        tx.execute(INSERT, ("Ben", "Jones"))?;
        Ok::<_, Error>(())
    })
    .unwrap();
    assert_eq!(db.committed(), ["Alice Smith", "Ben Jones"]);
}

#[test]
fn inner_panic_caught_by_the_outer_block_rolls_back_only_the_inner_work() {
    let db = Db::new();
    let mut tm = db.manager();
    tm.commit_on_success(|tx| {
        tx.execute(INSERT, ("Alice", "Smith"))?;
        let caught = panic::catch_unwind(AssertUnwindSafe(|| {
            let _ = tx.commit_on_success(|inner| {
                inner.execute(INSERT, ("Carol", "Doe"))?;
                panic!("inner boom");
                #[allow(unreachable_code)]
                Ok::<_, Error>(())
            });
        }));
        assert!(caught.is_err());
        assert_eq!(tx.depth(), 1, "the inner frame is gone");
        Ok::<_, Error>(())
    })
    .unwrap();
    assert_eq!(db.committed(), ["Alice Smith"]);
}

#[test]
fn deep_nesting_keeps_each_level_independent() {
    let db = Db::new();
    let mut tm = db.manager();
    tm.commit_on_success(|l1| {
        l1.execute(INSERT, ("L", "1"))?;
        l1.commit_on_success(|l2| {
            l2.execute(INSERT, ("L", "2"))?;
            let _: Result<(), AppError> = l2.commit_on_success(|l3| {
                l3.execute(INSERT, ("L", "3"))?;
                l3.commit_on_success(|l4| {
                    assert_eq!(l4.depth(), 4);
                    l4.execute(INSERT, ("L", "4"))
                })?;
                Err(AppError::MeantToDoThat) // undoes levels 3 and 4
            });
            l2.commit_on_success(|l3| l3.execute(INSERT, ("L", "3b")))
        })?;
        Ok::<_, Error>(())
    })
    .unwrap();
    assert_eq!(db.committed(), ["L 1", "L 2", "L 3b"]);
    assert!(tm.is_autocommit());
}

#[test]
fn autocommit_inside_an_open_transaction_is_refused_and_commits_nothing() {
    let db = Db::new();
    let mut tm = db.manager();
    tm.commit_on_success(|tx| {
        tx.execute(INSERT, ("Alice", "Smith"))?;
        let mut ran = false;
        let err = tx
            .autocommit(|_| {
                ran = true;
                Ok::<_, Error>(())
            })
            .unwrap_err();
        assert!(!ran);
        assert!(matches!(
            err,
            Error::AutocommitInTransaction {
                enclosing: Mode::CommitOnSuccess
            }
        ));
        assert!(
            db.committed().is_empty(),
            "refusing must not commit the outer work"
        );
        Ok::<_, Error>(())
    })
    .unwrap();
    assert_eq!(db.committed(), ["Alice Smith"]);

    let err = tm
        .commit_manually(|tx| tx.autocommit(|_| Ok::<_, Error>(())))
        .unwrap_err();
    assert!(matches!(
        err,
        Error::AutocommitInTransaction {
            enclosing: Mode::CommitManually
        }
    ));
}

#[test]
fn a_transaction_block_inside_an_autocommit_block_is_a_real_transaction() {
    let db = Db::new();
    let mut tm = db.manager();
    tm.autocommit(|tx| {
        tx.execute(INSERT, ("Alice", "Smith"))?;
        let inner: Result<(), AppError> = tx.commit_on_success(|inner| {
            inner.execute(INSERT, ("Carol", "Doe"))?;
            assert_eq!(db.committed(), ["Alice Smith"], "inner work is uncommitted");
            Err(AppError::MeantToDoThat)
        });
        assert!(inner.is_err());
        tx.commit_on_success(|inner| inner.execute(INSERT, ("Ben", "Jones")))?;
        assert_eq!(
            db.committed(),
            ["Alice Smith", "Ben Jones"],
            "committed at the inner block's end"
        );
        tx.autocommit(|again| again.execute(INSERT, ("Dan", "Auto")))?; // autocommit in autocommit is fine
        Ok::<_, Error>(())
    })
    .unwrap();
    assert_eq!(db.committed(), ["Alice Smith", "Ben Jones", "Dan Auto"]);
}

#[test]
fn nested_manual_commit_releases_into_the_outer_transaction_which_still_decides() {
    let db = Db::new();
    let mut tm = db.manager();
    let result: Result<(), AppError> = tm.commit_on_success(|tx| {
        tx.commit_manually(|inner| {
            inner.execute(INSERT, ("Alice", "Smith"))?;
            inner.commit()?;
            assert!(
                db.committed().is_empty(),
                "a nested commit() is not a real commit"
            );
            inner.execute(INSERT, ("Nobody", "Here"))?;
            inner.rollback()
        })?;
        Err(AppError::MeantToDoThat)
    });
    assert!(result.is_err());
    assert!(db.committed().is_empty());

    tm.commit_on_success(|tx| {
        tx.commit_manually(|inner| {
            inner.execute(INSERT, ("Alice", "Smith"))?;
            inner.commit()?;
            inner.execute(INSERT, ("Nobody", "Here"))?;
            inner.rollback()
        })
    })
    .unwrap();
    assert_eq!(db.committed(), ["Alice Smith"]);
}

#[test]
fn nested_manual_block_left_dirty_rolls_back_only_its_own_uncommitted_work() {
    let db = Db::new();
    let mut tm = db.manager();
    tm.commit_on_success(|tx| {
        tx.execute(INSERT, ("Alice", "Smith"))?;
        let err = tx
            .commit_manually(|inner| {
                inner.execute(INSERT, ("Ben", "Jones"))?;
                inner.commit()?;
                inner.execute(INSERT, ("David", "Davidson"))?;
                Ok::<_, Error>(())
            })
            .unwrap_err();
        assert!(matches!(err, Error::PendingCommitRollback));
        Ok::<_, Error>(())
    })
    .unwrap();
    assert_eq!(db.committed(), ["Alice Smith", "Ben Jones"]);
}

#[test]
fn a_manual_outer_block_must_commit_work_released_by_its_inner_blocks() {
    let db = Db::new();
    let mut tm = db.manager();
    let err = tm
        .commit_manually(|tx| {
            tx.commit_on_success(|inner| inner.execute(INSERT, ("Alice", "Smith")))?;
            Ok::<_, Error>(()) // the inner work is now the outer's, uncommitted
        })
        .unwrap_err();
    assert!(matches!(err, Error::PendingCommitRollback));
    assert!(db.committed().is_empty());

    tm.commit_manually(|tx| {
        tx.commit_on_success(|inner| inner.execute(INSERT, ("Alice", "Smith")))?;
        tx.commit()
    })
    .unwrap();
    assert_eq!(db.committed(), ["Alice Smith"]);
}

#[test]
fn a_nested_block_after_a_manual_commit_begins_a_new_transaction() {
    let db = Db::new();
    let mut tm = db.manager();
    tm.commit_manually(|tx| {
        tx.execute(INSERT, ("Alice", "Smith"))?;
        tx.commit()?;
        tx.commit_on_success(|inner| inner.execute(INSERT, ("Ben", "Jones")))?;
        assert_eq!(db.committed(), ["Alice Smith"]);
        tx.commit()
    })
    .unwrap();
    assert_eq!(db.committed(), ["Alice Smith", "Ben Jones"]);
}

// ---------- decorators ----------

fn create_a_reporter_then_fail(
    tx: &mut Transaction<'_>,
    (first, last): (&str, &str),
) -> Result<(), AppError> {
    tx.execute(INSERT, (first, last))?;
    Err(AppError::MeantToDoThat)
}

fn create_a_reporter(
    tx: &mut Transaction<'_>,
    (first, last): (&str, &str),
) -> Result<(), AppError> {
    tx.execute(INSERT, (first, last))?;
    Ok(())
}

#[test]
fn decorated_functions_run_in_their_mode_with_arguments() {
    let db = Db::new();
    let mut tm = db.manager();
    let autocommitted = txmanager::autocommit(create_a_reporter_then_fail);
    let on_success = txmanager::commit_on_success(create_a_reporter_then_fail);
    assert!(autocommitted.call(&mut tm, ("Ben", "Jones")).is_err());
    assert!(on_success.call(&mut tm, ("Carol", "Doe")).is_err());
    assert_eq!(db.committed(), ["Ben Jones"]);
}

#[test]
fn decorated_functions_compose_as_nested_blocks() {
    let db = Db::new();
    let mut tm = db.manager();
    let create = txmanager::commit_on_success(create_a_reporter);
    let create_then_fail = txmanager::commit_on_success(create_a_reporter_then_fail);
    let import = txmanager::commit_manually(|tx: &mut Transaction<'_>, names: &[(&str, &str)]| {
        for &name in names {
            let _ = create_then_fail.call(tx, ("Failing", "Write")); // rolled back to its savepoint
            create.call(tx, name)?;
        }
        tx.commit()?;
        Ok::<_, AppError>(())
    });
    import
        .call(&mut tm, &[("Alice", "Smith"), ("Ben", "Jones")])
        .unwrap();
    assert_eq!(db.committed(), ["Alice Smith", "Ben Jones"]);
    assert!(tm.is_autocommit());
}
