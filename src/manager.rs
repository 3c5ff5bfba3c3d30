//! [`TransactionManager`]: owns one connection and runs blocks on it.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use rusqlite::{CachedStatement, Connection, Params, Row};

use crate::backend::Backend;
use crate::block::Engine;
use crate::conflict::Conflict;
use crate::error::DatabaseError;
use crate::settings::{self, BeginMode, Settings};
use crate::sqlite::{self, Sqlite, SqliteConnection};
use crate::transaction::{self, Transaction};
use crate::{Error, Mode};

/// Owns a SQLite connection and runs closures on it in Django's three
/// transaction modes.
///
/// Outside any block the manager is in autocommit mode: each
/// [`execute`](Self::execute) commits as it runs. The mode methods
/// [`autocommit`](Self::autocommit), [`commit_on_success`](Self::commit_on_success)
/// and [`commit_manually`](Self::commit_manually) run a closure that receives a
/// [`Transaction`] handle; blocks nest through the handle.
///
/// The manager is `Send` (move it to a worker thread) but not `Sync`: like a
/// connection, one thread uses it at a time. Open one manager per thread.
///
/// # Example
///
/// ```
/// use txmanager::TransactionManager;
///
/// # fn main() -> Result<(), txmanager::Error> {
/// let mut tm = TransactionManager::open_in_memory()?;
/// tm.execute("CREATE TABLE reporter (first_name TEXT, last_name TEXT)", [])?;
/// tm.commit_on_success(|tx| {
///     tx.execute("INSERT INTO reporter VALUES (?1, ?2)", ("Alice", "Smith"))?;
///     tx.execute("INSERT INTO reporter VALUES (?1, ?2)", ("Ben", "Jones"))?;
///     Ok::<_, txmanager::Error>(())
/// })?;
/// let n: i64 = tm.query_row("SELECT count(*) FROM reporter", [], |r| r.get(0))?;
/// assert_eq!(n, 2);
/// # Ok(())
/// # }
/// ```
///
/// A block's handle cannot escape the block:
///
/// ```compile_fail
/// # fn main() -> Result<(), txmanager::Error> {
/// # let mut tm = txmanager::TransactionManager::open_in_memory()?;
/// let leaked = tm.commit_on_success(|tx| Ok::<_, txmanager::Error>(tx))?;
/// # Ok(())
/// # }
/// ```
///
/// and a block cannot be opened on the manager while another block runs on
/// it; nest through the handle instead:
///
/// ```compile_fail
/// # fn main() -> Result<(), txmanager::Error> {
/// # let mut tm = txmanager::TransactionManager::open_in_memory()?;
/// tm.commit_on_success(|tx| {
///     tm.commit_on_success(|inner| Ok::<_, txmanager::Error>(()))
/// })?;
/// # Ok(())
/// # }
/// ```
pub struct TransactionManager<B: Backend = Sqlite> {
    /// The connection and the state of its blocks.
    pub(crate) engine: Engine<B>,
}

impl<B: Backend> fmt::Debug for TransactionManager<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TransactionManager")
            .field("backend", &std::any::type_name::<B>())
            .field("depth", &self.engine.frames.len())
            .field("pending_hooks", &self.engine.hooks.len())
            .field("block_options", &self.engine.block_options)
            .field("broken", &self.engine.broken)
            .field(
                "conflict_handler",
                &self
                    .engine
                    .conflict_handler
                    .as_ref()
                    .map(|_| "Fn(&Conflict)"),
            )
            .finish_non_exhaustive()
    }
}

impl TransactionManager {
    /// Opens (creating if needed) the database file at `path` with the
    /// default [`Settings`]: a 5 s busy timeout, foreign keys on, WAL with
    /// `synchronous = NORMAL`, and `BEGIN IMMEDIATE` for outermost blocks.
    ///
    /// # Errors
    ///
    /// [`Error::Sqlite`] if the file cannot be opened; [`Error::Configure`]
    /// naming the setting that could not be applied.
    ///
    /// # Example
    ///
    /// ```
    /// use txmanager::TransactionManager;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let dir = tempfile::tempdir()?;
    /// let tm = TransactionManager::open(dir.path().join("app.db"))?;
    /// let fk: i64 = tm.query_row("PRAGMA foreign_keys", [], |r| r.get(0))?;
    /// assert_eq!(fk, 1);
    /// # Ok(())
    /// # }
    /// ```
    pub fn open(path: impl AsRef<Path>) -> Result<Self, Error> {
        Self::open_with(path, &Settings::default())
    }

    /// Opens the database file at `path` with the given settings.
    ///
    /// # Errors
    ///
    /// [`Error::Sqlite`] if the file cannot be opened; [`Error::Configure`]
    /// naming the setting that could not be applied.
    ///
    /// # Example
    ///
    /// ```
    /// use txmanager::{Settings, TransactionManager};
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let dir = tempfile::tempdir()?;
    /// let tm = TransactionManager::open_with(dir.path().join("app.db"), &Settings::default().with_wal(false))?;
    /// let mode: String = tm.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
    /// assert_eq!(mode, "delete");
    /// # Ok(())
    /// # }
    /// ```
    pub fn open_with(path: impl AsRef<Path>, settings: &Settings) -> Result<Self, Error> {
        Self::new_with(Connection::open(path)?, settings)
    }

