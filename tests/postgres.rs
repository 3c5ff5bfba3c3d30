//! What only PostgreSQL does: isolation levels and access modes as block
//! options, serialization failures and deadlocks retried from the outermost
//! block, a lost connection, and a COMMIT whose outcome is unknown. Each test
//! has its own schema on the server in TXMANAGER_PG_URL.
#![cfg(feature = "postgres")]

mod common;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;

use common::pg::PgDb;
use txmanager::{
    Error, GaveUp, PgBlockOptions, PgIsolation, Postgres, RetryPolicy, Transaction,
    TransactionManager,
};

fn serializable() -> PgBlockOptions {
    PgBlockOptions::default().with_isolation(PgIsolation::Serializable)
}

/// The manager's server process id, for the observer to find or end it.
fn backend_pid(tm: &TransactionManager<Postgres>) -> i32 {
    tm.query_one("SELECT pg_backend_pid()", &[]).unwrap().get(0)
}

/// Ends the manager's server session from another session, and waits until
/// it is gone, as when the network or the server drops the connection.
fn kill_session(db: &PgDb, pid: i32) {
    kill_session_of(db.config(), pid);
}

/// [`kill_session`], from a connection made with `config`.
fn kill_session_of(config: &postgres::Config, pid: i32) {
    let mut observer = config.connect(postgres::NoTls).unwrap();
    observer
        .execute("SELECT pg_terminate_backend($1)", &[&pid])
        .unwrap();
    while observer
        .query_opt("SELECT 1 FROM pg_stat_activity WHERE pid = $1", &[&pid])
        .unwrap()
        .is_some()
    {
        thread::yield_now();
    }
}

fn counter_table(db: &PgDb) {
    db.observer()
        .batch_execute(
            "CREATE TABLE counter (id BIGINT PRIMARY KEY, value BIGINT NOT NULL);
             INSERT INTO counter VALUES (1, 0), (2, 0);",
        )
        .unwrap();
}

fn counter(db: &PgDb, id: i64) -> i64 {
    db.observer()
        .query_one("SELECT value FROM counter WHERE id = $1", &[&id])
        .unwrap()
        .get(0)
}

#[test]
fn a_block_begins_with_the_isolation_level_and_access_mode_it_asks_for() {
    let db = PgDb::new();
    let mut tm = db.manager();
    let show = |tm: &mut TransactionManager<Postgres>, options| -> (String, String, String) {
        tm.commit_on_success_with(options, |tx| {
            let get = |name: &str| -> Result<String, Error> {
                Ok(tx.query_one(&format!("SHOW {name}"), &[])?.get(0))
            };
            Ok::<_, Error>((
                get("transaction_isolation")?,
                get("transaction_read_only")?,
                get("transaction_deferrable")?,
            ))
        })
        .unwrap()
    };
    assert_eq!(
        show(&mut tm, PgBlockOptions::default()).0,
        "read committed",
        "the server's default"
    );
    assert_eq!(
        show(
            &mut tm,
            PgBlockOptions::default().with_isolation(PgIsolation::RepeatableRead)
        )
        .0,
        "repeatable read"
    );
    assert_eq!(
        show(
            &mut tm,
            serializable().with_read_only(true).with_deferrable(true)
        ),
        ("serializable".into(), "on".into(), "on".into())
    );
    // The manager's default applies to every later outermost block.
    tm.set_block_options(serializable());
    let level: String = tm
        .commit_on_success(|tx| {
            Ok::<_, Error>(tx.query_one("SHOW transaction_isolation", &[])?.get(0))
        })
        .unwrap();
    assert_eq!(level, "serializable");
}

#[test]
fn a_write_in_a_read_only_block_fails_and_nothing_is_committed() {
    let db = PgDb::new();
    let mut tm = db.manager();
    let err = tm
        .commit_on_success_with(PgBlockOptions::default().with_read_only(true), |tx| {
            tx.execute(
                "INSERT INTO reporter (first_name, last_name) VALUES ('Alice', 'Smith')",
                &[],
            )
        })
        .unwrap_err();
    assert_eq!(err.sqlstate(), Some("25006"), "{err:?}"); // read_only_sql_transaction
    assert!(db.committed().is_empty());
    assert!(db.outside_transaction(&tm));
}

#[test]
fn a_serialization_failure_in_a_nested_block_is_retried_from_the_outermost_block() {
    let db = PgDb::new();
    counter_table(&db);
    let mut tm = db.manager();
    tm.set_block_options(serializable());
    let runs = AtomicU32::new(0);
    let done = tm
        .commit_on_success_with_retry(&RetryPolicy::default(), |tx| {
            let run = runs.fetch_add(1, Ordering::SeqCst) + 1;
            // The outer block's own work, which must happen once in the end.
            tx.execute("UPDATE counter SET value = value + 1 WHERE id = 2", &[])?;
            tx.commit_on_success(|inner| {
                let value: i64 = inner
                    .query_one("SELECT value FROM counter WHERE id = 1", &[])?
                    .get(0);
                if run == 1 {
                    // Another client commits a change to the row after this
                    // block's snapshot was taken.
                    db.observer()
                        .execute("UPDATE counter SET value = value + 100 WHERE id = 1", &[])
                        .unwrap();
                }
                inner.execute(
                    "UPDATE counter SET value = $1 WHERE id = 1",
                    &[&(value + 1)],
                )
            })
        })
        .unwrap();
    assert_eq!(
        done.attempts, 2,
        "the first run failed with 40001 and was retried"
    );
    assert_eq!(counter(&db, 1), 101, "no lost update");
    assert_eq!(counter(&db, 2), 1, "the outer work ran once in the end");
    assert!(db.outside_transaction(&tm));
}

#[test]
fn a_serialization_failure_is_not_retried_by_a_policy_of_one_attempt_and_says_40001() {
    let db = PgDb::new();
    counter_table(&db);
    let mut tm = db.manager();
    tm.set_block_options(serializable());
    let err = tm
        .commit_on_success_with_retry(&RetryPolicy::new(1), |tx| {
            let value: i64 = tx
                .query_one("SELECT value FROM counter WHERE id = 1", &[])?
                .get(0);
            db.observer()
                .execute("UPDATE counter SET value = 7 WHERE id = 1", &[])
                .unwrap();
            tx.execute(
                "UPDATE counter SET value = $1 WHERE id = 1",
                &[&(value + 1)],
            )
        })
        .unwrap_err();
    assert_eq!(err.gave_up(), GaveUp::AttemptLimit);
    assert_eq!(err.error().sqlstate(), Some("40001"));
    assert_eq!(counter(&db, 1), 7);
}

