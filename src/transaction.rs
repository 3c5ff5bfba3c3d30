//! [`Transaction`]: the handle a block's closure receives.

use std::fmt;

use rusqlite::{CachedStatement, Params, Row};

use crate::backend::Backend;
use crate::block::Engine;
use crate::sqlite::Sqlite;
use crate::{Error, Mode};

/// The handle passed to a block's closure: runs statements in the block's
/// mode, commits and rolls back manual blocks, queues `on_commit` hooks, and
/// opens nested blocks.
///
/// It borrows the manager for the block's duration and cannot outlive it.
/// While a nested block runs, only the nested block's handle can be used.
///
/// # Example
///
/// ```
/// use txmanager::{Error, TransactionManager};
///
/// # fn main() -> Result<(), Error> {
/// let mut tm = TransactionManager::open_in_memory()?;
/// tm.execute("CREATE TABLE t (x)", [])?;
/// tm.commit_on_success(|tx| {
///     tx.execute("INSERT INTO t VALUES (1)", [])?;
///     // A nested block is a savepoint: its failure undoes only its own work.
///     let _ = tx.commit_on_success(|inner| {
///         inner.execute("INSERT INTO t VALUES (2)", [])?;
///         Err::<(), _>(Error::PendingCommitRollback) // any error
///     });
///     Ok::<_, Error>(())
/// })?;
/// let n: i64 = tm.query_row("SELECT count(*) FROM t", [], |r| r.get(0))?;
/// assert_eq!(n, 1);
/// # Ok(())
/// # }
/// ```
pub struct Transaction<'m, B: Backend = Sqlite> {
    tm: &'m mut Engine<B>,
}

impl<B: Backend> fmt::Debug for Transaction<'_, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transaction")
            .field("mode", &self.mode())
            .field("depth", &self.depth())
            .field("dirty", &self.is_dirty())
            .finish()
    }
}

impl<'m, B: Backend> Transaction<'m, B> {
    pub(crate) fn new(tm: &'m mut Engine<B>) -> Self {
        Transaction { tm }
    }

    pub(crate) fn engine_mut(&mut self) -> &mut Engine<B> {
        self.tm
    }

    pub(crate) fn engine_ref(&self) -> &Engine<B> {
        self.tm
    }

    /// The mode of this handle's block.
    ///
    /// ```
    /// use txmanager::{Mode, TransactionManager};
    /// # fn main() -> Result<(), txmanager::Error> {
    /// let mut tm = TransactionManager::open_in_memory()?;
    /// let mode = tm.commit_manually(|tx| Ok::<_, txmanager::Error>(tx.mode()))?;
    /// assert_eq!(mode, Mode::CommitManually);
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn mode(&self) -> Mode {
        self.tm.frames.last().map_or(Mode::Autocommit, |f| f.mode)
    }

    /// How deeply this block is nested: 1 for an outermost block.
    ///
    /// ```
    /// # fn main() -> Result<(), txmanager::Error> {
    /// let mut tm = txmanager::TransactionManager::open_in_memory()?;
    /// let depth = tm.commit_on_success(|tx| tx.commit_on_success(|inner| Ok::<_, txmanager::Error>(inner.depth())))?;
    /// assert_eq!(depth, 2);
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn depth(&self) -> usize {
        self.tm.frames.len()
    }

    /// Whether this block has written since it began or last committed or
    /// rolled back: SQLite reported a changed row (even from a statement
    /// that then failed), a statement that is not read-only completed (DDL
    /// included) or was prepared, or a nested block released its writes into
    /// this one. Read-only work, failed or not, leaves it clean.
    ///
    /// ```
    /// # fn main() -> Result<(), txmanager::Error> {
    /// let mut tm = txmanager::TransactionManager::open_in_memory()?;
    /// tm.commit_manually(|tx| {
    ///     tx.query_row("SELECT 1", [], |_| Ok(()))?;
    ///     assert!(!tx.is_dirty());
    ///     tx.execute("CREATE TABLE t (x)", [])?;
    ///     assert!(tx.is_dirty());
    ///     tx.commit()?;
    ///     assert!(!tx.is_dirty());
    ///     Ok::<_, txmanager::Error>(())
    /// })?;
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn is_dirty(&self) -> bool {
        self.tm.top_is_dirty()
    }
}

