//! Retrying a block: [`RetryPolicy`], the [`Retryable`] errors, and what a
//! retried block returns ([`Retried`], [`RetryError`]).

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::thread;
use std::time::{Duration, Instant};

use crate::backend::Backend;
use crate::block::Engine;
use crate::trace;
use crate::transaction::run_block;
use crate::{Error, Mode, Transaction, TransactionManager};

/// How often, and how patiently, a block is retried: at most `max_attempts`
/// runs, waiting between them with exponential backoff and jitter, and
/// giving up once the next wait would pass `max_elapsed`.
///
/// **What is retried.** By default, only lock contention: `SQLITE_BUSY` and
/// `SQLITE_LOCKED` ([`Retryable::is_retryable`]). A version conflict
/// ([`Error::RecordModified`], [`Retryable::is_conflict`]) is not: under the
/// default `BEGIN IMMEDIATE`, a conflict inside the block means the closure
/// carried a stale version in from outside, and running it again cannot
/// help. Re-read inside the closure instead, or opt in with
/// [`with_conflict_retries(true)`](Self::with_conflict_retries) for a
/// closure that does re-read (for example under `BEGIN DEFERRED`).
///
/// The wait before attempt `n + 1` is drawn at random between half and all of
/// `min(initial_backoff × 2ⁿ⁻¹, max_backoff)`, so writers that collided do
/// not collide again in lockstep.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use txmanager::RetryPolicy;
///
/// let policy = RetryPolicy::new(5)
///     .with_backoff(Duration::from_millis(1), Duration::from_millis(50))
///     .with_max_elapsed(Duration::from_secs(2));
/// assert_eq!(policy.max_attempts(), 5);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RetryPolicy {
    max_attempts: u32,
    initial_backoff: Duration,
    max_backoff: Duration,
    max_elapsed: Duration,
    retry_conflicts: bool,
}

impl Default for RetryPolicy {
    /// 10 attempts, backoff from 2 ms up to 250 ms, 30 s in all; version
    /// conflicts are not retried.
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 10,
            initial_backoff: Duration::from_millis(2),
            max_backoff: Duration::from_millis(250),
            max_elapsed: Duration::from_secs(30),
            retry_conflicts: false,
        }
    }
}

impl RetryPolicy {
    /// The default policy with at most `max_attempts` runs (at least 1).
    ///
    /// ```
    /// assert_eq!(txmanager::RetryPolicy::new(0).max_attempts(), 1);
    /// ```
    #[must_use]
    pub fn new(max_attempts: u32) -> Self {
        RetryPolicy {
            max_attempts: max_attempts.max(1),
            ..RetryPolicy::default()
        }
    }

