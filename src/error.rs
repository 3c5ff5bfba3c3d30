//! The crate's one error type, [`Error`], and [`Step`], the transaction-control
//! step that an [`Error::StepFailed`] names.

use std::fmt;
use std::sync::Arc;

use crate::value::ValueError;
use crate::{KeyValue, Mode};

/// A transaction-control step that txmanager runs on your behalf.
///
/// Carried by [`Error::StepFailed`] so that a caller can tell *which* step of a
/// block's life cycle failed, not only that the database returned an error.
///
/// # Example
///
/// ```
/// use txmanager::Step;
///
/// assert_eq!(Step::RollbackToSavepoint.to_string(), "ROLLBACK TO SAVEPOINT");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Step {
    /// `BEGIN` of an outermost block, or the lazy `BEGIN` after a manual commit.
    Begin,
    /// `ROLLBACK` of the whole transaction.
    Rollback,
    /// `SAVEPOINT` opening a nested block.
    Savepoint,
    /// `RELEASE` of a nested block's savepoint.
    ReleaseSavepoint,
    /// `ROLLBACK TO` of a nested block's savepoint.
    RollbackToSavepoint,
}

impl Step {
    /// What the failure of this step means for the caller, and what to do.
    fn consequence(self) -> &'static str {
        match self {
            Step::Begin => "the block did not run; retry it if the database was busy or locked",
            Step::Savepoint => {
                "the nested block did not run; on SQLite the enclosing block is unchanged, \
                 on PostgreSQL the failure aborted the enclosing block, which can only roll back"
            }
            Step::ReleaseSavepoint => {
                "the nested block's work was not kept; if it could not be rolled back \
                 either, the manager is broken until reset() succeeds"
            }
            Step::Rollback | Step::RollbackToSavepoint => {
                "part of the work may remain, so the manager refuses work until reset() \
                 succeeds (or open a new manager)"
            }
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Step::Begin => "BEGIN",
            Step::Rollback => "ROLLBACK",
            Step::Savepoint => "SAVEPOINT",
            Step::ReleaseSavepoint => "RELEASE SAVEPOINT",
            Step::RollbackToSavepoint => "ROLLBACK TO SAVEPOINT",
        })
    }
}

