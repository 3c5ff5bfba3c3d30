//! Values crossing between Rust and SQL for record types: the traits a
//! field's type must implement ([`SqlValue`], [`FromSqlValue`]), the
//! [`Binder`] a record binds its columns to, the [`RowReader`] it is read from, and
//! [`KeyValue`], the backend-neutral form of a primary key that errors carry.
//!
//! This is the seam between record types and the database: code generated
//! by `#[derive(Record)]` names only these items, never rusqlite's, so a
//! second backend can implement the same seam.

use std::fmt;

use rusqlite::types::{FromSql, ToSql, ToSqlOutput, ValueRef};

use crate::Error;

/// A value that can be bound as an SQL parameter: a record's column or its
/// primary key. Implemented for every type that rusqlite can bind (`i64`,
/// `String`, `Option<T>`, `Vec<u8>`, …, and your own types that implement
/// `rusqlite::types::ToSql`).
///
/// # Example
///
/// ```
/// fn bindable<T: txmanager::SqlValue + ?Sized>(_: &T) {}
/// bindable(&1_i64);
/// bindable("text");
/// bindable(&Some(2.5_f64));
/// ```
pub trait SqlValue: ToSql {}

impl<T: ToSql + ?Sized> SqlValue for T {}

/// A value that can be read from an SQL column: a record's column or its
/// primary key. Implemented for every type rusqlite can read (and your own
/// types that implement `rusqlite::types::FromSql`).
///
/// # Example
///
/// ```
/// fn readable<T: txmanager::FromSqlValue>() {}
/// readable::<i64>();
/// readable::<Option<String>>();
/// ```
pub trait FromSqlValue: FromSql {}

impl<T: FromSql> FromSqlValue for T {}

/// Why a value could not be bound or read: the database's own error. Only
/// `?` needs to see it; it becomes an [`Error::Statement`] naming the SQL.
///
/// # Example
///
/// ```
/// use txmanager::{Error, ValueError};
/// let err: ValueError = txmanager::rusqlite::Error::InvalidQuery.into();
/// assert!(matches!(Error::from(err), Error::Sqlite(_)));
/// ```
#[derive(Debug)]
pub struct ValueError(rusqlite::Error);

impl fmt::Display for ValueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for ValueError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

impl From<rusqlite::Error> for ValueError {
    #[inline]
    fn from(e: rusqlite::Error) -> Self {
        ValueError(e)
    }
}

impl From<ValueError> for rusqlite::Error {
    #[inline]
    fn from(e: ValueError) -> Self {
        e.0
    }
}

impl From<ValueError> for Error {
    fn from(e: ValueError) -> Self {
        Error::Sqlite(e.0)
    }
}

/// Binds the parameters of a record statement, in order: what
/// [`Record::bind_columns`](crate::Record::bind_columns) writes its columns to.
///
/// # Example
///
/// See [`Record`](crate::Record) for a hand-written implementation.
pub struct Binder<'s, 'c> {
    stmt: &'s mut rusqlite::Statement<'c>,
    next: usize,
}

impl fmt::Debug for Binder<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Binder")
            .field("next", &self.next)
            .finish_non_exhaustive()
    }
}

impl<'s, 'c> Binder<'s, 'c> {
    #[inline]
    pub(crate) fn new(stmt: &'s mut rusqlite::Statement<'c>, first: usize) -> Self {
        Binder { stmt, next: first }
    }

    /// Binds `value` to the next parameter.
    ///
    /// # Errors
    ///
    /// The database's error if the value cannot be bound.
    #[inline]
    pub fn bind<V: SqlValue + ?Sized>(&mut self, value: &V) -> Result<(), ValueError> {
        self.stmt.raw_bind_parameter(self.next, value)?;
        self.next += 1;
        Ok(())
    }

    /// The index the next value will be bound to.
    #[inline]
    pub(crate) fn next_index(&self) -> usize {
        self.next
    }
}

/// A result row of a record statement, read column by column in order: what
/// [`Record::from_row`](crate::Record::from_row) builds a record from.
///
/// # Example
///
/// See [`Record`](crate::Record) for a hand-written implementation.
pub struct RowReader<'r, 's> {
    row: &'r rusqlite::Row<'s>,
    next: usize,
}

