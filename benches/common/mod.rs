//! Shared by the benchmarks: the schemas, fresh databases with identical
//! settings for txmanager and hand-written rusqlite, and the hand-written
//! versioned save.
#![allow(dead_code)]

use std::fmt;
use std::thread;
use std::time::{Duration, Instant};

use tempfile::TempDir;
use txmanager::rusqlite::{self, Connection, ErrorCode};
use txmanager::{Opener, Record, RetryPolicy, Settings, TransactionManager};

pub const INSERT: &str = "INSERT INTO row (n) VALUES (?1)";
pub const CREATE_ROW: &str = "CREATE TABLE row (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)";
pub const CREATE_ITEM: &str = "CREATE TABLE item (id INTEGER PRIMARY KEY, version INTEGER NOT NULL, name TEXT NOT NULL, qty INTEGER NOT NULL)";
pub const ITEMS: i64 = 1_000;

#[derive(Debug, Clone, Default, Record)]
pub struct Item {
    #[record(primary_key)]
    pub id: Option<i64>,
    #[record(version(auto_increment))]
    pub version: Option<i64>,
    pub name: String,
    pub qty: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Storage {
    Memory,
    Wal,
}

impl fmt::Display for Storage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Storage::Memory => "memory",
            Storage::Wal => "wal",
        })
    }
}

/// A fresh database: the directory lives as long as the value.
pub struct Fresh<T> {
    pub db: T,
    _dir: Option<TempDir>,
}

fn dir_for(storage: Storage) -> Option<TempDir> {
    (storage == Storage::Wal).then(bench_dir)
}

/// A directory for benchmark database files: on tmpfs (`/dev/shm`) where
/// there is one, so that the virtual disk's latency swings, which both sides
/// would pay alike, do not drown the difference being measured. The WAL
/// machinery runs just the same.
pub fn bench_dir() -> TempDir {
    let shm = std::path::Path::new("/dev/shm");
    let on_tmpfs = shm
        .is_dir()
        .then(|| tempfile::tempdir_in(shm).ok())
        .flatten();
    on_tmpfs.unwrap_or_else(|| tempfile::tempdir().expect("temp dir"))
}

/// txmanager with its defaults: busy timeout 5 s, foreign keys on, WAL and
/// synchronous=NORMAL for files, BEGIN IMMEDIATE.
pub fn manager(storage: Storage, schema: &str) -> Fresh<TransactionManager> {
    let dir = dir_for(storage);
    let tm = match &dir {
        Some(d) => TransactionManager::open(d.path().join("bench.db")),
        None => TransactionManager::open_in_memory_with(&Settings::default()),
    }
    .expect("open manager");
    tm.execute_batch(schema).expect("schema");
    Fresh { db: tm, _dir: dir }
}

/// Hand-written rusqlite with exactly the same settings.
pub fn raw(storage: Storage, schema: &str) -> Fresh<Connection> {
    let dir = dir_for(storage);
    let conn = match &dir {
        Some(d) => raw_at(&d.path().join("bench.db"), schema),
        None => {
            let conn = Connection::open_in_memory().expect("open connection");
            conn.busy_timeout(Duration::from_secs(5))
                .expect("busy timeout");
            conn.pragma_update(None, "foreign_keys", "ON")
                .expect("foreign keys");
            conn.execute_batch(schema).expect("schema");
            conn
        }
    };
    Fresh {
        db: conn,
        _dir: dir,
    }
}

/// A hand-written rusqlite connection to a file, configured as txmanager
/// configures one: busy timeout 5 s, foreign keys, WAL, synchronous=NORMAL.
pub fn raw_at(path: &std::path::Path, schema: &str) -> Connection {
    let conn = Connection::open(path).expect("open connection");
    conn.busy_timeout(Duration::from_secs(5))
        .expect("busy timeout");
    conn.pragma_update(None, "foreign_keys", "ON")
        .expect("foreign keys");
    conn.pragma_update_and_check(None, "journal_mode", "WAL", |_| Ok(()))
        .expect("wal");
    conn.pragma_update(None, "synchronous", "NORMAL")
        .expect("synchronous");
    conn.execute_batch(schema).expect("schema");
    conn
}