/// Everything that can go wrong in txmanager.
///
/// Closures passed to the mode methods may return their own error type `E`, as
/// long as `E: From<Error>`; txmanager hands your error back unchanged.
///
/// **Which error wins.** When a block fails and the rollback that follows
/// fails too, the *first* error is returned (your closure's error, or
/// [`Error::CommitFailed`]); the rollback's failure marks the manager broken,
/// and every later call reports it through [`Error::Broken`] until
/// [`TransactionManager::reset`](crate::TransactionManager::reset) succeeds.
///
/// # Example
///
/// ```
/// use txmanager::{Error, TransactionManager};
///
/// # fn main() -> Result<(), Error> {
/// let mut tm = TransactionManager::open_in_memory()?;
/// let err = tm
///     .commit_on_success(|tx| tx.commit())
///     .unwrap_err();
/// assert!(matches!(err, Error::NotInManualMode { .. }));
/// assert_eq!(
///     err.to_string(),
///     "commit() is only allowed in a commit_manually block, but the current \
///      block is commit_on_success; nothing was changed"
/// );
/// # Ok(())
/// # }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Opening a manager: a connection setting could not be applied (for
    /// example `journal_mode` while another connection holds the lock the
    /// switch to WAL needs).
    #[error(
        "could not apply {setting} to the new connection: {}; nothing was opened, \
         retry the open (another connection may hold the lock the setting needs)",
        sqlite_summary(source)
    )]
    Configure {
        /// The setting: `"busy_timeout"`, `"foreign_keys"`, `"journal_mode"`,
        /// `"synchronous"`, or `"init hook"` (an [`Opener`](crate::Opener)'s).
        setting: &'static str,
        /// What SQLite said (opening a manager is SQLite-only).
        #[source]
        source: rusqlite::Error,
    },

    /// An [`Opener`](crate::Opener) was pointed at an in-memory database
    /// private to each connection, so every manager it opened would get its
    /// own empty database. Nothing was opened.
    #[error(
        "opener path {path:?} is an in-memory database private to each connection, so every \
         manager would get its own empty database; use a file, or a shared in-memory URI \
         such as \"file:app?mode=memory&cache=shared\""
    )]
    PrivateMemoryDatabase {
        /// The path the opener was given.
        path: String,
    },

    /// A `commit_manually` block ended with writes it had neither committed nor
    /// rolled back. txmanager rolled them back.
    #[error(
        "transaction managed block ended with pending COMMIT/ROLLBACK: its uncommitted \
         writes were rolled back; call tx.commit() or tx.rollback() before the block ends"
    )]
    PendingCommitRollback,

    /// `commit()` or `rollback()` was called on a handle whose block is not a
    /// `commit_manually` block. Nothing was changed.
    #[error(
        "{operation}() is only allowed in a commit_manually block, \
         but the current block is {mode}; nothing was changed"
    )]
    NotInManualMode {
        /// `"commit"` or `"rollback"`.
        operation: &'static str,
        /// The mode of the block the call was made in.
        mode: Mode,
    },

    /// A call that contradicts a block's mark to roll back: `commit()` in a
    /// block marked with `set_rollback(true)`, `set_rollback(false)` in a
    /// test transaction, or `set_rollback` in an autocommit block. Nothing
    /// was changed.
    #[error("{operation} refused: {reason}; nothing was changed")]
    RollbackMarkRefused {
        /// The call that was refused, e.g. `"commit()"`.
        operation: &'static str,
        /// Why, and what to do instead.
        reason: &'static str,
    },

    /// An `autocommit` block was opened inside a block that holds an open
    /// transaction. It was refused, and the enclosing work was not committed.
    #[error(
        "an autocommit block cannot run inside an open transaction \
         (the enclosing block is {enclosing}); nothing was committed"
    )]
    AutocommitInTransaction {
        /// The mode of the enclosing block.
        enclosing: Mode,
    },

    /// `COMMIT` failed. The transaction was rolled back, so none of the
    /// block's writes were committed. If that rollback failed too, the
    /// error is [`Error::StepFailed`] with [`Step::Rollback`] instead, and
    /// the manager is broken until
    /// [`reset`](crate::TransactionManager::reset): this error is only
    /// returned when the rollback is certain.
    #[error(
        "COMMIT failed: {}; the transaction was rolled back, so nothing of the block was \
         committed; retry the block if the database was busy",
        source.summary()
    )]
    CommitFailed {
        /// What the database said.
        #[source]
        source: DatabaseError,
    },

    /// The connection was lost during `COMMIT`, or PostgreSQL answered it
    /// with 40003 (statement_completion_unknown): the transaction may or may
    /// not have committed. It is never retried; the manager is broken until
    /// [`reset`](crate::TransactionManager::reset) or a new connection.
    /// Check what was committed before doing the work again.
    #[error(
        "the outcome of COMMIT is unknown ({}): the transaction may or may not have \
         committed; check before doing the work again",
        source.summary()
    )]
    CommitOutcomeUnknown {
        /// What the database or the client said.
        #[source]
        source: DatabaseError,
    },

    /// A statement failed inside this block, so the database aborted the
    /// block's transaction (PostgreSQL does this on any error), and the
    /// closure went on to return `Ok` or to call `commit()`. The block's work
    /// was rolled back: nothing of it was committed.
    #[error(
        "a statement failed inside this block, so PostgreSQL aborted it; \
         the block's work was rolled back (return the statement's error instead \
         of ignoring it, or run the statement in a nested block)"
    )]
    BlockAborted,

    /// A transaction-control step other than `COMMIT` failed.
    #[error("{step} failed: {}; {}", source.summary(), step.consequence())]
    StepFailed {
        /// The step that failed.
        step: Step,
        /// What the database said.
        #[source]
        source: DatabaseError,
    },

    /// A statement run through txmanager failed.
    // The message repeats what the database said (its message and code),
    // although the error is also the source: most loggers print only the
    // top error's message, and this one must be enough to act on.
    #[error("statement `{sql}` failed: {}", source.summary())]
    Statement {
        /// The SQL text of the statement.
        sql: String,
        /// What the database said.
        #[source]
        source: DatabaseError,
    },

    /// A statement tried to control the transaction itself (`BEGIN`,
    /// `COMMIT`, `END`, `ROLLBACK`, `SAVEPOINT`, `RELEASE`, `ROLLBACK TO`;
    /// on PostgreSQL also `START`, `ABORT` and `PREPARE`), through a handle
    /// or the manager, alone or inside a batch. It did not run, so the
    /// block's transaction is exactly as it was: on SQLite the control gate
    /// refused to compile it; on PostgreSQL txmanager's keyword scan found it
    /// before anything was sent. In a batch the backends differ: on SQLite
    /// the statements before it did run, inside the block; on PostgreSQL
    /// the whole batch is refused before any of it runs. Return the error
    /// (`?`) to roll the block back.
    ///
    /// On PostgreSQL the scan refuses every statement that *starts* with one
    /// of those keywords, so `PREPARE name AS …` (an SQL-level prepared
    /// statement, not `PREPARE TRANSACTION`) is refused too: txmanager
    /// prepares and caches statements itself.
    #[error(
        "`{statement}` in `{sql}` was refused before it ran: txmanager controls \
         transactions on this connection; let the block end to commit, call \
         tx.commit() or tx.rollback() in a commit_manually block, or nest a \
         block where you wanted a savepoint"
    )]
    TransactionControlRefused {
        /// The refused statement. On SQLite, as SQLite names it: `BEGIN`,
        /// `COMMIT` (also for `END`), `ROLLBACK`, `SAVEPOINT "name"`,
        /// `RELEASE "name"`, `ROLLBACK TO "name"`. On PostgreSQL, the
        /// keyword that starts it, in capitals (`COMMIT`, `START`, …).
        statement: String,
        /// The SQL text that was passed in.
        sql: String,
    },

    /// The transaction of the current block ended without txmanager ending
    /// it: SQLite rolled it back on its own after an error in a statement
    /// (`INSERT OR ROLLBACK`, a column declared `ON CONFLICT ROLLBACK`, a
    /// `RAISE(ROLLBACK)` trigger, `SQLITE_FULL`, `SQLITE_IOERR` and some
    /// others). Raw `COMMIT`/`ROLLBACK` statements cannot do this: they are
    /// refused before they run ([`Error::TransactionControlRefused`]). The
    /// block cannot commit or roll back as a unit any more, so every later
    /// statement and nested block in it is refused before it runs and the
    /// block fails; the transaction's work up to the rollback was not
    /// committed. One exception: a statement you prepared with `prepare`
    /// and executed yourself after that rollback ran outside any
    /// transaction, so it committed at once. The manager needs no repair.
    #[error(
        "the transaction was ended outside txmanager ({}): SQLite rolled it back after an \
         error in a statement, so the block's work up to then was not committed (a prepared \
         statement executed after that committed on its own); the block was stopped, \
         fix the cause and run the block again",
        match statement { Some(sql) => format!("noticed after `{sql}`"), None => "noticed before the block's next statement, or when it ended".to_owned() }
    )]
    TransactionClosedUnderneath {
        /// The statement after which txmanager noticed, if it was a statement.
        statement: Option<String>,
    },

    /// A transaction was open where txmanager expected none, for example on
    /// a connection handed to [`TransactionManager::new`] inside a
    /// transaction (on PostgreSQL: a client handed to `from_client` inside
    /// one, or a block whose `BEGIN` the server answered with "there is
    /// already a transaction in progress", on a manager from `connect`). (A raw `BEGIN` through txmanager is refused before it
    /// runs: [`Error::TransactionControlRefused`].) txmanager rolled it back,
    /// with whatever was written in it, and the block that found it did not
    /// run; the manager is usable at once. If that rollback failed, the error
    /// is [`Error::StepFailed`] with [`Step::Rollback`] and the manager is
    /// broken until [`TransactionManager::reset`] succeeds.
    ///
    /// [`TransactionManager::new`]: crate::TransactionManager::new
    /// [`TransactionManager::reset`]: crate::TransactionManager::reset
    #[error(
        "a transaction was opened outside txmanager ({}); it was rolled back with \
         whatever was written in it, and the manager is ready: run the work again",
        match statement { Some(sql) => format!("by `{sql}`"), None => "found when a block started or ended".to_owned() }
    )]
    TransactionOpenedUnderneath {
        /// The statement that opened it, if txmanager saw it run.
        statement: Option<String>,
    },

    /// The manager is broken: a rollback failed, so the connection may still
    /// hold a half-finished transaction. It refuses all work until
    /// [`TransactionManager::reset`](crate::TransactionManager::reset) succeeds.
    #[error("the transaction manager is broken ({reason}); call reset() or reopen it")]
    Broken {
        /// What broke it.
        reason: String,
        /// The database's error that broke it, when there was one: the same
        /// error the failing call returned (shared, not copied), which every
        /// call on the broken manager reports, on either backend.
        #[source]
        source: Option<DatabaseError>,
    },

    /// A versioned record was saved or deleted, but its row no longer has the
    /// version the record was loaded with: someone else changed or deleted it
    /// first. Nothing was written, and the record's in-memory version is
    /// unchanged; reload it, reapply your change, and save again.
    #[error(
        "record modified: {table} row {pk} was loaded at version {expected}, but {}; \
         nothing was written: reload the record, reapply the change and save again",
        match found { Some(v) => format!("is now at version {v}"), None => "has since been deleted".to_owned() }
    )]
    RecordModified {
        /// The record's table.
        table: &'static str,
        /// The record's primary key.
        pk: KeyValue,
        /// The version the record was loaded with.
        expected: i64,
        /// The version found in the database just after the conflict, or
        /// `None` if the row is gone.
        found: Option<i64>,
    },

    /// `get` or `reload` found no row with that primary key.
    #[error("no {table} row has primary key {pk}")]
    RecordNotFound {
        /// The record's table.
        table: &'static str,
        /// The primary key looked up.
        pk: KeyValue,
    },

    /// A record with no primary key was saved, but its key type cannot hold
    /// a key the database assigns (only integer keys can). Nothing was
    /// written.
    #[error(
        "this {table} record has no primary key, and its key type cannot take one \
         assigned by the database; set the key before saving"
    )]
    MissingPrimaryKey {
        /// The record's table.
        table: &'static str,
    },

    /// A record without a key was saved, and the key the database assigns
    /// does not convert to the record's key type (a `String` or `i32` key
    /// on a `BIGSERIAL` column; an `i32` key past 2^31 on a SQLite rowid).
    /// The row is not kept: on PostgreSQL the key column's type is checked
    /// before the insert runs, so nothing ran; on SQLite the rowid is known
    /// only after the insert, which outside a block runs in a transaction
    /// of its own that is rolled back, and inside one belongs to the
    /// block's transaction (return this error, and the block rolls it
    /// back). The record is unchanged.
    #[error(
        "the key {table}.{column} assigns is {column_type}, which the record's key type \
         {key_type} cannot hold; the row was not kept (in a block, return this error so \
         that the block rolls back); use a key type that holds every key the column \
         assigns (i64 for BIGSERIAL or a SQLite rowid)"
    )]
    AssignedKeyType {
        /// The record's table.
        table: &'static str,
        /// Its primary key column.
        column: &'static str,
        /// What the database assigns: PostgreSQL's column type (`int8`),
        /// or the SQLite rowid that did not convert.
        column_type: String,
        /// The record's Rust key type.
        key_type: &'static str,
    },

    /// The record has no primary key yet: it was never saved.
    #[error("this {table} record has no primary key yet: it was never saved; save it first")]
    RecordNotSaved {
        /// The record's table.
        table: &'static str,
    },

    /// A record with a primary key but no version was saved field by field
    /// ([`Record::save_fields`](crate::Record::save_fields)), and its type
    /// requires a version: there is nothing to check the write against.
    /// Nothing was written.
    #[error(
        "this {table} record (primary key {pk}) has no version, so its fields cannot be saved \
         with a check; load it first (get or get_version), or declare the type \
         #[record(version_required = false)] to save it without one"
    )]
    VersionMissing {
        /// The record's table.
        table: &'static str,
        /// The record's primary key.
        pk: KeyValue,
    },

    /// The record type or table has no version column, so there is no
    /// version to check.
    #[error("{table} has no version column; declare one or use apply_concurrency_check")]
    NotVersioned {
        /// The table.
        table: String,
    },

    /// A record type versioned by a trigger has no version trigger in the
    /// database, or one whose text differs from what
    /// [`apply_concurrency_check`](crate::apply_concurrency_check) creates
    /// (found by [`check_version_triggers`](crate::check_version_triggers)).
    /// Without it, raw updates do not move the version and go unnoticed.
    #[error(
        "table {table} {} for version column {column}; call \
         apply_concurrency_check_for (or apply_concurrency_check with VersionKind::Trigger) \
         at start-up to create it",
        if *differs { "has a version trigger with different text" } else { "has no version trigger" }
    )]
    MissingVersionTrigger {
        /// The record type's table.
        table: String,
        /// Its version column.
        column: String,
        /// A trigger with the expected name exists, but its text differs.
        differs: bool,
    },

    /// A table, column or trigger name was refused before any SQL ran.
    #[error("invalid {what} name {name:?}: {reason}")]
    InvalidIdentifier {
        /// What the name was for: `"table"`, `"column"`, ….
        what: &'static str,
        /// The name as given.
        name: String,
        /// Why it was refused.
        reason: &'static str,
    },

    /// The table does not exist.
    #[error("no such table: {table}; create it before adding versioning to it")]
    NoSuchTable {
        /// The table name as given.
        table: String,
    },

    /// Any other error from rusqlite, such as one from opening the database.
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),

    /// Any other error from the `postgres` client, such as one from
    /// connecting to the server.
    #[cfg(feature = "postgres")]
    #[error(transparent)]
    Postgres(#[from] postgres::Error),
}