impl<'m> Transaction<'m, Sqlite> {
    /// Runs one statement in this block. Returns the number of rows changed.
    ///
    /// # Errors
    ///
    /// [`Error::Statement`] with the SQL if SQLite rejects it;
    /// [`Error::TransactionControlRefused`] for `BEGIN`, `COMMIT`, `END`,
    /// `ROLLBACK` or savepoint SQL (refused before it runs; the block's
    /// transaction is as it was); [`Error::TransactionClosedUnderneath`] if
    /// SQLite rolled back on its own (the block is stopped).
    ///
    /// # Example
    ///
    /// ```
    /// # fn main() -> Result<(), txmanager::Error> {
    /// let mut tm = txmanager::TransactionManager::open_in_memory()?;
    /// tm.execute("CREATE TABLE t (x)", [])?;
    /// let n = tm.commit_on_success(|tx| tx.execute("INSERT INTO t VALUES (?1), (?2)", [1, 2]))?;
    /// assert_eq!(n, 2);
    /// # Ok(())
    /// # }
    /// ```
    pub fn execute<P: Params>(&self, sql: &str, params: P) -> Result<usize, Error> {
        self.tm.run_statement(sql, |stmt| stmt.execute(params))
    }

    /// Runs several `;`-separated statements without parameters, one by
    /// one. The block is dirty afterwards if any of them wrote, even when a
    /// later one failed (its earlier statements' work stays in the block
    /// until it commits or rolls back); a batch of reads leaves it clean.
    ///
    /// # Errors
    ///
    /// As for [`execute`](Self::execute): the first statement that fails
    /// stops the batch; the error carries the batch and what SQLite said.
    ///
    /// # Example
    ///
    /// ```
    /// # fn main() -> Result<(), txmanager::Error> {
    /// let mut tm = txmanager::TransactionManager::open_in_memory()?;
    /// tm.commit_on_success(|tx| tx.execute_batch("CREATE TABLE a (x); CREATE TABLE b (y);"))?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn execute_batch(&self, sql: &str) -> Result<(), Error> {
        self.tm.run_batch(sql)
    }

    /// Runs a query and maps its first row.
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
    /// let mut tm = txmanager::TransactionManager::open_in_memory()?;
    /// let n: i64 = tm.commit_on_success(|tx| tx.query_row("SELECT 40 + ?1", [2], |r| r.get(0)))?;
    /// assert_eq!(n, 42);
    /// # Ok(())
    /// # }
    /// ```
    pub fn query_row<T, P, F>(&self, sql: &str, params: P, f: F) -> Result<T, Error>
    where
        P: Params,
        F: FnOnce(&Row<'_>) -> rusqlite::Result<T>,
    {
        self.tm.run_statement(sql, |stmt| stmt.query_row(params, f))
    }

    /// Prepares a statement through the connection's statement cache, for
    /// queries over many rows or a statement run many times.
    ///
    /// txmanager cannot see when a prepared statement runs, so preparing one
    /// that is not read-only marks the block dirty at once. The statement
    /// borrows the handle, so it cannot be kept past a `commit()`, a
    /// `rollback()` or a nested block, where the dirty mark would go stale:
    ///
    /// ```compile_fail
    /// # fn main() -> Result<(), txmanager::Error> {
    /// # let mut tm = txmanager::TransactionManager::open_in_memory()?;
    /// tm.commit_manually(|tx| {
    ///     let mut insert = tx.prepare("INSERT INTO t VALUES (1)")?;
    ///     tx.commit()?;
    ///     insert.execute([])?; // would write after the commit, unseen
    ///     Ok::<_, txmanager::Error>(())
    /// })?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Statement`] if the SQL does not compile.
    ///
    /// # Example
    ///
    /// ```
    /// # fn main() -> Result<(), txmanager::Error> {
    /// let mut tm = txmanager::TransactionManager::open_in_memory()?;
    /// tm.execute("CREATE TABLE t (x)", [])?;
    /// tm.commit_on_success(|tx| {
    ///     let mut insert = tx.prepare("INSERT INTO t VALUES (?1)")?;
    ///     for x in 0..10 {
    ///         insert.execute([x])?;
    ///     }
    ///     Ok::<_, txmanager::Error>(())
    /// })?;
    /// let n: i64 = tm.query_row("SELECT count(*) FROM t", [], |r| r.get(0))?;
    /// assert_eq!(n, 10);
    /// # Ok(())
    /// # }
    /// ```
    pub fn prepare(&self, sql: &str) -> Result<CachedStatement<'_>, Error> {
        self.tm.prepare_statement(sql)
    }

    /// The rowid of the last row inserted through this connection.
    ///
    /// ```
    /// # fn main() -> Result<(), txmanager::Error> {
    /// let mut tm = txmanager::TransactionManager::open_in_memory()?;
    /// tm.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, x)", [])?;
    /// let id = tm.commit_on_success(|tx| {
    ///     tx.execute("INSERT INTO t (x) VALUES ('a')", [])?;
    ///     Ok::<_, txmanager::Error>(tx.last_insert_rowid())
    /// })?;
    /// assert_eq!(id, 1);
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn last_insert_rowid(&self) -> i64 {
        self.tm.conn.last_insert_rowid()
    }
}

