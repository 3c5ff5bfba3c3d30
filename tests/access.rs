//! Set-up and raw access: the Opener's init hook, settings on a connection
//! you opened, borrowing and lending the rusqlite connection, into_inner, and
//! in-memory paths an Opener refuses or shares.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{Db, INSERT};
use txmanager::rusqlite::{Connection, ErrorCode};
use txmanager::{Error, Opener, Settings, TransactionManager};

#[test]
fn the_init_hook_runs_on_every_connection_an_opener_opens() -> Result<(), Error> {
    let db = Db::new();
    let runs = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&runs);
    let opener = Opener::new(&db.path).with_init(move |conn| {
        counter.fetch_add(1, Ordering::SeqCst);
        conn.pragma_update(None, "cache_size", -1234)
    });
    for _ in 0..3 {
        let tm = opener.open()?;
        let cache: i64 = tm.query_row("PRAGMA cache_size", [], |r| r.get(0))?;
        assert_eq!(cache, -1234);
        // The settings still apply after the hook.
        let mode: String = tm.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
        assert_eq!(mode, "wal");
    }
    assert_eq!(runs.load(Ordering::SeqCst), 3);
    Ok(())
}

#[test]
fn a_failing_init_hook_is_named_in_the_error_and_opens_nothing() {
    let db = Db::new();
    let opener = Opener::new(&db.path).with_init(|conn| conn.execute_batch("NOT SQL"));
    match opener.open() {
        Err(Error::Configure { setting, .. }) => assert_eq!(setting, "init hook"),
        other => panic!("expected the init hook's failure, got {other:?}"),
    }
}

#[test]
fn new_with_applies_the_settings_that_new_leaves_alone() -> Result<(), Error> {
    let db = Db::new();
    let plain = TransactionManager::new(Connection::open(&db.path)?);
    let mode: String = plain.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
    assert_eq!(mode, "delete");
    let timeout: i64 = plain.query_row("PRAGMA busy_timeout", [], |r| r.get(0))?;
    assert_eq!(timeout, 5000); // rusqlite's own

    let settings = Settings::default().with_busy_timeout(Duration::from_millis(1234));
    let configured = TransactionManager::new_with(Connection::open(&db.path)?, &settings)?;
    let mode: String = configured.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
    assert_eq!(mode, "wal");
    let timeout: i64 = configured.query_row("PRAGMA busy_timeout", [], |r| r.get(0))?;
    assert_eq!(timeout, 1234);
    Ok(())
}

#[test]
fn the_borrowed_connection_runs_statements_but_not_transaction_control() -> Result<(), Error> {
    let db = Db::new();
    let mut tm = db.manager();
    tm.connection().execute(INSERT, ("Alice", "Smith"))?;
    assert_eq!(db.committed(), ["Alice Smith"]);

    let refused = tm.connection().execute_batch(
        "BEGIN; INSERT INTO reporter (first_name, last_name) VALUES ('Ben', 'Jones')",
    );
    assert_eq!(
        refused.unwrap_err().sqlite_error_code(),
        Some(ErrorCode::AuthorizationForStatementDenied)
    );
    assert!(tm.connection().is_autocommit());
    assert!(tm.connection().unchecked_transaction().is_err());
    assert!(tm.connection().is_autocommit());

    // Blocks still work afterwards.
    tm.commit_on_success(|tx| tx.execute(INSERT, ("Ben", "Jones")).map(drop))?;
    assert_eq!(db.committed(), ["Alice Smith", "Ben Jones"]);
    Ok(())
}

