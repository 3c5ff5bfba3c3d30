//! The engine's side of a backend: [`TransactionControl`], what the block
//! engine (`block.rs`) asks of a database: the connection it owns, the
//! transaction-control statements (`BEGIN`, `COMMIT`, `ROLLBACK`,
//! savepoints) and how to run them, and what the database can say about
//! its transaction.
//!
//! It sits below the engine and names nothing of records: the public
//! [`Backend`](crate::Backend) (in `backend.rs`, above the engine and the
//! record seam) is this trait plus `store::RecordBackend` plus the block
//! options, so the module graph stays a tree (`backend` → `store` → `block`
//! → `control`).

use std::fmt;

use crate::error::DatabaseError;

/// The engine's side of a backend: what `block.rs` calls. Only
/// txmanager's own backends implement it, and none of it is public API.
///
/// `pub(crate)`, though it is a supertrait of the public
/// [`Backend`](crate::Backend) (`backend.rs` allows the `private_bounds`
/// lint for it): a supertrait's items resolve through a `B: Backend` bound
/// without any import, so a `pub` trait here, even in a private module,
/// would let users' generic code write `B::commit_sql()` or name
/// `B::Connection`. Being private, its items are refused outside the crate
/// on a concrete backend and through the bound alike (E0624, "associated
/// function `commit_sql` is private"; see the `compile_fail` examples on
/// `Backend`).
pub(crate) trait TransactionControl: Sized {
    /// The connection the manager owns (`SqliteConnection`,
    /// `PgConnection`: crate-private types).
    type Connection;

    /// How an outermost block begins: the backend's
    /// [`Backend::BlockOptions`](crate::Backend::BlockOptions), which
    /// `Backend` binds to this type (here so that the engine, below
    /// `Backend`, can keep and pass them).
    type BeginOptions: Copy + Default + fmt::Debug + PartialEq + Send + Sync + 'static;

    /// Whether any failed statement aborts the whole transaction, so that a
    /// block in which a statement failed can only roll back (PostgreSQL).
    const ERROR_ABORTS_TRANSACTION: bool;

    /// Runs one of the engine's transaction-control statements.
    fn run_control(conn: &Self::Connection, sql: &str) -> Result<(), DatabaseError>;

    /// The statement that begins an outermost block.
    fn begin_sql(options: Self::BeginOptions) -> &'static str;

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
    /// `None` when the server cannot tell (PostgreSQL with `track_counts`
    /// off, or a count that fell): the engine then treats the blocks that
    /// counted as having written. The default says exactly that: a
    /// backend that reports reads (`Engine::mark_read`) but does not
    /// implement this gets a false `PendingCommitRollback` from a manual
    /// block that only read, never an `Ok` that drops a write. (SQLite
    /// never asks: its dirty tracking sees every write.)
    #[inline]
    fn rows_written(_conn: &Self::Connection) -> Result<Option<i64>, DatabaseError> {
        Ok(None)
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
