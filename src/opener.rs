//! [`Opener`]: a cheap, shareable handle that opens managers on one database
//! file with one set of settings, for worker threads.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use rusqlite::Connection;

use crate::conflict::ConflictHandler;
use crate::{Conflict, Error, Settings, TransactionManager};

/// A closure run on every connection an [`Opener`] opens.
type InitHook = dyn Fn(&mut Connection) -> rusqlite::Result<()> + Send + Sync;

/// Opens [`TransactionManager`]s on one database file, all with the same
/// [`Settings`]. It is `Clone + Send + Sync` and cloning it is cheap, so hand
/// one to each worker thread and let each open its own manager (a manager,
/// like a connection, is used by one thread at a time).
///
/// For files the settings are applied to every connection: WAL journal mode,
/// the busy timeout, `synchronous`, and `foreign_keys`; an init hook
/// ([`with_init`](Self::with_init)) can add pragmas, functions and
/// extensions.
///
/// A private in-memory database (`:memory:`, an empty path, or a
/// `mode=memory` URI without `cache=shared`) is refused: each manager would
/// get its own empty database. Use a file, or a shared in-memory URI such as
/// `file:app?mode=memory&cache=shared` (which lives while at least one of
/// its connections is open).
///
/// # Example
///
/// ```
/// use std::thread;
/// use txmanager::{Error, Opener, Settings};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = tempfile::tempdir()?;
/// let opener = Opener::new(dir.path().join("app.db")).with_settings(Settings::default());
/// opener.open()?.execute("CREATE TABLE hit (n INTEGER)", [])?;
///
/// thread::scope(|s| {
///     for _ in 0..4 {
///         let opener = opener.clone();
///         s.spawn(move || -> Result<(), Error> {
///             let mut tm = opener.open()?;
///             tm.commit_on_success(|tx| tx.execute("INSERT INTO hit VALUES (1)", []).map(drop))
///         });
///     }
/// });
/// let hits: i64 = opener.open()?.query_row("SELECT count(*) FROM hit", [], |r| r.get(0))?;
/// assert_eq!(hits, 4);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Opener {
    path: Arc<Path>,
    settings: Arc<Settings>,
    init: Option<Arc<InitHook>>,
    conflict_handler: Option<ConflictHandler>,
}

impl fmt::Debug for Opener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Opener")
            .field("path", &self.path)
            .field("settings", &self.settings)
            .field("init", &self.init.as_ref().map(|_| "Fn(&mut Connection)"))
            .field(
                "conflict_handler",
                &self.conflict_handler.as_ref().map(|_| "Fn(&Conflict)"),
            )
            .finish()
    }
}

impl Opener {
    /// An opener for the database file at `path`, with the default settings.
    ///
    /// ```
    /// let opener = txmanager::Opener::new("app.db");
    /// assert_eq!(opener.path(), std::path::Path::new("app.db"));
    /// ```
    pub fn new(path: impl AsRef<Path>) -> Self {
        Opener {
            path: Arc::from(path.as_ref()),
            settings: Arc::new(Settings::default()),
            init: None,
            conflict_handler: None,
        }
    }

    /// Uses `settings` for every manager this opener opens.
    ///
    /// ```
    /// use std::time::Duration;
    /// use txmanager::{Opener, Settings};
    /// let opener = Opener::new("app.db").with_settings(Settings::default().with_busy_timeout(Duration::from_secs(1)));
    /// assert_eq!(opener.settings().busy_timeout(), Duration::from_secs(1));
    /// ```
    #[must_use]
    pub fn with_settings(self, settings: Settings) -> Self {
        Opener {
            settings: Arc::new(settings),
            ..self
        }
    }

    /// Runs `init` on every new connection, first, right after it opens and
    /// before the [`Settings`] are applied (so SQLCipher's `PRAGMA key` can
    /// come first): pragmas, user functions, extensions. The settings are
    /// applied after it, so change those through [`Settings`].
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let dir = tempfile::tempdir()?;
    /// let opener = txmanager::Opener::new(dir.path().join("app.db"))
    ///     .with_init(|conn| conn.pragma_update(None, "cache_size", -16_000));
    /// let tm = opener.open()?;
    /// assert_eq!(tm.query_row("PRAGMA cache_size", [], |r| r.get::<_, i64>(0))?, -16_000);
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn with_init<F>(self, init: F) -> Self
    where
        F: Fn(&mut Connection) -> rusqlite::Result<()> + Send + Sync + 'static,
    {
        Opener {
            init: Some(Arc::new(init)),
            ..self
        }
    }