#[test]
fn a_deadlock_is_retried_and_both_writers_finish() {
    let db = PgDb::new();
    counter_table(&db);
    let both_hold_a_lock = Arc::new(Barrier::new(2));
    let total_runs = Arc::new(AtomicU32::new(0));
    let writers: Vec<_> = [(1i64, 2i64), (2, 1)]
        .into_iter()
        .map(|(first, second)| {
            let mut tm = db.manager();
            let barrier = Arc::clone(&both_hold_a_lock);
            let total = Arc::clone(&total_runs);
            thread::spawn(move || {
                let mut first_run = true;
                tm.commit_on_success_with_retry(&RetryPolicy::default(), |tx| {
                    total.fetch_add(1, Ordering::SeqCst);
                    tx.execute(
                        "UPDATE counter SET value = value + 1 WHERE id = $1",
                        &[&first],
                    )?;
                    if std::mem::take(&mut first_run) {
                        barrier.wait(); // each holds one row: the next update deadlocks
                    }
                    tx.execute(
                        "UPDATE counter SET value = value + 1 WHERE id = $1",
                        &[&second],
                    )
                })
                .map(|done| done.attempts)
            })
        })
        .collect();
    let attempts: Vec<u32> = writers
        .into_iter()
        .map(|w| w.join().unwrap().unwrap())
        .collect();
    // At least one writer was a deadlock victim and ran again. It can be
    // more: a victim's retry may take its first row again before the other
    // writer, woken by the victim's rollback, locks it (PostgreSQL does not
    // queue row locks across transactions), and deadlock once more.
    let runs: u32 = attempts.iter().sum();
    assert!(runs >= 3, "no writer was the deadlock victim: {attempts:?}");
    assert_eq!(
        total_runs.load(Ordering::SeqCst),
        runs,
        "every run was counted as an attempt"
    );
    // Each writer committed exactly once: no lost update, no double write.
    assert_eq!((counter(&db, 1), counter(&db, 2)), (2, 2));
}

#[test]
fn a_lost_connection_inside_a_block_breaks_the_manager_and_commits_nothing() {
    let db = PgDb::new();
    let mut tm = db.manager();
    let pid = backend_pid(&tm);
    let err = tm
        .commit_on_success(|tx| {
            tx.execute(
                "INSERT INTO reporter (first_name, last_name) VALUES ('Alice', 'Smith')",
                &[],
            )?;
            kill_session(&db, pid);
            tx.execute(
                "INSERT INTO reporter (first_name, last_name) VALUES ('Ben', 'Jones')",
                &[],
            )
        })
        .unwrap_err();
    assert!(matches!(err, Error::Statement { .. }), "{err:?}");
    assert!(
        err.database_error().is_some_and(|e| e.is_connection_lost()),
        "{err:?}"
    );
    assert!(tm.is_broken());
    let next = tm.execute("SELECT 1", &[]).unwrap_err();
    assert!(
        matches!(&next, Error::Broken { reason, .. } if reason.contains("connection to the database was lost")),
        "{next:?}"
    );
    assert!(tm.reset().is_err(), "a lost connection cannot be reset");
    assert!(db.committed().is_empty());
    // A new manager (a new connection) works.
    let mut reopened = db.manager();
    reopened
        .commit_on_success(|tx| {
            tx.execute(
                "INSERT INTO reporter (first_name, last_name) VALUES ('Ben', 'Jones')",
                &[],
            )
        })
        .unwrap();
    assert_eq!(db.committed(), ["Ben Jones"]);
}

thread_local! {
    /// What `Doomed::from_row` runs before it reads its row.
    static ON_READ: std::cell::RefCell<Option<Box<dyn Fn()>>> = const { std::cell::RefCell::new(None) };
}

/// A record whose row mapper first runs `ON_READ` (here: ends the
/// manager's session), as a lost network would between two statements.
#[derive(Debug, Default)]
struct Doomed {
    id: Option<i64>,
    label: String,
}

impl txmanager::Record for Doomed {
    type Key = i64;
    fn meta() -> &'static txmanager::RecordMeta {
        static META: txmanager::RecordMeta =
            txmanager::RecordMeta::new("doomed", "id", &["label"], None);
        &META
    }
    fn primary_key(&self) -> Option<&i64> {
        self.id.as_ref()
    }
    fn set_primary_key(&mut self, pk: Option<i64>) {
        self.id = pk;
    }
    fn version(&self) -> Option<i64> {
        None
    }
    fn set_version(&mut self, _: Option<i64>) {}
}

impl txmanager::RecordValues<Postgres> for Doomed {
    fn bind_columns(
        &self,
        values: &mut txmanager::Binder<'_, '_, Postgres>,
    ) -> Result<(), txmanager::ValueError> {
        values.bind(&self.label)
    }
    fn from_row(
        row: &mut txmanager::RowReader<'_, '_, Postgres>,
    ) -> Result<Self, txmanager::ValueError> {
        ON_READ.with(|hook| hook.borrow().as_ref().map(|run| run()));
        Ok(Doomed {
            id: row.read()?,
            label: row.read()?,
        })
    }
}

/// `save_and_reload` outside a block runs its write and its read in a
/// transaction of its own. When the connection drops between the read and
/// that transaction's `COMMIT`, the save reports that the outcome is
/// unknown (never `Ok`), the manager is broken, the record is unchanged,
/// and here, where the server rolled the transaction back, nothing is
/// committed; a new manager works.
#[test]
fn a_connection_lost_inside_a_saves_own_transaction_reports_no_commit_and_breaks_the_manager() {
    use txmanager::Record;
    let db = PgDb::new();
    db.observer()
        .batch_execute("CREATE TABLE doomed (id BIGSERIAL PRIMARY KEY, label TEXT NOT NULL)")
        .unwrap();
    let tm = db.manager();
    let pid = backend_pid(&tm);
    let config = db.config().clone();
    ON_READ.with(|hook| {
        *hook.borrow_mut() = Some(Box::new(move || kill_session_of(&config, pid)));
    });
    let mut doomed = Doomed {
        label: "written".into(),
        ..Default::default()
    };
    let err = doomed.save_and_reload(&tm).unwrap_err();
    ON_READ.with(|hook| hook.borrow_mut().take());
    assert!(matches!(err, Error::CommitOutcomeUnknown { .. }), "{err:?}");
    assert!(tm.is_broken());
    assert_eq!(doomed.id, None, "the record is unchanged");
    let rows: i64 = db
        .observer()
        .query_one("SELECT count(*) FROM doomed", &[])
        .unwrap()
        .get(0);
    assert_eq!(rows, 0, "the server rolled the save back");
    doomed.save(&db.manager()).unwrap();
    assert!(doomed.id.is_some());
}

/// A save's own transaction (outside a block) begins with the default
/// options, as its statements would run in autocommit mode: a manager
/// whose blocks are read-only by default still saves on the manager.
#[test]
fn a_saves_own_transaction_ignores_the_managers_read_only_default() {
    use txmanager::Record;
    let db = PgDb::new();
    db.observer()
        .batch_execute("CREATE TABLE doomed (id BIGSERIAL PRIMARY KEY, label TEXT NOT NULL)")
        .unwrap();
    let mut tm = db.manager();
    tm.set_block_options(PgBlockOptions::default().with_read_only(true));
    let mut record = Doomed {
        label: "saved".into(),
        ..Default::default()
    };
    record.save_and_reload(&tm).unwrap();
    assert_eq!(record.id, Some(1));
    let refused = tm.commit_on_success(|tx| record.save(tx)).unwrap_err();
    assert_eq!(refused.sqlstate(), Some("25006"), "{refused:?}");
}

