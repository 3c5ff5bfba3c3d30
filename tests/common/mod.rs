//! Shared fixtures: a real SQLite file in a temporary directory, and an
//! independent connection to see what was really committed.
#![allow(dead_code)]

pub mod backends;
#[cfg(feature = "postgres")]
pub mod pg;

use std::path::PathBuf;
use std::time::Duration;

use tempfile::TempDir;
use txmanager::rusqlite::Connection;
use txmanager::{Settings, TransactionManager};

/// A database file with a `reporter` table, like Django's doctest model.
pub struct Db {
    _dir: TempDir,
    pub path: PathBuf,
}

impl Db {
    pub fn new() -> Db {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("test.db");
        let conn = Connection::open(&path).expect("open database file");
        conn.execute_batch(
            "CREATE TABLE reporter (
                 id INTEGER PRIMARY KEY,
                 first_name TEXT NOT NULL,
                 last_name TEXT NOT NULL,
                 email TEXT NOT NULL DEFAULT ''
             );",
        )
        .expect("create reporter table");
        Db { _dir: dir, path }
    }

    pub fn manager(&self) -> TransactionManager {
        TransactionManager::open(&self.path).expect("open manager")
    }

    pub fn manager_with(&self, settings: &Settings) -> TransactionManager {
        TransactionManager::open_with(&self.path, settings).expect("open manager")
    }

    /// A fresh, independent connection: what every other process sees.
    pub fn observer(&self) -> Connection {
        let conn = Connection::open(&self.path).expect("open observer");
        conn.busy_timeout(Duration::from_secs(5))
            .expect("busy timeout");
        conn
    }

    /// The reporters committed to the file, "First Last", in id order.
    pub fn committed(&self) -> Vec<String> {
        let conn = self.observer();
        let mut stmt = conn
            .prepare("SELECT first_name || ' ' || last_name FROM reporter ORDER BY id")
            .expect("prepare listing");
        stmt.query_map([], |r| r.get(0))
            .expect("query listing")
            .collect::<Result<_, _>>()
            .expect("read listing")
    }
}

/// Inserts a reporter through whatever runs statements.
pub const INSERT: &str = "INSERT INTO reporter (first_name, last_name) VALUES (?1, ?2)";

/// An application error type of the kind users write: txmanager's errors
/// convert into it, and it has cases of its own.
#[derive(Debug)]
pub enum AppError {
    Db(txmanager::Error),
    MeantToDoThat,
}

impl From<txmanager::Error> for AppError {
    fn from(e: txmanager::Error) -> Self {
        AppError::Db(e)
    }
}

/// Where a test's database lives: a file, whose commits a second connection
/// checks, or `:memory:`, which only the manager's own connection can see,
/// so it is checked through the manager once it is outside any transaction.
pub enum Place {
    File(Db),
    Memory,
}

impl Place {
    /// One of each, for tests that must hold on both.
    pub fn both() -> [Place; 2] {
        [Place::File(Db::new()), Place::Memory]
    }

    pub fn manager(&self) -> TransactionManager {
        match self {
            Place::File(db) => db.manager(),
            Place::Memory => {
                let tm = TransactionManager::open_in_memory().expect("open in memory");
                tm.execute_batch(
                    "CREATE TABLE reporter (
                         id INTEGER PRIMARY KEY,
                         first_name TEXT NOT NULL,
                         last_name TEXT NOT NULL,
                         email TEXT NOT NULL DEFAULT ''
                     );",
                )
                .expect("create reporter table");
                tm
            }
        }
    }

    /// The reporters committed, "First Last", in id order.
    pub fn committed(&self, tm: &TransactionManager) -> Vec<String> {
        assert!(
            tm.is_autocommit(),
            "the manager is left inside a transaction"
        );
        match self {
            Place::File(db) => db.committed(),
            Place::Memory => {
                let mut stmt = tm
                    .prepare("SELECT first_name || ' ' || last_name FROM reporter ORDER BY id")
                    .expect("prepare listing");
                stmt.query_map([], |r| r.get(0))
                    .expect("query listing")
                    .collect::<Result<_, _>>()
                    .expect("read listing")
            }
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Place::File(_) => "file",
            Place::Memory => ":memory:",
        }
    }
}