    /// The first wait, and the cap on any wait.
    ///
    /// ```
    /// use std::time::Duration;
    /// let p = txmanager::RetryPolicy::default().with_backoff(Duration::from_millis(5), Duration::from_millis(80));
    /// assert_eq!(p.max_backoff(), Duration::from_millis(80));
    /// ```
    #[must_use]
    pub fn with_backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.initial_backoff = initial;
        self.max_backoff = max.max(initial);
        self
    }

    /// The most time to spend on all attempts and waits together.
    ///
    /// ```
    /// use std::time::Duration;
    /// let p = txmanager::RetryPolicy::default().with_max_elapsed(Duration::from_secs(1));
    /// assert_eq!(p.max_elapsed(), Duration::from_secs(1));
    /// ```
    #[must_use]
    pub fn with_max_elapsed(mut self, max: Duration) -> Self {
        self.max_elapsed = max;
        self
    }

    /// The most runs of the block.
    ///
    /// ```
    /// assert_eq!(txmanager::RetryPolicy::default().max_attempts(), 10);
    /// ```
    #[must_use]
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The first wait.
    ///
    /// ```
    /// use std::time::Duration;
    /// assert_eq!(txmanager::RetryPolicy::default().initial_backoff(), Duration::from_millis(2));
    /// ```
    #[must_use]
    pub fn initial_backoff(&self) -> Duration {
        self.initial_backoff
    }

    /// The cap on any one wait.
    ///
    /// ```
    /// use std::time::Duration;
    /// assert_eq!(txmanager::RetryPolicy::default().max_backoff(), Duration::from_millis(250));
    /// ```
    #[must_use]
    pub fn max_backoff(&self) -> Duration {
        self.max_backoff
    }

    /// The time limit for all attempts.
    ///
    /// ```
    /// use std::time::Duration;
    /// assert_eq!(txmanager::RetryPolicy::default().max_elapsed(), Duration::from_secs(30));
    /// ```
    #[must_use]
    pub fn max_elapsed(&self) -> Duration {
        self.max_elapsed
    }

    /// Whether version conflicts ([`Retryable::is_conflict`]) are retried
    /// too. Off by default: opt in only for a closure that reads, inside
    /// itself, every version it writes, so a second run can succeed.
    ///
    /// ```
    /// let p = txmanager::RetryPolicy::default();
    /// assert!(!p.retries_conflicts());
    /// assert!(p.with_conflict_retries(true).retries_conflicts());
    /// ```
    #[must_use]
    pub fn with_conflict_retries(mut self, retry: bool) -> Self {
        self.retry_conflicts = retry;
        self
    }

    /// Whether version conflicts are retried; see
    /// [`with_conflict_retries`](Self::with_conflict_retries).
    ///
    /// ```
    /// assert!(!txmanager::RetryPolicy::new(3).retries_conflicts());
    /// ```
    #[must_use]
    pub fn retries_conflicts(&self) -> bool {
        self.retry_conflicts
    }

    /// The wait after the `attempt`-th failed run (1-based), with jitter.
    fn backoff(&self, attempt: u32) -> Duration {
        let exponent = attempt.saturating_sub(1).min(30);
        let full = self
            .initial_backoff
            .saturating_mul(1 << exponent)
            .min(self.max_backoff);
        // Jitter from std's per-instance random hasher keys: no extra crate.
        let random = RandomState::new().build_hasher().finish();
        let fraction = (random >> 11) as f64 / (1u64 << 53) as f64; // in [0, 1)
        full.mul_f64(0.5 + fraction / 2.0)
    }
}

/// Errors a retry may cure: lock contention always, version conflicts when
/// the policy opts in.
///
/// Implemented for [`Error`] (retryable: any error whose SQLite code is
/// `SQLITE_BUSY` or `SQLITE_LOCKED`, and any whose PostgreSQL SQLSTATE is
/// 40001 serialization_failure, 40P01 deadlock_detected or 55P03
/// lock_not_available (a `lock_timeout` or `NOWAIT` met a lock), never
/// [`Error::CommitOutcomeUnknown`]; a conflict: [`Error::RecordModified`])
/// and for boxed errors that hold one. Implement it for your own error type
/// to use it with [`TransactionManager::commit_on_success_with_retry`].
///
/// # Example
///
/// ```
/// use txmanager::{Error, Retryable};
///
/// let conflict = Error::RecordModified { table: "page", pk: 1.into(), expected: 1, found: Some(2) };
/// assert!(conflict.is_conflict());
/// assert!(!conflict.is_retryable(), "not retried unless the policy opts in");
/// assert!(!Error::PendingCommitRollback.is_retryable());
/// let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(conflict);
/// assert!(boxed.is_conflict());
/// ```
pub trait Retryable {
    /// Whether running the block again from scratch may succeed whatever
    /// the closure does: lock contention.
    ///
    /// ```
    /// use txmanager::{Error, Retryable};
    ///
    /// enum AppError { Db(Error), BadInput }
    /// impl From<Error> for AppError { fn from(e: Error) -> Self { AppError::Db(e) } }
    /// impl Retryable for AppError {
    ///     fn is_retryable(&self) -> bool {
    ///         matches!(self, AppError::Db(e) if e.is_retryable())
    ///     }
    /// }
    /// assert!(!AppError::BadInput.is_retryable());
    /// assert!(!AppError::Db(Error::PendingCommitRollback).is_retryable());
    /// ```
    fn is_retryable(&self) -> bool;

    /// Whether this is a version conflict, retried only when the policy
    /// opts in ([`RetryPolicy::with_conflict_retries`]). The default says no.
    ///
    /// ```
    /// use txmanager::{Error, Retryable};
    ///
    /// let conflict = Error::RecordModified { table: "page", pk: 1.into(), expected: 1, found: None };
    /// assert!(conflict.is_conflict());
    /// assert!(!Error::PendingCommitRollback.is_conflict());
    /// ```
    fn is_conflict(&self) -> bool {
        false
    }

