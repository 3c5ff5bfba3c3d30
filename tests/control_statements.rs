//! txmanager runs its own `BEGIN`, `COMMIT`, `ROLLBACK` and savepoint
//! statements as cached prepared statements. These tests check that caching
//! keeps every guarantee `execute_batch` gave: a failed `COMMIT` leaves a
//! statement that works next time, `SQLITE_BUSY` at `COMMIT` is still
//! reported and recovered from, each `BEGIN` mode really is the one asked
//! for, and no cached statement keeps a read transaction open between uses.
//! Real files, and a second connection to see what other processes see.

mod common;

use std::time::Duration;

use common::Db;
use txmanager::rusqlite::{Connection, ErrorCode};
use txmanager::{BeginMode, Error, Settings};

const INSERT: &str = "INSERT INTO reporter (first_name, last_name) VALUES (?1, ?2)";

/// Rollback-journal mode, where a reader's lock blocks a writer's `COMMIT`
/// and any open transaction on the manager's connection blocks an exclusive
/// lock elsewhere: the strictest place to see a lock left behind.
fn journal_settings() -> Settings {
    Settings::default()
        .with_wal(false)
        .with_busy_timeout(Duration::from_millis(50))
}

/// A connection that gives up at once when the file is locked.
fn impatient(db: &Db) -> Connection {
    let conn = db.observer();
    conn.busy_timeout(Duration::ZERO).expect("busy timeout");
    conn
}

/// Whether another connection can take an exclusive lock right now, which it
/// cannot while any connection holds even a read transaction.
fn file_is_free(db: &Db) -> bool {
    impatient(db)
        .execute_batch("BEGIN EXCLUSIVE; COMMIT;")
        .is_ok()
}

#[test]
fn a_commit_refused_with_busy_is_reported_and_the_same_commit_works_next_time() {
    let db = Db::new();
    let mut tm = db.manager_with(&journal_settings());
    let reader = db.observer();
    for round in 0..3 {
        reader
            .execute_batch("BEGIN; SELECT count(*) FROM reporter;")
            .unwrap();
        let err = tm
            .commit_on_success(|tx| tx.execute(INSERT, ("Lost", "Write")))
            .unwrap_err();
        assert!(
            matches!(err, Error::CommitFailed { .. }),
            "round {round}: {err:?}"
        );
        assert_eq!(err.sqlite_error_code(), Some(ErrorCode::DatabaseBusy));
        assert!(tm.is_autocommit(), "a failed COMMIT is rolled back");
        reader.execute_batch("COMMIT").unwrap();
        tm.commit_on_success(|tx| tx.execute(INSERT, ("Kept", "Write")))
            .unwrap();
        assert!(file_is_free(&db), "round {round}: the commit left a lock");
    }
    assert_eq!(db.committed(), ["Kept Write", "Kept Write", "Kept Write"]);
}

#[test]
fn a_manual_commit_refused_with_busy_can_be_followed_by_a_working_commit() {
    let db = Db::new();
    let mut tm = db.manager_with(&journal_settings());
    let reader = db.observer();
    tm.commit_manually(|tx| {
        tx.execute(INSERT, ("First", "Try"))?;
        reader
            .execute_batch("BEGIN; SELECT count(*) FROM reporter;")
            .unwrap();
        let err = tx.commit().unwrap_err();
        assert!(matches!(err, Error::CommitFailed { .. }), "{err:?}");
        assert_eq!(err.sqlite_error_code(), Some(ErrorCode::DatabaseBusy));
        reader.execute_batch("COMMIT").unwrap();
        tx.execute(INSERT, ("Second", "Try"))?;
        tx.commit()
    })
    .unwrap();
    assert_eq!(db.committed(), ["Second Try"]);
    assert!(file_is_free(&db));
}

#[test]
fn each_begin_mode_takes_its_own_lock_and_releases_it() {
    let db = Db::new();
    let mut tm = db.manager_with(&journal_settings());
    // Deferred: nothing is locked until the first statement.
    tm.commit_on_success_with(BeginMode::Deferred, |_tx| {
        assert!(file_is_free(&db), "BEGIN DEFERRED locks nothing");
        Ok::<_, Error>(())
    })
    .unwrap();
    // Immediate: others may read, but not write.
    tm.commit_on_success_with(BeginMode::Immediate, |_tx| {
        let other = impatient(&db);
        other
            .query_row("SELECT count(*) FROM reporter", [], |r| r.get::<_, i64>(0))
            .expect("BEGIN IMMEDIATE lets others read");
        let err = other.execute(INSERT, ("Other", "Writer")).unwrap_err();
        assert_eq!(err.sqlite_error_code(), Some(ErrorCode::DatabaseBusy));
        Ok::<_, Error>(())
    })
    .unwrap();
    // Exclusive: others may not even read.
    tm.commit_on_success_with(BeginMode::Exclusive, |_tx| {
        let err = impatient(&db)
            .query_row("SELECT count(*) FROM reporter", [], |r| r.get::<_, i64>(0))
            .unwrap_err();
        assert_eq!(err.sqlite_error_code(), Some(ErrorCode::DatabaseBusy));
        Ok::<_, Error>(())
    })
    .unwrap();
    // And the same again, now that every statement is cached.
    for mode in [BeginMode::Exclusive, BeginMode::Deferred] {
        tm.commit_on_success_with(mode, |_tx| {
            let blocked = impatient(&db)
                .query_row("SELECT count(*) FROM reporter", [], |r| r.get::<_, i64>(0))
                .is_err();
            assert_eq!(blocked, mode == BeginMode::Exclusive, "{mode:?}");
            Ok::<_, Error>(())
        })
        .unwrap();
        assert!(file_is_free(&db), "{mode:?} block left a lock");
    }
}

