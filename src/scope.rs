//! Where blocks run: the [`Scope`] trait (the manager or an open handle),
//! and the decorator-like helpers [`autocommit()`], [`commit_on_success()`]
//! and [`commit_manually()`] that wrap a plain function into an [`InMode`]
//! runner.

use std::fmt;

use crate::backend::Backend;
use crate::sqlite::Sqlite;
use crate::transaction::run_block;
use crate::{Error, Mode, Transaction, TransactionManager};

pub(crate) mod sealed {
    use crate::TransactionManager;
    use crate::backend::Backend;
    use crate::block::Engine;

    /// Gives crate code the engine behind a scope.
    ///
    /// `pub(crate)`, though it is a supertrait of the public
    /// [`Scope`](crate::Scope) (which allows the `private_bounds` lint for
    /// it): method calls resolve through a bound's supertraits without any
    /// import, so with a `pub` trait here users' generic code could call
    /// `s.engine_mut()` on any `S: Scope` and, say, swap two managers'
    /// engines under a running block. Private, its methods are refused
    /// outside the crate (E0624, "method `engine_mut` is private"; see
    /// `tests/ui/scope_swap_engines.rs`).
    pub(crate) trait Sealed<B: Backend> {
        fn engine(&self) -> &Engine<B>;
        fn engine_mut(&mut self) -> &mut Engine<B>;
    }

    impl<B: Backend> Sealed<B> for TransactionManager<B> {
        fn engine(&self) -> &Engine<B> {
            &self.engine
        }
        fn engine_mut(&mut self) -> &mut Engine<B> {
            &mut self.engine
        }
    }

    impl<B: Backend> Sealed<B> for crate::Transaction<'_, B> {
        fn engine(&self) -> &Engine<B> {
            self.engine_ref()
        }
        fn engine_mut(&mut self) -> &mut Engine<B> {
            self.engine_mut()
        }
    }
}

