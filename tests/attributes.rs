//! `#[commit_on_success]`, `#[commit_manually]`, `#[autocommit]`: the
//! attribute forms of the modes, on free functions and methods, outermost
//! and nested, with their options. Checked against a second connection.

mod common;

use std::sync::atomic::{AtomicU32, Ordering};

use common::Db;
use txmanager::{
    BeginMode, Error, Record, RetryPolicy, Scope, Transaction, autocommit, commit_manually,
    commit_on_success,
};

#[commit_on_success]
fn add_then_fail(tx: &mut Transaction<'_>, first: &str, fail: bool) -> Result<(), Error> {
    tx.execute(
        "INSERT INTO reporter (first_name, last_name) VALUES (?1, 'X')",
        [first],
    )?;
    if fail {
        return Err(Error::PendingCommitRollback);
    }
    Ok(())
}

#[test]
fn a_commit_on_success_function_commits_on_ok_and_rolls_back_on_err() {
    let db = Db::new();
    let mut tm = db.manager();
    add_then_fail(&mut tm, "Alice", false).unwrap();
    assert!(add_then_fail(&mut tm, "Ben", true).is_err());
    assert_eq!(db.committed(), ["Alice X"]);
    assert!(tm.is_autocommit());
}

#[test]
fn nested_inside_a_block_it_rolls_back_only_its_savepoint() {
    let db = Db::new();
    let mut tm = db.manager();
    tm.commit_on_success(|tx| {
        add_then_fail(tx, "Alice", false)?;
        assert_eq!(tx.depth(), 1, "back in the outer block");
        assert!(add_then_fail(tx, "Ben", true).is_err());
        add_then_fail(tx, "Carol", false)
    })
    .unwrap();
    assert_eq!(db.committed(), ["Alice X", "Carol X"]);
}

#[autocommit]
fn autocommitted(tx: &mut Transaction<'_>, first: &str) -> Result<(), Error> {
    tx.execute(
        "INSERT INTO reporter (first_name, last_name) VALUES (?1, 'A')",
        [first],
    )?;
    Err(Error::PendingCommitRollback)
}

#[test]
fn an_autocommit_function_keeps_its_writes_and_is_refused_inside_a_transaction() {
    let db = Db::new();
    let mut tm = db.manager();
    assert!(autocommitted(&mut tm, "Alice").is_err());
    assert_eq!(db.committed(), ["Alice A"], "committed as it ran");
    let err = tm
        .commit_on_success(|tx| autocommitted(tx, "Ben"))
        .unwrap_err();
    assert!(
        matches!(err, Error::AutocommitInTransaction { .. }),
        "{err:?}"
    );
    assert_eq!(db.committed(), ["Alice A"]);
}

struct Importer {
    last_name: String,
}

impl Importer {
    #[commit_manually]
    fn import(&self, tx: &mut Transaction<'_>, names: &[&str], commit: bool) -> Result<(), Error> {
        for name in names {
            tx.execute(
                "INSERT INTO reporter (first_name, last_name) VALUES (?1, ?2)",
                (name, &self.last_name),
            )?;
        }
        if commit { tx.commit() } else { Ok(()) }
    }

    #[commit_on_success(begin = immediate)]
    fn holds_the_write_lock(&mut self, tx: &mut Transaction<'_>, db: &Db) -> Result<bool, Error> {
        self.last_name.push('!');
        // BEGIN IMMEDIATE took the write lock at once: another writer is refused.
        let other = db.observer();
        other.busy_timeout(std::time::Duration::ZERO).unwrap();
        let refused = other
            .execute(
                "INSERT INTO reporter (first_name, last_name) VALUES ('x', 'y')",
                [],
            )
            .is_err();
        tx.execute("SELECT 1", []).ok();
        Ok(refused)
    }
}

#[test]
fn a_commit_manually_method_must_commit_or_its_writes_are_rolled_back() {
    let db = Db::new();
    let mut tm = db.manager();
    let importer = Importer {
        last_name: "Imported".into(),
    };
    importer.import(&mut tm, &["Alice", "Ben"], true).unwrap();
    let err = importer.import(&mut tm, &["Carol"], false).unwrap_err();
    assert!(matches!(err, Error::PendingCommitRollback), "{err:?}");
    assert_eq!(db.committed(), ["Alice Imported", "Ben Imported"]);
}

#[test]
fn a_begin_option_chooses_the_begin_statement_of_the_outermost_block() {
    let db = Db::new();
    let mut tm =
        db.manager_with(&txmanager::Settings::default().with_begin_mode(BeginMode::Deferred));
    let mut importer = Importer {
        last_name: String::new(),
    };
    assert!(importer.holds_the_write_lock(&mut tm, &db).unwrap());
    assert_eq!(importer.last_name, "!", "&mut self methods work");
}

#[derive(Debug, Clone, Default, Record)]
#[record(table = "counter")]
struct Counter {
    #[record(primary_key)]
    id: Option<i64>,
    #[record(version(auto_increment))]
    version: Option<i64>,
    value: i64,
}

static ATTEMPTS: AtomicU32 = AtomicU32::new(0);

/// Increments the counter; the first attempt meets a concurrent writer.
#[commit_on_success(retry = RetryPolicy::new(3).with_conflict_retries(true))]
fn increment(tx: &mut Transaction<'_>, db: &Db) -> Result<i64, Error> {
    let mut counter = Counter::get(tx, 1)?;
    if ATTEMPTS.fetch_add(1, Ordering::SeqCst) == 0 {
        db.observer()
            .execute(
                "UPDATE counter SET value = value + 10, version = version + 1",
                [],
            )
            .unwrap();
    }
    counter.value += 1;
    counter.save(tx)?;
    Ok(counter.value)
}

#[test]
fn a_retry_option_runs_the_body_again_from_scratch_after_a_conflict() {
    let db = Db::new();
    db.observer()
        .execute_batch(
            "CREATE TABLE counter (id INTEGER PRIMARY KEY, version INTEGER NOT NULL, value INTEGER NOT NULL);
             INSERT INTO counter VALUES (1, 1, 0);",
        )
        .unwrap();
    let mut tm =
        db.manager_with(&txmanager::Settings::default().with_begin_mode(BeginMode::Deferred));
    assert_eq!(
        increment(&mut tm, &db).unwrap(),
        11,
        "the second attempt saw the other write"
    );
    assert_eq!(ATTEMPTS.load(Ordering::SeqCst), 2);
}

/// Generic over the scope, the wrapped functions compose with `Scope` code.
fn twice<S: Scope>(scope: &mut S) -> Result<(), Error> {
    add_then_fail(scope, "One", false)?;
    add_then_fail(scope, "Two", false)
}

#[test]
fn wrapped_functions_take_any_scope() {
    let db = Db::new();
    let mut tm = db.manager();
    twice(&mut tm).unwrap();
    tm.commit_on_success(|tx| twice(tx)).unwrap();
    assert_eq!(db.committed(), ["One X", "Two X", "One X", "Two X"]);
}
