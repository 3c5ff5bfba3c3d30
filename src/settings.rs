//! [`Settings`]: how [`TransactionManager::open_with`] sets up a connection,
//! and [`BeginMode`]: how an outermost block begins its transaction.

use std::time::Duration;

/// The prepared statement cache of a connection txmanager opens holds the
/// application's statements (rusqlite's default of 16, or
/// [`Settings::with_statement_cache_capacity`]) plus room for txmanager's
/// own, so caching them does not push the application's statements out.
/// rusqlite's default statement cache capacity: the room txmanager assumes
/// for the application's statements unless told otherwise.
pub(crate) const APP_STATEMENTS: usize = 16;

/// How an outermost block begins its transaction.
///
/// The default is [`BeginMode::Immediate`]: the block takes the
/// database's write lock at `BEGIN`, waiting up to the busy timeout for it.
/// With `Deferred`, a block that reads first and writes later must *upgrade*
/// its lock mid-transaction; if another connection wrote in between, SQLite
/// fails that upgrade with `SQLITE_BUSY` at once, without waiting, and the
/// busy timeout cannot help (the pitfall reported as rusqlite#767). Use
/// `Deferred` only for read-only blocks that must not wait for writers.
///
/// # Example
///
/// ```
/// use txmanager::{Settings, BeginMode, TransactionManager};
///
/// # fn main() -> Result<(), txmanager::Error> {
/// let settings = Settings::default().with_begin_mode(BeginMode::Deferred);
/// let mut tm = TransactionManager::open_in_memory_with(&settings)?;
/// let n: i64 = tm.commit_on_success(|tx| tx.query_row("SELECT 1", [], |row| row.get(0)))?;
/// assert_eq!(n, 1);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum BeginMode {
    /// `BEGIN DEFERRED`: take locks when the first statement needs them.
    Deferred,
    /// `BEGIN IMMEDIATE`: take the write lock at once (the default).
    #[default]
    Immediate,
    /// `BEGIN EXCLUSIVE`: take the write lock and, outside WAL mode, keep
    /// readers out too.
    Exclusive,
}

/// SQLite's `synchronous` setting for a database file.
///
/// # Example
///
/// ```
/// use txmanager::{Settings, Synchronous};
///
/// let settings = Settings::default().with_synchronous(Synchronous::Full);
/// assert_eq!(settings.synchronous(), Synchronous::Full);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Synchronous {
    /// `OFF`: fastest, and a power loss may corrupt the database.
    Off,
    /// `NORMAL`: with WAL, a power loss may lose the last commits but never
    /// corrupts the database (the default).
    #[default]
    Normal,
    /// `FULL`: every commit is durable once it returns.
    Full,
}

/// Connection settings applied by [`TransactionManager::open_with`] and
/// [`TransactionManager::open_in_memory_with`].
///
/// The defaults, which [`TransactionManager::open`] applies:
///
/// | setting | default | applies to |
/// |---|---|---|
/// | busy timeout | 5 s | every connection |
/// | `PRAGMA foreign_keys` | `ON` | every connection |
/// | `PRAGMA journal_mode` | `WAL` | files only (`:memory:` cannot use WAL) |
/// | `PRAGMA synchronous` | `NORMAL` | files only |
/// | begin mode | [`BeginMode::Immediate`] | every outermost block |
/// | statement cache | 16 of your statements, plus room for txmanager's own | every connection |
///
/// [`TransactionManager::open`]: crate::TransactionManager::open
/// [`TransactionManager::open_with`]: crate::TransactionManager::open_with
/// [`TransactionManager::open_in_memory_with`]: crate::TransactionManager::open_in_memory_with
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use txmanager::{Settings, TransactionManager};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = tempfile::tempdir()?;
/// let settings = Settings::default().with_busy_timeout(Duration::from_secs(30));
/// let tm = TransactionManager::open_with(dir.path().join("app.db"), &settings)?;
/// let mode: String = tm.query_row("PRAGMA journal_mode", [], |row| row.get(0))?;
/// assert_eq!(mode, "wal");
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Settings {
    busy_timeout: Duration,
    foreign_keys: bool,
    wal: bool,
    synchronous: Synchronous,
    begin_mode: BeginMode,
    statement_cache: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            busy_timeout: Duration::from_secs(5),
            foreign_keys: true,
            wal: true,
            synchronous: Synchronous::Normal,
            begin_mode: BeginMode::Immediate,
            statement_cache: APP_STATEMENTS,
        }
    }
}