    /// Why this error is retried, as the `cause` of the `retrying` trace
    /// event (feature `tracing`). [`Error`] answers `"conflict"`, `"busy"`
    /// (SQLite's lock contention), `"serialization_failure"` (PostgreSQL's
    /// 40001), `"deadlock"` (40P01) or `"lock_not_available"` (55P03). The
    /// default: `"conflict"` for a
    /// conflict, otherwise `"retryable"`.
    ///
    /// ```
    /// use txmanager::{Error, Retryable};
    ///
    /// let conflict = Error::RecordModified { table: "page", pk: 1.into(), expected: 1, found: None };
    /// assert_eq!(conflict.retry_cause(), "conflict");
    /// ```
    fn retry_cause(&self) -> &'static str {
        if self.is_conflict() {
            "conflict"
        } else {
            "retryable"
        }
    }
}

impl Retryable for Error {
    /// Each database classifies its own errors (`DatabaseError`'s
    /// transient cause, in error.rs), so retry names no database.
    fn is_retryable(&self) -> bool {
        self.transient_cause().is_some()
    }

    fn is_conflict(&self) -> bool {
        matches!(self, Error::RecordModified { .. })
    }

    fn retry_cause(&self) -> &'static str {
        if self.is_conflict() {
            "conflict"
        } else {
            self.transient_cause().unwrap_or("retryable")
        }
    }
}

/// What a boxed error answers: `answer` of the txmanager [`Error`] inside,
/// or `otherwise` for any other error. Shared by both boxed-error impls.
fn boxed_error_answer<T>(
    err: &(dyn std::error::Error + 'static),
    answer: fn(&Error) -> T,
    otherwise: T,
) -> T {
    err.downcast_ref::<Error>().map_or(otherwise, answer)
}

impl Retryable for Box<dyn std::error::Error + Send + Sync> {
    fn is_retryable(&self) -> bool {
        boxed_error_answer(&**self, Error::is_retryable, false)
    }

    fn is_conflict(&self) -> bool {
        boxed_error_answer(&**self, Error::is_conflict, false)
    }

    fn retry_cause(&self) -> &'static str {
        boxed_error_answer(&**self, Error::retry_cause, "retryable")
    }
}

impl Retryable for Box<dyn std::error::Error> {
    fn is_retryable(&self) -> bool {
        boxed_error_answer(&**self, Error::is_retryable, false)
    }

    fn is_conflict(&self) -> bool {
        boxed_error_answer(&**self, Error::is_conflict, false)
    }

    fn retry_cause(&self) -> &'static str {
        boxed_error_answer(&**self, Error::retry_cause, "retryable")
    }
}

/// A retried block's value, and how many runs it took.
///
/// # Example
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut tm = txmanager::TransactionManager::open_in_memory()?;
/// let done = tm.commit_on_success_with_retry(&txmanager::RetryPolicy::default(), |tx| {
///     tx.query_row("SELECT 7", [], |r| r.get::<_, i64>(0))
/// })?;
/// assert_eq!((done.value, done.attempts), (7, 1));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Retried<T> {
    /// What the block returned.
    pub value: T,
    /// How many times the block ran (1 if it succeeded at once).
    pub attempts: u32,
}

/// Why a retried block gave up.
///
/// # Example
///
/// ```
/// use txmanager::GaveUp;
/// assert_eq!(GaveUp::NotRetryable.to_string(), "the error is not one a retry can cure");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum GaveUp {
    /// The error was not [`Retryable`].
    NotRetryable,
    /// The error was a version conflict, and the policy does not retry
    /// conflicts ([`RetryPolicy::with_conflict_retries`]).
    Conflict,
    /// The policy's attempt limit was reached.
    AttemptLimit,
    /// The next wait would have passed the policy's time limit.
    TimeLimit,
}

impl GaveUp {
    /// A short name, for the retry span's `outcome`.
    pub(crate) fn label(self) -> &'static str {
        match self {
            GaveUp::NotRetryable => "not_retryable",
            GaveUp::Conflict => "conflict",
            GaveUp::AttemptLimit => "attempt_limit",
            GaveUp::TimeLimit => "time_limit",
        }
    }
}

