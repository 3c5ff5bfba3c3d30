//! A manual block is dirty when SQLite changed something, not when a write
//! statement returned `Ok`: statements that wrote and then failed, batches
//! whose later statement failed, and writing queries whose row mapper
//! failed all end the block with `PendingCommitRollback`, and nothing of
//! theirs is committed. Read-only work leaves the block clean.

mod common;

use common::Place;
use txmanager::rusqlite;
use txmanager::{Error, Transaction};

const WRITE_THEN_FAIL: &[(&str, &str)] = &[
    (
        "a batch whose first statement inserts and whose last fails",
        "INSERT INTO reporter (first_name, last_name) VALUES ('Alice', 'Smith');
         INSERT INTO no_such_table VALUES (1)",
    ),
    (
        "a batch whose first statement updates and whose second fails",
        "UPDATE reporter SET email = 'x';
         INSERT INTO reporter (id, first_name, last_name) VALUES (1, 'Dup', 'Key')",
    ),
    (
        "a batch whose first statement changes the schema and whose second fails",
        "CREATE TABLE extra (x); SELECT * FROM no_such_table",
    ),
    (
        "a batch whose first statement drops an index and whose second fails",
        "DROP INDEX reporter_email; SELECT no_such_column FROM reporter",
    ),
];

fn setup(place: &Place) -> txmanager::TransactionManager {
    let tm = place.manager();
    tm.execute_batch(
        "DROP TABLE IF EXISTS extra; DELETE FROM reporter;
         CREATE INDEX IF NOT EXISTS reporter_email ON reporter (email);
         INSERT INTO reporter (id, first_name, last_name) VALUES (1, 'Zed', 'Old')",
    )
    .unwrap();
    tm
}

