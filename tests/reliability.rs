//! Many writers and faults: the opener, BEGIN behaviors, retries, a full
//! disk, and the guarantees that hold on every failure path.

mod common;

use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use common::{Db, INSERT};
use txmanager::rusqlite::{Connection, ErrorCode};
use txmanager::{
    BeginMode, Error, GaveUp, Opener, Record, RetryPolicy, Retryable, Settings, TransactionManager,
};

#[derive(Debug, Clone, Default, Record)]
pub struct Page {
    #[record(primary_key)]
    pub id: Option<i64>,
    #[record(version(integer))]
    pub version: Option<i64>,
    pub body: String,
}

fn assert_send_sync_clone<T: Send + Sync + Clone>() {}
fn assert_send<T: Send>() {}

#[test]
fn the_opener_is_clone_send_and_sync_and_the_manager_is_send() {
    assert_send_sync_clone::<Opener>();
    assert_send::<TransactionManager>();
    assert_send_sync_clone::<RetryPolicy>();
    assert_send_sync_clone::<Settings>();
}

#[test]
fn managers_opened_for_worker_threads_share_the_openers_settings() {
    let db = Db::new();
    let settings = Settings::default()
        .with_busy_timeout(Duration::from_millis(1234))
        .with_synchronous(txmanager::Synchronous::Full);
    let opener = Opener::new(&db.path).with_settings(settings);
    let seen: Vec<(String, i64, i64, i64)> = thread::scope(|s| {
        let workers: Vec<_> = (0..8)
            .map(|_| {
                let opener = opener.clone();
                s.spawn(move || {
                    // All open a fresh file at once: they race to switch it to WAL.
                    let tm = opener.open().unwrap();
                    let get =
                        |pragma: &str| -> i64 { tm.query_row(pragma, [], |r| r.get(0)).unwrap() };
                    let mode: String = tm
                        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
                        .unwrap();
                    (
                        mode,
                        get("PRAGMA busy_timeout"),
                        get("PRAGMA synchronous"),
                        get("PRAGMA foreign_keys"),
                    )
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    for (mode, busy, sync, fk) in seen {
        assert_eq!(mode, "wal");
        assert_eq!(busy, 1234);
        assert_eq!(sync, 2, "FULL");
        assert_eq!(fk, 1);
    }
}

#[test]
fn opening_a_manager_on_a_wal_file_does_not_wait_for_a_writer() {
    let db = Db::new();
    drop(db.manager()); // the first open switches the file to WAL
    let writer = db.observer();
    writer.execute_batch("BEGIN IMMEDIATE").unwrap();
    let tm = TransactionManager::open_with(&db.path, &impatient()).expect("no lock needed to open");
    let n: i64 = tm
        .query_row("SELECT count(*) FROM reporter", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 0);
    writer.execute_batch("ROLLBACK").unwrap();
}

#[test]
fn a_setting_that_cannot_be_applied_is_named_in_the_error() {
    // Switching a rollback-journal file to WAL needs a lock a writer holds.
    let db = Db::new();
    let writer = db.observer();
    writer.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let err = TransactionManager::open_with(&db.path, &impatient()).unwrap_err();
    assert!(
        matches!(
            &err,
            Error::Configure {
                setting: "journal_mode",
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.sqlite_error_code(), Some(ErrorCode::DatabaseBusy));
    writer.execute_batch("ROLLBACK").unwrap();
}

// ---------- BEGIN behaviors ----------

fn impatient() -> Settings {
    Settings::default().with_busy_timeout(Duration::from_millis(50))
}

fn impatient_observer(db: &Db) -> Connection {
    let conn = Connection::open(&db.path).unwrap();
    conn.busy_timeout(Duration::from_millis(50)).unwrap();
    conn
}

#[test]
fn a_deferred_block_that_reads_then_writes_fails_its_lock_upgrade_after_a_concurrent_write() {
    // The pitfall of rusqlite#767: with BEGIN DEFERRED the block's snapshot
    // goes stale and the write fails at once with SQLITE_BUSY, whatever the
    // busy timeout.
    let db = Db::new();
    let mut tm = db.manager();
    let other = impatient_observer(&db);
    let err = tm
        .commit_on_success_with(BeginMode::Deferred, |tx| {
            tx.query_row("SELECT count(*) FROM reporter", [], |r| r.get::<_, i64>(0))?;
            other.execute(INSERT, ("Ben", "Jones")).unwrap(); // commits in between
            tx.execute(INSERT, ("Alice", "Smith")).map(drop)
        })
        .unwrap_err();
    assert_eq!(
        err.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy),
        "{err:?}"
    );
    assert!(err.is_retryable());
    assert_eq!(db.committed(), ["Ben Jones"]);
    assert!(tm.is_autocommit());
}

#[test]
fn an_immediate_block_holds_the_write_lock_from_the_start_so_its_write_cannot_fail_to_upgrade() {
    let db = Db::new();
    let mut tm = db.manager(); // BEGIN IMMEDIATE by default
    let other = impatient_observer(&db);
    tm.commit_on_success(|tx| {
        tx.query_row("SELECT count(*) FROM reporter", [], |r| r.get::<_, i64>(0))?;
        let blocked = other.execute(INSERT, ("Ben", "Jones")).unwrap_err();
        assert_eq!(
            blocked.sqlite_error_code(),
            Some(ErrorCode::DatabaseBusy),
            "the other writer waits"
        );
        tx.execute(INSERT, ("Alice", "Smith")).map(drop)
    })
    .unwrap();
    assert_eq!(db.committed(), ["Alice Smith"]);
}

#[test]
fn the_behavior_is_chosen_per_manager_and_per_block() {
    let db = Db::new();
    let mut tm = db.manager_with(&impatient());
    let mut deferred = db.manager_with(&impatient().with_begin_mode(BeginMode::Deferred));
    let writer = db.observer();
    writer.execute_batch("BEGIN IMMEDIATE").unwrap(); // someone holds the write lock

    let err = tm.commit_on_success(|_| Ok::<_, Error>(())).unwrap_err();
    assert_eq!(
        err.step(),
        Some(txmanager::Step::Begin),
        "IMMEDIATE waits for the lock, then fails"
    );
    // A read-only block can choose DEFERRED and read alongside the writer.
    let n: i64 = tm
        .commit_on_success_with(BeginMode::Deferred, |tx| {
            tx.query_row("SELECT count(*) FROM reporter", [], |r| r.get(0))
        })
        .unwrap();
    assert_eq!(n, 0);
    deferred
        .commit_on_success(|tx| tx.query_row("SELECT 1", [], |r| r.get::<_, i64>(0)))
        .unwrap();
    writer.execute_batch("ROLLBACK").unwrap();
}

// ---------- retries ----------
// (The retry tests that apply to both backends are in tests/parity.rs.)

fn conflict() -> Error {
    Error::RecordModified {
        table: "reporter",
        pk: 1.into(),
        expected: 1,
        found: Some(2),
    }
}

/// Retries conflicts too: these tests use a conflict as the error a retry
/// may cure.
fn quick() -> RetryPolicy {
    RetryPolicy::new(5)
        .with_backoff(Duration::from_millis(1), Duration::from_millis(2))
        .with_conflict_retries(true)
}

#[test]
fn a_version_conflict_is_not_retried_by_default_and_the_error_says_what_to_do() {
    let db = Db::new();
    let mut tm = db.manager();
    let mut runs = 0;
    let err = tm
        .commit_on_success_with_retry(&RetryPolicy::new(5), |tx| {
            runs += 1;
            tx.execute(INSERT, ("Never", "Committed"))?;
            Err::<(), _>(conflict())
        })
        .unwrap_err();
    assert_eq!(
        (runs, err.attempts(), err.gave_up()),
        (1, 1, GaveUp::Conflict)
    );
    let message = err.to_string();
    assert!(
        message.contains("re-read the record inside the closure")
            && message.contains("with_conflict_retries(true)"),
        "{message}"
    );
    assert!(db.committed().is_empty());
}

#[test]
fn a_stale_record_saved_inside_a_retried_block_fails_once_and_a_re_read_succeeds() {
    let db = Db::new();
    let mut tm = db.manager();
    tm.execute(
        "CREATE TABLE page (id INTEGER PRIMARY KEY, version INTEGER, body TEXT)",
        [],
    )
    .unwrap();
    let mut page = Page {
        body: "first".into(),
        ..Page::default()
    };
    page.save(&tm).unwrap();
    let stale = page.clone();
    page.body = "second".into();
    page.save(&tm).unwrap();

    let mut runs = 0;
    let err = tm
        .commit_on_success_with_retry(&RetryPolicy::new(5), |tx| {
            runs += 1;
            let mut copy = stale.clone();
            copy.body = "stale".into();
            copy.save(tx)
        })
        .unwrap_err();
    assert_eq!((runs, err.gave_up()), (1, GaveUp::Conflict));

    let done = tm
        .commit_on_success_with_retry(&RetryPolicy::new(5), |tx| {
            let mut fresh = Page::get(tx, 1)?;
            fresh.body = "third".into();
            fresh.save(tx)
        })
        .unwrap();
    assert_eq!(done.attempts, 1);
    let body: String = db
        .observer()
        .query_row("SELECT body FROM page WHERE id = 1", [], |r| r.get(0))
        .unwrap();
    assert_eq!(body, "third");
}

#[test]
fn retrying_stops_when_the_next_wait_would_pass_the_time_limit() {
    let db = Db::new();
    let mut tm = db.manager();
    let policy = RetryPolicy::new(100)
        .with_backoff(Duration::from_millis(40), Duration::from_millis(40))
        .with_max_elapsed(Duration::from_millis(100))
        .with_conflict_retries(true);
    let err = tm
        .commit_on_success_with_retry(&policy, |_| Err::<(), _>(conflict()))
        .unwrap_err();
    assert_eq!(err.gave_up(), GaveUp::TimeLimit);
    // At least one attempt, and far fewer than the 100 allowed: the time
    // limit, not the attempt count, ended the retries. No lower bound above
    // one and no assertion on `elapsed()`: on a loaded machine a single
    // attempt can itself take longer than the limit.
    assert!(
        err.attempts() >= 1 && err.attempts() < 100,
        "{}",
        err.attempts()
    );
}

#[test]
fn a_busy_database_is_retried_until_the_other_writer_lets_go() {
    let db = Db::new();
    let mut tm = db.manager_with(&Settings::default().with_busy_timeout(Duration::from_millis(5)));
    let (locked_tx, locked_rx) = mpsc::channel();
    let holder = {
        let path = db.path.clone();
        thread::spawn(move || {
            let conn = Connection::open(path).unwrap();
            conn.execute_batch("BEGIN IMMEDIATE").unwrap();
            conn.execute(INSERT, ("Held", "Lock")).unwrap();
            locked_tx.send(()).unwrap();
            thread::sleep(Duration::from_millis(150));
            conn.execute_batch("COMMIT").unwrap();
        })
    };
    locked_rx.recv().unwrap();
    let policy =
        RetryPolicy::new(200).with_backoff(Duration::from_millis(2), Duration::from_millis(10));
    let done = tm
        .commit_on_success_with_retry(&policy, |tx| tx.execute(INSERT, ("Alice", "Smith")))
        .unwrap();
    holder.join().unwrap();
    assert!(
        done.attempts > 1,
        "the first attempt must have met the lock"
    );
    assert_eq!(db.committed(), ["Held Lock", "Alice Smith"]);
}

#[test]
fn boxed_errors_holding_a_txmanager_error_are_retried() {
    type BoxError = Box<dyn std::error::Error + Send + Sync>;
    let db = Db::new();
    let mut tm = db.manager();
    let mut runs = 0;
    let done = tm
        .commit_on_success_with_retry(&quick(), |_| -> Result<u32, BoxError> {
            runs += 1;
            if runs == 1 {
                Err(Box::new(conflict()))
            } else {
                Ok(runs)
            }
        })
        .unwrap();
    assert_eq!(done.attempts, 2);
    let plain: BoxError = "not ours".into();
    assert!(!plain.is_retryable());
}

// ---------- a full disk ----------

/// A manager on a database that may grow by only two more pages, with a
/// `blob` table to fill them.
fn nearly_full(db: &Db) -> TransactionManager {
    let tm = db.manager();
    tm.execute("CREATE TABLE blob (b BLOB)", []).unwrap();
    let pages: i64 = tm.query_row("PRAGMA page_count", [], |r| r.get(0)).unwrap();
    tm.query_row(
        &format!("PRAGMA max_page_count = {}", pages + 2),
        [],
        |_| Ok(()),
    )
    .unwrap();
    tm
}

#[test]
fn a_full_database_fails_the_statement_and_sqlite_s_own_rollback_is_detected() {
    // SQLite enforces max_page_count when a statement allocates pages, so
    // SQLITE_FULL surfaces at the statement, and SQLite then rolls the whole
    // transaction back itself. (It cannot be forced at COMMIT this way.)
    let db = Db::new();
    let mut tm = nearly_full(&db);
    let mut statement_error = None;
    let err = tm
        .commit_on_success(|tx| {
            tx.execute(INSERT, ("Alice", "Smith"))?;
            for _ in 0..50 {
                if let Err(e) = tx.execute("INSERT INTO blob VALUES (zeroblob(1000))", []) {
                    statement_error = Some(e);
                    break;
                }
            }
            tx.execute(INSERT, ("Ben", "Jones")).map(drop) // refused: the transaction is gone
        })
        .unwrap_err();
    let statement_error = statement_error.expect("the disk must fill up");
    assert!(matches!(statement_error, Error::Statement { .. }));
    assert_eq!(
        statement_error.sqlite_error_code(),
        Some(ErrorCode::DiskFull)
    );
    assert!(
        matches!(err, Error::TransactionClosedUnderneath { .. }),
        "{err:?}"
    );
    assert!(db.committed().is_empty(), "nothing half-committed");
    assert!(tm.is_autocommit());
    assert!(
        !tm.is_broken(),
        "nothing to repair: the next block starts normally"
    );
    tm.query_row("PRAGMA max_page_count = 1000000", [], |_| Ok(()))
        .unwrap();
    tm.commit_on_success(|tx| tx.execute(INSERT, ("Carol", "Doe")))
        .unwrap();
    assert_eq!(db.committed(), ["Carol Doe"]);
}

#[test]
fn a_full_database_in_manual_mode_reports_the_statement_error_first() {
    let db = Db::new();
    let mut tm = nearly_full(&db);
    let err = tm
        .commit_manually(|tx| {
            tx.execute(INSERT, ("Alice", "Smith"))?;
            tx.commit()?;
            for _ in 0..50 {
                tx.execute("INSERT INTO blob VALUES (zeroblob(1000))", [])?;
            }
            tx.commit()
        })
        .unwrap_err();
    assert_eq!(
        err.sqlite_error_code(),
        Some(ErrorCode::DiskFull),
        "{err:?}"
    );
    assert_eq!(
        db.committed(),
        ["Alice Smith"],
        "the committed part stays, the rest is gone"
    );
    assert!(tm.is_autocommit());
}

#[test]
fn many_threads_opening_a_fresh_file_at_once_all_succeed() {
    // Connections switching a new file to WAL together race for an exclusive
    // lock, and SQLite answers the losers SQLITE_BUSY without waiting.
    for _round in 0..20 {
        let dir = tempfile::tempdir().unwrap();
        let opener = Opener::new(dir.path().join("fresh.db"));
        let start = std::sync::Barrier::new(16);
        thread::scope(|s| {
            for _ in 0..16 {
                let (opener, start) = (opener.clone(), &start);
                s.spawn(move || {
                    start.wait();
                    let tm = opener
                        .open()
                        .unwrap_or_else(|e| panic!("open failed: {e:?}"));
                    let mode: String = tm
                        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
                        .unwrap();
                    assert_eq!(mode, "wal");
                });
            }
        });
    }
}

#[test]
fn in_memory_too_a_conflict_is_not_retried_by_default_but_is_when_opted_in() {
    let mut tm = TransactionManager::open_in_memory().unwrap();
    tm.execute("CREATE TABLE t (x)", []).unwrap();
    let mut runs = 0;
    let err = tm
        .commit_on_success_with_retry(&quick().with_conflict_retries(false), |tx| {
            runs += 1;
            tx.execute("INSERT INTO t VALUES (1)", [])?;
            Err::<(), _>(conflict())
        })
        .unwrap_err();
    assert_eq!((runs, err.gave_up()), (1, GaveUp::Conflict));
    let mut runs = 0;
    let done = tm
        .commit_on_success_with_retry(&quick(), |tx| {
            runs += 1;
            tx.execute("INSERT INTO t VALUES (?1)", [runs])?;
            if runs < 2 { Err(conflict()) } else { Ok(runs) }
        })
        .unwrap();
    assert_eq!(done.attempts, 2);
    let rows: Vec<i64> = {
        let mut stmt = tm.prepare("SELECT x FROM t").unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    assert_eq!(rows, [2], "only the last run committed");
}