impl fmt::Debug for RowReader<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RowReader")
            .field("next", &self.next)
            .finish_non_exhaustive()
    }
}

impl<'r, 's> RowReader<'r, 's> {
    #[inline]
    pub(crate) fn new(row: &'r rusqlite::Row<'s>) -> Self {
        RowReader { row, next: 0 }
    }

    /// Reads the next column.
    ///
    /// # Errors
    ///
    /// The database's error if the column does not convert to `V`.
    #[inline]
    pub fn read<V: FromSqlValue>(&mut self) -> Result<V, ValueError> {
        let value = self.row.get(self.next)?;
        self.next += 1;
        Ok(value)
    }
}

/// A primary key, as errors and [`ConcurrencyTarget`](crate::ConcurrencyTarget)
/// carry it: one form for every key type, whatever the database.
///
/// Compares equal to the plain values it holds, so tests can write
/// `pk == 1` or `pk == "ann"`.
///
/// # Example
///
/// ```
/// use txmanager::KeyValue;
///
/// assert_eq!(KeyValue::from(7), 7);
/// assert_eq!(KeyValue::from("ann").to_string(), "'ann'");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(untagged)
)]
#[non_exhaustive]
pub enum KeyValue {
    /// An integer key.
    Integer(i64),
    /// A text key.
    Text(String),
    /// A binary key.
    Blob(Vec<u8>),
    /// Any other value (a real number, `NULL`), as text.
    Other(String),
}

impl KeyValue {
    /// The key form of any bindable value.
    ///
    /// ```
    /// use txmanager::KeyValue;
    /// assert_eq!(KeyValue::of(&String::from("x")), KeyValue::Text("x".into()));
    /// ```
    #[must_use]
    pub fn of<V: SqlValue + ?Sized>(value: &V) -> Self {
        let value_ref = match value.to_sql() {
            Ok(ToSqlOutput::Borrowed(v)) => v,
            Ok(ToSqlOutput::Owned(ref v)) => return Self::from_ref(v.into()),
            Ok(_) => return KeyValue::Other("(unrepresentable)".to_owned()),
            Err(e) => return KeyValue::Other(format!("(unrepresentable: {e})")),
        };
        Self::from_ref(value_ref)
    }

    fn from_ref(value: ValueRef<'_>) -> Self {
        match value {
            ValueRef::Integer(i) => KeyValue::Integer(i),
            ValueRef::Text(t) => KeyValue::Text(String::from_utf8_lossy(t).into_owned()),
            ValueRef::Blob(b) => KeyValue::Blob(b.to_vec()),
            ValueRef::Real(r) => KeyValue::Other(r.to_string()),
            ValueRef::Null => KeyValue::Other("NULL".to_owned()),
        }
    }
}

impl fmt::Display for KeyValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyValue::Integer(i) => write!(f, "{i}"),
            KeyValue::Text(t) => write!(f, "'{}'", t.replace('\'', "''")),
            KeyValue::Blob(b) => {
                f.write_str("x'")?;
                for byte in b {
                    write!(f, "{byte:02x}")?;
                }
                f.write_str("'")
            }
            KeyValue::Other(o) => f.write_str(o),
        }
    }
}

impl From<i64> for KeyValue {
    fn from(i: i64) -> Self {
        KeyValue::Integer(i)
    }
}

impl From<&str> for KeyValue {
    fn from(t: &str) -> Self {
        KeyValue::Text(t.to_owned())
    }
}

impl From<String> for KeyValue {
    fn from(t: String) -> Self {
        KeyValue::Text(t)
    }
}

impl PartialEq<i64> for KeyValue {
    fn eq(&self, other: &i64) -> bool {
        matches!(self, KeyValue::Integer(i) if i == other)
    }
}

impl PartialEq<&str> for KeyValue {
    fn eq(&self, other: &&str) -> bool {
        matches!(self, KeyValue::Text(t) if t == other)
    }
}

/// Converts a rowid SQLite assigned on insert into the key type, or says
/// why the key type cannot hold one.
#[inline]
pub(crate) fn key_from_rowid<K: FromSqlValue>(rowid: i64) -> Result<K, rusqlite::Error> {
    K::column_result(ValueRef::Integer(rowid)).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Integer, Box::new(e))
    })
}