/// What the database said, for either backend: the source of
/// [`Error::Statement`], [`Error::StepFailed`] and [`Error::CommitFailed`].
///
/// Retry decisions read it through [`sqlite_error_code`](Self::sqlite_error_code)
/// and [`sqlstate`](Self::sqlstate), so they work on both backends.
///
/// # Example
///
/// ```
/// use txmanager::{rusqlite::ErrorCode, DatabaseError};
///
/// let err = DatabaseError::from(txmanager::rusqlite::Error::SqliteFailure(
///     txmanager::rusqlite::ffi::Error::new(5), // SQLITE_BUSY
///     None,
/// ));
/// assert_eq!(err.sqlite_error_code(), Some(ErrorCode::DatabaseBusy));
/// assert_eq!(err.sqlstate(), None);
/// ```
///
/// It is cheap to clone: the library's error is stored once and shared, so
/// the error a call returns and the broken state it leaves behind
/// ([`Error::Broken`]'s source) hold the same cause, on both backends.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum DatabaseError {
    /// An error from SQLite, through rusqlite.
    #[error(transparent)]
    Sqlite(Arc<rusqlite::Error>),
    /// An error from PostgreSQL, or from the connection to it.
    #[cfg(feature = "postgres")]
    #[error(transparent)]
    Postgres(Arc<postgres::Error>),
}

