//! A statement that SQLite itself made end the block's transaction (`INSERT
//! OR ROLLBACK`, a column declared `ON CONFLICT ROLLBACK`, a trigger's
//! `RAISE(ROLLBACK)`), run through a prepared statement txmanager never sees
//! again: the next statement of the block, whatever path it takes, is
//! refused before it runs, so it cannot run in autocommit mode and commit.

mod common;

use common::{Db, INSERT};
use txmanager::{Error, Transaction, TransactionManager};

/// Row 1 exists; the statement below makes SQLite roll the block back.
fn manager_with_row_one(db: &Db) -> TransactionManager {
    let tm = db.manager();
    tm.execute_batch(
        "INSERT INTO reporter (id, first_name, last_name) VALUES (1, 'Zed', 'Old');
         CREATE TABLE guarded (x INTEGER UNIQUE ON CONFLICT ROLLBACK);
         INSERT INTO guarded VALUES (1);
         CREATE TABLE tripwire (x INTEGER);
         CREATE TRIGGER tripwire_rolls_back BEFORE INSERT ON tripwire
         BEGIN SELECT RAISE(ROLLBACK, 'tripped'); END;",
    )
    .unwrap();
    tm
}

/// Each way SQLite ends a transaction from inside one statement.
const ENDERS: &[&str] = &[
    "INSERT OR ROLLBACK INTO reporter (id, first_name, last_name) VALUES (1, 'Dup', 'Key')",
    "INSERT INTO guarded VALUES (1)",
    "INSERT INTO tripwire VALUES (1)",
];

/// Runs `ender` through a prepared statement, which fails and ends the
/// transaction; the prepared statement's error is SQLite's own.
fn end_through_prepared(tx: &Transaction<'_>, ender: &str) {
    let mut stmt = tx.prepare(ender).unwrap();
    let err = stmt.execute([]).unwrap_err();
    assert!(err.sqlite_error_code().is_some(), "{ender}: {err:?}");
}