impl fmt::Display for GaveUp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            GaveUp::NotRetryable => "the error is not one a retry can cure",
            GaveUp::Conflict => {
                "a version conflict is not retried by default (the closure wrote a version \
                 read outside it): re-read the record inside the closure, or opt in with \
                 RetryPolicy::with_conflict_retries(true)"
            }
            GaveUp::AttemptLimit => "the attempt limit was reached",
            GaveUp::TimeLimit => "the time limit was reached",
        })
    }
}

/// A retried block's final error, with how often and how long it was tried.
/// Every attempt was rolled back.
///
/// # Example
///
/// ```
/// use txmanager::{Error, GaveUp, RetryPolicy, TransactionManager};
///
/// # fn main() -> Result<(), Error> {
/// let mut tm = TransactionManager::open_in_memory()?;
/// let err = tm
///     .commit_on_success_with_retry(&RetryPolicy::new(3).with_conflict_retries(true), |_| {
///         Err::<(), _>(Error::RecordModified { table: "page", pk: 1.into(), expected: 1, found: Some(2) })
///     })
///     .unwrap_err();
/// assert_eq!(err.attempts(), 3);
/// assert_eq!(err.gave_up(), GaveUp::AttemptLimit);
/// assert!(err.to_string().starts_with("block failed after 3 attempts"));
/// assert!(matches!(err.into_inner(), Error::RecordModified { .. }));
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct RetryError<E> {
    error: E,
    attempts: u32,
    elapsed: Duration,
    gave_up: GaveUp,
}

impl<E> RetryError<E> {
    /// The last attempt's error.
    ///
    /// ```
    /// use txmanager::{Error, GaveUp, RetryPolicy, TransactionManager};
    /// # fn main() -> Result<(), Error> {
    /// let mut tm = TransactionManager::open_in_memory()?;
    /// let err = tm
    ///     .commit_on_success_with_retry(&RetryPolicy::default(), |_| Err::<(), _>(Error::PendingCommitRollback))
    ///     .unwrap_err();
    /// assert!(matches!(err.error(), Error::PendingCommitRollback));
    /// # Ok(())
    /// # }
    /// ```
    pub fn error(&self) -> &E {
        &self.error
    }

    /// The last attempt's error, by value.
    ///
    /// ```
    /// use txmanager::{Error, GaveUp, RetryPolicy, TransactionManager};
    /// # fn main() -> Result<(), Error> {
    /// let mut tm = TransactionManager::open_in_memory()?;
    /// let err = tm
    ///     .commit_on_success_with_retry(&RetryPolicy::default(), |_| Err::<(), _>(Error::PendingCommitRollback))
    ///     .unwrap_err();
    /// assert!(matches!(err.into_inner(), Error::PendingCommitRollback));
    /// # Ok(())
    /// # }
    /// ```
    pub fn into_inner(self) -> E {
        self.error
    }

    /// How many times the block ran.
    ///
    /// ```
    /// use txmanager::{Error, GaveUp, RetryPolicy, TransactionManager};
    /// # fn main() -> Result<(), Error> {
    /// let mut tm = TransactionManager::open_in_memory()?;
    /// let err = tm
    ///     .commit_on_success_with_retry(&RetryPolicy::default(), |_| Err::<(), _>(Error::PendingCommitRollback))
    ///     .unwrap_err();
    /// assert_eq!(err.attempts(), 1, "not retryable: run once");
    /// # Ok(())
    /// # }
    /// ```
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// The time from the first attempt's start to giving up.
    ///
    /// ```
    /// use txmanager::{Error, GaveUp, RetryPolicy, TransactionManager};
    /// # fn main() -> Result<(), Error> {
    /// let mut tm = TransactionManager::open_in_memory()?;
    /// let err = tm
    ///     .commit_on_success_with_retry(&RetryPolicy::default(), |_| Err::<(), _>(Error::PendingCommitRollback))
    ///     .unwrap_err();
    /// assert!(err.elapsed() < std::time::Duration::from_secs(1));
    /// # Ok(())
    /// # }
    /// ```
    pub fn elapsed(&self) -> Duration {
        self.elapsed
    }

