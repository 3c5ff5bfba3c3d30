//! [`Conflict`]: an optimistic-locking conflict as plain data, for an HTTP
//! 409 body, a log line or a message to another service.

use std::fmt;
use std::sync::Arc;

use crate::{Error, KeyValue};

/// What [`TransactionManager::set_conflict_handler`](crate::TransactionManager::set_conflict_handler) and
/// [`Opener::with_conflict_handler`](crate::Opener::with_conflict_handler)
/// keep.
pub(crate) type ConflictHandler = Arc<dyn Fn(&Conflict) + Send + Sync>;

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