/// `ITEMS` rows to save over, inserted by one statement (a batch may not
/// run `BEGIN` through txmanager: its control gate refuses it).
pub fn item_rows() -> String {
    format!(
        "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {ITEMS}) \
         INSERT INTO item (id, version, name, qty) SELECT i, 1, 'item ' || i, 0 FROM s;"
    )
}

/// The hand-written versioned read-modify-write that txmanager's
/// `Item::get` + `save` does: the same two statements, checked.
pub fn raw_versioned_increment(tx: &Connection, id: i64) -> rusqlite::Result<()> {
    let (version, name, qty): (i64, String, i64) = tx
        .prepare_cached("SELECT id, version, name, qty FROM item WHERE id = ?1")?
        .query_row([id], |r| Ok((r.get(1)?, r.get(2)?, r.get(3)?)))?;
    let changed = tx
        .prepare_cached(
            "UPDATE item SET name = ?1, qty = ?2, version = ?3 WHERE id = ?4 AND version = ?5",
        )?
        .execute((name, qty + 1, version + 1, id, version))?;
    if changed == 1 {
        Ok(())
    } else {
        Err(rusqlite::Error::QueryReturnedNoRows)
    }
}

/// W1, one block: txmanager.
pub fn txm_insert_block(tm: &mut TransactionManager, i: i64) {
    tm.commit_on_success(|tx| tx.execute(INSERT, [i])).unwrap();
}

/// W1, one block: hand-written rusqlite.
pub fn raw_insert_block(conn: &mut Connection, i: i64) {
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .unwrap();
    tx.prepare_cached(INSERT).unwrap().execute([i]).unwrap();
    tx.commit().unwrap();
}

/// W2, one block: txmanager's versioned read-modify-write.
pub fn txm_save_block(tm: &mut TransactionManager, i: i64) {
    tm.commit_on_success(|tx| {
        let mut item = Item::get(tx, 1 + i % ITEMS)?;
        item.qty += 1;
        item.save(tx)
    })
    .unwrap();
}

/// W2, one block: the same by hand.
pub fn raw_save_block(conn: &mut Connection, i: i64) {
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .unwrap();
    raw_versioned_increment(&tx, 1 + i % ITEMS).unwrap();
    tx.commit().unwrap();
}

/// W4, one statement: txmanager in the default autocommit mode.
pub fn txm_autocommit_insert(tm: &mut TransactionManager, i: i64) {
    tm.execute(INSERT, [i]).unwrap();
}

/// W4, one statement: the same by hand.
pub fn raw_autocommit_insert(conn: &mut Connection, i: i64) {
    conn.prepare_cached(INSERT).unwrap().execute([i]).unwrap();
}

/// W5, one block with a nested block writing one row: txmanager.
pub fn txm_nested_block(tm: &mut TransactionManager, i: i64) {
    tm.commit_on_success(|tx| {
        tx.commit_on_success(|inner| inner.execute(INSERT, [i]))?;
        Ok::<_, txmanager::Error>(())
    })
    .unwrap();
}

/// W5, one block: the same by hand, SAVEPOINT/RELEASE through rusqlite.
pub fn raw_nested_block(conn: &mut Connection, i: i64) {
    let mut tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .unwrap();
    {
        let sp = tx.savepoint().unwrap();
        sp.prepare_cached(INSERT).unwrap().execute([i]).unwrap();
        sp.commit().unwrap();
    }
    tx.commit().unwrap();
}

// ---------- the limit: hand-written rusqlite, every statement cached ----------
//
// The fastest hand-written code we know: the same SQL as above, with BEGIN,
// COMMIT and the savepoint statements run as cached prepared statements too
// (rusqlite's `Transaction` and `Savepoint` parse them on every call).

/// Runs a statement with no parameters from the statement cache.
pub fn cached(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(drop)
}