impl From<rusqlite::Error> for DatabaseError {
    fn from(error: rusqlite::Error) -> Self {
        DatabaseError::Sqlite(Arc::new(error))
    }
}

#[cfg(feature = "postgres")]
impl From<postgres::Error> for DatabaseError {
    fn from(error: postgres::Error) -> Self {
        DatabaseError::Postgres(Arc::new(error))
    }
}

/// SQLite's message and extended result code, for an error's message.
fn sqlite_summary(error: &rusqlite::Error) -> String {
    match error {
        rusqlite::Error::SqliteFailure(code, message) => {
            let text = message.as_deref().unwrap_or("no message");
            format!(
                "{text} (SQLite {:?}, code {})",
                code.code, code.extended_code
            )
        }
        other => other.to_string(),
    }
}

/// Why a manager is broken, kept until `reset()`: every call reports it as
/// [`Error::Broken`], with the database's error as its source.
#[derive(Debug, Clone)]
pub(crate) struct Breakage {
    reason: String,
    source: Option<DatabaseError>,
}

impl Breakage {
    pub(crate) fn new(reason: String, source: Option<DatabaseError>) -> Self {
        Breakage { reason, source }
    }

    pub(crate) fn error(&self) -> Error {
        Error::Broken {
            reason: self.reason.clone(),
            source: self.source.clone(),
        }
    }
}