    /// Opens a private in-memory database with the default [`Settings`].
    ///
    /// # Errors
    ///
    /// [`Error::Sqlite`] if SQLite cannot allocate the database.
    ///
    /// # Example
    ///
    /// ```
    /// # fn main() -> Result<(), txmanager::Error> {
    /// let tm = txmanager::TransactionManager::open_in_memory()?;
    /// tm.execute("CREATE TABLE t (x)", [])?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn open_in_memory() -> Result<Self, Error> {
        Self::open_in_memory_with(&Settings::default())
    }

    /// Opens a private in-memory database with the given settings (WAL and
    /// `synchronous` do not apply to memory).
    ///
    /// # Errors
    ///
    /// [`Error::Sqlite`] if SQLite cannot allocate the database.
    ///
    /// # Example
    ///
    /// ```
    /// use txmanager::{Settings, TransactionManager};
    /// # fn main() -> Result<(), txmanager::Error> {
    /// let tm = TransactionManager::open_in_memory_with(&Settings::default().with_foreign_keys(false))?;
    /// let fk: i64 = tm.query_row("PRAGMA foreign_keys", [], |r| r.get(0))?;
    /// assert_eq!(fk, 0);
    /// # Ok(())
    /// # }
    /// ```
    pub fn open_in_memory_with(settings: &Settings) -> Result<Self, Error> {
        Self::new_with(Connection::open_in_memory()?, settings)
    }

    /// Wraps a connection you opened yourself, **without applying any
    /// [`Settings`]**: no busy timeout, no WAL, no `PRAGMA` (rusqlite's own
    /// 5 s busy timeout stays). Outermost blocks use `BEGIN IMMEDIATE`. To
    /// apply the same settings as [`open`](Self::open) and
    /// [`Opener`](crate::Opener), use [`new_with`](Self::new_with).
    ///
    /// If the connection is inside a transaction, blocks are refused with
    /// [`Error::TransactionOpenedUnderneath`] until [`reset`](Self::reset).
    ///
    /// # Example
    ///
    /// ```
    /// use txmanager::{rusqlite::Connection, TransactionManager};
    ///
    /// # fn main() -> Result<(), txmanager::Error> {
    /// let conn = Connection::open_in_memory()?;
    /// let mut tm = TransactionManager::new(conn);
    /// tm.commit_on_success(|tx| tx.execute_batch("CREATE TABLE t (x)"))?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn new(conn: Connection) -> Self {
        Self::with_begin_mode(conn, BeginMode::default(), settings::APP_STATEMENTS)
    }

    /// Wraps a connection you opened yourself (with your own flags, a URI,
    /// SQLCipher's key…) and applies `settings` to it, as
    /// [`open_with`](Self::open_with) does: busy timeout, foreign keys, and
    /// for files WAL and `synchronous`.
    ///
    /// # Errors
    ///
    /// [`Error::Configure`] naming the setting that could not be applied.
    ///
    /// # Example
    ///
    /// ```
    /// use txmanager::rusqlite::{Connection, OpenFlags};
    /// use txmanager::{Settings, TransactionManager};
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let dir = tempfile::tempdir()?;
    /// let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE;
    /// let conn = Connection::open_with_flags(dir.path().join("app.db"), flags)?;
    /// let tm = TransactionManager::new_with(conn, &Settings::default())?;
    /// let mode: String = tm.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
    /// assert_eq!(mode, "wal");
    /// # Ok(())
    /// # }
    /// ```
    pub fn new_with(conn: Connection, settings: &Settings) -> Result<Self, Error> {
        let is_file = conn.path().is_some_and(|p| !p.is_empty());
        sqlite::configure(&conn, settings, is_file)?;
        Ok(Self::with_begin_mode(
            conn,
            settings.begin_mode(),
            settings.statement_cache_capacity(),
        ))
    }

    /// Sets how many of your prepared statements the connection's statement
    /// cache keeps, as [`Settings::with_statement_cache_capacity`] does at
    /// open: txmanager adds room for its own control statements on top, and
    /// only ever grows that room as blocks nest deeper, so it never lowers
    /// what you set here. rusqlite cannot say what capacity a cache has, so
    /// use this, not `set_prepared_statement_cache_capacity` on the
    /// connection (which txmanager would not see, and could lower when
    /// nesting deepens). A manager from [`new`](Self::new) assumes
    /// rusqlite's default of 16 until told.
    ///
    /// # Example
    ///
    /// ```
    /// # fn main() -> Result<(), txmanager::Error> {
    /// let tm = txmanager::TransactionManager::open_in_memory()?;
    /// tm.set_statement_cache_capacity(200);
    /// # Ok(())
    /// # }
    /// ```
    pub fn set_statement_cache_capacity(&self, statements: usize) {
        self.engine.conn.set_app_statements(statements);
    }

    /// The underlying connection, for what txmanager does not wrap: user
    /// functions, collations, backups, `PRAGMA`s, rusqlite's own query API.
    ///
    /// It can only be borrowed outside any block (a block holds the manager
    /// mutably), so whatever runs on it autocommits. (User functions and
    /// collations need rusqlite's `functions` / `collation` features.) Transaction control
    /// (`BEGIN`, `COMMIT`, savepoints, rusqlite's `unchecked_transaction`)
    /// is refused before it runs, as it is through the manager, whatever
    /// the text, even through `prepare_cached` (txmanager's own compiled
    /// `BEGIN`, `COMMIT` and savepoints are taken out of rusqlite's
    /// statement cache first, so the next block compiles them again); for that,
    /// use [`with_connection`](Self::with_connection) or
    /// [`into_inner`](Self::into_inner).
    ///
    /// # Example
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let tm = txmanager::TransactionManager::open_in_memory()?;
    /// tm.connection().pragma_update(None, "cache_size", -8000)?;
    /// let pages: i64 = tm.connection().pragma_query_value(None, "cache_size", |r| r.get(0))?;
    /// assert_eq!(pages, -8000);
    /// assert!(tm.connection().execute_batch("BEGIN").is_err()); // refused
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn connection(&self) -> &Connection {
        self.engine.expect_unwatched_sql();
        self.engine
            .conn
            .gate
            .forget_own_control(&self.engine.conn, self.engine.savepoints.texts());
        &self.engine.conn
    }

    /// Lends the connection mutably to `f`, outside any block, with nothing
    /// refused: rusqlite's [`Transaction`](rusqlite::Transaction), hooks,
    /// authorizers, anything. Afterwards txmanager takes the connection
    /// back: it installs its transaction-control guard again and forgets
    /// the statements compiled during the loan. A transaction `f` left open
    /// is rolled back and reported, and `f`'s value is dropped.
    ///
    /// # Errors
    ///
    /// [`Error::Broken`] if the manager is broken (nothing runs);
    /// [`Error::TransactionOpenedUnderneath`] if `f` left a transaction open
    /// (it was rolled back); [`Error::Sqlite`] if the guard cannot be
    /// installed again.
    ///
    /// # Example
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let mut tm = txmanager::TransactionManager::open_in_memory()?;
    /// tm.execute("CREATE TABLE t (x)", [])?;
    /// let rows = tm.with_connection(|conn| -> txmanager::rusqlite::Result<usize> {
    ///     let tx = conn.transaction()?;
    ///     let n = tx.execute("INSERT INTO t VALUES (1), (2)", [])?;
    ///     tx.commit()?;
    ///     Ok(n)
    /// })??;
    /// assert_eq!(rows, 2);
    /// # Ok(())
    /// # }
    /// ```
    pub fn with_connection<T>(&mut self, f: impl FnOnce(&mut Connection) -> T) -> Result<T, Error> {
        if let Some(breakage) = self.engine.broken.get() {
            return Err(breakage.error());
        }
        self.engine.expect_unwatched_sql();
        let value = self.engine.conn.lend(f)?;
        if self.engine.conn.is_autocommit() {
            return Ok(value);
        }
        self.engine.roll_back_if_open()?;
        Err(Error::TransactionOpenedUnderneath { statement: None })
    }

    /// Gives the connection back, with txmanager's transaction-control
    /// guard (an SQLite authorizer) removed. Hooks not yet run are dropped.
    /// If the manager is broken, the connection may still be inside a
    /// transaction: check [`Connection::is_autocommit`].
    ///
    /// # Example
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let tm = txmanager::TransactionManager::open_in_memory()?;
    /// tm.execute("CREATE TABLE t (x)", [])?;
    /// let conn = tm.into_inner();
    /// conn.execute_batch("BEGIN; INSERT INTO t VALUES (1); COMMIT")?;
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn into_inner(self) -> Connection {
        self.engine.conn.into_inner()
    }

    fn with_begin_mode(conn: Connection, mode: BeginMode, app_statements: usize) -> Self {
        let (conn, failed) = SqliteConnection::new(conn, app_statements);
        let tm = Self::from_connection(conn, mode);
        // `new` cannot fail, so a gate that cannot be installed breaks the
        // manager instead: it must not run blocks it cannot protect.
        if let Some(source) = failed {
            let source = DatabaseError::from(source);
            tm.engine.break_with(
                format!(
                    "could not install the transaction-control guard: {}",
                    source.summary()
                ),
                &source,
            );
        }
        tm
    }
}

