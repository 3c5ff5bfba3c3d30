//! [`Conflict`]: an optimistic-locking conflict as plain data, for an HTTP
//! 409 body, a log line or a message to another service.

use std::fmt;
use std::sync::Arc;

use crate::backend::Backend;
use crate::{Error, KeyValue, TransactionManager};

/// What [`TransactionManager::set_conflict_handler`] and
/// [`Opener::with_conflict_handler`](crate::Opener::with_conflict_handler)
/// keep.
pub(crate) type ConflictHandler = Arc<dyn Fn(&Conflict) + Send + Sync>;

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
        self.conflict_handler = Some(Arc::new(handler));
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
        self.conflict_handler = None;
    }

    /// Reports a conflict to the handler, if there is one.
    #[cold]
    pub(crate) fn report_conflict(&self, err: &Error) {
        if let (Some(handler), Some(conflict)) = (&self.conflict_handler, err.conflict()) {
            handler(&conflict);
        }
    }
}

/// The facts of an [`Error::RecordModified`]: which row, the version the
/// writer loaded, and the version found instead (`None` if the row was
/// deleted). With the `serde` feature it is `Serialize` and `Deserialize`,
/// so it can be sent as it is, for example as an HTTP 409 response body.
///
/// Get one from an error with [`Error::conflict`].
///
/// # Example
///
/// ```
/// use txmanager::{Conflict, Error};
///
/// let err = Error::RecordModified { table: "page", pk: 7.into(), expected: 1, found: Some(2) };
/// let conflict = err.conflict().expect("a version conflict");
/// assert_eq!(conflict, Conflict { table: "page".into(), pk: 7.into(), expected: 1, found: Some(2) });
/// assert_eq!(conflict.to_string(), err.to_string());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Conflict {
    /// The record's table.
    pub table: String,
    /// The record's primary key (with `serde`, a plain JSON number, string
    /// or byte array).
    pub pk: KeyValue,
    /// The version the writer loaded the record at.
    pub expected: i64,
    /// The version in the database when the write was refused, or `None`
    /// if the row had been deleted.
    pub found: Option<i64>,
}

impl fmt::Display for Conflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Conflict {
            table,
            pk,
            expected,
            found,
        } = self;
        write!(
            f,
            "record modified: {table} row {pk} was loaded at version {expected}, but "
        )?;
        match found {
            Some(version) => write!(f, "is now at version {version}")?,
            None => f.write_str("has since been deleted")?,
        }
        f.write_str("; nothing was written: reload the record, reapply the change and save again")
    }
}

impl Error {
    /// The conflict this error reports, if it is
    /// [`Error::RecordModified`].
    ///
    /// ```
    /// use txmanager::Error;
    ///
    /// let err = Error::RecordModified { table: "page", pk: 7.into(), expected: 1, found: None };
    /// assert_eq!(err.conflict().map(|c| c.found), Some(None));
    /// assert_eq!(Error::PendingCommitRollback.conflict(), None);
    /// ```
    #[must_use]
    pub fn conflict(&self) -> Option<Conflict> {
        match self {
            Error::RecordModified {
                table,
                pk,
                expected,
                found,
            } => Some(Conflict {
                table: (*table).to_owned(),
                pk: pk.clone(),
                expected: *expected,
                found: *found,
            }),
            _ => None,
        }
    }
}