/// A statement the server cancels for its `statement_timeout` (57014)
/// aborts the block: the error carries the SQLSTATE, the retry helper does
/// not run the block again (the statement was slow, not blocked: 55P03, a
/// lock wait past `lock_timeout`, is retried), nothing is committed, and
/// the manager works on.
#[test]
fn a_statement_cancelled_by_statement_timeout_rolls_the_block_back_and_is_not_retried() {
    let db = PgDb::new();
    let mut tm = db.manager();
    tm.execute("SET statement_timeout = '20ms'", &[]).unwrap();
    let mut runs = 0;
    let err = tm
        .commit_on_success_with_retry(&RetryPolicy::default(), |tx| {
            runs += 1;
            tx.execute(
                "INSERT INTO reporter (first_name, last_name) VALUES ('Alice', 'Smith')",
                &[],
            )?;
            tx.execute("SELECT pg_sleep(5)", &[]).map(drop)
        })
        .unwrap_err();
    assert_eq!((runs, err.gave_up()), (1, GaveUp::NotRetryable));
    assert!(
        matches!(err.error(), Error::Statement { .. }) && err.error().sqlstate() == Some("57014"),
        "{:?}",
        err.error()
    );
    assert!(db.committed().is_empty());
    assert!(db.outside_transaction(&tm));
    tm.execute("SET statement_timeout = 0", &[]).unwrap();
    tm.commit_on_success(|tx| {
        tx.execute(
            "INSERT INTO reporter (first_name, last_name) VALUES ('Ben', 'Jones')",
            &[],
        )
    })
    .unwrap();
    assert_eq!(db.committed(), ["Ben Jones"]);
}

#[test]
fn a_commit_whose_outcome_is_unknown_is_reported_as_such_and_never_retried() {
    let db = PgDb::new();
    let mut tm = db.manager();
    let pid = backend_pid(&tm);
    let err = tm
        .commit_on_success_with_retry(&RetryPolicy::default(), |tx| {
            tx.execute(
                "INSERT INTO reporter (first_name, last_name) VALUES ('Alice', 'Smith')",
                &[],
            )?;
            // The connection drops between the last statement and COMMIT:
            // the client cannot know whether the server committed.
            kill_session(&db, pid);
            Ok::<_, Error>(())
        })
        .unwrap_err();
    assert_eq!(err.attempts(), 1, "an unknown outcome is never retried");
    assert_eq!(err.gave_up(), GaveUp::NotRetryable);
    assert!(
        matches!(err.error(), Error::CommitOutcomeUnknown { .. }),
        "{:?}",
        err.error()
    );
    assert!(
        err.to_string().contains("outcome of COMMIT is unknown"),
        "{err}"
    );
    assert!(tm.is_broken());
    assert!(
        db.committed().is_empty(),
        "here the server had rolled it back"
    );
}

#[test]
fn statements_outside_blocks_commit_at_once_and_a_failed_one_poisons_nothing() {
    let db = PgDb::new();
    let tm = db.manager();
    tm.execute(
        "INSERT INTO reporter (first_name, last_name) VALUES ($1, $2)",
        &[&"Alice", &"Smith"],
    )
    .unwrap();
    assert!(
        tm.execute("INSERT INTO no_such_table VALUES (1)", &[])
            .is_err()
    );
    tm.execute(
        "INSERT INTO reporter (first_name, last_name) VALUES ($1, $2)",
        &[&"Ben", &"Jones"],
    )
    .unwrap();
    assert_eq!(db.committed(), ["Alice Smith", "Ben Jones"]);
    assert!(db.outside_transaction(&tm));
}

#[test]
fn a_prepared_statement_is_prepared_again_after_the_table_changes_shape() {
    let db = PgDb::new();
    let tm = db.manager();
    tm.execute_batch("CREATE TABLE t (a BIGINT); INSERT INTO t VALUES (1);")
        .unwrap();
    assert_eq!(tm.query("SELECT * FROM t", &[]).unwrap()[0].len(), 1);
    tm.execute_batch("ALTER TABLE t ADD COLUMN b BIGINT")
        .unwrap();
    // The cached plan's result type changed: the first run fails (0A000),
    // and the statement is prepared again for the next.
    let first = tm.query("SELECT * FROM t", &[]);
    let again = tm.query("SELECT * FROM t", &[]).unwrap();
    assert_eq!(again[0].len(), 2, "{first:?}");
}

#[test]
fn a_client_side_error_does_not_abort_the_block_but_a_server_error_does() {
    let db = PgDb::new();
    let mut tm = db.manager();
    // `query_one` finding no row fails in the client, after the server ran
    // the query: the transaction is intact, and the block commits.
    tm.commit_on_success(|tx| {
        tx.execute(
            "INSERT INTO reporter (first_name, last_name) VALUES ('Alice', 'Smith')",
            &[],
        )?;
        let none = tx.query_one("SELECT 1 FROM reporter WHERE false", &[]);
        assert!(matches!(none, Err(Error::Statement { .. })), "{none:?}");
        Ok::<_, Error>(())
    })
    .unwrap();
    assert_eq!(db.committed(), ["Alice Smith"]);
    // The server's own error aborts it: the block cannot commit.
    let err = tm
        .commit_on_success(|tx| {
            tx.execute(
                "INSERT INTO reporter (first_name, last_name) VALUES ('Ben', 'Jones')",
                &[],
            )?;
            let _ = tx.query_one("SELECT 1 / 0", &[]);
            Ok::<_, Error>(())
        })
        .unwrap_err();
    assert!(matches!(err, Error::BlockAborted), "{err:?}");
    assert_eq!(db.committed(), ["Alice Smith"]);
}

#[test]
fn transaction_control_hidden_by_nested_comments_or_escaped_quotes_is_refused_and_the_block_stays_whole()
 {
    let db = PgDb::new();
    let mut tm = db.manager();
    for (sql, batch) in [
        ("/* /* */ */ COMMIT", false),
        ("SELECT E'\\''; COMMIT; SELECT '", true),
        ("SELECT U&'\\0041'; COMMIT", true),
        ("SELECT 1 AS a$b$; COMMIT; SELECT $b$", true),
    ] {
        let result = tm.commit_on_success(|tx| {
            tx.execute(
                "INSERT INTO reporter (first_name, last_name) VALUES ('Alice', 'Smith')",
                &[],
            )?;
            let refused = if batch {
                tx.execute_batch(sql)
            } else {
                tx.execute(sql, &[]).map(|_| ())
            };
            assert!(
                matches!(refused, Err(Error::TransactionControlRefused { .. })),
                "{sql}: {refused:?}"
            );
            tx.execute(
                "INSERT INTO reporter (first_name, last_name) VALUES ('Ben', 'Jones')",
                &[],
            )?;
            Err::<(), _>(Error::BlockAborted) // any error: the block rolls back
        });
        assert!(
            matches!(result, Err(Error::BlockAborted)),
            "{sql}: {result:?}"
        );
        assert_eq!(db.committed(), Vec::<String>::new(), "{sql}");
        assert!(db.outside_transaction(&tm), "{sql}");
    }
}

