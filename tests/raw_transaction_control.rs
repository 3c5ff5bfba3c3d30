//! Transaction control that does not come from txmanager: every spelling of
//! `BEGIN`, `COMMIT`, `ROLLBACK` and savepoint SQL, through every way a
//! statement reaches the connection, is refused before it runs, so the
//! block's transaction is never ended or restarted behind its back. A
//! transaction txmanager did not open is rolled back by the next block,
//! which says so.

mod common;

use common::{INSERT, Place};
use txmanager::rusqlite::Connection;
use txmanager::{Error, Transaction, TransactionManager};

/// Every spelling of transaction control, and the name the error gives it.
/// The first nested block's savepoint is `txm_1`.
const CONTROL: &[(&str, &str)] = &[
    ("COMMIT", "COMMIT"),
    ("commit transaction", "COMMIT"),
    ("END", "COMMIT"),
    ("END TRANSACTION", "COMMIT"),
    ("ROLLBACK", "ROLLBACK"),
    ("ROLLBACK TRANSACTION", "ROLLBACK"),
    ("BEGIN", "BEGIN"),
    ("BEGIN IMMEDIATE TRANSACTION", "BEGIN"),
    ("BEGIN EXCLUSIVE", "BEGIN"),
    ("SAVEPOINT mine", "SAVEPOINT \"mine\""),
    ("RELEASE txm_1", "RELEASE \"txm_1\""),
    ("RELEASE SAVEPOINT \"txm_1\"", "RELEASE \"txm_1\""),
    ("ROLLBACK TO txm_1", "ROLLBACK TO \"txm_1\""),
    (
        "ROLLBACK TRANSACTION TO SAVEPOINT \"txm_1\"",
        "ROLLBACK TO \"txm_1\"",
    ),
];

/// The ways a statement reaches the connection through a handle.
#[derive(Debug, Clone, Copy)]
enum Way {
    Execute,
    QueryRow,
    Prepare,
    Batch,
    /// A batch whose first statement writes and whose last never runs.
    BatchBetweenWrites,
}

const WAYS: [Way; 5] = [
    Way::Execute,
    Way::QueryRow,
    Way::Prepare,
    Way::Batch,
    Way::BatchBetweenWrites,
];

/// Runs `statement` through `way`; returns the error and the SQL passed in.
fn run(tx: &Transaction<'_>, way: Way, statement: &str) -> (Error, String) {
    let sql = match way {
        Way::BatchBetweenWrites => format!(
            "INSERT INTO reporter (first_name, last_name) VALUES ('Dan', 'Batch'); \
             {statement}; \
             INSERT INTO reporter (first_name, last_name) VALUES ('Eve', 'Never')"
        ),
        _ => statement.to_owned(),
    };
    let err = match way {
        Way::Execute => tx.execute(&sql, []).map(drop),
        Way::QueryRow => tx.query_row(&sql, [], |_| Ok(())),
        Way::Prepare => tx.prepare(&sql).map(drop),
        Way::Batch | Way::BatchBetweenWrites => tx.execute_batch(&sql),
    }
    .expect_err("transaction control must be refused");
    (err, sql)
}

fn assert_refused(err: &Error, expected_statement: &str, expected_sql: &str) {
    match err {
        Error::TransactionControlRefused { statement, sql } => {
            assert_eq!(statement, expected_statement);
            assert_eq!(sql, expected_sql);
        }
        other => panic!("expected TransactionControlRefused, got {other:?}"),
    }
}

#[test]
fn transaction_control_in_a_block_is_refused_before_it_runs_and_the_block_commits_as_a_unit() {
    for place in Place::both() {
        for way in WAYS {
            for &(statement, named) in CONTROL {
                let mut tm = place.manager();
                tm.execute("DELETE FROM reporter", []).unwrap();
                tm.commit_on_success(|tx| {
                    tx.execute(INSERT, ("Alice", "Smith"))?;
                    tx.commit_on_success(|inner| {
                        inner.execute(INSERT, ("Ben", "Jones"))?;
                        let (err, sql) = run(inner, way, statement);
                        assert_refused(&err, named, &sql);
                        Ok::<_, Error>(()) // the closure swallows the refusal
                    })?;
                    tx.execute(INSERT, ("Carol", "Doe")).map(drop)
                })
                .unwrap_or_else(|e| panic!("{} {way:?} {statement}: {e}", place.name()));
                let mut expected = vec!["Alice Smith", "Ben Jones"];
                if let Way::BatchBetweenWrites = way {
                    expected.push("Dan Batch");
                }
                expected.push("Carol Doe");
                assert_eq!(
                    place.committed(&tm),
                    expected,
                    "{} {way:?} {statement}",
                    place.name()
                );
            }
        }
    }
}