/// W1, one block: the limit.
pub fn limit_insert_block(conn: &mut Connection, i: i64) {
    cached(conn, "BEGIN IMMEDIATE").unwrap();
    conn.prepare_cached(INSERT).unwrap().execute([i]).unwrap();
    cached(conn, "COMMIT").unwrap();
}

/// W2, one block: the limit.
pub fn limit_save_block(conn: &mut Connection, i: i64) {
    cached(conn, "BEGIN IMMEDIATE").unwrap();
    raw_versioned_increment(conn, 1 + i % ITEMS).unwrap();
    cached(conn, "COMMIT").unwrap();
}

/// W5, one block: the limit.
pub fn limit_nested_block(conn: &mut Connection, i: i64) {
    cached(conn, "BEGIN IMMEDIATE").unwrap();
    cached(conn, "SAVEPOINT sp").unwrap();
    conn.prepare_cached(INSERT).unwrap().execute([i]).unwrap();
    cached(conn, "RELEASE sp").unwrap();
    cached(conn, "COMMIT").unwrap();
}

// ---------- W3: threads on one hot row ----------

pub const W3_INCREMENTS: i64 = 4_000;
const W3_SCHEMA: &str = "INSERT INTO item (id, version, name, qty) VALUES (1, 1, 'counter', 0)";

pub fn w3_fresh_file() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = bench_dir();
    let path = dir.path().join("contention.db");
    drop(raw_at(&path, &format!("{CREATE_ITEM}; {W3_SCHEMA}")));
    (dir, path)
}

pub fn w3_total(path: &std::path::Path) -> i64 {
    Connection::open(path)
        .unwrap()
        .query_row("SELECT qty FROM item WHERE id = 1", [], |r| r.get(0))
        .unwrap()
}

pub fn w3_txmanager(path: &std::path::Path, threads: i64) -> Duration {
    let opener = Opener::new(path);
    let policy = RetryPolicy::new(10_000).with_max_elapsed(Duration::from_secs(600));
    let start = Instant::now();
    thread::scope(|s| {
        for _ in 0..threads {
            let (opener, policy) = (opener.clone(), policy.clone());
            s.spawn(move || {
                let mut tm = opener.open().unwrap();
                for _ in 0..W3_INCREMENTS / threads {
                    tm.commit_on_success_with_retry(&policy, |tx| {
                        let mut counter = Item::get(tx, 1)?;
                        counter.qty += 1;
                        counter.save(tx)
                    })
                    .expect("no error may reach the caller");
                }
            });
        }
    });
    start.elapsed()
}

pub fn w3_rusqlite(path: &std::path::Path, threads: i64) -> Duration {
    w3_by_hand(path, threads, |conn| {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        raw_versioned_increment(&tx, 1)?;
        tx.commit()
    })
}

/// W3 by hand with every statement cached: the limit.
pub fn w3_limit(path: &std::path::Path, threads: i64) -> Duration {
    w3_by_hand(path, threads, |conn| {
        cached(conn, "BEGIN IMMEDIATE")?;
        let done = raw_versioned_increment(conn, 1).and_then(|()| cached(conn, "COMMIT"));
        if done.is_err() && !conn.is_autocommit() {
            cached(conn, "ROLLBACK")?;
        }
        done
    })
}

/// `threads` hand-written writers, each retrying `attempt` on `SQLITE_BUSY`.
fn w3_by_hand(
    path: &std::path::Path,
    threads: i64,
    attempt: fn(&mut Connection) -> rusqlite::Result<()>,
) -> Duration {
    let start = Instant::now();
    thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(move || {
                let mut conn = raw_at(path, "");
                for _ in 0..W3_INCREMENTS / threads {
                    loop {
                        match attempt(&mut conn) {
                            Ok(()) => break,
                            Err(e) if e.sqlite_error_code() == Some(ErrorCode::DatabaseBusy) => {
                                continue;
                            }
                            Err(e) => panic!("{e}"),
                        }
                    }
                }
            });
        }
    });
    start.elapsed()
}