impl DatabaseError {
    /// What the database said, with its code, for an error's message:
    /// SQLite's message and extended result code, or PostgreSQL's message
    /// and SQLSTATE.
    pub(crate) fn summary(&self) -> String {
        match self {
            DatabaseError::Sqlite(e) => sqlite_summary(e),
            #[cfg(feature = "postgres")]
            DatabaseError::Postgres(e) => match e.as_db_error() {
                Some(db) => format!("{} (SQLSTATE {})", db.message(), db.code().code()),
                None => e.to_string(),
            },
        }
    }

    /// The SQLite error code, for a SQLite error.
    ///
    /// ```
    /// use txmanager::DatabaseError;
    /// let err = DatabaseError::from(txmanager::rusqlite::Error::InvalidQuery);
    /// assert_eq!(err.sqlite_error_code(), None);
    /// ```
    #[must_use]
    pub fn sqlite_error_code(&self) -> Option<rusqlite::ErrorCode> {
        match self {
            DatabaseError::Sqlite(e) => e.sqlite_error_code(),
            #[cfg(feature = "postgres")]
            DatabaseError::Postgres(_) => None,
        }
    }

    /// The five-character SQLSTATE, for an error the PostgreSQL server sent.
    ///
    /// ```
    /// use txmanager::DatabaseError;
    /// let err = DatabaseError::from(txmanager::rusqlite::Error::InvalidQuery);
    /// assert_eq!(err.sqlstate(), None);
    /// ```
    #[must_use]
    pub fn sqlstate(&self) -> Option<&str> {
        match self {
            DatabaseError::Sqlite(_) => None,
            #[cfg(feature = "postgres")]
            DatabaseError::Postgres(e) => e.code().map(postgres::error::SqlState::code),
        }
    }