#[test]
fn a_refused_statement_followed_by_an_error_rolls_the_whole_block_back() {
    for place in Place::both() {
        for way in WAYS {
            for &(statement, named) in CONTROL {
                let mut tm = place.manager();
                let result = tm.commit_on_success(|tx| {
                    tx.execute(INSERT, ("Alice", "Smith"))?;
                    tx.commit_on_success(|inner| {
                        let (err, sql) = run(inner, way, statement);
                        assert_refused(&err, named, &sql);
                        Err::<(), Error>(err)
                    })
                });
                assert!(
                    matches!(result, Err(Error::TransactionControlRefused { .. })),
                    "{result:?}"
                );
                assert!(
                    place.committed(&tm).is_empty(),
                    "{} {way:?} {statement}: nothing may commit",
                    place.name()
                );
            }
        }
    }
}

#[test]
fn transaction_control_on_the_manager_outside_any_block_is_refused() {
    for place in Place::both() {
        let mut tm = place.manager();
        for &(statement, named) in CONTROL {
            let refusals = [
                tm.execute(statement, []).map(drop).unwrap_err(),
                tm.query_row(statement, [], |_| Ok(())).unwrap_err(),
                tm.prepare(statement).map(drop).unwrap_err(),
                tm.execute_batch(statement).unwrap_err(),
            ];
            for err in &refusals {
                assert_refused(err, named, statement);
            }
            assert!(
                tm.is_autocommit(),
                "{statement} must not open a transaction"
            );
        }
        // A raw BEGIN in a batch after a write: the write autocommitted, the
        // BEGIN did not run, and nothing is left open.
        let batch = "INSERT INTO reporter (first_name, last_name) VALUES ('Alice', 'Smith'); BEGIN";
        assert_refused(&tm.execute_batch(batch).unwrap_err(), "BEGIN", batch);
        tm.commit_on_success(|tx| tx.execute(INSERT, ("Ben", "Jones")))
            .unwrap();
        assert_eq!(place.committed(&tm), ["Alice Smith", "Ben Jones"]);
    }
}

#[test]
fn a_raw_commit_in_a_manual_block_is_refused_and_tx_commit_still_works() {
    for place in Place::both() {
        let mut tm = place.manager();
        let err = tm
            .commit_manually(|tx| {
                tx.execute(INSERT, ("Alice", "Smith"))?;
                let (err, sql) = run(tx, Way::Execute, "COMMIT");
                assert_refused(&err, "COMMIT", &sql);
                assert!(tx.is_dirty(), "the write is still pending");
                tx.commit()?;
                tx.execute(INSERT, ("Ben", "Jones"))?;
                tx.execute_batch("END")
            })
            .unwrap_err();
        assert_refused(&err, "COMMIT", "END");
        assert_eq!(
            place.committed(&tm),
            ["Alice Smith"],
            "{}: only tx.commit() committed",
            place.name()
        );
    }
}

#[test]
fn a_control_statement_compiled_before_the_manager_took_the_connection_is_refused() {
    let conn = Connection::open_in_memory().unwrap();
    conn.execute_batch("CREATE TABLE t (x)").unwrap();
    // Leave compiled COMMIT and BEGIN in rusqlite's statement cache.
    drop(conn.prepare_cached("COMMIT").unwrap());
    drop(conn.prepare_cached("BEGIN").unwrap());
    let mut tm = TransactionManager::new(conn);
    let err = tm
        .commit_on_success(|tx| {
            tx.execute("INSERT INTO t VALUES (1)", [])?;
            tx.execute("COMMIT", []).map(drop)
        })
        .unwrap_err();
    assert_refused(&err, "COMMIT", "COMMIT");
    assert_refused(&tm.execute("BEGIN", []).unwrap_err(), "BEGIN", "BEGIN");
    let rows: i64 = tm
        .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, 0);
}