#[test]
fn no_block_leaves_a_read_transaction_open_on_the_connection() {
    let db = Db::new();
    let settings = journal_settings().with_begin_mode(BeginMode::Deferred);
    let mut tm = db.manager_with(&settings);
    let count = "SELECT count(*) FROM reporter";
    // A read-only deferred block holds a read lock until its COMMIT.
    tm.commit_on_success(|tx| tx.query_row(count, [], |r| r.get::<_, i64>(0)))
        .unwrap();
    assert!(file_is_free(&db), "after a read-only block");
    tm.commit_on_success(|tx| {
        tx.execute(INSERT, ("Outer", "Block"))?;
        tx.commit_on_success(|inner| inner.execute(INSERT, ("Inner", "Block")))?;
        let inner = tx.commit_on_success(|inner| {
            inner.execute(INSERT, ("Rolled", "Back"))?;
            Err::<(), _>(Error::PendingCommitRollback)
        });
        assert!(inner.is_err());
        Ok::<_, Error>(())
    })
    .unwrap();
    assert!(file_is_free(&db), "after nested blocks");
    tm.commit_manually(|tx| {
        tx.query_row(count, [], |r| r.get::<_, i64>(0))?;
        tx.rollback()?;
        tx.execute(INSERT, ("Manual", "Commit"))?;
        tx.commit()
    })
    .unwrap();
    assert!(file_is_free(&db), "after a manual block");
    let err = tm
        .commit_on_success(|tx| {
            tx.query_row(count, [], |r| r.get::<_, i64>(0))?;
            Err::<(), _>(Error::PendingCommitRollback)
        })
        .unwrap_err();
    assert!(matches!(err, Error::PendingCommitRollback));
    assert!(file_is_free(&db), "after a rolled-back block");
    assert_eq!(
        db.committed(),
        ["Outer Block", "Inner Block", "Manual Commit"]
    );
}

#[test]
fn savepoints_deeper_than_the_statement_cache_still_release_and_roll_back() {
    // 40 levels need 120 savepoint statements, far more than the cache
    // holds: the evicted ones are prepared again, and the result is the same.
    fn nest(tx: &mut txmanager::Transaction<'_>, depth: usize) -> Result<(), Error> {
        if depth == 40 {
            return Ok(());
        }
        tx.commit_on_success(|inner| {
            inner.execute(INSERT, ("Level", depth.to_string()))?;
            nest(inner, depth + 1)?;
            if depth == 39 {
                return Err(Error::PendingCommitRollback);
            }
            Ok(())
        })
        .or_else(|err| {
            if depth == 39 && matches!(err, Error::PendingCommitRollback) {
                Ok(())
            } else {
                Err(err)
            }
        })
    }
    let db = Db::new();
    let mut tm = db.manager();
    for _ in 0..2 {
        tm.commit_on_success(|tx| nest(tx, 0)).unwrap();
    }
    let committed = db.committed();
    assert_eq!(
        committed.len(),
        2 * 39,
        "level 39 rolled back, all else kept"
    );
    assert!(!committed.contains(&"Level 39".to_owned()));
    assert!(tm.is_autocommit());
}

#[test]
fn a_raw_commit_by_the_user_does_not_reuse_the_engines_statement_and_is_still_caught() {
    let db = Db::new();
    let mut tm = db.manager();
    // Warm the engine's cached COMMIT first.
    tm.commit_on_success(|tx| tx.execute(INSERT, ("Warm", "Up")))
        .unwrap();
    let result = tm.commit_on_success(|tx| {
        tx.execute(INSERT, ("Raw", "Commit"))?;
        tx.execute("COMMIT", [])
    });
    // How a raw COMMIT is refused is the detection's business; here it only
    // matters that it is refused, and that the engine's COMMIT still works.
    assert!(result.is_err(), "a raw COMMIT inside a block is an error");
    assert!(tm.is_autocommit());
    tm.commit_on_success(|tx| tx.execute(INSERT, ("After", "Wards")))
        .unwrap();
    let committed = db.committed();
    assert_eq!(committed.first().map(String::as_str), Some("Warm Up"));
    assert_eq!(committed.last().map(String::as_str), Some("After Wards"));
}