impl<B: Backend> TransactionManager<B> {
    /// A manager around a connection its backend has opened and configured.
    pub(crate) fn from_connection(conn: B::Connection, options: B::BlockOptions) -> Self {
        TransactionManager {
            engine: Engine::new(conn, options),
        }
    }

    /// How outermost blocks begin their transaction.
    ///
    /// ```
    /// use txmanager::{BeginMode, TransactionManager};
    /// # fn main() -> Result<(), txmanager::Error> {
    /// let tm = TransactionManager::open_in_memory()?;
    /// assert_eq!(tm.block_options(), BeginMode::Immediate);
    /// # Ok(())
    /// # }
    /// ```
    pub fn block_options(&self) -> B::BlockOptions {
        self.engine.block_options
    }

    /// Changes how later outermost blocks begin their transaction.
    ///
    /// ```
    /// use txmanager::{BeginMode, TransactionManager};
    /// # fn main() -> Result<(), txmanager::Error> {
    /// let mut tm = TransactionManager::open_in_memory()?;
    /// tm.set_block_options(BeginMode::Deferred);
    /// assert_eq!(tm.block_options(), BeginMode::Deferred);
    /// # Ok(())
    /// # }
    /// ```
    pub fn set_block_options(&mut self, options: B::BlockOptions) {
        self.engine.block_options = options;
    }
}