    /// Why it stopped.
    ///
    /// ```
    /// use txmanager::{Error, GaveUp, RetryPolicy, TransactionManager};
    /// # fn main() -> Result<(), Error> {
    /// let mut tm = TransactionManager::open_in_memory()?;
    /// let err = tm
    ///     .commit_on_success_with_retry(&RetryPolicy::default(), |_| Err::<(), _>(Error::PendingCommitRollback))
    ///     .unwrap_err();
    /// assert_eq!(err.gave_up(), GaveUp::NotRetryable);
    /// # Ok(())
    /// # }
    /// ```
    pub fn gave_up(&self) -> GaveUp {
        self.gave_up
    }
}

impl<E: fmt::Display> fmt::Display for RetryError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let runs = if self.attempts == 1 {
            "attempt"
        } else {
            "attempts"
        };
        write!(
            f,
            "block failed after {} {runs} in {:?} and was rolled back; gave up because {}: {}",
            self.attempts, self.elapsed, self.gave_up, self.error
        )
    }
}

impl<E: std::error::Error + 'static> std::error::Error for RetryError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

impl<B: Backend> TransactionManager<B> {
    /// Runs `f` in a `commit_on_success` block, and when it fails with a
    /// [`Retryable`] error (`SQLITE_BUSY`, `SQLITE_LOCKED`; a version
    /// conflict only if the policy opts in), rolls back, waits, and runs it
    /// again from scratch, as `policy` allows. `f` is `FnMut` because it may
    /// run several times: do all the reading the write depends on inside it.
    ///
    /// # Errors
    ///
    /// [`RetryError`], holding the last attempt's error, the number of
    /// attempts, the time spent, and why it gave up ([`GaveUp::Conflict`]
    /// for a version conflict under the default policy: the version came
    /// from outside the closure, and no retry can refresh it).
    ///
    /// # Example
    ///
    /// An optimistic read-modify-write that survives concurrent writers:
    ///
    /// ```
    /// use txmanager::{Record, RetryPolicy, TransactionManager, VersionField};
    ///
    /// #[derive(Debug, Clone, Default, Record)]
    /// pub struct Counter {
    ///     #[record(primary_key)]
    ///     pub id: Option<i64>,
    ///     #[record(version(auto_increment))]
    ///     pub version: Option<i64>,
    ///     pub value: i64,
    /// }
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let mut tm = TransactionManager::open_in_memory()?;
    /// tm.execute("CREATE TABLE counter (id INTEGER PRIMARY KEY, version INTEGER, value INTEGER)", [])?;
    /// Counter::default().save(&tm)?;
    /// let done = tm.commit_on_success_with_retry(&RetryPolicy::default(), |tx| {
    ///     let mut c = Counter::get(tx, 1)?;
    ///     c.value += 1;
    ///     c.save(tx)
    /// })?;
    /// assert_eq!(done.attempts, 1);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// A web handler that saves a copy the client sent back: the version
    /// came from the client, so a conflict is the client's to resolve. It is
    /// not retried; map it to HTTP 409 Conflict.
    ///
    /// ```
    /// use txmanager::{Error, GaveUp, Record, RetryPolicy, TransactionManager, VersionField};
    ///
    /// #[derive(Debug, Clone, Default, Record)]
    /// pub struct Page {
    ///     #[record(primary_key)]
    ///     pub id: Option<i64>,
    ///     #[record(version(integer))]
    ///     pub version: Option<i64>,
    ///     pub body: String,
    /// }
    ///
    /// /// Saves the client's copy; returns the HTTP status.
    /// fn put_page(tm: &mut TransactionManager, sent: &Page) -> u16 {
    ///     let result = tm.commit_on_success_with_retry(&RetryPolicy::default(), |tx| {
    ///         let mut page = sent.clone();
    ///         page.save(tx)
    ///     });
    ///     match result {
    ///         Ok(_) => 200,
    ///         Err(e) if matches!(e.error(), Error::RecordModified { .. }) => {
    ///             assert_eq!(e.gave_up(), GaveUp::Conflict);
    ///             assert_eq!(e.attempts(), 1, "a stale version is not retried");
    ///             409
    ///         }
    ///         Err(_) => 500,
    ///     }
    /// }
    ///
    /// # fn main() -> Result<(), Error> {
    /// let mut tm = TransactionManager::open_in_memory()?;
    /// tm.execute("CREATE TABLE page (id INTEGER PRIMARY KEY, version INTEGER, body TEXT)", [])?;
    /// let mut page = Page { body: "first".into(), ..Page::default() };
    /// page.save(&tm)?;
    /// let stale = page.clone();
    /// page.body = "second".into();
    /// page.save(&tm)?; // someone else saved first
    /// assert_eq!(put_page(&mut tm, &stale), 409);
    /// assert_eq!(put_page(&mut tm, &page), 200);
    /// # Ok(())
    /// # }
    /// ```
    pub fn commit_on_success_with_retry<T, E, F>(
        &mut self,
        policy: &RetryPolicy,
        f: F,
    ) -> Result<Retried<T>, RetryError<E>>
    where
        F: FnMut(&mut Transaction<'_, B>) -> Result<T, E>,
        E: From<Error> + Retryable,
    {
        retry_block(&mut self.engine, policy, None, f)
    }
}

/// The retry loop behind [`TransactionManager::commit_on_success_with_retry`]
/// and `#[commit_on_success(retry = ...)]`, beginning with `begin` (`None`:
/// the manager's default).
pub(crate) fn retry_block<B, T, E, F>(
    tm: &mut Engine<B>,
    policy: &RetryPolicy,
    begin: Option<B::BlockOptions>,
    mut f: F,
) -> Result<Retried<T>, RetryError<E>>
where
    B: Backend,
    F: FnMut(&mut Transaction<'_, B>) -> Result<T, E>,
    E: From<Error> + Retryable,
{
    let start = Instant::now();
    let span = trace::retry();
    let mut attempts = 0;
    loop {
        attempts += 1;
        span.attempts(attempts);
        let error = match run_block(tm, Mode::CommitOnSuccess, begin, &mut f) {
            Ok(value) => {
                span.outcome("ok");
                return Ok(Retried { value, attempts });
            }
            Err(error) => error,
        };
        let gave_up = if error.is_conflict() && !policy.retry_conflicts {
            Some(GaveUp::Conflict)
        } else if !error.is_retryable() && !error.is_conflict() {
            Some(GaveUp::NotRetryable)
        } else if attempts >= policy.max_attempts {
            Some(GaveUp::AttemptLimit)
        } else {
            let wait = policy.backoff(attempts);
            if start.elapsed() + wait > policy.max_elapsed {
                Some(GaveUp::TimeLimit)
            } else {
                trace::retrying(attempts, wait, error.retry_cause());
                thread::sleep(wait);
                None
            }
        };
        if let Some(gave_up) = gave_up {
            span.outcome(gave_up.label());
            return Err(RetryError {
                error,
                attempts,
                elapsed: start.elapsed(),
                gave_up,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DatabaseError;

    #[test]
    fn sqlite_busy_and_locked_are_retried_as_busy_and_never_as_an_unknown_commit() {
        let sqlite = |code| {
            DatabaseError::from(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(code),
                None,
            ))
        };
        for code in [5, 6] {
            // SQLITE_BUSY, SQLITE_LOCKED
            let err = Error::statement("INSERT INTO t VALUES (1)", sqlite(code));
            assert!(err.is_retryable(), "{code}");
            assert_eq!(err.retry_cause(), "busy", "{code}");
            assert!(
                Error::Sqlite(rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error::new(code),
                    None
                ))
                .is_retryable()
            );
            assert!(
                !Error::CommitOutcomeUnknown {
                    source: sqlite(code)
                }
                .is_retryable(),
                "{code}"
            );
        }
        // SQLITE_CONSTRAINT
        let err = Error::statement("INSERT INTO t VALUES (1)", sqlite(19));
        assert!(!err.is_retryable());
        assert_eq!(err.retry_cause(), "retryable");
    }

    #[test]
    fn backoff_grows_exponentially_within_jitter_bounds_and_is_capped() {
        let policy = RetryPolicy::default()
            .with_backoff(Duration::from_millis(10), Duration::from_millis(40));
        for (attempt, full) in [(1, 10), (2, 20), (3, 40), (4, 40), (30, 40)] {
            for _ in 0..50 {
                let wait = policy.backoff(attempt);
                let full = Duration::from_millis(full);
                assert!(
                    wait >= full / 2 && wait <= full,
                    "attempt {attempt}: {wait:?}"
                );
            }
        }
    }

    #[test]
    fn backoff_is_jittered() {
        let policy = RetryPolicy::default();
        let waits: std::collections::HashSet<_> = (0..20).map(|_| policy.backoff(3)).collect();
        assert!(waits.len() > 1, "twenty identical waits: no jitter");
    }
}
