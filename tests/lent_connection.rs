//! The connection lent by reference (`TransactionManager::connection`)
//! cannot run transaction control, not even txmanager's own compiled
//! `BEGIN`, `COMMIT` and savepoints through rusqlite's statement cache.

mod common;

use common::{Db, INSERT};
use txmanager::{BeginMode, Error};

/// Exactly the texts txmanager caches its control statements under; the
/// first nested block's savepoint is `txm_1`.
const OWN_CONTROL: &[&str] = &[
    "BEGIN DEFERRED;",
    "BEGIN IMMEDIATE;",
    "BEGIN EXCLUSIVE;",
    "COMMIT;",
    "ROLLBACK;",
    "SAVEPOINT txm_1;",
    "RELEASE txm_1;",
    "ROLLBACK TO txm_1;",
];

#[test]
fn the_lent_connection_cannot_reach_txmanager_s_cached_control_statements() {
    let db = Db::new();
    let mut tm = db.manager();
    // Run every control statement once, so each sits compiled in the cache.
    for mode in [
        BeginMode::Deferred,
        BeginMode::Immediate,
        BeginMode::Exclusive,
    ] {
        tm.set_block_options(mode);
        tm.commit_on_success(|tx| {
            tx.execute(INSERT, ("Alice", "Smith"))?;
            tx.commit_manually(|inner| {
                inner.execute(INSERT, ("Gone", "Again"))?;
                inner.rollback()
            })?;
            tx.commit_on_success(|inner| inner.execute(INSERT, ("Ben", "Jones")).map(drop))
        })
        .unwrap();
        tm.commit_manually(|tx| tx.rollback()).unwrap();
    }
    let committed = db.committed();
    for sql in OWN_CONTROL {
        let err = tm
            .connection()
            .prepare_cached(sql)
            .and_then(|mut stmt| stmt.execute([]))
            .unwrap_err();
        assert_eq!(
            err.sqlite_error_code(),
            Some(txmanager::rusqlite::ErrorCode::AuthorizationForStatementDenied),
            "{sql}: {err:?}"
        );
        assert!(tm.connection().is_autocommit(), "{sql}");
    }
    // What runs on the lent connection still autocommits at once.
    tm.connection()
        .prepare_cached(INSERT)
        .and_then(|mut stmt| stmt.execute(("Cid", "Moe")))
        .unwrap();
    let mut expected = committed;
    expected.push("Cid Moe".to_owned());
    assert_eq!(db.committed(), expected);
    // Blocks compile their control statements again and work as before.
    let err = tm
        .commit_on_success(|tx| {
            tx.execute(INSERT, ("Dan", "Roe"))?;
            tx.commit_on_success(|inner| inner.execute(INSERT, ("Eve", "Poe")).map(drop))?;
            Err::<(), _>(Error::PendingCommitRollback)
        })
        .unwrap_err();
    assert!(matches!(err, Error::PendingCommitRollback), "{err:?}");
    assert_eq!(db.committed(), expected);
    tm.commit_on_success(|tx| tx.execute(INSERT, ("Dan", "Roe")).map(drop))
        .unwrap();
    expected.push("Dan Roe".to_owned());
    assert_eq!(db.committed(), expected);
    assert!(tm.is_autocommit());
}