impl TransactionManager<Sqlite> {
    /// Runs one statement in the default autocommit mode: it commits as it
    /// runs. Returns the number of rows changed.
    ///
    /// # Errors
    ///
    /// [`Error::Statement`] with the SQL if SQLite rejects it;
    /// [`Error::TransactionControlRefused`] for `BEGIN`, `COMMIT`,
    /// `ROLLBACK` or savepoint SQL (refused before it runs: use the modes);
    /// [`Error::Broken`] on a broken manager.
    ///
    /// # Example
    ///
    /// Django's doctest, first step: by default each save commits at once, so
    /// a function that saves and then fails keeps what it saved.
    ///
    /// ```
    /// use txmanager::TransactionManager;
    ///
    /// type BoxError = Box<dyn std::error::Error + Send + Sync>;
    ///
    /// fn create_a_reporter_then_fail(tm: &TransactionManager, first: &str, last: &str) -> Result<(), BoxError> {
    ///     tm.execute("INSERT INTO reporter (first_name, last_name) VALUES (?1, ?2)", (first, last))?;
    ///     Err("I meant to do that".into())
    /// }
    ///
    /// # fn main() -> Result<(), BoxError> {
    /// let tm = TransactionManager::open_in_memory()?;
    /// tm.execute("CREATE TABLE reporter (id INTEGER PRIMARY KEY, first_name TEXT, last_name TEXT, email TEXT)", [])?;
    ///
    /// let err = create_a_reporter_then_fail(&tm, "Alice", "Smith").unwrap_err();
    /// assert_eq!(err.to_string(), "I meant to do that");
    ///
    /// // The object created before the error still exists.
    /// let name: String = tm.query_row("SELECT first_name || ' ' || last_name FROM reporter", [], |r| r.get(0))?;
    /// assert_eq!(name, "Alice Smith");
    /// # Ok(())
    /// # }
    /// ```
    pub fn execute<P: Params>(&self, sql: &str, params: P) -> Result<usize, Error> {
        self.engine.run_statement(sql, |stmt| stmt.execute(params))
    }

    /// Runs several `;`-separated statements without parameters, in autocommit
    /// mode: each commits as it runs, so when one fails, those before it
    /// stay committed. Transaction control among them is refused before it
    /// runs ([`Error::TransactionControlRefused`]).
    ///
    /// # Errors
    ///
    /// As for [`execute`](Self::execute).
    ///
    /// # Example
    ///
    /// ```
    /// # fn main() -> Result<(), txmanager::Error> {
    /// let tm = txmanager::TransactionManager::open_in_memory()?;
    /// tm.execute_batch("CREATE TABLE a (x); CREATE TABLE b (y);")?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn execute_batch(&self, sql: &str) -> Result<(), Error> {
        self.engine.run_batch(sql)
    }

    /// Runs a query expected to return at least one row and maps the first.
    ///
    /// # Errors
    ///
    /// As for [`execute`](Self::execute); no row is
    /// `Error::Statement { source: rusqlite::Error::QueryReturnedNoRows, .. }`.
    ///
    /// # Example
    ///
    /// ```
    /// # fn main() -> Result<(), txmanager::Error> {
    /// let tm = txmanager::TransactionManager::open_in_memory()?;
    /// let two: i64 = tm.query_row("SELECT 1 + ?1", [1], |r| r.get(0))?;
    /// assert_eq!(two, 2);
    /// # Ok(())
    /// # }
    /// ```
    pub fn query_row<T, P, F>(&self, sql: &str, params: P, f: F) -> Result<T, Error>
    where
        P: Params,
        F: FnOnce(&Row<'_>) -> rusqlite::Result<T>,
    {
        self.engine
            .run_statement(sql, |stmt| stmt.query_row(params, f))
    }

    /// Prepares a statement through the connection's statement cache.
    ///
    /// # Errors
    ///
    /// [`Error::Statement`] if the SQL does not compile; [`Error::Broken`] on
    /// a broken manager.
    ///
    /// # Example
    ///
    /// ```
    /// # fn main() -> Result<(), txmanager::Error> {
    /// let tm = txmanager::TransactionManager::open_in_memory()?;
    /// tm.execute_batch("CREATE TABLE t (v); INSERT INTO t VALUES (1), (2), (3);")?;
    /// let mut stmt = tm.prepare("SELECT v FROM t ORDER BY v")?;
    /// let values: Vec<i64> = stmt.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
    /// assert_eq!(values, [1, 2, 3]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn prepare(&self, sql: &str) -> Result<CachedStatement<'_>, Error> {
        self.engine.prepare_statement(sql)
    }
}

