//! [`OptionalExtension`]: "no such row" as `Ok(None)`, for the calls that
//! report a missing row as an error.

use crate::Error;

/// Turns the error for a missing row into `Ok(None)`, as rusqlite's and
/// diesel's `.optional()` do: for [`Record::get`](crate::Record::get) and
/// [`Record::reload`](crate::Record::reload) ([`Error::RecordNotFound`]),
/// and for `query_row` on SQLite (`QueryReturnedNoRows`). Every other error
/// is returned as it is. [`Record::find`](crate::Record::find) already
/// answers `Ok(None)`; on PostgreSQL, `query_opt` does.
///
/// # Example
///
/// ```
/// use txmanager::{OptionalExtension, Record, TransactionManager};
/// # #[derive(Debug, Clone, Default, Record)] struct Tag { #[record(primary_key)] id: Option<i64>, label: String }
///
/// # fn main() -> Result<(), txmanager::Error> {
/// let tm = TransactionManager::open_in_memory()?;
/// tm.execute("CREATE TABLE tag (id INTEGER PRIMARY KEY, label TEXT)", [])?;
/// assert!(Tag::get(&tm, 1).optional()?.is_none());
/// let label: Option<String> = tm.query_row("SELECT label FROM tag", [], |r| r.get(0)).optional()?;
/// assert_eq!(label, None);
/// // Other errors stay errors.
/// assert!(tm.query_row("SELECT nope FROM tag", [], |r| r.get::<_, String>(0)).optional().is_err());
/// # Ok(())
/// # }
/// ```
pub trait OptionalExtension<T> {
    /// `Ok(Some(value))`, `Ok(None)` for a missing row, or the error.
    ///
    /// # Errors
    ///
    /// Every error but the one for a missing row.
    ///
    /// ```
    /// use txmanager::{Error, OptionalExtension};
    ///
    /// let missing: Result<i64, Error> = Err(Error::RecordNotFound { table: "tag", pk: 1.into() });
    /// assert_eq!(missing.optional().ok(), Some(None));
    /// ```
    fn optional(self) -> Result<Option<T>, Error>;
}

impl<T> OptionalExtension<T> for Result<T, Error> {
    fn optional(self) -> Result<Option<T>, Error> {
        match self {
            Ok(value) => Ok(Some(value)),
            // Each database says which of its errors is a missing row.
            Err(err) if err.is_missing_row() => Ok(None),
            Err(err) => Err(err),
        }
    }
}