#[test]
fn a_lent_connection_can_run_rusqlite_transactions_and_the_guard_returns_after() -> Result<(), Error>
{
    let db = Db::new();
    let mut tm = db.manager();
    tm.with_connection(|conn| -> txmanager::rusqlite::Result<()> {
        conn.execute_batch("BEGIN; SELECT 1")?; // compiled while the guard is down
        conn.execute_batch("ROLLBACK")?;
        let tx = conn.transaction()?;
        tx.execute(INSERT, ("Alice", "Smith"))?;
        tx.commit()
    })??;
    assert_eq!(db.committed(), ["Alice Smith"]);
    assert!(tm.is_autocommit());

    // The guard is back: raw control through the manager is refused again,
    // even the text the loan compiled.
    match tm.execute_batch("BEGIN; SELECT 1") {
        Err(Error::TransactionControlRefused { statement, .. }) => assert_eq!(statement, "BEGIN"),
        other => panic!("expected BEGIN to be refused after the loan, got {other:?}"),
    }
    assert!(tm.connection().execute_batch("BEGIN").is_err());
    assert!(tm.is_autocommit());
    Ok(())
}

#[test]
fn a_transaction_left_open_by_a_loan_is_rolled_back_and_reported() -> Result<(), Error> {
    let db = Db::new();
    let mut tm = db.manager();
    let left_open = tm.with_connection(|conn| {
        conn.execute_batch("BEGIN")?;
        conn.execute(INSERT, ("Alice", "Smith"))
    });
    assert!(
        matches!(left_open, Err(Error::TransactionOpenedUnderneath { .. })),
        "{left_open:?}"
    );
    assert!(tm.is_autocommit());
    assert!(db.committed().is_empty());

    tm.commit_on_success(|tx| tx.execute(INSERT, ("Ben", "Jones")).map(drop))?;
    assert_eq!(db.committed(), ["Ben Jones"]);
    Ok(())
}

#[test]
fn a_loan_that_replaces_the_authorizer_does_not_switch_the_guard_off() -> Result<(), Error> {
    let db = Db::new();
    let mut tm = db.manager();
    tm.with_connection(|conn| {
        conn.authorizer(
            None::<
                fn(
                    txmanager::rusqlite::hooks::AuthContext<'_>,
                ) -> txmanager::rusqlite::hooks::Authorization,
            >,
        )
    })??;
    assert!(matches!(
        tm.execute_batch("BEGIN"),
        Err(Error::TransactionControlRefused { .. })
    ));
    assert!(tm.is_autocommit());
    Ok(())
}

#[test]
fn into_inner_gives_back_a_plain_connection() -> Result<(), Error> {
    let db = Db::new();
    let tm = db.manager();
    tm.execute(INSERT, ("Alice", "Smith"))?;
    let conn = tm.into_inner();
    conn.execute_batch(
        "BEGIN; INSERT INTO reporter (first_name, last_name) VALUES ('Ben', 'Jones'); COMMIT",
    )?;
    assert!(conn.is_autocommit());
    assert_eq!(db.committed(), ["Alice Smith", "Ben Jones"]);
    Ok(())
}

#[test]
fn an_opener_refuses_a_private_in_memory_database() {
    for path in [":memory:", "", "file::memory:", "file:app?mode=memory"] {
        match Opener::new(path).open() {
            Err(Error::PrivateMemoryDatabase { path: named }) => {
                assert_eq!(named, path);
                let message = Error::PrivateMemoryDatabase { path: named }.to_string();
                assert!(message.contains("cache=shared"), "{message}");
            }
            other => panic!("{path:?} must be refused, got {other:?}"),
        }
    }
}

#[test]
fn managers_from_an_opener_on_shared_memory_see_one_database() -> Result<(), Error> {
    let opener = Opener::new("file:access_shared_memory?mode=memory&cache=shared");
    let mut first = opener.open()?;
    first.execute(
        "CREATE TABLE reporter (first_name TEXT, last_name TEXT)",
        [],
    )?;
    first.commit_on_success(|tx| tx.execute(INSERT, ("Alice", "Smith")).map(drop))?;
    let second = opener.open()?;
    let n: i64 = second.query_row("SELECT count(*) FROM reporter", [], |r| r.get(0))?;
    assert_eq!(n, 1);
    Ok(())
}