/// The step that then runs, and the statement path it takes.
type Next = fn(&Transaction<'_>) -> Result<(), Error>;

const NEXT_STEPS: &[(&str, Next)] = &[
    ("execute", |tx| {
        tx.execute(INSERT, ("Ben", "Jones")).map(drop)
    }),
    ("query_row", |tx| {
        tx.query_row("SELECT count(*) FROM reporter", [], |r| r.get::<_, i64>(0))
            .map(drop)
    }),
    ("execute_batch", |tx| {
        tx.execute_batch("INSERT INTO reporter (first_name, last_name) VALUES ('Ben', 'Jones')")
    }),
    ("prepare", |tx| {
        tx.prepare(INSERT)?.execute(("Ben", "Jones")).unwrap();
        Ok(())
    }),
];

fn assert_closed_underneath(err: &Error, what: &str) {
    assert!(
        matches!(err, Error::TransactionClosedUnderneath { statement: None }),
        "{what}: {err:?}"
    );
}

#[test]
fn after_a_prepared_statement_ends_the_transaction_no_later_statement_commits() {
    for ender in ENDERS {
        for (name, next) in NEXT_STEPS {
            let what = format!("{ender} then {name}");
            let db = Db::new();
            let mut tm = manager_with_row_one(&db);
            let err = tm
                .commit_on_success(|tx| {
                    tx.execute(INSERT, ("Alice", "Smith"))?;
                    end_through_prepared(tx, ender);
                    let err = next(tx).unwrap_err();
                    // Refused before it ran: the step itself failed.
                    assert_closed_underneath(&err, &what);
                    Err::<(), _>(err)
                })
                .unwrap_err();
            assert_closed_underneath(&err, &what);
            assert!(tm.is_autocommit(), "{what}");
            assert!(tm.connection().is_autocommit(), "{what}");
            assert_eq!(db.committed(), ["Zed Old"], "{what}");
            // The manager is usable again for the next block.
            tm.commit_on_success(|tx| tx.execute(INSERT, ("Carol", "Doe")))
                .unwrap();
            assert_eq!(db.committed(), ["Zed Old", "Carol Doe"], "{what}");
        }
    }
}

#[test]
fn a_block_that_swallows_the_refusal_still_commits_nothing_afterwards() {
    let db = Db::new();
    let mut tm = manager_with_row_one(&db);
    let err = tm
        .commit_on_success(|tx| {
            tx.execute(INSERT, ("Alice", "Smith"))?;
            end_through_prepared(tx, ENDERS[0]);
            let _ = tx.execute(INSERT, ("Ben", "Jones"));
            let _ = tx.execute(INSERT, ("Cid", "Moe"));
            Ok::<_, Error>(())
        })
        .unwrap_err();
    assert_closed_underneath(&err, "swallowed");
    assert!(tm.is_autocommit());
    assert_eq!(db.committed(), ["Zed Old"]);
}

#[test]
fn in_manual_mode_the_statement_after_the_ended_transaction_is_refused() {
    let db = Db::new();
    let mut tm = manager_with_row_one(&db);
    let err = tm
        .commit_manually(|tx| {
            tx.execute(INSERT, ("Alice", "Smith"))?;
            end_through_prepared(tx, ENDERS[0]);
            let err = tx.execute(INSERT, ("Ben", "Jones")).unwrap_err();
            assert_closed_underneath(&err, "manual execute");
            let err = tx.commit().unwrap_err();
            assert_closed_underneath(&err, "manual commit");
            Err::<(), _>(err)
        })
        .unwrap_err();
    assert_closed_underneath(&err, "manual");
    assert!(tm.is_autocommit());
    assert_eq!(db.committed(), ["Zed Old"]);
}

#[test]
fn a_nested_block_after_the_ended_transaction_opens_no_savepoint() {
    let db = Db::new();
    let mut tm = manager_with_row_one(&db);
    let err = tm
        .commit_on_success(|tx| {
            tx.execute(INSERT, ("Alice", "Smith"))?;
            end_through_prepared(tx, ENDERS[0]);
            let err = tx
                .commit_on_success(|inner| inner.execute(INSERT, ("Ben", "Jones")).map(drop))
                .unwrap_err();
            // The nested block never started: its SAVEPOINT would have
            // opened a new transaction of its own.
            assert_closed_underneath(&err, "nested");
            Err::<(), _>(err)
        })
        .unwrap_err();
    assert_closed_underneath(&err, "outer");
    assert!(tm.is_autocommit());
    assert_eq!(db.committed(), ["Zed Old"]);
}

#[test]
fn a_statement_prepared_early_and_run_after_later_statements_is_still_noticed() {
    // The checks before a statement trust the check after the previous one
    // only while no statement the block prepared may still run: here the
    // prepared statement outlives two watched statements, then ends the
    // transaction; the statement after it must still be refused.
    for (name, next) in NEXT_STEPS {
        let db = Db::new();
        let mut tm = manager_with_row_one(&db);
        let err = tm
            .commit_on_success(|tx| {
                let mut ender = tx.prepare(ENDERS[0])?;
                tx.execute(INSERT, ("Alice", "Smith"))?;
                tx.query_row("SELECT count(*) FROM reporter", [], |r| r.get::<_, i64>(0))?;
                assert!(ender.execute([]).is_err(), "{name}: the ender fails");
                let err = next(tx).unwrap_err();
                assert_closed_underneath(&err, name);
                Err::<(), _>(err)
            })
            .unwrap_err();
        assert_closed_underneath(&err, name);
        assert!(tm.is_autocommit(), "{name}");
        assert_eq!(db.committed(), ["Zed Old"], "{name}");
    }
}

#[test]
fn a_transaction_ended_inside_a_nested_block_is_noticed_by_the_enclosing_block() {
    let db = Db::new();
    let mut tm = manager_with_row_one(&db);
    let err = tm
        .commit_on_success(|tx| {
            tx.execute(INSERT, ("Alice", "Smith"))?;
            let inner = tx.commit_on_success(|inner| {
                end_through_prepared(inner, ENDERS[2]);
                Ok::<_, Error>(())
            });
            assert!(inner.is_err(), "the nested block cannot release: {inner:?}");
            let err = tx.execute(INSERT, ("Ben", "Jones")).unwrap_err();
            assert_closed_underneath(&err, "after the nested block");
            Err::<(), _>(err)
        })
        .unwrap_err();
    assert_closed_underneath(&err, "outer");
    assert!(tm.is_autocommit());
    assert_eq!(db.committed(), ["Zed Old"]);
}

/// (Without a prepared statement: the block's own statement ends it.)
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