#[test]
fn a_manual_block_whose_only_writes_are_selects_of_writing_functions_does_not_end_ok() {
    let db = PgDb::new();
    create_add_reporter(&db);
    let mut tm = db.manager();
    for sql in WRITING_READS {
        let result = tm.commit_manually(|tx| tx.query(sql, &[]).map(|_| ()));
        assert!(
            matches!(result, Err(Error::PendingCommitRollback)),
            "{sql}: {result:?}"
        );
        assert_eq!(db.committed(), Vec::<String>::new(), "{sql}");
        assert!(db.outside_transaction(&tm), "{sql}");
    }
    // Also when the writing read ran in a nested block that was released
    // into the manual block; not when that nested block rolled back.
    let result = tm.commit_manually(|tx| {
        tx.commit_on_success(|inner| inner.query("SELECT add_reporter()", &[]).map(|_| ()))
    });
    assert!(
        matches!(result, Err(Error::PendingCommitRollback)),
        "{result:?}"
    );
    tm.commit_manually(|tx| {
        let rolled_back = tx.commit_on_success(|inner| {
            inner.query("SELECT add_reporter()", &[])?;
            Err::<(), _>(Error::PendingCommitRollback) // any error
        });
        assert!(rolled_back.is_err());
        Ok::<_, Error>(())
    })
    .unwrap();
    assert_eq!(db.committed(), Vec::<String>::new());
    // A manual block that only read still ends Ok.
    tm.commit_manually(|tx| tx.query("SELECT * FROM reporter", &[]).map(|_| ()))
        .unwrap();
}

/// Statements classified as reads that write: dirty tracking misses them,
/// the server's row counters do not.
const WRITING_READS: [&str; 3] = [
    "SELECT add_reporter()",
    "EXPLAIN ANALYZE INSERT INTO reporter (first_name, last_name) VALUES ('Ben', 'Jones')",
    "SELECT 1 AS x INTO copied",
];

fn create_add_reporter(db: &PgDb) {
    db.observer()
        .batch_execute(
            "CREATE FUNCTION add_reporter() RETURNS void LANGUAGE sql AS
             $$ INSERT INTO reporter (first_name, last_name) VALUES ('Alice', 'Smith') $$",
        )
        .unwrap();
}

#[test]
fn a_nested_manual_block_whose_only_write_is_a_writing_read_does_not_end_ok() {
    let db = PgDb::new();
    create_add_reporter(&db);
    let mut tm = db.manager();
    for sql in WRITING_READS {
        for outer in ["commit_on_success", "commit_manually"] {
            let body = |tx: &mut Transaction<'_, Postgres>| {
                let nested = tx.commit_manually(|inner| inner.query(sql, &[]).map(|_| ()));
                assert!(
                    matches!(nested, Err(Error::PendingCommitRollback)),
                    "{sql} in {outer}: the nested block ended {nested:?}"
                );
                // The nested block's work was rolled back: the outer one
                // holds nothing, and ends Ok (a manual one too).
                Ok::<_, Error>(())
            };
            let outer_result = if outer == "commit_manually" {
                tm.commit_manually(body)
            } else {
                tm.commit_on_success(body)
            };
            assert!(outer_result.is_ok(), "{sql} in {outer}: {outer_result:?}");
            assert_eq!(db.committed(), Vec::<String>::new(), "{sql} in {outer}");
            assert!(db.outside_transaction(&tm), "{sql} in {outer}");
        }
    }
    // After a write the outer block kept, a nested manual block that only
    // reads ends Ok: the counters moved before its read.
    tm.commit_on_success(|tx| {
        tx.execute(
            "INSERT INTO reporter (first_name, last_name) VALUES ('Carol', 'Doe')",
            &[],
        )?;
        tx.commit_manually(|inner| inner.query("SELECT * FROM reporter", &[]).map(|_| ()))
    })
    .unwrap();
    assert_eq!(db.committed(), ["Carol Doe"]);
}

#[test]
fn a_manual_block_that_only_locks_rows_ends_ok() {
    let db = PgDb::new();
    db.observer()
        .batch_execute("INSERT INTO reporter (first_name, last_name) VALUES ('Alice', 'Smith')")
        .unwrap();
    let mut tm = db.manager();
    for sql in [
        "SELECT * FROM reporter FOR UPDATE",
        "SELECT * FROM reporter FOR SHARE",
    ] {
        // A row lock gives the transaction an id, yet writes no row.
        let outermost = tm.commit_manually(|tx| tx.query(sql, &[]).map(|_| ()));
        assert!(outermost.is_ok(), "{sql}, outermost: {outermost:?}");
        let nested = tm
            .commit_on_success(|tx| tx.commit_manually(|inner| inner.query(sql, &[]).map(|_| ())));
        assert!(nested.is_ok(), "{sql}, nested: {nested:?}");
        assert!(db.outside_transaction(&tm), "{sql}");
    }
    assert_eq!(db.committed(), ["Alice Smith"]);
}

const INSERT_NOBODY: &str =
    "INSERT INTO reporter (first_name, last_name) VALUES ('Nobody', 'Here')";
const READ: &str = "SELECT * FROM reporter";

/// A nested `commit_on_success` block that runs `sql` and then fails, so
/// that its write is rolled back.
fn rolled_back_write(tx: &mut Transaction<'_, Postgres>, sql: &str) -> Result<(), Error> {
    let rolled_back = tx.commit_on_success(|inner| {
        inner.query(sql, &[])?;
        Err::<(), _>(Error::PendingCommitRollback) // any error
    });
    assert!(
        matches!(rolled_back, Err(Error::PendingCommitRollback)),
        "{sql}: {rolled_back:?}"
    );
    Ok(())
}

/// The rows the session's transactions wrote that the server has not
/// flushed to its statistics yet (it flushes between transactions, at most
/// once a second): what every count of the manual-block check includes
/// besides the transaction's own rows. Read in a block, where it stays
/// the same until the block ends.
const UNFLUSHED_ROWS: &str = "SELECT coalesce(sum(pg_stat_get_xact_tuples_inserted(oid)), 0)::int8 \
     FROM pg_class WHERE relkind = 'r'";