    /// Gives every manager this opener opens `handler` as its
    /// [conflict handler](TransactionManager::set_conflict_handler), shared
    /// by all of them: one place to log or count the conflicts of every
    /// worker thread or pooled connection.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let conflicts = Arc::new(AtomicUsize::new(0));
    /// let counter = Arc::clone(&conflicts);
    /// let dir = tempfile::tempdir()?;
    /// let opener = txmanager::Opener::new(dir.path().join("app.db"))
    ///     .with_conflict_handler(move |_| {
    ///         counter.fetch_add(1, Ordering::Relaxed);
    ///     });
    /// let tm = opener.open()?;
    /// # drop(tm);
    /// assert_eq!(conflicts.load(Ordering::Relaxed), 0);
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn with_conflict_handler<F>(self, handler: F) -> Self
    where
        F: Fn(&Conflict) + Send + Sync + 'static,
    {
        Opener {
            conflict_handler: Some(Arc::new(handler)),
            ..self
        }
    }

    /// The database file.
    ///
    /// ```
    /// assert!(txmanager::Opener::new("a.db").path().ends_with("a.db"));
    /// ```
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The settings applied to each manager.
    ///
    /// ```
    /// assert!(txmanager::Opener::new("a.db").settings().wal());
    /// ```
    #[must_use]
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Opens a new manager on the file, with the settings applied.
    ///
    /// # Errors
    ///
    /// [`Error::PrivateMemoryDatabase`] if the path names a private
    /// in-memory database; [`Error::Sqlite`] if the file cannot be opened;
    /// [`Error::Configure`] naming the setting, or `"init hook"`, that
    /// failed.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let dir = tempfile::tempdir()?;
    /// let tm = txmanager::Opener::new(dir.path().join("a.db")).open()?;
    /// assert!(tm.is_autocommit());
    /// # Ok(())
    /// # }
    /// ```
    pub fn open(&self) -> Result<TransactionManager, Error> {
        if is_private_memory(&self.path) {
            return Err(Error::PrivateMemoryDatabase {
                path: self.path.to_string_lossy().into_owned(),
            });
        }
        let mut conn = Connection::open(&self.path)?;
        if let Some(init) = &self.init {
            init(&mut conn).map_err(|source| Error::Configure {
                setting: "init hook",
                source,
            })?;
        }
        let mut tm = TransactionManager::new_with(conn, &self.settings)?;
        tm.engine
            .conflict_handler
            .clone_from(&self.conflict_handler);
        Ok(tm)
    }
}

/// Whether `path` names an in-memory database private to one connection.
fn is_private_memory(path: &Path) -> bool {
    let path = path.to_string_lossy();
    let Some(uri) = path.strip_prefix("file:") else {
        return path.is_empty() || path == ":memory:";
    };
    let (name, query) = uri.split_once('?').unwrap_or((uri, ""));
    let parameters: Vec<&str> = query.split('&').collect();
    let in_memory = name.is_empty() || name == ":memory:" || parameters.contains(&"mode=memory");
    in_memory && !parameters.contains(&"cache=shared")
}

#[cfg(test)]
mod tests {
    use super::is_private_memory;
    use std::path::Path;

    #[test]
    fn private_memory_paths_are_told_apart_from_files_and_shared_memory() {
        for private in [
            ":memory:",
            "",
            "file::memory:",
            "file:x?mode=memory",
            "file:",
        ] {
            assert!(is_private_memory(Path::new(private)), "{private}");
        }
        for shared in [
            "app.db",
            "file:app.db",
            "file:x?mode=memory&cache=shared",
            "file::memory:?cache=shared",
        ] {
            assert!(!is_private_memory(Path::new(shared)), "{shared}");
        }
    }
}