    /// Whether the connection to the database is gone (PostgreSQL only: a
    /// SQLite connection cannot be lost).
    ///
    /// ```
    /// use txmanager::DatabaseError;
    /// let err = DatabaseError::from(txmanager::rusqlite::Error::InvalidQuery);
    /// assert!(!err.is_connection_lost());
    /// ```
    #[must_use]
    pub fn is_connection_lost(&self) -> bool {
        match self {
            DatabaseError::Sqlite(_) => false,
            #[cfg(feature = "postgres")]
            // Closed by the client, an I/O error on the socket, a
            // connection exception (class 08), or the server shutting the
            // session down (57P01 admin_shutdown, 57P02 crash_shutdown,
            // 57P03 cannot_connect_now).
            DatabaseError::Postgres(e) => {
                e.is_closed()
                    || is_io(e)
                    || e.code().is_some_and(|c| {
                        c.code().starts_with("08")
                            || matches!(c.code(), "57P01" | "57P02" | "57P03")
                    })
            }
        }
    }
}

impl DatabaseError {
    /// Why running the work again may succeed, as the database says: the
    /// cause a retry reports, or `None`. Each database answers for its own
    /// errors: SQLite's BUSY and LOCKED (`busy`); PostgreSQL's SQLSTATE
    /// 40001 (`serialization_failure`), 40P01 (`deadlock`) and 55P03
    /// (`lock_not_available`: a `lock_timeout` or `NOWAIT` met a lock,
    /// SQLite's BUSY after its busy timeout), all safe to run again from
    /// the outermost block. Never 40003 (statement_completion_unknown),
    /// whose COMMIT may have succeeded.
    pub(crate) fn transient_cause(&self) -> Option<&'static str> {
        match self {
            DatabaseError::Sqlite(e) => sqlite_transient_cause(e),
            #[cfg(feature = "postgres")]
            DatabaseError::Postgres(e) => match e.code().map(postgres::error::SqlState::code) {
                Some("40001") => Some("serialization_failure"),
                Some("40P01") => Some("deadlock"),
                Some("55P03") => Some("lock_not_available"),
                _ => None,
            },
        }
    }

    /// Whether the error says a query found no row where one was expected,
    /// as each database's client reports it: SQLite's `query_row`
    /// (`QueryReturnedNoRows`). PostgreSQL's client reports no such kind
    /// (its `query_one` error also covers too many rows): its statement
    /// API has `query_opt` instead.
    pub(crate) fn is_missing_row(&self) -> bool {
        match self {
            DatabaseError::Sqlite(e) => matches!(**e, rusqlite::Error::QueryReturnedNoRows),
            #[cfg(feature = "postgres")]
            DatabaseError::Postgres(_) => false,
        }
    }

    /// Whether the database itself reported the error (a PostgreSQL error
    /// response; any SQLite error), as opposed to the client failing before
    /// or after the statement ran: a parameter that could not be encoded, or
    /// `query_one` finding no row. Only the former aborts a PostgreSQL
    /// transaction.
    pub(crate) fn is_from_server(&self) -> bool {
        match self {
            DatabaseError::Sqlite(_) => true,
            #[cfg(feature = "postgres")]
            DatabaseError::Postgres(e) => e.as_db_error().is_some(),
        }
    }
}

