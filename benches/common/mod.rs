//! Shared by the benchmarks: the schemas, fresh databases with identical
//! settings for txmanager and hand-written rusqlite, and the hand-written
//! versioned save.
#![allow(dead_code)]

use std::fmt;
use std::time::Duration;

use tempfile::TempDir;
use txmanager::rusqlite::{self, Connection};
use txmanager::{Settings, TransactionManager, VersionField, record};

pub const INSERT: &str = "INSERT INTO row (n) VALUES (?1)";
pub const CREATE_ROW: &str = "CREATE TABLE row (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)";
pub const CREATE_ITEM: &str = "CREATE TABLE item (id INTEGER PRIMARY KEY, version INTEGER NOT NULL, name TEXT NOT NULL, qty INTEGER NOT NULL)";
pub const ITEMS: i64 = 1_000;

record! {
    #[derive(Debug, Clone, Default)]
    pub struct Item in "item" (primary_key id, version version: VersionField::auto_increment()) {
        pub name: String,
        pub qty: i64,
    }
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
    (storage == Storage::Wal).then(|| tempfile::tempdir().expect("temp dir"))
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

/// `ITEMS` rows to save over, inserted in one transaction.
pub fn item_rows() -> String {
    let mut sql = String::from("BEGIN;");
    for i in 1..=ITEMS {
        sql.push_str(&format!(
            "INSERT INTO item (id, version, name, qty) VALUES ({i}, 1, 'item {i}', 0);"
        ));
    }
    sql.push_str("COMMIT;");
    sql
}

/// The hand-written versioned read-modify-write that txmanager's
/// `Item::get` + `save` does: the same two statements, checked.
pub fn raw_versioned_increment(tx: &rusqlite::Transaction<'_>, id: i64) -> rusqlite::Result<()> {
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
    use txmanager::Record;
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