impl<'m, B: Backend> Transaction<'m, B> {
    /// Commits a manual block's work so far. In an outermost block this is a
    /// real `COMMIT`, after which queued `on_commit` hooks run; the block goes
    /// on, and its next statement begins a new transaction. In a nested block
    /// it releases the work into the enclosing transaction (which still
    /// decides), and starts a fresh savepoint.
    ///
    /// # Errors
    ///
    /// - [`Error::NotInManualMode`] outside a `commit_manually` block; the
    ///   transaction is left as it was;
    /// - [`Error::CommitFailed`] if `COMMIT` failed (the work was rolled back);
    /// - [`Error::StepFailed`] if a nested block's savepoint step failed (the
    ///   manager is then broken).
    ///
    /// # Example
    ///
    /// ```
    /// # fn main() -> Result<(), txmanager::Error> {
    /// let mut tm = txmanager::TransactionManager::open_in_memory()?;
    /// tm.execute("CREATE TABLE t (x)", [])?;
    /// tm.commit_manually(|tx| {
    ///     tx.execute("INSERT INTO t VALUES (1)", [])?;
    ///     tx.commit()?; // 1 is committed
    ///     tx.execute("INSERT INTO t VALUES (2)", [])?;
    ///     tx.rollback() // 2 is not
    /// })?;
    /// let n: i64 = tm.query_row("SELECT count(*) FROM t", [], |r| r.get(0))?;
    /// assert_eq!(n, 1);
    /// # Ok(())
    /// # }
    /// ```
    pub fn commit(&mut self) -> Result<(), Error> {
        self.tm.manual_commit()
    }

    /// Rolls back a manual block's work since it began or last committed or
    /// rolled back, and drops the `on_commit` hooks queued since then. The
    /// block goes on.
    ///
    /// # Errors
    ///
    /// [`Error::NotInManualMode`] outside a `commit_manually` block (nothing
    /// is rolled back); [`Error::StepFailed`] if the rollback itself failed
    /// (the manager is then broken).
    ///
    /// # Example
    ///
    /// ```
    /// # fn main() -> Result<(), txmanager::Error> {
    /// let mut tm = txmanager::TransactionManager::open_in_memory()?;
    /// tm.execute("CREATE TABLE t (x)", [])?;
    /// tm.commit_manually(|tx| {
    ///     tx.execute("INSERT INTO t VALUES (1)", [])?;
    ///     tx.rollback()
    /// })?;
    /// let n: i64 = tm.query_row("SELECT count(*) FROM t", [], |r| r.get(0))?;
    /// assert_eq!(n, 0);
    /// # Ok(())
    /// # }
    /// ```
    pub fn rollback(&mut self) -> Result<(), Error> {
        self.tm.manual_rollback()
    }

    /// Queues `hook` to run after the outermost transaction commits. Hooks run
    /// in the order they were queued; they are dropped without running if
    /// the work they belong to is rolled back (a nested block's hooks, if its
    /// savepoint is rolled back). In an autocommit block, where every
    /// statement has already committed, the hook runs at once.
    ///
    /// If a hook panics, the commit has already happened and the manager's
    /// state is settled; the panic propagates to the caller of the block, and
    /// the hooks queued after it are dropped without running.
    ///
    /// # Example
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    ///
    /// # fn main() -> Result<(), txmanager::Error> {
    /// let mut tm = txmanager::TransactionManager::open_in_memory()?;
    /// let log = Arc::new(Mutex::new(Vec::new()));
    /// let seen = Arc::clone(&log);
    /// tm.commit_on_success(|tx| {
    ///     tx.on_commit(move || seen.lock().unwrap().push("sent the email"));
    ///     Ok::<_, txmanager::Error>(())
    /// })?;
    /// assert_eq!(*log.lock().unwrap(), ["sent the email"]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn on_commit<H>(&mut self, hook: H)
    where
        H: FnOnce() + Send + 'static,
    {
        self.tm.queue_hook(Box::new(hook));
    }