/// Where work runs: the [`TransactionManager`] (outermost blocks, and
/// statements in the default autocommit mode) or an open [`Transaction`]
/// handle (nested blocks, and statements in the handle's block).
///
/// An [`InMode`] runner, the [`Record`](crate::Record) methods and the
/// versioning functions take either. The trait is sealed.
///
/// # Example
///
/// ```
/// use txmanager::{Error, Mode, Scope, TransactionManager};
///
/// fn count_in<S: Scope>(scope: &mut S) -> Result<i64, Error> {
///     scope.run(Mode::CommitOnSuccess, |tx| {
///         tx.query_row("SELECT count(*) FROM sqlite_schema", [], |row| row.get(0))
///     })
/// }
///
/// # fn main() -> Result<(), Error> {
/// let mut tm = TransactionManager::open_in_memory()?;
/// assert_eq!(count_in(&mut tm)?, 0);
/// tm.commit_on_success(|tx| count_in(tx).map(drop))?;
/// # Ok(())
/// # }
/// ```
///
/// The engine behind a scope is not API, not even through the bound:
///
/// ```compile_fail,E0624
/// fn engine<S: txmanager::Scope>(scope: &mut S) {
///     let _ = scope.engine_mut();
/// }
/// ```
// The sealing supertrait is crate-private on purpose: see `sealed::Sealed`.
#[allow(private_bounds)]
pub trait Scope<B: Backend = Sqlite>: sealed::Sealed<B> {
    /// Runs `f` as a block in `mode`.
    ///
    /// # Errors
    ///
    /// As for [`TransactionManager::commit_on_success`] and its siblings.
    ///
    /// # Example
    ///
    /// ```
    /// use txmanager::{Error, Mode, Scope, TransactionManager};
    ///
    /// # fn main() -> Result<(), Error> {
    /// let mut tm = TransactionManager::open_in_memory()?;
    /// let depth = tm.run(Mode::CommitOnSuccess, |tx| {
    ///     tx.run(Mode::CommitOnSuccess, |inner| Ok::<_, Error>(inner.depth()))
    /// })?;
    /// assert_eq!(depth, 2);
    /// # Ok(())
    /// # }
    /// ```
    fn run<T, E, F>(&mut self, mode: Mode, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut Transaction<'_, B>) -> Result<T, E>,
        E: From<Error>;
}

impl<B: Backend> Scope<B> for TransactionManager<B> {
    fn run<T, E, F>(&mut self, mode: Mode, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut Transaction<'_, B>) -> Result<T, E>,
        E: From<Error>,
    {
        run_block(&mut self.engine, mode, None, f)
    }
}

impl<B: Backend> Scope<B> for Transaction<'_, B> {
    fn run<T, E, F>(&mut self, mode: Mode, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut Transaction<'_, B>) -> Result<T, E>,
        E: From<Error>,
    {
        run_block(self.engine_mut(), mode, None, f)
    }
}

/// A function wrapped to run in one [`Mode`]: what Django's transaction
/// decorators returned.
///
/// Made by [`autocommit()`], [`commit_on_success()`] and [`commit_manually()`].
/// The wrapped function takes the transaction handle and one argument (use a
/// tuple for several, `()` for none); [`InMode::call`] runs it on a manager,
/// or nested inside an open block.
///
/// # Example
///
/// Arguments, and composition: a wrapped function called from inside another
/// wrapped function runs as a nested block (a savepoint), so its failure undoes
/// only its own work.
///
/// ```
/// use txmanager::{commit_on_success, Error, Transaction, TransactionManager};
///
/// # fn main() -> Result<(), Error> {
/// let mut tm = TransactionManager::open_in_memory()?;
/// tm.execute("CREATE TABLE reporter (first_name TEXT, last_name TEXT)", [])?;
///
/// let add = commit_on_success(|tx: &mut Transaction<'_>, (first, last): (&str, &str)| {
///     tx.execute("INSERT INTO reporter VALUES (?1, ?2)", (first, last))?;
///     if last.is_empty() {
///         return Err(Error::PendingCommitRollback); // any error will do here
///     }
///     Ok(())
/// });
/// let add_team = commit_on_success(|tx: &mut Transaction<'_>, ()| {
///     add.call(tx, ("Alice", "Smith"))?;
///     let _ = add.call(tx, ("Nobody", "")); // fails: rolled back to its savepoint
///     add.call(tx, ("Ben", "Jones"))
/// });
///
/// add_team.call(&mut tm, ())?;
/// let n: i64 = tm.query_row("SELECT count(*) FROM reporter", [], |r| r.get(0))?;
/// assert_eq!(n, 2);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy)]
pub struct InMode<F> {
    mode: Mode,
    f: F,
}

impl<F> fmt::Debug for InMode<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InMode")
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

impl<F> InMode<F> {
    /// The mode the wrapped function runs in.
    ///
    /// ```
    /// use txmanager::{autocommit, Mode, Transaction};
    /// let f = autocommit(|_tx: &mut Transaction<'_>, ()| Ok::<_, txmanager::Error>(()));
    /// assert_eq!(f.mode(), Mode::Autocommit);
    /// ```
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Runs the wrapped function with `args`, as an outermost block when
    /// `scope` is a [`TransactionManager`], or as a nested block when it is a
    /// [`Transaction`] handle.
    ///
    /// # Errors
    ///
    /// The wrapped function's own error, or the mode's errors as listed on
    /// [`TransactionManager::commit_on_success`] and its siblings.
    ///
    /// # Example
    ///
    /// ```
    /// use txmanager::{commit_manually, Transaction, TransactionManager};
    ///
    /// # fn main() -> Result<(), txmanager::Error> {
    /// let mut tm = TransactionManager::open_in_memory()?;
    /// let create = commit_manually(|tx: &mut Transaction<'_>, table: &str| {
    ///     tx.execute(&format!("CREATE TABLE {table} (x)"), [])?;
    ///     tx.commit()
    /// });
    /// create.call(&mut tm, "a")?;
    /// create.call(&mut tm, "b")?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn call<S, A, T, E, B>(&self, scope: &mut S, args: A) -> Result<T, E>
    where
        B: Backend,
        S: Scope<B>,
        F: Fn(&mut Transaction<'_, B>, A) -> Result<T, E>,
        E: From<Error>,
    {
        scope.run(self.mode, |tx| (self.f)(tx, args))
    }
}

/// Wraps `f` to run in [`Mode::Autocommit`]: Django's
/// `transaction.autocommit(func)`.
///
/// # Example
///
/// Django's doctest: a function that saves and then fails keeps its save,
/// exactly as it would with no decorator at all.
///
/// ```
/// use txmanager::{autocommit, Transaction, TransactionManager};
///
/// type BoxError = Box<dyn std::error::Error + Send + Sync>;
///
/// fn create_a_reporter_then_fail(tx: &mut Transaction<'_>, (first, last): (&str, &str)) -> Result<(), BoxError> {
///     tx.execute("INSERT INTO reporter (first_name, last_name) VALUES (?1, ?2)", (first, last))?;
///     Err("I meant to do that".into())
/// }
///
/// # fn main() -> Result<(), BoxError> {
/// let mut tm = TransactionManager::open_in_memory()?;
/// tm.execute("CREATE TABLE reporter (id INTEGER PRIMARY KEY, first_name TEXT, last_name TEXT)", [])?;
///
/// let autocomitted_create_then_fail = autocommit(create_a_reporter_then_fail);
/// let err = autocomitted_create_then_fail.call(&mut tm, ("Ben", "Jones")).unwrap_err();
/// assert_eq!(err.to_string(), "I meant to do that");
///
/// // Same behaviour as the default: the row was committed before the failure.
/// let n: i64 = tm.query_row("SELECT count(*) FROM reporter", [], |r| r.get(0))?;
/// assert_eq!(n, 1);
/// # Ok(())
/// # }
/// ```
pub fn autocommit<F, A, T, E, B>(f: F) -> InMode<F>
where
    B: Backend,
    F: Fn(&mut Transaction<'_, B>, A) -> Result<T, E>,
{
    InMode {
        mode: Mode::Autocommit,
        f,
    }
}

/// Wraps `f` to run in [`Mode::CommitOnSuccess`]: Django's
/// `transaction.commit_on_success(func)`.
///
/// # Example
///
/// Django's doctest: with the decorator, the failing function's save never
/// reaches the database, and a function that succeeds is committed.
///
/// ```
/// use txmanager::{commit_on_success, Transaction, TransactionManager};
///
/// type BoxError = Box<dyn std::error::Error + Send + Sync>;
///
/// fn create_a_reporter_then_fail(tx: &mut Transaction<'_>, (first, last): (&str, &str)) -> Result<(), BoxError> {
///     tx.execute("INSERT INTO reporter (first_name, last_name) VALUES (?1, ?2)", (first, last))?;
///     Err("I meant to do that".into())
/// }
///
/// fn remove_a_reporter(tx: &mut Transaction<'_>, (): ()) -> Result<(), BoxError> {
///     let id: i64 = tx.query_row("SELECT id FROM reporter WHERE first_name = 'Alice'", [], |r| r.get(0))?;
///     tx.execute("DELETE FROM reporter WHERE id = ?1", [id])?;
///     Ok(())
/// }
///
/// fn names(tm: &TransactionManager) -> Result<Vec<String>, txmanager::Error> {
///     let mut stmt = tm.prepare("SELECT first_name || ' ' || last_name FROM reporter ORDER BY id")?;
///     let names = stmt.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
///     Ok(names)
/// }
///
/// # fn main() -> Result<(), BoxError> {
/// let mut tm = TransactionManager::open_in_memory()?;
/// tm.execute("CREATE TABLE reporter (id INTEGER PRIMARY KEY, first_name TEXT, last_name TEXT)", [])?;
/// tm.execute("INSERT INTO reporter (first_name, last_name) VALUES ('Alice', 'Smith'), ('Ben', 'Jones')", [])?;
///
/// let committed_on_success = commit_on_success(create_a_reporter_then_fail);
/// let err = committed_on_success.call(&mut tm, ("Carol", "Doe")).unwrap_err();
/// assert_eq!(err.to_string(), "I meant to do that");
/// // This time the object never got saved.
/// assert_eq!(names(&tm)?, ["Alice Smith", "Ben Jones"]);
///
/// // If there aren't any errors, the data is saved.
/// let remove_comitted_on_success = commit_on_success(remove_a_reporter);
/// remove_comitted_on_success.call(&mut tm, ())?;
/// assert_eq!(names(&tm)?, ["Ben Jones"]);
/// # Ok(())
/// # }
/// ```
pub fn commit_on_success<F, A, T, E, B>(f: F) -> InMode<F>
where
    B: Backend,
    F: Fn(&mut Transaction<'_, B>, A) -> Result<T, E>,
{
    InMode {
        mode: Mode::CommitOnSuccess,
        f,
    }
}

/// Wraps `f` to run in [`Mode::CommitManually`]: Django's
/// `transaction.commit_manually(func)`.
///
/// # Example
///
/// Django's doctest: a manual function must commit; one that forgets gets
/// [`Error::PendingCommitRollback`], and its write is rolled back.
///
/// ```
/// use txmanager::{commit_manually, Error, Transaction, TransactionManager};
///
/// fn manually_managed(tx: &mut Transaction<'_>, (): ()) -> Result<(), Error> {
///     tx.execute("INSERT INTO reporter (first_name, last_name) VALUES ('Carol', 'Doe')", [])?;
///     tx.commit()
/// }
///
/// fn manually_managed_mistake(tx: &mut Transaction<'_>, (): ()) -> Result<(), Error> {
///     tx.execute("INSERT INTO reporter (first_name, last_name) VALUES ('David', 'Davidson')", [])?;
///     Ok(()) // oops, I forgot to commit/rollback!
/// }
///
/// # fn main() -> Result<(), Error> {
/// let mut tm = TransactionManager::open_in_memory()?;
/// tm.execute("CREATE TABLE reporter (id INTEGER PRIMARY KEY, first_name TEXT, last_name TEXT)", [])?;
/// tm.execute("INSERT INTO reporter (first_name, last_name) VALUES ('Ben', 'Jones')", [])?;
///
/// commit_manually(manually_managed).call(&mut tm, ())?;
///
/// let err = commit_manually(manually_managed_mistake).call(&mut tm, ()).unwrap_err();
/// assert!(matches!(err, Error::PendingCommitRollback));
/// assert!(err.to_string().contains("transaction managed block ended with pending COMMIT/ROLLBACK"));
///
/// let names: Vec<String> = tm
///     .prepare("SELECT first_name || ' ' || last_name FROM reporter ORDER BY id")?
///     .query_map([], |r| r.get(0))?
///     .collect::<Result<_, _>>()?;
/// assert_eq!(names, ["Ben Jones", "Carol Doe"]);
/// # Ok(())
/// # }
/// ```
pub fn commit_manually<F, A, T, E, B>(f: F) -> InMode<F>
where
    B: Backend,
    F: Fn(&mut Transaction<'_, B>, A) -> Result<T, E>,
{
    InMode {
        mode: Mode::CommitManually,
        f,
    }
}

/// What the `#[commit_on_success]`-style attributes expand to. Not a public
/// API: use the attributes.
#[doc(hidden)]
pub mod macro_support {
    use crate::backend::Backend;
    use crate::{Error, Mode, RetryPolicy, Retryable, Scope, Transaction};

    /// Runs `f` as a block in `mode` on any scope, beginning with `begin`
    /// if it opens the transaction.
    #[inline]
    pub fn run_in_mode<B, S, T, E, F>(
        scope: &mut S,
        mode: Mode,
        begin: Option<B::BlockOptions>,
        f: F,
    ) -> Result<T, E>
    where
        B: Backend,
        S: Scope<B>,
        F: FnOnce(&mut Transaction<'_, B>) -> Result<T, E>,
        E: From<Error>,
    {
        crate::transaction::run_block(scope.engine_mut(), mode, begin, f)
    }

    /// Runs `f` as a `commit_on_success` block, again from scratch while it
    /// fails with a retryable error and `policy` allows. Inside an open
    /// block it runs once: a retry cannot cure a conflict inside a
    /// transaction that goes on, so the outermost block's retry covers it.
    pub fn run_retrying<B, S, T, E, F>(
        scope: &mut S,
        begin: Option<B::BlockOptions>,
        policy: &RetryPolicy,
        f: F,
    ) -> Result<T, E>
    where
        B: Backend,
        S: Scope<B>,
        F: FnMut(&mut Transaction<'_, B>) -> Result<T, E>,
        E: From<Error> + Retryable,
    {
        let tm = scope.engine_mut();
        if tm.frames.is_empty() {
            crate::retry::retry_block(tm, policy, begin, f)
                .map(|retried| retried.value)
                .map_err(crate::RetryError::into_inner)
        } else {
            crate::transaction::run_block(tm, Mode::CommitOnSuccess, begin, f)
        }
    }
}
