//! Connection pooling with r2d2 (feature `r2d2`): an [`Opener`] is an
//! [`r2d2::ManageConnection`], so `r2d2::Pool::new(opener)` pools managers
//! opened with the opener's settings and init hook.

use crate::{Error, Opener, TransactionManager};

/// Pools [`TransactionManager`]s: each new one is [`Opener::open`]ed (same
/// settings, same init hook). The health check refuses a broken manager and
/// runs `SELECT 1` on the others; a manager that broke while checked out is
/// not returned to the pool.
///
/// # Example
///
/// ```
/// use std::thread;
/// use txmanager::{Error, Opener};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = tempfile::tempdir()?;
/// let pool = r2d2::Pool::builder()
///     .max_size(2)
///     .build(Opener::new(dir.path().join("app.db")))?;
/// pool.get()?.execute("CREATE TABLE hit (n INTEGER)", [])?;
/// thread::scope(|s| {
///     for _ in 0..4 {
///         let pool = pool.clone();
///         s.spawn(move || -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
///             let mut tm = pool.get()?;
///             tm.commit_on_success(|tx| tx.execute("INSERT INTO hit VALUES (1)", []).map(drop))?;
///             Ok(())
///         });
///     }
/// });
/// let hits: i64 = pool.get()?.query_row("SELECT count(*) FROM hit", [], |r| r.get(0))?;
/// assert_eq!(hits, 4);
/// # Ok(())
/// # }
/// ```
impl r2d2::ManageConnection for Opener {
    type Connection = TransactionManager;
    type Error = Error;

    fn connect(&self) -> Result<TransactionManager, Error> {
        self.open()
    }

    fn is_valid(&self, tm: &mut TransactionManager) -> Result<(), Error> {
        if let Some(breakage) = tm.engine.broken.get() {
            return Err(breakage.error());
        }
        tm.query_row("SELECT 1", [], |_| Ok(()))
    }

    fn has_broken(&self, tm: &mut TransactionManager) -> bool {
        tm.is_broken() || !tm.is_autocommit()
    }
}