    /// [`on_commit`](Self::on_commit) for a hook that may fail: if it
    /// returns `Err` or panics, the failure is logged (an `ERROR` event
    /// through the `tracing` feature; without the feature it is dropped) and
    /// the hooks after it still run, as Django's `on_commit(..., robust=True)`.
    /// The commit has happened either way. A plain `on_commit` hook that
    /// panics still stops the hooks after it, robust ones included.
    ///
    /// # Example
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    ///
    /// # fn main() -> Result<(), txmanager::Error> {
    /// let mut tm = txmanager::TransactionManager::open_in_memory()?;
    /// let log = Arc::new(Mutex::new(Vec::new()));
    /// let seen = Arc::clone(&log);
    /// tm.commit_on_success(|tx| {
    ///     tx.on_commit_robust(|| Err("the mail server is down"));
    ///     tx.on_commit(move || seen.lock().unwrap().push("still ran"));
    ///     Ok::<_, txmanager::Error>(())
    /// })?;
    /// assert_eq!(*log.lock().unwrap(), ["still ran"]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn on_commit_robust<H, E>(&mut self, hook: H)
    where
        H: FnOnce() -> Result<(), E> + Send + 'static,
        E: fmt::Display,
    {
        self.tm.queue_hook(crate::block::robust_hook(hook));
    }

    /// Marks this block to roll back when it ends, even if its closure
    /// returns `Ok` (Django's `set_rollback(True)`), or clears the mark. The
    /// closure's value is returned as it is; nothing the block wrote is kept
    /// and its `on_commit` hooks never run. A nested block rolls back only
    /// its own savepoint; the enclosing block goes on.
    ///
    /// In a `commit_manually` block, [`rollback`](Self::rollback) works as
    /// usual and keeps the mark; [`commit`](Self::commit) is refused while
    /// the mark is set (clear it first to commit).
    ///
    /// # Errors
    ///
    /// [`Error::RollbackMarkRefused`] in an autocommit block (nothing to
    /// roll back), and for `set_rollback(false)` in a
    /// [test transaction](crate::TransactionManager::test_transaction).
    ///
    /// # Example
    ///
    /// ```
    /// # fn main() -> Result<(), txmanager::Error> {
    /// let mut tm = txmanager::TransactionManager::open_in_memory()?;
    /// tm.execute("CREATE TABLE t (x)", [])?;
    /// let answer = tm.commit_on_success(|tx| {
    ///     tx.execute("INSERT INTO t VALUES (1)", [])?;
    ///     tx.set_rollback(true)?;
    ///     assert!(tx.rollback_marked());
    ///     Ok::<_, txmanager::Error>(42)
    /// })?;
    /// assert_eq!(answer, 42);
    /// let n: i64 = tm.query_row("SELECT count(*) FROM t", [], |r| r.get(0))?;
    /// assert_eq!(n, 0);
    /// # Ok(())
    /// # }
    /// ```
    pub fn set_rollback(&mut self, rollback: bool) -> Result<(), Error> {
        self.tm.set_rollback_mark(rollback)
    }

    /// Whether this block is marked to roll back at its end (Django's
    /// `get_rollback()`): by [`set_rollback`](Self::set_rollback), or
    /// because it is a [test transaction](crate::TransactionManager::test_transaction).
    ///
    /// ```
    /// # fn main() -> Result<(), txmanager::Error> {
    /// let mut tm = txmanager::TransactionManager::open_in_memory()?;
    /// tm.commit_on_success(|tx| {
    ///     assert!(!tx.rollback_marked());
    ///     Ok::<_, txmanager::Error>(())
    /// })?;
    /// tm.test_transaction(|tx| {
    ///     assert!(tx.rollback_marked());
    ///     Ok::<_, txmanager::Error>(())
    /// })?;
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn rollback_marked(&self) -> bool {
        self.tm.top_rollback_marked()
    }