/// SQLite's answer for [`DatabaseError::transient_cause`], also for the
/// plain rusqlite errors of [`Error::Sqlite`] and [`Error::Configure`].
fn sqlite_transient_cause(e: &rusqlite::Error) -> Option<&'static str> {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
    .then_some("busy")
}

#[cfg(feature = "postgres")]
fn is_io(e: &postgres::Error) -> bool {
    std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>())
}

impl Error {
    /// The SQLite error code behind this error, if there is one.
    ///
    /// Useful for deciding whether to retry (`DatabaseBusy`, `DatabaseLocked`).
    ///
    /// # Example
    ///
    /// ```
    /// use txmanager::{rusqlite::ErrorCode, TransactionManager};
    ///
    /// # fn main() -> Result<(), txmanager::Error> {
    /// let tm = TransactionManager::open_in_memory()?;
    /// tm.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)", [])?;
    /// tm.execute("INSERT INTO t (id) VALUES (1)", [])?;
    /// let err = tm.execute("INSERT INTO t (id) VALUES (1)", []).unwrap_err();
    /// assert_eq!(err.sqlite_error_code(), Some(ErrorCode::ConstraintViolation));
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn sqlite_error_code(&self) -> Option<rusqlite::ErrorCode> {
        match self {
            Error::CommitFailed { source }
            | Error::CommitOutcomeUnknown { source }
            | Error::StepFailed { source, .. }
            | Error::Statement { source, .. } => source.sqlite_error_code(),
            Error::Configure { source, .. } | Error::Sqlite(source) => source.sqlite_error_code(),
            _ => None,
        }
    }

    /// The transaction-control step that failed, if this error is about one.
    ///
    /// [`Error::CommitFailed`] answers `None` here: match on it directly.
    ///
    /// # Example
    ///
    /// ```
    /// use txmanager::{Error, Step};
    ///
    /// let err = Error::StepFailed {
    ///     step: Step::Begin,
    ///     source: txmanager::rusqlite::Error::InvalidQuery.into(),
    /// };
    /// assert_eq!(err.step(), Some(Step::Begin));
    /// ```
    #[must_use]
    pub fn step(&self) -> Option<Step> {
        match self {
            Error::StepFailed { step, .. } => Some(*step),
            _ => None,
        }
    }

