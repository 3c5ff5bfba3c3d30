//! The seam between the block engine and a database: the [`Backend`] trait.
//!
//! The engine in `block.rs` (frames, savepoints, dirty tracking, hooks, the
//! broken state) is written once, over this trait. Each backend module
//! (`sqlite.rs`, `pg.rs`) implements it with the few statements and
//! facts that differ between databases, plus its own statement API on
//! [`TransactionManager<B>`](crate::TransactionManager) and
//! [`Transaction<'_, B>`](crate::Transaction).

use std::fmt;

use crate::value::CommonValues;

pub(crate) mod sealed {
    use crate::error::DatabaseError;

    /// The engine's side of a backend: what `block.rs` calls. Only
    /// txmanager's own backends implement it, and it lives in a private
    /// module, so none of it is public API: users can neither name these
    /// items nor call them on a concrete backend.
    pub trait Sealed {
        /// The connection the manager owns (`SqliteConnection`,
        /// `PgConnection`: crate-private types).
        type Connection;

        /// How this backend runs record statements and version triggers
        /// (`sqlite/records.rs`, `pg/records.rs`).
        type Records: crate::store::RecordStore<Self>;

        /// Whether any failed statement aborts the whole transaction, so that a
        /// block in which a statement failed can only roll back (PostgreSQL).
        const ERROR_ABORTS_TRANSACTION: bool;

        /// Runs one of the engine's transaction-control statements.
        fn run_control(conn: &Self::Connection, sql: &str) -> Result<(), DatabaseError>;

        /// The statement that begins an outermost block.
        fn begin_sql(options: <Self as super::Backend>::BlockOptions) -> &'static str
        where
            Self: super::Backend;

        /// `COMMIT` and `ROLLBACK`, as this backend runs them.
        fn commit_sql() -> &'static str;

        /// See [`commit_sql`](Self::commit_sql).
        fn rollback_sql() -> &'static str;

        /// Commits the outermost transaction. Afterwards no transaction is open,
        /// whatever the result. `Ok` only when the work was really committed.
        #[inline]
        fn commit(conn: &Self::Connection) -> Result<(), DatabaseError> {
            Self::run_control(conn, Self::commit_sql())
        }

        /// The SQL of [`rows_written`](Self::rows_written), for its errors.
        const ROWS_WRITTEN_SQL: &'static str = "";

        /// How many rows the open transaction has inserted, updated or
        /// deleted so far, as the server counts them: writes that dirty
        /// tracking may miss included (PostgreSQL: a `SELECT` calling a
        /// writing function), and those of savepoints rolled back. Only the
        /// difference between two counts in one transaction means anything.
        /// Asked when a known read runs in a clean manual block, and when
        /// such a block ends without known writes (see `Frame::read`).
        #[inline]
        fn rows_written(_conn: &Self::Connection) -> Result<i64, DatabaseError> {
            Ok(0)
        }

        /// Whether `error` says that a prepared statement was stale (the
        /// server no longer knows it, or DDL changed its result type), so
        /// that, prepared afresh, it may succeed.
        #[inline]
        fn is_stale_statement(_error: &DatabaseError) -> bool {
            false
        }

        /// The statements of the savepoint at `depth`: (open, release, rollback to).
        fn savepoint_sql(depth: usize) -> (String, String, String);

        /// Called the first time a manager nests savepoints `depth` deep, before
        /// the savepoint opens, so a backend that caches its control statements
        /// can make room for the new depth's.
        #[inline]
        fn savepoint_depth_reached(_conn: &Self::Connection, _depth: usize) {}

        /// Called right after the engine's `BEGIN` succeeded: whether the
        /// database said a transaction was already open, so the `BEGIN` did
        /// nothing (PostgreSQL warns with 25001). The engine then rolls that
        /// transaction back and refuses the block.
        #[inline]
        fn begin_found_transaction_open(_conn: &Self::Connection) -> bool {
            false
        }

        /// Whether the connection is inside a transaction, if the database can
        /// say so without a round trip (SQLite can; PostgreSQL clients cannot,
        /// so the engine tracks it itself).
        fn in_transaction(conn: &Self::Connection) -> Option<bool>;

        /// Backend-specific repair at the end of `reset()`.
        fn reset_connection(conn: &mut Self::Connection) -> Result<(), crate::Error>;
    }
}

/// A database txmanager can run blocks on: [`Sqlite`](crate::Sqlite) (the
/// default) or, with the `postgres` feature, `Postgres`.
///
/// It appears as the type parameter of
/// [`TransactionManager<B>`](crate::TransactionManager) and
/// [`Transaction<'_, B>`](crate::Transaction), whose default is SQLite, so
/// SQLite code never names it. The trait is sealed, and it is all the API there
/// is: the engine's methods live on a private supertrait.
///
/// # Example
///
/// Code that runs a block on any backend:
///
/// ```
/// use txmanager::{Backend, Error, TransactionManager};
///
/// fn depth_inside<B: Backend>(tm: &mut TransactionManager<B>) -> Result<usize, Error> {
///     tm.commit_on_success(|tx| Ok::<_, Error>(tx.depth()))
/// }
///
/// # fn main() -> Result<(), Error> {
/// let mut tm = TransactionManager::open_in_memory()?;
/// assert_eq!(depth_inside(&mut tm)?, 1);
/// # Ok(())
/// # }
/// ```
///
/// The engine's statements are not API, on a concrete backend or through
/// the trait:
///
/// ```compile_fail
/// use txmanager::{Backend, Sqlite};
/// let _ = Sqlite::commit_sql();
/// ```
///
/// ```compile_fail
/// let _ = <txmanager::Sqlite as txmanager::Backend>::commit_sql();
/// ```
///
/// and neither is the connection type the manager owns:
///
/// ```compile_fail
/// let _: Option<<txmanager::Sqlite as txmanager::Backend>::Connection> = None;
/// ```
pub trait Backend: sealed::Sealed + CommonValues + Sized + 'static {
    /// How an outermost block begins: SQLite's [`BeginMode`](crate::BeginMode),
    /// PostgreSQL's `PgBlockOptions` (isolation level and access mode).
    type BlockOptions: Copy + Default + fmt::Debug + PartialEq + Send + Sync + 'static;
}
