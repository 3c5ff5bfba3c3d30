//! One harness for tests written once and run on both backends: a
//! [`Harness`] is a test's own database on SQLite (a file in a temporary
//! directory) or PostgreSQL (a schema of its own), and [`Statements`] are the
//! few statements the tests run, on a manager or a handle of either backend.
//! `for_each_backend!` instantiates generic test functions for each backend.
#![allow(dead_code)]

use txmanager::{Backend, Error, Transaction, TransactionManager};

/// SQL both databases accept: `$n` is a positional parameter in PostgreSQL
/// and a parameter bound by position in SQLite.
pub const INSERT: &str = "INSERT INTO reporter (first_name, last_name) VALUES ($1, $2)";

/// A test's own database on one backend, and how to check it from outside.
pub trait Harness {
    type B: Backend;
    /// Whether a statement error aborts the whole transaction.
    const ERROR_ABORTS: bool;
    fn new() -> Self;
    fn manager(&self) -> TransactionManager<Self::B>;
    /// The reporters committed, as a second connection sees them.
    fn committed(&self) -> Vec<String>;
    /// Whether the manager's connection is outside any transaction, asked of
    /// the database itself.
    fn outside_transaction(&self, tm: &TransactionManager<Self::B>) -> bool;
}

/// The statements the tests run, on a manager or a handle of either backend.
pub trait Statements {
    fn insert(&self, first: &str, last: &str) -> Result<(), Error>;
    fn count(&self) -> Result<i64, Error>;
    /// A statement the database rejects (no such table).
    fn failing(&self) -> Result<(), Error>;
    fn raw(&self, sql: &str) -> Result<(), Error>;
    /// A query for one row that finds none: an error of the client alone,
    /// after the statement itself succeeded.
    fn missing_row(&self) -> Result<i64, Error>;
    /// Inserts a reporter with a chosen primary key (a duplicate key is an
    /// integrity error).
    fn insert_with_id(&self, id: i64, first: &str, last: &str) -> Result<(), Error>;
    /// The same insert, through a query that returns rows: on PostgreSQL
    /// `SELECT insert_reporter(..)`, a writing function, which dirty
    /// tracking takes for a read (only the server's row counts see the
    /// write); on SQLite `INSERT … RETURNING`, which SQLite itself knows
    /// writes.
    fn writing_read(&self, id: i64, first: &str, last: &str) -> Result<(), Error>;
    /// The reporters this connection sees (its own transaction's work
    /// included), "First Last", in id order.
    fn names(&self) -> Result<Vec<String>, Error>;
}

/// The reporters listing, in SQL both databases accept.
const NAMES: &str = "SELECT first_name || ' ' || last_name FROM reporter ORDER BY id";
/// A reporter with a chosen id.
const INSERT_WITH_ID: &str = "INSERT INTO reporter (id, first_name, last_name) VALUES ($1, $2, $3)";
/// A query that finds no row.
const NO_ROW: &str = "SELECT id FROM reporter WHERE id < 0";

pub struct SqliteDb(pub super::Db);

impl Harness for SqliteDb {
    type B = txmanager::Sqlite;
    const ERROR_ABORTS: bool = false;
    fn new() -> Self {
        SqliteDb(super::Db::new())
    }
    fn manager(&self) -> TransactionManager {
        self.0.manager()
    }
    fn committed(&self) -> Vec<String> {
        self.0.committed()
    }
    fn outside_transaction(&self, tm: &TransactionManager) -> bool {
        tm.is_autocommit()
    }
}

