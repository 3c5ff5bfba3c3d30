//! Error messages say what happened: the SQL or step, what the database said
//! (its message and code), what became of the work, and what to do. They
//! start lowercase (or with an SQL keyword) and end without a period.

mod common;

use std::error::Error as _;

use common::{Db, INSERT};
use txmanager::rusqlite::ErrorCode;
use txmanager::{ConcurrencyTarget, Error, Record};

#[derive(Debug, Clone, Default, Record)]
pub struct Page {
    #[record(primary_key)]
    pub id: Option<i64>,
    #[record(version(auto_increment))]
    pub version: Option<i64>,
    pub body: String,
}

/// Errors produced through real failure paths, one per kind.
fn real_errors() -> Vec<Error> {
    let db = Db::new();
    let mut tm = db.manager();
    tm.execute(INSERT, ("Alice", "Smith")).unwrap();
    tm.execute(
        "CREATE TABLE page (id INTEGER PRIMARY KEY, version INTEGER, body TEXT)",
        [],
    )
    .unwrap();
    let mut errors = vec![
        tm.execute(
            "INSERT INTO reporter (id, first_name, last_name) VALUES (1, 'A', 'B')",
            [],
        )
        .unwrap_err(),
        tm.execute("COMMIT", []).unwrap_err(),
        tm.commit_manually(|tx| tx.execute(INSERT, ("Ben", "Jones")).map(drop))
            .unwrap_err(),
        tm.commit_on_success(|tx| tx.commit()).unwrap_err(),
        ConcurrencyTarget::record(&Page::default()).unwrap_err(),
    ];
    let mut page = Page::default();
    page.save(&tm).unwrap();
    let mut stale = page.clone();
    page.save(&tm).unwrap();
    errors.push(stale.save(&tm).unwrap_err());
    // BEGIN fails: another connection holds the write lock.
    let blocker = db.observer();
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
    let mut impatient = db.manager_with(
        &txmanager::Settings::default().with_busy_timeout(std::time::Duration::from_millis(1)),
    );
    errors.push(
        impatient
            .commit_on_success(|_| Ok::<_, Error>(()))
            .unwrap_err(),
    );
    blocker.execute_batch("ROLLBACK").unwrap();
    errors
}

#[test]
fn every_message_starts_lowercase_or_with_sql_and_ends_without_a_period() {
    for err in real_errors() {
        let message = err.to_string();
        let first = message.chars().next().unwrap();
        let sql_keyword = ["BEGIN", "COMMIT", "ROLLBACK", "RELEASE", "SAVEPOINT", "`"]
            .iter()
            .any(|k| message.starts_with(k));
        assert!(first.is_lowercase() || sql_keyword, "{message}");
        assert!(!message.ends_with('.'), "{message}");
    }
}

#[test]
fn a_failed_statement_shows_its_sql_and_sqlite_s_message_and_code() {
    let db = Db::new();
    let tm = db.manager();
    tm.execute(INSERT, ("Alice", "Smith")).unwrap();
    let sql = "INSERT INTO reporter (id, first_name, last_name) VALUES (1, 'A', 'B')";
    let err = tm.execute(sql, []).unwrap_err();
    assert_eq!(
        err.sqlite_error_code(),
        Some(ErrorCode::ConstraintViolation)
    );
    let message = err.to_string();
    assert!(message.contains(sql), "{message}");
    assert!(
        message.contains("UNIQUE constraint failed: reporter.id"),
        "SQLite's message: {message}"
    );
    assert!(
        message.contains("ConstraintViolation") && message.contains("1555"),
        "SQLite's code and extended code: {message}"
    );
    assert!(err.source().is_some(), "SQLite's error is the source");
}

#[test]
fn a_failed_begin_names_the_step_what_sqlite_said_and_what_to_do() {
    let db = Db::new();
    let mut tm = db.manager_with(
        &txmanager::Settings::default().with_busy_timeout(std::time::Duration::from_millis(1)),
    );
    let blocker = db.observer();
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
    let err = tm.commit_on_success(|_| Ok::<_, Error>(())).unwrap_err();
    assert_eq!(err.step(), Some(txmanager::Step::Begin));
    let message = err.to_string();
    assert!(
        message.starts_with("BEGIN failed: database is locked"),
        "{message}"
    );
    assert!(message.contains("DatabaseBusy"), "{message}");
    assert!(
        message.contains("the block did not run; retry it"),
        "{message}"
    );
    blocker.execute_batch("ROLLBACK").unwrap();
}