    /// The database error behind this error, if there is one: what the
    /// server or library said, for either backend.
    ///
    /// # Example
    ///
    /// ```
    /// # fn main() -> Result<(), txmanager::Error> {
    /// let tm = txmanager::TransactionManager::open_in_memory()?;
    /// let err = tm.execute("INSERT INTO missing VALUES (1)", []).unwrap_err();
    /// assert!(err.database_error().is_some());
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn database_error(&self) -> Option<&DatabaseError> {
        match self {
            Error::CommitFailed { source }
            | Error::CommitOutcomeUnknown { source }
            | Error::StepFailed { source, .. }
            | Error::Statement { source, .. } => Some(source),
            _ => None,
        }
    }

    /// The SQLSTATE code of a PostgreSQL error behind this error, such as
    /// `"40001"` (serialization failure); `None` for SQLite errors.
    ///
    /// # Example
    ///
    /// ```
    /// # fn main() -> Result<(), txmanager::Error> {
    /// let tm = txmanager::TransactionManager::open_in_memory()?;
    /// let err = tm.execute("INSERT INTO missing VALUES (1)", []).unwrap_err();
    /// assert_eq!(err.sqlstate(), None);
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn sqlstate(&self) -> Option<&str> {
        self.database_error().and_then(DatabaseError::sqlstate)
    }

    /// Why running the work again may succeed
    /// ([`DatabaseError::transient_cause`]), what `Retryable` reads. Never
    /// for [`Error::CommitOutcomeUnknown`]: that COMMIT may have committed.
    pub(crate) fn transient_cause(&self) -> Option<&'static str> {
        match self {
            Error::CommitOutcomeUnknown { .. } => None,
            Error::Configure { source, .. } | Error::Sqlite(source) => {
                sqlite_transient_cause(source)
            }
            _ => self
                .database_error()
                .and_then(DatabaseError::transient_cause),
        }
    }

    /// Whether this is the error for a missing row, which `.optional()`
    /// turns into `Ok(None)`: [`Error::RecordNotFound`], or a database's
    /// own ([`DatabaseError::is_missing_row`]).
    pub(crate) fn is_missing_row(&self) -> bool {
        match self {
            Error::RecordNotFound { .. } | Error::Sqlite(rusqlite::Error::QueryReturnedNoRows) => {
                true
            }
            _ => self
                .database_error()
                .is_some_and(DatabaseError::is_missing_row),
        }
    }

    pub(crate) fn statement(sql: &str, source: impl Into<DatabaseError>) -> Self {
        Error::Statement {
            sql: sql.to_owned(),
            source: source.into(),
        }
    }
}

/// The client's error a `ValueError` holds (each backend's `ValueSeam::Error`,
/// or, from a hand-written record impl, any client's), as this database's
/// variant.
impl From<ValueError> for Error {
    fn from(e: ValueError) -> Self {
        let e = match e.into_inner().downcast::<rusqlite::Error>() {
            Ok(e) => return Error::Sqlite(*e),
            Err(e) => e,
        };
        #[cfg(feature = "postgres")]
        let e = match e.downcast::<postgres::Error>() {
            Ok(e) => return Error::Postgres(*e),
            Err(e) => e,
        };
        // Only `From` impls for the clients above make a `ValueError`.
        Error::Sqlite(rusqlite::Error::ToSqlConversionFailure(e))
    }
}

#[cfg(feature = "postgres")]
impl ValueError {
    /// The statement error for a value of `sql` that could not be read.
    pub(crate) fn into_statement_error(self, sql: &str) -> Error {
        match Error::from(self) {
            Error::Sqlite(e) => Error::statement(sql, e),
            Error::Postgres(e) => Error::statement(sql, e),
            other => other,
        }
    }
}