macro_rules! sqlite_statements {
    ($ty:ty) => {
        impl Statements for $ty {
            fn insert(&self, first: &str, last: &str) -> Result<(), Error> {
                self.execute(INSERT, (first, last)).map(drop)
            }
            fn count(&self) -> Result<i64, Error> {
                self.query_row("SELECT count(*) FROM reporter", [], |r| r.get(0))
            }
            fn failing(&self) -> Result<(), Error> {
                self.execute("INSERT INTO no_such_table VALUES (1)", [])
                    .map(drop)
            }
            fn raw(&self, sql: &str) -> Result<(), Error> {
                self.execute_batch(sql)
            }
            fn missing_row(&self) -> Result<i64, Error> {
                self.query_row(NO_ROW, [], |r| r.get(0))
            }
            fn insert_with_id(&self, id: i64, first: &str, last: &str) -> Result<(), Error> {
                self.execute(INSERT_WITH_ID, (id, first, last)).map(drop)
            }
            fn writing_read(&self, id: i64, first: &str, last: &str) -> Result<(), Error> {
                let sql = "INSERT INTO reporter (id, first_name, last_name) VALUES ($1, $2, $3) \
                           RETURNING id";
                self.query_row(sql, (id, first, last), |_| Ok(()))
            }
            fn names(&self) -> Result<Vec<String>, Error> {
                let mut stmt = self.prepare(NAMES)?;
                let names = stmt
                    .query_map([], |r| r.get(0))?
                    .collect::<Result<_, _>>()?;
                Ok(names)
            }
        }
    };
}
sqlite_statements!(TransactionManager);
sqlite_statements!(Transaction<'_>);

#[cfg(feature = "postgres")]
pub mod pg {
    use super::*;
    use txmanager::Postgres;

    pub struct PgHarness(pub crate::common::pg::PgDb);

    impl Harness for PgHarness {
        type B = Postgres;
        const ERROR_ABORTS: bool = true;
        fn new() -> Self {
            PgHarness(crate::common::pg::PgDb::new())
        }
        fn manager(&self) -> TransactionManager<Postgres> {
            self.0.manager()
        }
        fn committed(&self) -> Vec<String> {
            self.0.committed()
        }
        fn outside_transaction(&self, tm: &TransactionManager<Postgres>) -> bool {
            self.0.outside_transaction(tm)
        }
    }

    macro_rules! pg_statements {
        ($ty:ty) => {
            impl Statements for $ty {
                fn insert(&self, first: &str, last: &str) -> Result<(), Error> {
                    self.execute(INSERT, &[&first, &last]).map(drop)
                }
                fn count(&self) -> Result<i64, Error> {
                    Ok(self.query_one("SELECT count(*) FROM reporter", &[])?.get(0))
                }
                fn failing(&self) -> Result<(), Error> {
                    self.execute("INSERT INTO no_such_table VALUES (1)", &[])
                        .map(drop)
                }
                fn raw(&self, sql: &str) -> Result<(), Error> {
                    self.execute_batch(sql)
                }
                fn missing_row(&self) -> Result<i64, Error> {
                    Ok(self.query_one(NO_ROW, &[])?.get(0))
                }
                fn insert_with_id(&self, id: i64, first: &str, last: &str) -> Result<(), Error> {
                    self.execute(INSERT_WITH_ID, &[&id, &first, &last])
                        .map(drop)
                }
                fn writing_read(&self, id: i64, first: &str, last: &str) -> Result<(), Error> {
                    let sql = "SELECT insert_reporter($1, $2, $3)";
                    self.query(sql, &[&id, &first, &last]).map(drop)
                }
                fn names(&self) -> Result<Vec<String>, Error> {
                    Ok(self.query(NAMES, &[])?.iter().map(|r| r.get(0)).collect())
                }
            }
        };
    }
    pg_statements!(TransactionManager<Postgres>);
    pg_statements!(Transaction<'_, Postgres>);
}

/// Instantiates each generic test for every backend: `mod sqlite` always,
/// `mod postgres` with the `postgres` feature.
#[allow(unused_macros)]
macro_rules! for_each_backend {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[test] fn $name() { super::$name::<$crate::common::backends::SqliteDb>() })*
        }
        #[cfg(feature = "postgres")]
        mod postgres {
            $(#[test] fn $name() { super::$name::<$crate::common::backends::pg::PgHarness>() })*
        }
    };
}
#[allow(unused_imports)]
pub(crate) use for_each_backend;