impl Settings {
    /// How long a statement waits for a lock held by another connection
    /// before failing with `SQLITE_BUSY`.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let s = txmanager::Settings::default().with_busy_timeout(Duration::from_millis(250));
    /// assert_eq!(s.busy_timeout(), Duration::from_millis(250));
    /// ```
    #[must_use]
    pub fn with_busy_timeout(mut self, timeout: Duration) -> Self {
        self.busy_timeout = timeout;
        self
    }

    /// Whether foreign-key constraints are enforced.
    ///
    /// ```
    /// let s = txmanager::Settings::default().with_foreign_keys(false);
    /// assert!(!s.foreign_keys());
    /// ```
    #[must_use]
    pub fn with_foreign_keys(mut self, on: bool) -> Self {
        self.foreign_keys = on;
        self
    }

    /// Whether a database file is switched to write-ahead logging.
    ///
    /// ```
    /// let s = txmanager::Settings::default().with_wal(false);
    /// assert!(!s.wal());
    /// ```
    #[must_use]
    pub fn with_wal(mut self, on: bool) -> Self {
        self.wal = on;
        self
    }

    /// The `synchronous` level for a database file.
    ///
    /// ```
    /// use txmanager::{Settings, Synchronous};
    /// let s = Settings::default().with_synchronous(Synchronous::Off);
    /// assert_eq!(s.synchronous(), Synchronous::Off);
    /// ```
    #[must_use]
    pub fn with_synchronous(mut self, level: Synchronous) -> Self {
        self.synchronous = level;
        self
    }

    /// How outermost blocks begin their transaction.
    ///
    /// ```
    /// use txmanager::{Settings, BeginMode};
    /// let s = Settings::default().with_begin_mode(BeginMode::Exclusive);
    /// assert_eq!(s.begin_mode(), BeginMode::Exclusive);
    /// ```
    #[must_use]
    pub fn with_begin_mode(mut self, mode: BeginMode) -> Self {
        self.begin_mode = mode;
        self
    }

    /// The busy timeout.
    ///
    /// ```
    /// # use std::time::Duration;
    /// assert_eq!(txmanager::Settings::default().busy_timeout(), Duration::from_secs(5));
    /// ```
    #[must_use]
    pub fn busy_timeout(&self) -> Duration {
        self.busy_timeout
    }

    /// Whether foreign keys are enforced.
    ///
    /// ```
    /// assert!(txmanager::Settings::default().foreign_keys());
    /// ```
    #[must_use]
    pub fn foreign_keys(&self) -> bool {
        self.foreign_keys
    }

    /// Whether files use write-ahead logging.
    ///
    /// ```
    /// assert!(txmanager::Settings::default().wal());
    /// ```
    #[must_use]
    pub fn wal(&self) -> bool {
        self.wal
    }

    /// The `synchronous` level for files.
    ///
    /// ```
    /// use txmanager::{Settings, Synchronous};
    /// assert_eq!(Settings::default().synchronous(), Synchronous::Normal);
    /// ```
    #[must_use]
    pub fn synchronous(&self) -> Synchronous {
        self.synchronous
    }

    /// How outermost blocks begin.
    ///
    /// ```
    /// use txmanager::{Settings, BeginMode};
    /// assert_eq!(Settings::default().begin_mode(), BeginMode::Immediate);
    /// ```
    #[must_use]
    pub fn begin_mode(&self) -> BeginMode {
        self.begin_mode
    }

    /// How many of your prepared statements (`prepare_cached`, and the
    /// statements txmanager runs for you) the connection's statement cache
    /// keeps. txmanager adds room for its own control statements on top,
    /// and only ever grows that room as blocks nest deeper: it never
    /// lowers what you asked for. Default: 16, rusqlite's default.
    ///
    /// rusqlite cannot say what capacity a connection's cache has, so set
    /// it here (or with
    /// [`TransactionManager::set_statement_cache_capacity`](crate::TransactionManager::set_statement_cache_capacity)),
    /// not with `set_prepared_statement_cache_capacity` on the connection:
    /// txmanager would not see that one.
    ///
    /// ```
    /// let s = txmanager::Settings::default().with_statement_cache_capacity(200);
    /// assert_eq!(s.statement_cache_capacity(), 200);
    /// ```
    #[must_use]
    pub fn with_statement_cache_capacity(mut self, statements: usize) -> Self {
        self.statement_cache = statements;
        self
    }

    /// How many of your prepared statements the statement cache keeps.
    ///
    /// ```
    /// assert_eq!(txmanager::Settings::default().statement_cache_capacity(), 16);
    /// ```
    #[must_use]
    pub fn statement_cache_capacity(&self) -> usize {
        self.statement_cache
    }
}