impl<B: Backend> TransactionManager<B> {
    /// Runs `f` in autocommit mode: every statement commits as it runs, and a
    /// block that fails keeps the writes it made before failing. This is the
    /// same behaviour as running statements on the manager directly.
    ///
    /// Blocks opened inside it through the handle start real transactions.
    ///
    /// # Errors
    ///
    /// The closure's own error, unchanged. [`Error::TransactionOpenedUnderneath`]
    /// if the connection was inside a transaction txmanager did not open
    /// (it is rolled back and the closure does not run), and
    /// [`Error::Broken`] on a broken manager.
    ///
    /// # Example
    ///
    /// Django's doctest: "the autocommit decorator works exactly the same as
    /// the default behavior".
    ///
    /// ```
    /// use txmanager::TransactionManager;
    ///
    /// type BoxError = Box<dyn std::error::Error + Send + Sync>;
    ///
    /// # fn main() -> Result<(), BoxError> {
    /// let mut tm = TransactionManager::open_in_memory()?;
    /// tm.execute("CREATE TABLE reporter (id INTEGER PRIMARY KEY, first_name TEXT, last_name TEXT)", [])?;
    /// tm.execute("INSERT INTO reporter (first_name, last_name) VALUES ('Alice', 'Smith')", [])?;
    ///
    /// let result: Result<(), BoxError> = tm.autocommit(|tx| {
    ///     tx.execute("INSERT INTO reporter (first_name, last_name) VALUES (?1, ?2)", ("Ben", "Jones"))?;
    ///     Err("I meant to do that".into())
    /// });
    /// assert_eq!(result.unwrap_err().to_string(), "I meant to do that");
    ///
    /// // Same behaviour as before: Ben was committed before the failure.
    /// let names: Vec<String> = tm
    ///     .prepare("SELECT first_name || ' ' || last_name FROM reporter ORDER BY id")?
    ///     .query_map([], |r| r.get(0))?
    ///     .collect::<Result<_, _>>()?;
    /// assert_eq!(names, ["Alice Smith", "Ben Jones"]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn autocommit<T, E, F>(&mut self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut Transaction<'_, B>) -> Result<T, E>,
        E: From<Error>,
    {
        transaction::run_block(&mut self.engine, Mode::Autocommit, None, f)
    }

    /// Runs `f` in one transaction: `Ok` commits, `Err` rolls back and returns
    /// your error, and a panic rolls back and keeps unwinding. `on_commit`
    /// hooks run after the commit, in order.
    ///
    /// # Errors
    ///
    /// - the closure's own error, unchanged (the transaction was rolled back);
    /// - [`Error::StepFailed`] with [`Step::Begin`](crate::Step::Begin) if the
    ///   transaction could not start (the closure did not run);
    /// - [`Error::CommitFailed`] if `COMMIT` failed (the transaction was rolled back);
    /// - [`Error::TransactionClosedUnderneath`] if the transaction was ended
    ///   by something other than txmanager while the block ran;
    /// - [`Error::TransactionOpenedUnderneath`] if the connection was already
    ///   inside a transaction txmanager did not open;
    /// - [`Error::Broken`] on a broken manager (the closure did not run).
    ///
    /// If the rollback after a failure fails too, the first error is returned
    /// and the manager is marked broken.
    ///
    /// # Example
    ///
    /// Django's doctest: "the transaction is only committed if the function
    /// doesn't throw an exception".
    ///
    /// ```
    /// use txmanager::TransactionManager;
    ///
    /// type BoxError = Box<dyn std::error::Error + Send + Sync>;
    ///
    /// # fn main() -> Result<(), BoxError> {
    /// let mut tm = TransactionManager::open_in_memory()?;
    /// tm.execute("CREATE TABLE reporter (id INTEGER PRIMARY KEY, first_name TEXT, last_name TEXT)", [])?;
    /// tm.execute("INSERT INTO reporter (first_name, last_name) VALUES ('Alice', 'Smith'), ('Ben', 'Jones')", [])?;
    /// let names = |tm: &TransactionManager| -> Result<Vec<String>, txmanager::Error> {
    ///     Ok(tm.prepare("SELECT first_name || ' ' || last_name FROM reporter ORDER BY id")?
    ///         .query_map([], |r| r.get(0))?
    ///         .collect::<Result<_, _>>()?)
    /// };
    ///
    /// let result: Result<(), BoxError> = tm.commit_on_success(|tx| {
    ///     tx.execute("INSERT INTO reporter (first_name, last_name) VALUES (?1, ?2)", ("Carol", "Doe"))?;
    ///     Err("I meant to do that".into())
    /// });
    /// assert_eq!(result.unwrap_err().to_string(), "I meant to do that");
    /// // This time the object never got saved.
    /// assert_eq!(names(&tm)?, ["Alice Smith", "Ben Jones"]);
    ///
    /// // If there aren't any errors, the data will get saved.
    /// tm.commit_on_success(|tx| {
    ///     let id: i64 = tx.query_row("SELECT id FROM reporter WHERE first_name = 'Alice'", [], |r| r.get(0))?;
    ///     tx.execute("DELETE FROM reporter WHERE id = ?1", [id])?;
    ///     Ok::<_, txmanager::Error>(())
    /// })?;
    /// assert_eq!(names(&tm)?, ["Ben Jones"]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn commit_on_success<T, E, F>(&mut self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut Transaction<'_, B>) -> Result<T, E>,
        E: From<Error>,
    {
        transaction::run_block(&mut self.engine, Mode::CommitOnSuccess, None, f)
    }