#[test]
fn a_manual_block_that_reads_then_locks_rows_ends_ok_after_writes_the_server_has_not_flushed() {
    let db = PgDb::new();
    let mut tm = db.manager();
    // The count is gated on the transaction id: the block's first read
    // finds none and counts the unflushed rows of the writes before; the
    // lock then gives it an id, so its end counts again, the same rows.
    // The check is exact only if both counts include them.
    let mut unflushed_seen = false;
    for attempt in 0..20 {
        // Two writing transactions in a row: the server flushes after the
        // first, and not again within a second, so the second's row stays.
        for _ in 0..2 {
            tm.execute(INSERT_NOBODY, &[]).unwrap();
        }
        let unflushed = tm
            .commit_manually(|tx| {
                let unflushed: i64 = tx.query_one(UNFLUSHED_ROWS, &[])?.get(0);
                tx.query("SELECT * FROM reporter FOR UPDATE", &[])?;
                Ok::<_, Error>(unflushed)
            })
            .unwrap_or_else(|e| panic!("attempt {attempt}: {e:?}"));
        let nested = tm.commit_on_success(|tx| {
            tx.commit_manually(|inner| {
                inner.query(READ, &[])?;
                inner
                    .query("SELECT * FROM reporter FOR SHARE", &[])
                    .map(|_| ())
            })
        });
        assert!(nested.is_ok(), "attempt {attempt}, nested: {nested:?}");
        assert!(db.outside_transaction(&tm));
        if unflushed > 0 {
            unflushed_seen = true;
            break;
        }
    }
    assert!(
        unflushed_seen,
        "the server flushed every write at once: this test checked nothing"
    );
}

#[test]
fn the_count_a_manual_block_keeps_is_not_reused_by_the_next_transaction() {
    let db = PgDb::new();
    let mut tm = db.manager();
    let mut unflushed_grew = false;
    for attempt in 0..20 {
        tm.execute(INSERT_NOBODY, &[]).unwrap();
        // Its read counts while the transaction has no id, and keeps that
        // count for the rest of the transaction.
        let before: i64 = tm
            .commit_manually(|tx| Ok::<_, Error>(tx.query_one(UNFLUSHED_ROWS, &[])?.get(0)))
            .unwrap();
        // A write outside any block: its row is not flushed at once.
        tm.execute(INSERT_NOBODY, &[]).unwrap();
        // A new transaction: a count kept from the one before would miss
        // that row, and the lock's scan would find it.
        let unflushed = tm
            .commit_manually(|tx| {
                let unflushed: i64 = tx.query_one(UNFLUSHED_ROWS, &[])?.get(0);
                tx.query("SELECT * FROM reporter FOR UPDATE", &[])?;
                Ok::<_, Error>(unflushed)
            })
            .unwrap_or_else(|e| panic!("attempt {attempt}: {e:?}"));
        if unflushed != before {
            unflushed_grew = true;
            break;
        }
    }
    assert!(
        unflushed_grew,
        "the unflushed rows never changed between the blocks: this test checked nothing"
    );
}

#[test]
fn after_discard_all_the_first_count_of_a_manual_block_fails_with_its_sql_and_the_next_block_counts_again()
 {
    let db = PgDb::new();
    let mut tm = db.manager();
    // The count is prepared once per connection, in its statement cache.
    tm.commit_manually(|tx| tx.query(READ, &[]).map(|_| ()))
        .unwrap();
    // Deallocates every prepared statement, the count's too (26000).
    tm.execute_batch("DISCARD ALL").unwrap();
    // Never run before, so not cached: only the count is stale.
    let read = "SELECT count(*) FROM reporter";
    let err = tm
        .commit_manually(|tx| tx.query(read, &[]).map(|_| ()))
        .unwrap_err();
    assert_eq!(err.sqlstate(), Some("26000"), "{err}");
    match &err {
        Error::Statement { sql, .. } => assert!(
            sql.contains("pg_current_xact_id_if_assigned()"),
            "the count failed, not the read: {sql}"
        ),
        other => panic!("{other:?}"),
    }
    assert!(db.outside_transaction(&tm));
    // Forgotten, then prepared afresh: the block runs again.
    tm.commit_manually(|tx| tx.query(read, &[]).map(|_| ()))
        .unwrap();
}