/// What an observer sees: the reporters, their emails, and the schema.
fn snapshot(place: &Place, tm: &txmanager::TransactionManager) -> (Vec<String>, String) {
    let schema = tm
        .query_row(
            "SELECT group_concat(name) FROM (SELECT name FROM sqlite_schema ORDER BY name)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let emails: String = tm
        .query_row("SELECT group_concat(email) FROM reporter", [], |r| r.get(0))
        .unwrap();
    let mut rows = place.committed(tm);
    rows.push(emails);
    (rows, schema)
}

#[test]
fn a_batch_that_wrote_and_then_failed_leaves_the_manual_block_dirty() {
    for place in Place::both() {
        for &(what, batch) in WRITE_THEN_FAIL {
            let mut tm = setup(&place);
            let before = snapshot(&place, &tm);
            let err = tm
                .commit_manually(|tx| {
                    let failed = tx.execute_batch(batch).unwrap_err();
                    assert!(matches!(failed, Error::Statement { .. }), "{failed:?}");
                    assert!(tx.is_dirty(), "{what}: the batch wrote before it failed");
                    Ok::<_, Error>(()) // neither commit nor rollback
                })
                .unwrap_err();
            assert!(
                matches!(err, Error::PendingCommitRollback),
                "{} {what}: {err:?}",
                place.name()
            );
            assert_eq!(snapshot(&place, &tm), before, "{} {what}", place.name());
        }
    }
}

/// Writing statements whose call returns `Err` after SQLite changed rows.
fn write_then_fail(tx: &Transaction<'_>, case: usize) -> Result<(), Error> {
    match case {
        // The row is written; the mapper then fails.
        0 => tx.query_row(
            "INSERT INTO reporter (first_name, last_name) VALUES ('Alice', 'Smith') RETURNING id",
            [],
            |_| Err(rusqlite::Error::InvalidColumnIndex(99)),
        ),
        // The row is written; reading its value as the wrong type fails.
        1 => tx.query_row(
            "UPDATE reporter SET email = 'new' RETURNING email",
            [],
            |r| r.get::<_, i64>(0).map(drop),
        ),
        // OR FAIL keeps the rows changed before the conflicting one.
        2 => tx
            .execute(
                "INSERT OR FAIL INTO reporter (id, first_name, last_name)
                 VALUES (2, 'Ben', 'Jones'), (1, 'Dup', 'Key')",
                [],
            )
            .map(drop),
        // The same through a prepared statement.
        _ => {
            let mut stmt = tx.prepare(
                "INSERT INTO reporter (first_name, last_name) VALUES ('Carol', 'Doe') RETURNING id",
            )?;
            stmt.query_row([], |_| Err(rusqlite::Error::InvalidColumnIndex(99)))
                .map_err(Error::from)
        }
    }
}

#[test]
fn a_statement_that_wrote_and_then_failed_leaves_the_manual_block_dirty() {
    for place in Place::both() {
        for case in 0..4 {
            let mut tm = setup(&place);
            let before = snapshot(&place, &tm);
            let err = tm
                .commit_manually(|tx| {
                    write_then_fail(tx, case).unwrap_err();
                    assert!(tx.is_dirty(), "case {case}: SQLite changed a row");
                    Ok::<_, Error>(())
                })
                .unwrap_err();
            assert!(
                matches!(err, Error::PendingCommitRollback),
                "{} case {case}: {err:?}",
                place.name()
            );
            assert_eq!(
                snapshot(&place, &tm),
                before,
                "{} case {case}",
                place.name()
            );
        }
    }
}

#[test]
fn read_only_work_leaves_a_manual_block_clean_even_when_it_fails() {
    for place in Place::both() {
        let mut tm = setup(&place);
        let names = tm
            .commit_manually(|tx| {
                tx.execute_batch("SELECT 1; SELECT count(*) FROM reporter")?;
                tx.execute_batch("SELECT 1; SELECT * FROM no_such_table")
                    .unwrap_err();
                tx.query_row("SELECT id FROM reporter WHERE id = 999", [], |_| Ok(()))
                    .unwrap_err();
                // A write that matches no row changes nothing either, but it
                // is not read-only: it counts as a write.
                assert!(!tx.is_dirty());
                tx.query_row("SELECT first_name FROM reporter", [], |r| {
                    r.get::<_, String>(0)
                })
            })
            .unwrap();
        assert_eq!(names, "Zed");
        assert!(tm.is_autocommit());
    }
}

#[test]
fn a_batch_that_wrote_can_still_be_committed_by_hand() {
    for place in Place::both() {
        let mut tm = setup(&place);
        tm.commit_manually(|tx| {
            tx.execute_batch(WRITE_THEN_FAIL[0].1).unwrap_err();
            tx.commit()
        })
        .unwrap();
        assert_eq!(place.committed(&tm), ["Zed Old", "Alice Smith"]);
    }
}

/// A row mapper that panics after a writing statement ran, the caller
/// catching the panic: SQLite has already written (`RETURNING` writes
/// before its first row), so the block is dirty, on the handle and on a
/// prepared statement alike, and nothing of it is committed.
#[test]
fn a_write_whose_row_mapper_panicked_leaves_the_manual_block_dirty() {
    use std::panic::{AssertUnwindSafe, catch_unwind};
    const WRITES: &[&str] = &[
        "UPDATE reporter SET email = 'x' WHERE id = 1 RETURNING id",
        "INSERT INTO reporter (first_name, last_name) VALUES ('Carol', 'Doe') RETURNING id",
        "DELETE FROM reporter WHERE id = 1 RETURNING id",
    ];
    for place in Place::both() {
        for sql in WRITES {
            let mut tm = setup(&place);
            let before = snapshot(&place, &tm);
            let err = tm
                .commit_manually(|tx| {
                    let caught = catch_unwind(AssertUnwindSafe(|| {
                        tx.query_row(sql, [], |_| -> rusqlite::Result<i64> {
                            panic!("the row mapper panics after the write")
                        })
                    }));
                    assert!(caught.is_err(), "{sql}: the mapper ran and panicked");
                    assert!(tx.is_dirty(), "{sql}: SQLite wrote before the first row");
                    // The handle still works, and sees its own write.
                    tx.query_row("SELECT count(*) FROM reporter", [], |r| r.get::<_, i64>(0))?;
                    Ok::<_, Error>(())
                })
                .unwrap_err();
            assert!(
                matches!(err, Error::PendingCommitRollback),
                "{} {sql}: {err:?}",
                place.name()
            );
            assert_eq!(snapshot(&place, &tm), before, "{} {sql}", place.name());
            assert!(tm.is_autocommit());
        }
    }
}

/// The same panic in a read leaves a manual block clean.
#[test]
fn a_read_whose_row_mapper_panicked_leaves_the_manual_block_clean() {
    use std::panic::{AssertUnwindSafe, catch_unwind};
    for place in Place::both() {
        let mut tm = setup(&place);
        tm.commit_manually(|tx| {
            let caught = catch_unwind(AssertUnwindSafe(|| {
                tx.query_row(
                    "SELECT id FROM reporter",
                    [],
                    |_| -> rusqlite::Result<i64> { panic!("the row mapper panics") },
                )
            }));
            assert!(caught.is_err());
            assert!(!tx.is_dirty(), "a read changed nothing");
            Ok::<_, Error>(())
        })
        .unwrap();
        assert_eq!(place.committed(&tm), ["Zed Old"]);
    }
}