    /// Runs `f` in a transaction that the closure manages itself with
    /// [`Transaction::commit`] and [`Transaction::rollback`], any number of
    /// times. If the block ends with uncommitted writes, they are rolled back
    /// and the call fails with [`Error::PendingCommitRollback`]. A block that
    /// only read and never committed ends fine.
    ///
    /// # Errors
    ///
    /// - [`Error::PendingCommitRollback`] if the block returned `Ok` with
    ///   uncommitted writes (they were rolled back);
    /// - the closure's own error, unchanged, if it returned `Err` (uncommitted
    ///   writes were rolled back). *Django differs here*: it replaced your
    ///   exception with its own `TransactionManagementError` when the block
    ///   was dirty, hiding the real cause; txmanager returns your error;
    /// - the errors listed on [`commit_on_success`](Self::commit_on_success)
    ///   for beginning the transaction and for a broken manager.
    ///
    /// # Example
    ///
    /// Django's doctest: "you can manually manage transactions if you really
    /// want to, but you have to remember to commit/rollback".
    ///
    /// ```
    /// use txmanager::{Error, TransactionManager};
    ///
    /// # fn main() -> Result<(), Error> {
    /// let mut tm = TransactionManager::open_in_memory()?;
    /// tm.execute("CREATE TABLE reporter (id INTEGER PRIMARY KEY, first_name TEXT, last_name TEXT)", [])?;
    /// tm.execute("INSERT INTO reporter (first_name, last_name) VALUES ('Ben', 'Jones')", [])?;
    ///
    /// tm.commit_manually(|tx| {
    ///     tx.execute("INSERT INTO reporter (first_name, last_name) VALUES ('Carol', 'Doe')", [])?;
    ///     tx.commit()
    /// })?;
    ///
    /// // If you forget, you get an error, and the write is rolled back.
    /// let err = tm
    ///     .commit_manually(|tx| {
    ///         tx.execute("INSERT INTO reporter (first_name, last_name) VALUES ('David', 'Davidson')", [])?;
    ///         Ok::<_, Error>(()) // oops, I forgot to commit/rollback!
    ///     })
    ///     .unwrap_err();
    /// assert!(err.to_string().starts_with("transaction managed block ended with pending COMMIT/ROLLBACK"));
    ///
    /// let names: Vec<String> = tm
    ///     .prepare("SELECT first_name || ' ' || last_name FROM reporter ORDER BY id")?
    ///     .query_map([], |r| r.get(0))?
    ///     .collect::<Result<_, _>>()?;
    /// assert_eq!(names, ["Ben Jones", "Carol Doe"]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn commit_manually<T, E, F>(&mut self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut Transaction<'_, B>) -> Result<T, E>,
        E: From<Error>,
    {
        transaction::run_block(&mut self.engine, Mode::CommitManually, None, f)
    }