#[test]
fn once_a_manual_block_counted_every_write_it_kept_fails_it_wherever_it_was_written() {
    let db = PgDb::new();
    create_add_reporter(&db);
    db.observer()
        .batch_execute(
            "CREATE TABLE big (body TEXT);
             CREATE TABLE parted (k INT) PARTITION BY RANGE (k);
             CREATE TABLE parted_1 PARTITION OF parted FOR VALUES FROM (0) TO (10);",
        )
        .unwrap();
    let mut tm = db.manager();
    tm.execute_batch(
        "CREATE TEMP TABLE scratch (x INT);
         CREATE FUNCTION pg_temp.add_scratch() RETURNS void LANGUAGE sql AS
         $$ INSERT INTO scratch VALUES (1) $$;
         CREATE FUNCTION add_big() RETURNS void LANGUAGE sql AS
         $$ INSERT INTO big VALUES (repeat('z', 100000)) $$;
         CREATE FUNCTION add_part() RETURNS void LANGUAGE sql AS
         $$ INSERT INTO parted VALUES (1) $$",
    )
    .unwrap();
    // Each runs after the block's first read, which counted while the
    // transaction had no id; each gives it one, so the end counts again.
    for sql in [
        "SELECT add_reporter()",
        "SELECT pg_temp.add_scratch()",
        // A toasted value: counted with its table's row, not its chunks.
        "SELECT add_big()",
        // A partitioned table: counted on its partition.
        "SELECT add_part()",
    ] {
        let result = tm.commit_manually(|tx| {
            tx.query(READ, &[])?;
            tx.query(sql, &[]).map(|_| ())
        });
        assert!(
            matches!(result, Err(Error::PendingCommitRollback)),
            "{sql}: {result:?}"
        );
        assert!(db.outside_transaction(&tm), "{sql}");
    }
    // A write only in a rolled-back savepoint gives the transaction an id
    // too, and leaves nothing: the block ends Ok, its later reads counted
    // by scanning.
    tm.commit_manually(|tx| {
        tx.query(READ, &[])?;
        rolled_back_write(tx, "SELECT add_reporter()")?;
        tx.query(READ, &[]).map(|_| ())
    })
    .unwrap();
    let rows: i64 = tm
        .query_one(
            "SELECT (SELECT count(*) FROM scratch) + (SELECT count(*) FROM big) \
             + (SELECT count(*) FROM parted)",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(rows, 0);
    assert_eq!(db.committed(), Vec::<String>::new());
}

/// The body of a manual block in the tables below.
type ManualBody = fn(&mut Transaction<'_, Postgres>) -> Result<(), Error>;

/// Manual blocks whose reads ran before, after or between nested blocks
/// whose writes were all rolled back, in every way a nested block rolls
/// back: each holds nothing uncommitted and ends `Ok`, as on SQLite.
const NOTHING_KEPT: &[(&str, ManualBody)] = &[
    ("read after the rolled-back write", |tx| {
        rolled_back_write(tx, INSERT_NOBODY)?;
        tx.query(READ, &[]).map(|_| ())
    }),
    ("read before the rolled-back write", |tx| {
        tx.query(READ, &[])?;
        rolled_back_write(tx, INSERT_NOBODY)
    }),
    ("read before a rolled-back writing read", |tx| {
        tx.query(READ, &[])?;
        rolled_back_write(tx, "SELECT add_reporter()")
    }),
    ("reads between rolled-back writes", |tx| {
        rolled_back_write(tx, INSERT_NOBODY)?;
        tx.query(READ, &[])?;
        rolled_back_write(tx, "SELECT add_reporter()")?;
        tx.query(READ, &[])?;
        rolled_back_write(tx, INSERT_NOBODY)?;
        tx.query(READ, &[]).map(|_| ())
    }),
    ("read before a nested block marked to roll back", |tx| {
        tx.query(READ, &[])?;
        tx.commit_on_success(|inner| {
            inner.execute(INSERT_NOBODY, &[])?;
            inner.set_rollback(true)
        })
    }),
    (
        "read before a nested block that swallowed its error",
        |tx| {
            tx.query(READ, &[])?;
            let aborted = tx.commit_on_success(|inner| {
                inner.execute(INSERT_NOBODY, &[])?;
                assert!(inner.query("SELECT 1 / 0", &[]).is_err());
                Ok::<_, Error>(())
            });
            assert!(matches!(aborted, Err(Error::BlockAborted)), "{aborted:?}");
            Ok(())
        },
    ),
    ("three levels, each reading and rolling back", |tx| {
        tx.query(READ, &[])?;
        let outer = tx.commit_on_success(|middle| {
            middle.query(READ, &[])?;
            middle.execute(INSERT_NOBODY, &[])?;
            rolled_back_write(middle, "SELECT add_reporter()")?;
            middle.query(READ, &[])?;
            rolled_back_write(middle, INSERT_NOBODY)?;
            Err::<(), _>(Error::PendingCommitRollback) // any error
        });
        assert!(outer.is_err());
        tx.query(READ, &[]).map(|_| ())
    }),
    ("a released block whose nested write rolled back", |tx| {
        tx.query(READ, &[])?;
        tx.commit_on_success(|middle| {
            middle.query(READ, &[])?;
            rolled_back_write(middle, INSERT_NOBODY)
        })?;
        rolled_back_write(tx, INSERT_NOBODY)
    }),
    (
        "a nested block that read, wrote and rolled back, then a read",
        |tx| {
            let outer = tx.commit_on_success(|middle| {
                middle.query(READ, &[])?;
                middle.query("SELECT add_reporter()", &[])?;
                Err::<(), _>(Error::PendingCommitRollback) // any error
            });
            assert!(outer.is_err());
            tx.query(READ, &[]).map(|_| ())
        },
    ),
    (
        "a nested manual block that rolled back, committed nothing, then rolled back again",
        |tx| {
            tx.query(READ, &[])?;
            tx.commit_manually(|inner| {
                inner.query("SELECT add_reporter()", &[])?;
                inner.rollback()?;
                inner.query(READ, &[])?;
                inner.commit()?;
                rolled_back_write(inner, INSERT_NOBODY)?;
                inner.execute(INSERT_NOBODY, &[])?;
                inner.rollback()
            })
        },
    ),
];

/// Manual blocks that kept a write dirty tracking cannot see (a writing
/// read), next to rolled-back writes: each must still fail.
const WRITE_KEPT: &[(&str, ManualBody)] = &[
    ("a writing read, then a rolled-back write", |tx| {
        tx.query(READ, &[])?;
        tx.query("SELECT add_reporter()", &[])?;
        rolled_back_write(tx, INSERT_NOBODY)
    }),
    ("a rolled-back write, then a writing read", |tx| {
        rolled_back_write(tx, INSERT_NOBODY)?;
        tx.query("SELECT add_reporter()", &[]).map(|_| ())
    }),
    ("a writing read before two levels rolled back", |tx| {
        tx.query("SELECT add_reporter()", &[])?;
        let outer = tx.commit_on_success(|middle| {
            rolled_back_write(middle, INSERT_NOBODY)?;
            Err::<(), _>(Error::PendingCommitRollback) // any error
        });
        assert!(outer.is_err());
        Ok(())
    }),
    (
        "a released block's writing read after its nested rollback",
        |tx| {
            tx.commit_on_success(|middle| {
                middle.query(READ, &[])?;
                rolled_back_write(middle, INSERT_NOBODY)?;
                middle.query("SELECT add_reporter()", &[]).map(|_| ())
            })
        },
    ),
    (
        "a nested manual block's committed writing read, then its rollback",
        |tx| {
            tx.query(READ, &[])?;
            tx.commit_manually(|inner| {
                inner.query("SELECT add_reporter()", &[])?;
                inner.commit()?;
                inner.execute(INSERT_NOBODY, &[])?;
                inner.rollback()
            })
        },
    ),
    (
        "a writing read after a nested manual block counted in a rolled-back block",
        |tx| {
            tx.query(READ, &[])?;
            tx.commit_manually(|inner| {
                let rolled_back = inner.commit_on_success(|innermost| {
                    innermost.execute(INSERT_NOBODY, &[])?;
                    innermost.query(READ, &[])?;
                    Err::<(), _>(Error::PendingCommitRollback) // any error
                });
                assert!(rolled_back.is_err());
                inner.query("SELECT add_reporter()", &[]).map(|_| ())
            })
        },
    ),
    (
        "a nested manual block's writing read, then a nested rollback in it",
        |tx| {
            tx.query(READ, &[])?;
            let nested = tx.commit_manually(|inner| {
                inner.query("SELECT add_reporter()", &[])?;
                rolled_back_write(inner, INSERT_NOBODY)
            });
            assert!(
                matches!(nested, Err(Error::PendingCommitRollback)),
                "{nested:?}"
            );
            // The nested block rolled back its write: the outer one kept none.
            tx.query("SELECT add_reporter()", &[]).map(|_| ())
        },
    ),
];

#[test]
fn a_manual_block_whose_nested_writes_all_rolled_back_ends_ok_wherever_it_read() {
    let db = PgDb::new();
    create_add_reporter(&db);
    let mut tm = db.manager();
    let mut wrong = Vec::new();
    for (shape, body) in NOTHING_KEPT {
        let result = tm.commit_manually(*body);
        if result.is_err() {
            wrong.push(format!("{shape}: {result:?}"));
        }
        // Also nested in a block that wrote and kept it.
        let result = tm.commit_on_success(|tx| {
            tx.execute(
                "INSERT INTO reporter (first_name, last_name) VALUES ('Kept', 'Row')",
                &[],
            )?;
            tx.commit_manually(*body)
        });
        if result.is_err() {
            wrong.push(format!("{shape}, nested: {result:?}"));
        }
        assert!(db.outside_transaction(&tm), "{shape}");
        let mut kept = db.committed();
        kept.retain(|name| name != "Kept Row");
        assert_eq!(kept, Vec::<String>::new(), "{shape}");
    }
    assert_eq!(wrong, Vec::<String>::new(), "these did not end Ok");
}

#[test]
fn a_manual_block_that_kept_a_writing_reads_row_fails_beside_rolled_back_writes() {
    let db = PgDb::new();
    create_add_reporter(&db);
    let mut tm = db.manager();
    let mut wrong = Vec::new();
    for (shape, body) in WRITE_KEPT {
        let result = tm.commit_manually(*body);
        if !matches!(result, Err(Error::PendingCommitRollback)) {
            wrong.push(format!("{shape}: {result:?}"));
        }
        let result = tm.commit_on_success(|tx| {
            let nested = tx.commit_manually(*body);
            if !matches!(nested, Err(Error::PendingCommitRollback)) {
                wrong.push(format!("{shape}, nested: {nested:?}"));
            }
            Ok::<_, Error>(())
        });
        assert!(result.is_ok(), "{shape}, nested: {result:?}");
        assert_eq!(db.committed(), Vec::<String>::new(), "{shape}");
        assert!(db.outside_transaction(&tm), "{shape}");
    }
    assert_eq!(
        wrong,
        Vec::<String>::new(),
        "these did not fail with PendingCommitRollback"
    );
}

#[test]
fn every_explain_that_runs_its_statement_marks_the_block_dirty() {
    let db = PgDb::new();
    let mut tm = db.manager();
    let insert = "INSERT INTO reporter (first_name, last_name) VALUES ('Alice', 'Smith')";
    let variants = [
        "EXPLAIN ANALYZE",
        "EXPLAIN ANALYSE",
        "explain analyse",
        "EXPLAIN\n  Analyse\n",
        "EXPLAIN /* why */ ANALYSE",
        "EXPLAIN (ANALYSE)",
        "EXPLAIN (FORMAT JSON, analyse true)",
        "EXPLAIN ( Analyze , BUFFERS )",
        "EXPLAIN (\"analyze\")",
        "EXPLAIN (U&\"\\0061nalyze\")",
    ];
    for (n, explain) in variants.into_iter().enumerate() {
        let sql = format!("{explain} {insert}");
        let dirty = tm
            .commit_on_success(|tx| {
                tx.query(&sql, &[])?;
                Ok::<_, Error>(tx.is_dirty())
            })
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        assert!(dirty, "{sql}: counted as a read");
        // The server ran the insert: the statement is one that writes.
        assert_eq!(db.committed().len(), n + 1, "{sql}");
    }
    // Without ANALYZE the statement does not run, and is a read.
    let dirty = tm
        .commit_on_success(|tx| {
            tx.query(&format!("EXPLAIN (COSTS OFF) {insert}"), &[])?;
            Ok::<_, Error>(tx.is_dirty())
        })
        .unwrap();
    assert!(!dirty);
    assert_eq!(db.committed().len(), variants.len());
}

/// In a block the server aborted, a read fails with its own SQL (25P02),
/// not with the count of rows written that a clean manual block around it
/// would take first.
#[test]
fn a_read_in_an_aborted_block_inside_a_clean_manual_block_fails_with_its_own_sql() {
    let db = PgDb::new();
    let mut tm = db.manager();
    let read = "SELECT count(*) FROM reporter";
    let result = tm.commit_manually(|tx| {
        let nested = tx.commit_on_success(|inner| {
            assert!(
                inner
                    .execute("INSERT INTO no_such_table VALUES (1)", &[])
                    .is_err()
            );
            let err = inner.query(read, &[]).unwrap_err();
            match &err {
                Error::Statement { sql, .. } => assert_eq!(sql, read),
                other => panic!("the read's own error, not {other:?}"),
            }
            assert_eq!(err.sqlstate(), Some("25P02"), "{err:?}");
            Ok::<_, Error>(())
        });
        assert!(matches!(nested, Err(Error::BlockAborted)), "{nested:?}");
        tx.query(read, &[]).map(|_| ())
    });
    assert!(result.is_ok(), "{result:?}");
    assert!(db.outside_transaction(&tm));
}

#[test]
fn a_client_already_inside_a_transaction_is_refused_and_its_work_is_not_committed() {
    let db = PgDb::new();
    let mut client = db.config().connect(postgres::NoTls).unwrap();
    client
        .batch_execute(
            "BEGIN; INSERT INTO reporter (first_name, last_name) VALUES ('Alice', 'Smith')",
        )
        .unwrap();
    let err = TransactionManager::<Postgres>::from_client(client).unwrap_err();
    assert!(
        matches!(err, Error::TransactionOpenedUnderneath { statement: None }),
        "{err:?}"
    );
    assert_eq!(db.committed(), Vec::<String>::new());
    // A client in an aborted transaction is refused too; an idle one is not.
    let mut aborted = db.config().connect(postgres::NoTls).unwrap();
    aborted.batch_execute("BEGIN").unwrap();
    let _ = aborted.batch_execute("SELECT 1 / 0");
    assert!(TransactionManager::<Postgres>::from_client(aborted).is_err());
    let idle = db.config().connect(postgres::NoTls).unwrap();
    assert!(TransactionManager::<Postgres>::from_client(idle).is_ok());
}

#[test]
fn a_notification_in_a_manual_block_that_ends_without_commit_fails_the_block_and_is_never_sent() {
    let db = PgDb::new();
    let mut listener = db.observer();
    listener.batch_execute("LISTEN jobs").unwrap();
    let mut tm = db.manager();
    // A notification is sent only at COMMIT, and no row count shows it: a
    // read that sends one counts as a write.
    let dropped = tm.commit_manually(|tx| {
        tx.query("SELECT pg_notify('jobs', 'dropped')", &[])
            .map(drop)
    });
    assert!(
        matches!(dropped, Err(Error::PendingCommitRollback)),
        "{dropped:?}"
    );
    let nested = tm.commit_on_success(|tx| {
        tx.commit_manually(|inner| {
            inner
                .query("SELECT pg_notify('jobs', 'dropped too')", &[])
                .map(drop)
        })
    });
    assert!(
        matches!(nested, Err(Error::PendingCommitRollback)),
        "{nested:?}"
    );
    tm.commit_manually(|tx| {
        tx.query("SELECT pg_notify('jobs', 'kept')", &[])?;
        tx.commit()
    })
    .unwrap();
    // Notifications arrive in commit order: the first is the kept one.
    use postgres::fallible_iterator::FallibleIterator;
    let mut notifications = listener.notifications();
    let first = notifications.blocking_iter().next().unwrap();
    let mut payloads: Vec<String> = first.iter().map(|n| n.payload().to_owned()).collect();
    let rest: Vec<_> = notifications.iter().collect().unwrap();
    payloads.extend(rest.iter().map(|n| n.payload().to_owned()));
    assert_eq!(payloads, ["kept"]);
    assert!(db.outside_transaction(&tm));
}

/// Review 4 finding 1: a relation with counts in the session leaves
/// `pg_class` while a manual block runs. Another session drops a table
/// this session wrote one row to just before the block (its counts not
/// yet flushed): the sum of the counts would fall by that row and hide a
/// writing read of one row. Its last count is kept instead.
#[test]
fn another_sessions_drop_of_a_table_this_session_wrote_hides_no_writing_read() {
    let db = PgDb::new();
    create_add_reporter(&db);
    let mut tm = db.manager();
    let mut other = db.observer();
    for attempt in 0..3 {
        other
            .batch_execute("DROP TABLE IF EXISTS recent; CREATE TABLE recent (x int)")
            .unwrap();
        tm.execute("INSERT INTO recent VALUES (1)", &[]).unwrap();
        let result = tm.commit_manually(|tx| {
            tx.query(READ, &[])?;
            tx.query("SELECT add_reporter()", &[])?;
            // This session holds no lock on `recent`: its write committed.
            other.batch_execute("DROP TABLE recent").unwrap();
            Ok::<_, Error>(())
        });
        assert!(
            matches!(result, Err(Error::PendingCommitRollback)),
            "attempt {attempt}: {result:?}"
        );
        assert!(db.outside_transaction(&tm));
    }
    // A block that only read ends Ok, the drop notwithstanding.
    other
        .batch_execute("DROP TABLE IF EXISTS recent; CREATE TABLE recent (x int)")
        .unwrap();
    tm.execute("INSERT INTO recent VALUES (1)", &[]).unwrap();
    let result = tm.commit_manually(|tx| {
        tx.query(READ, &[])?;
        other.batch_execute("DROP TABLE recent").unwrap();
        tx.query(READ, &[]).map(|_| ())
    });
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(db.committed(), Vec::<String>::new());
}

/// Review 4 finding 1: a writing read that also drops a table holding `n`
/// rows this session wrote (in the enclosing block, or in its previous
/// transaction): the drop takes the table's counts out of the sum, which
/// for one `n` (14 on PostgreSQL 15) cancelled the read's own row.
#[test]
fn a_writing_read_that_drops_a_table_the_session_filled_does_not_end_ok() {
    let db = PgDb::new();
    db.observer()
        .batch_execute(
            "CREATE FUNCTION add_and_drop() RETURNS void LANGUAGE plpgsql AS $$
             BEGIN
                 INSERT INTO reporter (first_name, last_name) VALUES ('Lost', 'Write');
                 DROP TABLE scratch;
             END $$;",
        )
        .unwrap();
    let mut tm = db.manager();
    let fill = "INSERT INTO scratch SELECT generate_series(1, $1)";
    let manual = |tx: &mut Transaction<'_, Postgres>| {
        tx.query(READ, &[])?;
        tx.query("SELECT add_and_drop()", &[]).map(|_| ())
    };
    let mut wrong = Vec::new();
    for n in 1..=24_i32 {
        for nested in [false, true] {
            tm.execute("DROP TABLE IF EXISTS scratch", &[]).unwrap();
            tm.execute("CREATE TABLE scratch (x int)", &[]).unwrap();
            let result = if nested {
                let mut inner = None;
                tm.commit_on_success(|tx| {
                    tx.execute(fill, &[&n])?;
                    inner = Some(tx.commit_manually(manual));
                    Ok::<_, Error>(())
                })
                .unwrap();
                inner.expect("the nested block ran")
            } else {
                tm.execute(fill, &[&n]).unwrap();
                tm.commit_manually(manual)
            };
            if !matches!(result, Err(Error::PendingCommitRollback)) {
                wrong.push(format!("{n} rows, nested {nested}: {result:?}"));
            }
        }
    }
    assert_eq!(wrong, Vec::<String>::new());
    assert_eq!(db.committed(), Vec::<String>::new());
}

/// Review 4 finding 2: with `track_counts` off (a server setting, or a
/// superuser's `SET`) the server counts no rows, so the count cannot see
/// a writing read: a manual block whose transaction has an id (it wrote,
/// or locked rows) then counts as having written. One without an id wrote
/// nothing, and still ends `Ok`.
#[test]
fn with_track_counts_off_a_manual_block_whose_transaction_has_an_id_does_not_end_ok() {
    let db = PgDb::new();
    create_add_reporter(&db);
    db.observer()
        .batch_execute("INSERT INTO reporter (first_name, last_name) VALUES ('Old', 'Row')")
        .unwrap();
    let mut tm = db.manager();
    tm.execute("SET track_counts = off", &[]).unwrap();
    let writing = tm.commit_manually(|tx| {
        tx.query(READ, &[])?;
        tx.query("SELECT add_reporter()", &[]).map(|_| ())
    });
    assert!(
        matches!(writing, Err(Error::PendingCommitRollback)),
        "{writing:?}"
    );
    let nested = tm.commit_on_success(|tx| {
        tx.commit_manually(|inner| inner.query("SELECT add_reporter()", &[]).map(|_| ()))
    });
    assert!(
        matches!(nested, Err(Error::PendingCommitRollback)),
        "{nested:?}"
    );
    // A row lock gives the transaction an id too: the block cannot tell.
    let locking = tm.commit_manually(|tx| {
        tx.query("SELECT * FROM reporter FOR UPDATE", &[])
            .map(|_| ())
    });
    assert!(
        matches!(locking, Err(Error::PendingCommitRollback)),
        "{locking:?}"
    );
    tm.commit_manually(|tx| tx.query(READ, &[]).map(|_| ()))
        .expect("a block that only read ends Ok");
    assert_eq!(db.committed(), ["Old Row"]);
    assert!(db.outside_transaction(&tm));
}

/// The count names every function, catalog and operator with
/// `pg_catalog.`: a user's `search_path` that puts a schema of their own
/// first cannot shadow them (here with a counter that always says 0).
#[test]
fn a_search_path_that_shadows_the_statistics_functions_hides_no_writing_read() {
    let db = PgDb::new();
    create_add_reporter(&db);
    db.observer()
        .batch_execute(&format!(
            "CREATE FUNCTION {0}.pg_stat_get_xact_tuples_inserted(oid) RETURNS int8
                 LANGUAGE sql AS 'SELECT 0::int8';
             CREATE FUNCTION {0}.pg_current_xact_id_if_assigned() RETURNS xid8
                 LANGUAGE sql AS 'SELECT NULL::xid8';",
            db.schema
        ))
        .unwrap();
    let mut tm = db.manager();
    tm.execute(&format!("SET search_path = {}, pg_catalog", db.schema), &[])
        .unwrap();
    let result = tm.commit_manually(|tx| {
        tx.query(READ, &[])?;
        tx.query("SELECT add_reporter()", &[]).map(|_| ())
    });
    assert!(
        matches!(result, Err(Error::PendingCommitRollback)),
        "{result:?}"
    );
    assert_eq!(db.committed(), Vec::<String>::new());
}