/// A raw connection of `place`, with the reporter table.
fn raw_connection(place: &Place) -> Connection {
    match place {
        Place::File(db) => Connection::open(&db.path).unwrap(),
        Place::Memory => {
            let conn = Connection::open_in_memory().unwrap();
            conn.execute_batch(
                "CREATE TABLE reporter (id INTEGER PRIMARY KEY, first_name TEXT NOT NULL,
                 last_name TEXT NOT NULL, email TEXT NOT NULL DEFAULT '')",
            )
            .unwrap();
            conn
        }
    }
}

#[test]
fn a_transaction_left_open_on_the_connection_is_rolled_back_by_the_next_block_which_says_so() {
    for place in Place::both() {
        for transactional in [false, true] {
            let conn = raw_connection(&place);
            conn.execute_batch(
                "DELETE FROM reporter; BEGIN;
                 INSERT INTO reporter (first_name, last_name) VALUES ('Stray', 'Write');",
            )
            .unwrap();
            let mut tm = TransactionManager::new(conn);
            assert!(!tm.is_autocommit());
            let ran = std::cell::Cell::new(false);
            let body = |tx: &mut Transaction<'_>| {
                ran.set(true);
                tx.execute(INSERT, ("Alice", "Smith")).map(drop)
            };
            let err = if transactional {
                tm.commit_on_success(body)
            } else {
                tm.autocommit(body)
            }
            .unwrap_err();
            assert!(
                matches!(err, Error::TransactionOpenedUnderneath { statement: None }),
                "{err:?}"
            );
            assert!(
                err.to_string().contains("it was rolled back"),
                "the message says what happened: {err}"
            );
            assert!(!ran.get(), "the block did not run on the stray transaction");
            assert!(!tm.is_broken(), "the manager is not stuck");
            assert!(
                place.committed(&tm).is_empty(),
                "the stray write was rolled back"
            );
            tm.commit_on_success(|tx| tx.execute(INSERT, ("Ben", "Jones")))
                .unwrap();
            assert_eq!(place.committed(&tm), ["Ben Jones"], "{}", place.name());
        }
    }
}

#[test]
fn sqlite_rolling_back_on_a_conflict_stops_the_block_and_nothing_commits() {
    for place in Place::both() {
        let mut tm = place.manager();
        tm.execute(
            "INSERT INTO reporter (id, first_name, last_name) VALUES (1, 'Zed', 'Old')",
            [],
        )
        .unwrap();
        let err = tm
            .commit_on_success(|tx| {
                tx.execute(INSERT, ("Alice", "Smith"))?;
                let first = tx
                    .execute(
                        "INSERT OR ROLLBACK INTO reporter (id, first_name, last_name) \
                         VALUES (1, 'Dup', 'Key')",
                        [],
                    )
                    .unwrap_err();
                assert!(matches!(first, Error::Statement { .. }), "{first:?}");
                tx.execute(INSERT, ("Ben", "Jones")).map(drop)
            })
            .unwrap_err();
        assert!(
            matches!(err, Error::TransactionClosedUnderneath { .. }),
            "{err:?}"
        );
        assert_eq!(place.committed(&tm), ["Zed Old"], "{}", place.name());
        tm.commit_on_success(|tx| tx.execute(INSERT, ("Carol", "Doe")))
            .unwrap();
        assert_eq!(place.committed(&tm), ["Zed Old", "Carol Doe"]);
    }
}

#[test]
fn txmanager_s_own_cached_control_statements_cannot_be_borrowed_by_their_text() {
    for place in Place::both() {
        let mut tm = place.manager();
        let err = tm
            .commit_on_success(|tx| {
                tx.execute(INSERT, ("Alice", "Smith"))?;
                // Exactly the text txmanager caches its own COMMIT under.
                let err = tx.execute("COMMIT;", []).unwrap_err();
                assert!(
                    matches!(&err, Error::TransactionControlRefused { sql, .. } if sql == "COMMIT;"),
                    "{err:?}"
                );
                let err = tx.prepare("ROLLBACK;").map(drop).unwrap_err();
                assert!(matches!(err, Error::TransactionControlRefused { .. }), "{err:?}");
                tx.execute_batch("COMMIT;")
            })
            .unwrap_err();
        assert_refused(&err, "COMMIT", "COMMIT;");
        assert!(place.committed(&tm).is_empty(), "{}", place.name());
    }
}
