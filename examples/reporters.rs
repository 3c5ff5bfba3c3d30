//! Replays Django's transactions doctest step by step on a real database file,
//! printing what each mode did, then shows two writers editing one record:
//! the second, stale save is caught as a conflict instead of overwriting.
//!
//! Run it with `cargo run --example reporters`.

use txmanager::{Error, Record, Transaction, TransactionManager};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

const INSERT: &str = "INSERT INTO reporter (first_name, last_name, email) VALUES (?1, ?2, '')";

fn create_a_reporter_then_fail(
    tx: &mut Transaction<'_>,
    (first, last): (&str, &str),
) -> Result<(), BoxError> {
    tx.execute(INSERT, (first, last))?;
    Err("I meant to do that".into())
}

/// The default mode, outside any block: each statement commits as it runs.
fn create_a_reporter_then_fail_by_default(
    tm: &TransactionManager,
    (first, last): (&str, &str),
) -> Result<(), BoxError> {
    tm.execute(INSERT, (first, last))?;
    Err("I meant to do that".into())
}

fn remove_a_reporter(tx: &mut Transaction<'_>, (): ()) -> Result<(), BoxError> {
    let id: i64 = tx.query_row(
        "SELECT id FROM reporter WHERE first_name = ?1",
        ["Alice"],
        |r| r.get(0),
    )?;
    tx.execute("DELETE FROM reporter WHERE id = ?1", [id])?;
    Ok(())
}

fn manually_managed(tx: &mut Transaction<'_>, (): ()) -> Result<(), Error> {
    tx.execute(INSERT, ("Carol", "Doe"))?;
    tx.commit()
}

fn manually_managed_mistake(tx: &mut Transaction<'_>, (): ()) -> Result<(), Error> {
    tx.execute(INSERT, ("David", "Davidson"))?;
    Ok(()) // oops, I forgot to commit/rollback!
}

/// What another process sees: read through a second, independent connection.
fn listing(path: &std::path::Path) -> Result<Vec<String>, BoxError> {
    let conn = txmanager::rusqlite::Connection::open(path)?;
    let mut stmt =
        conn.prepare("SELECT first_name || ' ' || last_name FROM reporter ORDER BY id")?;
    let names = stmt
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(names)
}

fn step(
    title: &str,
    outcome: Result<(), impl std::fmt::Display>,
    path: &std::path::Path,
) -> Result<(), BoxError> {
    println!("\n# {title}");
    report(outcome, path)
}

/// What a step returned, and what is committed after it.
fn report(
    outcome: Result<(), impl std::fmt::Display>,
    path: &std::path::Path,
) -> Result<(), BoxError> {
    match outcome {
        Ok(()) => println!("  returned: Ok"),
        Err(e) => println!("  returned: Err({e})"),
    }
    println!("  committed: {:?}", listing(path)?);
    Ok(())
}

fn main() -> Result<(), BoxError> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("reporters.db");
    let mut tm = TransactionManager::open(&path)?;
    tm.execute(
        "CREATE TABLE reporter (id INTEGER PRIMARY KEY, first_name TEXT NOT NULL, \
         last_name TEXT NOT NULL, email TEXT NOT NULL)",
        [],
    )?;
    println!("txmanager replaying Django's transactions doctest on a fresh database file");

    // The default behaviour is to autocommit after each statement.
    let outcome = create_a_reporter_then_fail_by_default(&tm, ("Alice", "Smith"));
    step(
        "default (no block): save, then fail -> the save was already committed",
        outcome,
        &path,
    )?;

    let autocomitted_create_then_fail = txmanager::autocommit(create_a_reporter_then_fail);
    let outcome = autocomitted_create_then_fail.call(&mut tm, ("Ben", "Jones"));
    step(
        "autocommit(create_a_reporter_then_fail)(\"Ben\", \"Jones\") -> same as the default",
        outcome,
        &path,
    )?;

    let committed_on_success = txmanager::commit_on_success(create_a_reporter_then_fail);
    let outcome = committed_on_success.call(&mut tm, ("Carol", "Doe"));
    step(
        "commit_on_success(create_a_reporter_then_fail)(\"Carol\", \"Doe\") -> rolled back",
        outcome,
        &path,
    )?;

    let remove_comitted_on_success = txmanager::commit_on_success(remove_a_reporter);
    let outcome = remove_comitted_on_success.call(&mut tm, ());
    step(
        "commit_on_success(remove_a_reporter)() -> no error, so committed",
        outcome,
        &path,
    )?;

    let outcome = txmanager::commit_manually(manually_managed).call(&mut tm, ());
    step(
        "commit_manually(manually_managed)() -> the block committed itself",
        outcome,
        &path,
    )?;

    let outcome = txmanager::commit_manually(manually_managed_mistake).call(&mut tm, ());
    step(
        "commit_manually(manually_managed_mistake)() -> forgot to commit: rolled back, and an error",
        outcome,
        &path,
    )?;

    // What Django did not have: nesting. The inner failure is rolled back to
    // its savepoint; the outer block still commits its own work.
    println!("\n# commit_on_success with a failing nested block -> only the inner work is undone");
    let outcome = tm.commit_on_success(|tx| {
        tx.execute(INSERT, ("Erin", "Nested"))?;
        let inner =
            tx.commit_on_success(|inner| create_a_reporter_then_fail(inner, ("Frank", "Inner")));
        println!(
            "  inner block returned: {:?}",
            inner.map_err(|e| e.to_string())
        );
        Ok::<_, Error>(())
    });
    report(outcome, &path)?;

    assert!(tm.is_autocommit(), "no block leaves a transaction open");
    assert_eq!(listing(&path)?, ["Ben Jones", "Carol Doe", "Erin Nested"]);
    println!("\nThe listing matches Django's doctest, plus the nested step.");

    two_writers(&path)?;
    Ok(())
}

#[derive(Debug, Clone, Default, Record)]
pub struct Page {
    #[record(primary_key)]
    pub id: Option<i64>,
    #[record(version(auto_increment))]
    pub version: Option<i64>,
    pub title: String,
}

/// Two writers load the same record; the first saves; the second's save is
/// stale, and is refused instead of overwriting the first.
fn two_writers(path: &std::path::Path) -> Result<(), BoxError> {
    println!("\n# two writers, one record: the stale save is caught");
    let (alice, bob) = (
        TransactionManager::open(path)?,
        TransactionManager::open(path)?,
    );
    alice.execute(
        "CREATE TABLE page (id INTEGER PRIMARY KEY, version INTEGER, title TEXT NOT NULL)",
        [],
    )?;
    Page {
        title: "Home".into(),
        ..Default::default()
    }
    .save(&alice)?;
    let mut a = Page::get(&alice, 1)?;
    let mut b = Page::get(&bob, 1)?;
    println!(
        "  alice and bob both load page 1 at version {}",
        a.version.unwrap_or_default()
    );
    a.title = "Home page".into();
    a.save(&alice)?;
    println!(
        "  alice saves it: now at version {}",
        a.version.unwrap_or_default()
    );
    b.title = "Start".into();
    match b.save(&bob) {
        Err(err @ Error::RecordModified { .. }) => println!("  bob saves: Err({err})"),
        other => return Err(format!("a stale save must fail, got {other:?}").into()),
    }
    let stored = Page::get(&bob, 1)?;
    println!(
        "  stored: {:?} at version {}",
        stored.title,
        stored.version.unwrap_or_default()
    );
    assert_eq!(stored.title, "Home page");
    Ok(())
}
