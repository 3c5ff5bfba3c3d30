//! [`Opener`]: a cheap, shareable handle that opens managers on one database
//! file with one set of settings, for worker threads.

use std::path::Path;
use std::sync::Arc;

use crate::{Error, Settings, TransactionManager};

/// Opens [`TransactionManager`]s on one database file, all with the same
/// [`Settings`]. It is `Clone + Send + Sync` and cloning it is cheap, so hand
/// one to each worker thread and let each open its own manager (a manager,
/// like a connection, is used by one thread at a time).
///
/// For files the settings are applied to every connection: WAL journal mode,
/// the busy timeout, `synchronous`, and `foreign_keys`.
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
#[derive(Debug, Clone)]
pub struct Opener {
    path: Arc<Path>,
    settings: Arc<Settings>,
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
            path: self.path,
            settings: Arc::new(settings),
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
    /// [`Error::Sqlite`] if the file cannot be opened or configured.
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
        TransactionManager::open_with(&self.path, &self.settings)
    }
}