    /// Opens a nested block in autocommit mode. Inside an open transaction
    /// this is refused, and the enclosing work is not committed.
    ///
    /// # Errors
    ///
    /// [`Error::AutocommitInTransaction`] when a transaction is open; else as
    /// for [`TransactionManager::autocommit`](crate::TransactionManager::autocommit).
    ///
    /// # Example
    ///
    /// ```
    /// use txmanager::Error;
    /// # fn main() -> Result<(), Error> {
    /// let mut tm = txmanager::TransactionManager::open_in_memory()?;
    /// let err = tm
    ///     .commit_on_success(|tx| tx.autocommit(|_| Ok::<_, Error>(())))
    ///     .unwrap_err();
    /// assert!(matches!(err, Error::AutocommitInTransaction { .. }));
    /// # Ok(())
    /// # }
    /// ```
    pub fn autocommit<T, E, F>(&mut self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut Transaction<'_, B>) -> Result<T, E>,
        E: From<Error>,
    {
        run_block(self.tm, Mode::Autocommit, None, f)
    }

    /// Opens a nested `commit_on_success` block. Inside a transaction it runs
    /// in a savepoint: `Ok` releases it into the enclosing block, which
    /// decides; `Err` or a panic rolls back to the savepoint only. Nothing is
    /// visible to other connections before the outermost commit. Inside an
    /// autocommit block it begins a real transaction.
    ///
    /// # Errors
    ///
    /// The closure's own error, unchanged; [`Error::StepFailed`] if a
    /// savepoint step fails; else as for [`TransactionManager::commit_on_success`](crate::TransactionManager::commit_on_success).
    ///
    /// # Example
    ///
    /// ```
    /// # fn main() -> Result<(), txmanager::Error> {
    /// let mut tm = txmanager::TransactionManager::open_in_memory()?;
    /// tm.execute("CREATE TABLE t (x)", [])?;
    /// tm.commit_on_success(|tx| {
    ///     tx.commit_on_success(|inner| inner.execute("INSERT INTO t VALUES (1)", []))?;
    ///     Ok::<_, txmanager::Error>(())
    /// })?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn commit_on_success<T, E, F>(&mut self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut Transaction<'_, B>) -> Result<T, E>,
        E: From<Error>,
    {
        run_block(self.tm, Mode::CommitOnSuccess, None, f)
    }

    /// Opens a nested `commit_manually` block. Inside a transaction it runs in
    /// a savepoint: its `commit()` releases work into the enclosing block and
    /// its `rollback()` rolls back to the savepoint. Ending with uncommitted
    /// writes rolls them back and fails with [`Error::PendingCommitRollback`].
    ///
    /// # Errors
    ///
    /// As for [`TransactionManager::commit_manually`](crate::TransactionManager::commit_manually).
    ///
    /// # Example
    ///
    /// ```
    /// # fn main() -> Result<(), txmanager::Error> {
    /// let mut tm = txmanager::TransactionManager::open_in_memory()?;
    /// tm.execute("CREATE TABLE t (x)", [])?;
    /// tm.commit_on_success(|tx| {
    ///     tx.commit_manually(|inner| {
    ///         inner.execute("INSERT INTO t VALUES (1)", [])?;
    ///         inner.commit() // into the outer block, which commits at its end
    ///     })
    /// })?;
    /// let n: i64 = tm.query_row("SELECT count(*) FROM t", [], |r| r.get(0))?;
    /// assert_eq!(n, 1);
    /// # Ok(())
    /// # }
    /// ```
    pub fn commit_manually<T, E, F>(&mut self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut Transaction<'_, B>) -> Result<T, E>,
        E: From<Error>,
    {
        run_block(self.tm, Mode::CommitManually, None, f)
    }
}

/// Runs `f` as a block in `mode` on `engine`, with a handle on the block:
/// what every mode method of the manager and of a handle, [`Scope::run`](crate::Scope::run) and
/// the retry helper call. `options` says how to `BEGIN` if this block
/// opens the transaction (`None`: the manager's default).
#[inline(always)]
pub(crate) fn run_block<B, T, E, F>(
    engine: &mut Engine<B>,
    mode: Mode,
    options: Option<B::BlockOptions>,
    f: F,
) -> Result<T, E>
where
    B: Backend,
    F: FnOnce(&mut Transaction<'_, B>) -> Result<T, E>,
    E: From<Error>,
{
    engine.run_block(mode, options, false, |engine| {
        f(&mut Transaction::new(engine))
    })
}

/// A test transaction: a `commit_on_success` block marked to roll back
/// from the start, whose mark cannot be cleared.
pub(crate) fn run_test_block<B, T, E, F>(engine: &mut Engine<B>, f: F) -> Result<T, E>
where
    B: Backend,
    F: FnOnce(&mut Transaction<'_, B>) -> Result<T, E>,
    E: From<Error>,
{
    engine.run_block(Mode::CommitOnSuccess, None, true, |engine| {
        f(&mut Transaction::new(engine))
    })
}