    /// A test transaction: a [`commit_on_success`](Self::commit_on_success)
    /// block that always rolls back at its end, whatever the closure returns
    /// (diesel's `test_transaction`, the transaction around each Django
    /// `TestCase` test). Use it in your own tests to run code that commits
    /// against a real database and leave nothing behind. Nested blocks work
    /// inside it as usual (their "commit" releases a savepoint into it), and
    /// no `on_commit` hook queued in it ever runs. The closure's result is
    /// returned as it is.
    ///
    /// Nested in another block (through a handle's
    /// [`set_rollback`](Transaction::set_rollback)), the same effect is a
    /// savepoint rolled back at its end.
    ///
    /// # Errors
    ///
    /// The closure's own error, or as for
    /// [`commit_on_success`](Self::commit_on_success) when the block cannot
    /// begin or roll back. `set_rollback(false)` inside it is refused with
    /// [`Error::RollbackMarkRefused`].
    ///
    /// # Example
    ///
    /// ```
    /// # fn main() -> Result<(), txmanager::Error> {
    /// let mut tm = txmanager::TransactionManager::open_in_memory()?;
    /// tm.execute("CREATE TABLE t (x)", [])?;
    /// let seen = tm.test_transaction(|tx| {
    ///     tx.commit_on_success(|inner| inner.execute("INSERT INTO t VALUES (1)", []))?;
    ///     tx.on_commit(|| unreachable!("hooks never run in a test transaction"));
    ///     tx.query_row("SELECT count(*) FROM t", [], |r| r.get::<_, i64>(0))
    /// })?;
    /// assert_eq!(seen, 1);
    /// let n: i64 = tm.query_row("SELECT count(*) FROM t", [], |r| r.get(0))?;
    /// assert_eq!(n, 0);
    /// # Ok(())
    /// # }
    /// ```
    pub fn test_transaction<T, E, F>(&mut self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut Transaction<'_, B>) -> Result<T, E>,
        E: From<Error>,
    {
        transaction::run_test_block(&mut self.engine, f)
    }

    /// [`commit_on_success`](Self::commit_on_success), beginning with
    /// `options` instead of the manager's default: for example
    /// [`BeginMode::Deferred`] for a read-only block that should not
    /// wait for writers.
    ///
    /// # Errors
    ///
    /// As for [`commit_on_success`](Self::commit_on_success).
    ///
    /// # Example
    ///
    /// ```
    /// use txmanager::{BeginMode, TransactionManager};
    ///
    /// # fn main() -> Result<(), txmanager::Error> {
    /// let mut tm = TransactionManager::open_in_memory()?;
    /// let n: i64 = tm.commit_on_success_with(BeginMode::Deferred, |tx| {
    ///     tx.query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))
    /// })?;
    /// assert_eq!(n, 0);
    /// # Ok(())
    /// # }
    /// ```
    pub fn commit_on_success_with<T, E, F>(
        &mut self,
        options: B::BlockOptions,
        f: F,
    ) -> Result<T, E>
    where
        F: FnOnce(&mut Transaction<'_, B>) -> Result<T, E>,
        E: From<Error>,
    {
        transaction::run_block(&mut self.engine, Mode::CommitOnSuccess, Some(options), f)
    }

    /// [`commit_manually`](Self::commit_manually), beginning (and beginning
    /// again after each commit) with `options`.
    ///
    /// # Errors
    ///
    /// As for [`commit_manually`](Self::commit_manually).
    ///
    /// # Example
    ///
    /// ```
    /// use txmanager::{BeginMode, TransactionManager};
    ///
    /// # fn main() -> Result<(), txmanager::Error> {
    /// let mut tm = TransactionManager::open_in_memory()?;
    /// tm.commit_manually_with(BeginMode::Exclusive, |tx| {
    ///     tx.execute("CREATE TABLE t (x)", [])?;
    ///     tx.commit()
    /// })?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn commit_manually_with<T, E, F>(&mut self, options: B::BlockOptions, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut Transaction<'_, B>) -> Result<T, E>,
        E: From<Error>,
    {
        transaction::run_block(&mut self.engine, Mode::CommitManually, Some(options), f)
    }
}

impl TransactionManager<Sqlite> {
    /// Whether the connection is outside any transaction, as SQLite itself
    /// reports it. Between blocks this is always `true`.
    ///
    /// ```
    /// # fn main() -> Result<(), txmanager::Error> {
    /// let mut tm = txmanager::TransactionManager::open_in_memory()?;
    /// let inside = tm.commit_on_success(|_| Ok::<_, txmanager::Error>(()));
    /// assert!(inside.is_ok());
    /// assert!(tm.is_autocommit());
    /// # Ok(())
    /// # }
    /// ```
    pub fn is_autocommit(&self) -> bool {
        self.engine.conn.is_autocommit()
    }
}

impl<B: Backend> TransactionManager<B> {
    /// Calls `handler` with every version conflict this manager reports (a
    /// save, `save_fields`, delete, [`concurrency_check`](crate::concurrency_check)
    /// or [`get_version`](crate::Record::get_version) that finds another
    /// version, or none), just before its [`Error::RecordModified`] is
    /// returned: django-concurrency's `CONCURRENCY_CALLBACK`, for logs and
    /// metrics. It replaces any handler set before. Other managers, even on
    /// the same file, are not affected (set it on an
    /// [`Opener`](crate::Opener) to give every manager it opens one).
    ///
    /// The error is returned whatever the handler does: unlike
    /// django-concurrency's callback, a handler cannot let a stale write
    /// pass silently. To turn conflicts into your own error (an HTTP 409),
    /// match [`Error::conflict`] where your error type converts from
    /// [`Error`], as below. A panic in the handler propagates like a panic
    /// in your own code (inside a block, the block rolls back).
    ///
    /// # Example
    ///
    /// A web handler's error type maps conflicts to 409, and the handler
    /// counts them:
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use txmanager::{Conflict, Error, Record, TransactionManager};
    ///
    /// #[derive(Debug, Clone, Default, Record)]
    /// struct Page {
    ///     #[record(primary_key)]
    ///     id: Option<i64>,
    ///     #[record(version)]
    ///     version: Option<i64>,
    ///     body: String,
    /// }
    ///
    /// /// A web handler's error: conflicts become HTTP 409 with the facts.
    /// #[derive(Debug)]
    /// enum ApiError {
    ///     Conflict(Conflict),
    ///     Internal(Error),
    /// }
    ///
    /// impl ApiError {
    ///     fn status(&self) -> u16 {
    ///         match self {
    ///             ApiError::Conflict(_) => 409,
    ///             ApiError::Internal(_) => 500,
    ///         }
    ///     }
    /// }
    ///
    /// impl From<Error> for ApiError {
    ///     fn from(err: Error) -> Self {
    ///         match err.conflict() {
    ///             Some(conflict) => ApiError::Conflict(conflict),
    ///             None => ApiError::Internal(err),
    ///         }
    ///     }
    /// }
    ///
    /// fn put_page(tm: &mut TransactionManager, page: &mut Page) -> Result<(), ApiError> {
    ///     tm.commit_on_success(|tx| Ok(page.save(tx)?))
    /// }
    ///
    /// # fn main() -> Result<(), Error> {
    /// let mut tm = TransactionManager::open_in_memory()?;
    /// tm.execute("CREATE TABLE page (id INTEGER PRIMARY KEY, version INTEGER, body TEXT)", [])?;
    /// let conflicts = Arc::new(AtomicUsize::new(0));
    /// let counter = Arc::clone(&conflicts);
    /// tm.set_conflict_handler(move |c: &Conflict| {
    ///     counter.fetch_add(1, Ordering::Relaxed);
    ///     eprintln!("{c}");
    /// });
    ///
    /// let mut page = Page { body: "first".into(), ..Default::default() };
    /// page.save(&tm)?;
    /// let mut stale = page.clone();
    /// page.save(&tm)?;
    /// stale.body = "late".into();
    /// let err = put_page(&mut tm, &mut stale).unwrap_err();
    /// assert_eq!(err.status(), 409);
    /// assert_eq!(conflicts.load(Ordering::Relaxed), 1, "the handler saw it once");
    /// # Ok(())
    /// # }
    /// ```
    pub fn set_conflict_handler(&mut self, handler: impl Fn(&Conflict) + Send + Sync + 'static) {
        self.engine.conflict_handler = Some(Arc::new(handler));
    }

    /// Removes the handler set by
    /// [`set_conflict_handler`](Self::set_conflict_handler): conflicts are
    /// still returned as errors, and no longer reported to it.
    ///
    /// ```
    /// # let mut tm = txmanager::TransactionManager::open_in_memory()?;
    /// tm.set_conflict_handler(|_| unreachable!("cleared before any conflict"));
    /// tm.clear_conflict_handler();
    /// # Ok::<(), txmanager::Error>(())
    /// ```
    pub fn clear_conflict_handler(&mut self) {
        self.engine.conflict_handler = None;
    }
}

impl<B: Backend> TransactionManager<B> {
    /// Whether the manager is broken: a rollback failed, and it refuses all
    /// work until [`reset`](Self::reset) succeeds.
    ///
    /// ```
    /// # fn main() -> Result<(), txmanager::Error> {
    /// let tm = txmanager::TransactionManager::open_in_memory()?;
    /// assert!(!tm.is_broken());
    /// # Ok(())
    /// # }
    /// ```
    pub fn is_broken(&self) -> bool {
        self.engine.broken.get().is_some() || self.engine.connection_lost.get()
    }

    /// Brings a broken manager back: rolls back whatever transaction the
    /// connection still holds, forgets pending hooks, and accepts work again.
    ///
    /// # Errors
    ///
    /// [`Error::StepFailed`] with [`Step::Rollback`](crate::Step::Rollback) if
    /// the rollback fails again; the manager stays broken, and the cure is
    /// to drop it and open a new one.
    ///
    /// # Example
    ///
    /// ```
    /// # fn main() -> Result<(), txmanager::Error> {
    /// let mut tm = txmanager::TransactionManager::open_in_memory()?;
    /// tm.reset()?; // harmless on a healthy manager
    /// assert!(!tm.is_broken());
    /// # Ok(())
    /// # }
    /// ```
    pub fn reset(&mut self) -> Result<(), Error> {
        self.engine.reset_engine()?;
        B::reset_connection(&mut self.engine.conn)?;
        self.engine.broken.take();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    //! Failed rollback steps. Users cannot reach them through the public API
    //! any more (the gate refuses their savepoint SQL), so these tests
    //! destroy a savepoint through the gate itself, as a failing disk would.
    use super::*;
    use crate::Step;

    const INSERT: &str = "INSERT INTO t (x) VALUES (?1)";

    fn manager() -> (tempfile::TempDir, std::path::PathBuf, TransactionManager) {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("t.db");
        let tm = TransactionManager::open(&path).expect("open");
        tm.execute("CREATE TABLE t (x)", []).expect("create table");
        (dir, path, tm)
    }

    fn committed(path: &std::path::Path) -> i64 {
        rusqlite::Connection::open(path)
            .and_then(|c| c.query_row("SELECT count(*) FROM t", [], |r| r.get(0)))
            .expect("count committed rows")
    }

    /// Releases the first nested block's savepoint behind the engine's back.
    fn destroy_savepoint(tx: &Transaction<'_>) {
        let tm = tx.engine_ref();
        tm.conn
            .gate
            .run(&tm.conn, "RELEASE txm_1")
            .expect("release the savepoint");
    }

    #[test]
    fn a_failed_savepoint_rollback_breaks_the_manager_until_reset() {
        let (_dir, path, mut tm) = manager();
        let result: Result<(), Error> = tm.commit_on_success(|tx| {
            tx.execute(INSERT, [1])?;
            let inner: Result<(), Error> = tx.commit_on_success(|inner| {
                destroy_savepoint(inner);
                Err(Error::PendingCommitRollback)
            });
            assert!(
                matches!(inner, Err(Error::PendingCommitRollback)),
                "the first error wins: {inner:?}"
            );
            let refused = tx.execute(INSERT, [2]).unwrap_err();
            assert!(matches!(refused, Error::Broken { .. }), "{refused:?}");
            Ok(())
        });
        match result {
            Err(Error::Broken { reason, source }) => {
                assert!(
                    source.is_some_and(|s| s.sqlite_error_code().is_some()),
                    "the broken state keeps SQLite's error as its source"
                );
                assert!(reason.contains("ROLLBACK TO SAVEPOINT failed"), "{reason}");
            }
            other => panic!("expected a broken manager, got {other:?}"),
        }
        assert_eq!(committed(&path), 0, "a broken block must never commit");
        assert!(tm.is_broken());
        let refused = tm.commit_on_success(|_| Ok::<_, Error>(())).unwrap_err();
        assert!(matches!(refused, Error::Broken { .. }));
        assert!(matches!(tm.execute(INSERT, [3]), Err(Error::Broken { .. })));

        tm.reset().unwrap();
        assert!(!tm.is_broken());
        assert!(tm.is_autocommit());
        tm.commit_on_success(|tx| tx.execute(INSERT, [4])).unwrap();
        assert_eq!(committed(&path), 1);
    }

    #[test]
    fn a_failed_release_is_reported_as_the_release_step() {
        let (_dir, _path, mut tm) = manager();
        let err = tm
            .commit_on_success(|tx| {
                tx.commit_on_success(|inner| {
                    destroy_savepoint(inner);
                    Ok::<_, Error>(())
                })
            })
            .unwrap_err();
        // The inner block's RELEASE fails first; its error is what the outer returned.
        assert_eq!(err.step(), Some(Step::ReleaseSavepoint), "{err:?}");
        assert!(tm.is_broken());
        tm.reset().unwrap();
        assert!(tm.is_autocommit());
    }
}
