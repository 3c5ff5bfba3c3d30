//! Values crossing between Rust and SQL for record types: the traits a
//! field's type must implement ([`SqlValue`], [`FromSqlValue`]), the
//! [`Binder`] a record binds its columns to, the [`RowReader`] it is read from, and
//! [`KeyValue`], the backend-neutral form of a primary key that errors carry.
//!
//! This is the seam between record types and the database: code generated
//! by `#[derive(Record)]` names only these items, never rusqlite's or
//! `postgres`'s, so one declaration works on every backend. `Binder` and
//! `RowReader` hold a SQLite statement or row, or (feature `postgres`) a
//! PostgreSQL parameter list or row.
//!
//! With the `postgres` feature on, a value type must convert for both
//! databases: [`SqlValue`] also requires `postgres::types::ToSql + Sync`,
//! and [`FromSqlValue`] also requires `postgres::types::FromSqlOwned`.
//! Features are additive, so turning `postgres` on can make a record field
//! of your own type stop compiling until it implements those traits too
//! (see `docs/postgresql.md` for the type mapping).

use std::fmt;

use rusqlite::types::{FromSql, ToSql, ToSqlOutput, ValueRef};

/// A value that can be bound as an SQL parameter: a record's column or its
/// primary key. Implemented for every type that rusqlite can bind (`i64`,
/// `String`, `Option<T>`, `Vec<u8>`, …, and your own types that implement
/// `rusqlite::types::ToSql`). With the `postgres` feature, the type must
/// also implement `postgres::types::ToSql + Sync` (so `i64`, `i32`, `f64`,
/// `bool`, `String`, `&str`, `Vec<u8>` and `Option`s of them qualify, but
/// not `u64`, which PostgreSQL has no type for, nor the unsized `str`).
///
/// # Example
///
/// ```
/// fn bindable<T: txmanager::SqlValue + ?Sized>(_: &T) {}
/// bindable(&1_i64);
/// bindable(&"text");
/// bindable(&Some(2.5_f64));
/// ```
#[cfg(not(feature = "postgres"))]
pub trait SqlValue: ToSql {}

#[cfg(not(feature = "postgres"))]
impl<T: ToSql + ?Sized> SqlValue for T {}

/// A value that can be bound as an SQL parameter: a record's column or its
/// primary key. Implemented for every type that both rusqlite and the
/// `postgres` crate can bind (`i64`, `i32`, `f64`, `bool`, `String`, `&str`,
/// `Vec<u8>`, `Option<T>`, …, and your own types that implement
/// `rusqlite::types::ToSql` and `postgres::types::ToSql + Sync`).
///
/// # Example
///
/// ```
/// fn bindable<T: txmanager::SqlValue + ?Sized>(_: &T) {}
/// bindable(&1_i64);
/// bindable(&"text");
/// bindable(&Some(2.5_f64));
/// ```
#[cfg(feature = "postgres")]
pub trait SqlValue: ToSql + postgres::types::ToSql + Sync {}

#[cfg(feature = "postgres")]
impl<T: ToSql + postgres::types::ToSql + Sync + ?Sized> SqlValue for T {}

/// A value that can be read from an SQL column: a record's column or its
/// primary key. Implemented for every type rusqlite can read (and your own
/// types that implement `rusqlite::types::FromSql`); with the `postgres`
/// feature, the type must also implement `postgres::types::FromSqlOwned`.
///
/// # Example
///
/// ```
/// fn readable<T: txmanager::FromSqlValue>() {}
/// readable::<i64>();
/// readable::<Option<String>>();
/// ```
#[cfg(not(feature = "postgres"))]
pub trait FromSqlValue: FromSql {}

#[cfg(not(feature = "postgres"))]
impl<T: FromSql> FromSqlValue for T {}

/// A value that can be read from an SQL column: a record's column or its
/// primary key. Implemented for every type that both rusqlite and the
/// `postgres` crate can read (your own types: `rusqlite::types::FromSql`
/// and `postgres::types::FromSqlOwned`).
///
/// # Example
///
/// ```
/// fn readable<T: txmanager::FromSqlValue>() {}
/// readable::<i64>();
/// readable::<Option<String>>();
/// ```
#[cfg(feature = "postgres")]
pub trait FromSqlValue: FromSql + postgres::types::FromSqlOwned {}

#[cfg(feature = "postgres")]
impl<T: FromSql + postgres::types::FromSqlOwned> FromSqlValue for T {}

/// Why a value could not be bound or read: the database's own error. Only
/// `?` needs to see it; it becomes an [`Error::Statement`](crate::Error::Statement) naming the SQL.
///
/// # Example
///
/// ```
/// use txmanager::{Error, ValueError};
/// let err: ValueError = txmanager::rusqlite::Error::InvalidQuery.into();
/// assert!(matches!(Error::from(err), Error::Sqlite(_)));
/// ```
#[derive(Debug)]
pub struct ValueError(pub(crate) ValueErrorKind);

#[derive(Debug)]
pub(crate) enum ValueErrorKind {
    Sqlite(rusqlite::Error),
    #[cfg(feature = "postgres")]
    Postgres(postgres::Error),
}

impl fmt::Display for ValueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            ValueErrorKind::Sqlite(e) => e.fmt(f),
            #[cfg(feature = "postgres")]
            ValueErrorKind::Postgres(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for ValueError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.0 {
            ValueErrorKind::Sqlite(e) => e.source(),
            #[cfg(feature = "postgres")]
            ValueErrorKind::Postgres(e) => e.source(),
        }
    }
}

impl From<rusqlite::Error> for ValueError {
    #[inline]
    fn from(e: rusqlite::Error) -> Self {
        ValueError(ValueErrorKind::Sqlite(e))
    }
}

#[cfg(feature = "postgres")]
impl From<postgres::Error> for ValueError {
    #[inline]
    fn from(e: postgres::Error) -> Self {
        ValueError(ValueErrorKind::Postgres(e))
    }
}

impl From<ValueError> for rusqlite::Error {
    #[inline]
    fn from(e: ValueError) -> Self {
        match e.0 {
            ValueErrorKind::Sqlite(e) => e,
            // Only a record type mixing backends by hand gets here.
            #[cfg(feature = "postgres")]
            ValueErrorKind::Postgres(e) => rusqlite::Error::ToSqlConversionFailure(Box::new(e)),
        }
    }
}

/// Binds the parameters of a record statement, in order: what
/// [`Record::bind_columns`](crate::Record::bind_columns) writes its columns to.
/// It holds a SQLite statement, or a PostgreSQL parameter list.
///
/// # Example
///
/// See [`Record`](crate::Record) for a hand-written implementation.
pub struct Binder<'s, 'c> {
    target: BindTarget<'s, 'c>,
    next: usize,
}

enum BindTarget<'s, 'c> {
    Sqlite(&'s mut rusqlite::Statement<'c>),
    /// The statement's parameter types, and the values encoded so far.
    #[cfg(feature = "postgres")]
    Postgres(&'s [postgres::types::Type], &'s mut Vec<Encoded>),
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
        Binder {
            target: BindTarget::Sqlite(stmt),
            next: first,
        }
    }

    /// A binder that encodes each value for the parameter type PostgreSQL
    /// gave the prepared statement, appending it to `values`.
    #[cfg(feature = "postgres")]
    #[inline]
    pub(crate) fn postgres(
        types: &'s [postgres::types::Type],
        values: &'s mut Vec<Encoded>,
    ) -> Self {
        Binder {
            target: BindTarget::Postgres(types, values),
            next: 1,
        }
    }

    /// Binds `value` to the next parameter.
    ///
    /// # Errors
    ///
    /// The database's error if the value cannot be bound. (On PostgreSQL a
    /// value that does not convert to its parameter's type is reported when
    /// the statement runs, as an [`Error::Statement`](crate::Error::Statement) naming the SQL and the
    /// parameter.)
    #[inline]
    pub fn bind<V: SqlValue + ?Sized>(&mut self, value: &V) -> Result<(), ValueError> {
        match &mut self.target {
            BindTarget::Sqlite(stmt) => stmt.raw_bind_parameter(self.next, value)?,
            #[cfg(feature = "postgres")]
            BindTarget::Postgres(types, values) => {
                values.push(Encoded::new(types.get(self.next - 1), value));
            }
        }
        self.next += 1;
        Ok(())
    }
}

/// A value encoded for one parameter of a prepared PostgreSQL statement,
/// in the format its own `ToSql` chose: what a [`Binder`] collects, because
/// a record's fields are borrowed only while it binds them. The statement
/// sends the bytes as they are. A value that would not convert keeps its
/// error, and the statement fails with it (naming the parameter) when it
/// runs.
#[cfg(feature = "postgres")]
#[derive(Debug)]
pub(crate) struct Encoded(Result<Option<(bytes::BytesMut, postgres::types::Format)>, String>);

#[cfg(feature = "postgres")]
impl Encoded {
    /// Encodes `value` for a parameter of type `ty`; `None` when the
    /// statement has no such parameter (the server then refuses the count).
    pub(crate) fn new<V: postgres::types::ToSql + ?Sized>(
        ty: Option<&postgres::types::Type>,
        value: &V,
    ) -> Self {
        let Some(ty) = ty else {
            return Encoded(Err(
                "the statement has no parameter for this value".to_owned()
            ));
        };
        let mut out = bytes::BytesMut::new();
        Encoded(match value.to_sql_checked(ty, &mut out) {
            Ok(postgres::types::IsNull::Yes) => Ok(None),
            Ok(postgres::types::IsNull::No) => Ok(Some((out, value.encode_format(ty)))),
            Err(e) => Err(e.to_string()),
        })
    }
}

#[cfg(feature = "postgres")]
impl postgres::types::ToSql for Encoded {
    fn to_sql(
        &self,
        _ty: &postgres::types::Type,
        out: &mut bytes::BytesMut,
    ) -> Result<postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match &self.0 {
            Ok(Some((bytes, _))) => {
                out.extend_from_slice(bytes);
                Ok(postgres::types::IsNull::No)
            }
            Ok(None) => Ok(postgres::types::IsNull::Yes),
            Err(e) => Err(e.clone().into()),
        }
    }

    /// The type was checked when the value was encoded.
    fn accepts(_ty: &postgres::types::Type) -> bool {
        true
    }

    fn encode_format(&self, _ty: &postgres::types::Type) -> postgres::types::Format {
        match &self.0 {
            Ok(Some((_, format))) => *format,
            _ => postgres::types::Format::Binary,
        }
    }

    postgres::types::to_sql_checked!();
}

/// A result row of a record statement, read column by column in order: what
/// [`Record::from_row`](crate::Record::from_row) builds a record from.
/// It holds a SQLite row, or a PostgreSQL row.
///
/// # Example
///
/// See [`Record`](crate::Record) for a hand-written implementation.
pub struct RowReader<'r, 's> {
    row: RowSource<'r, 's>,
    next: usize,
}

enum RowSource<'r, 's> {
    Sqlite(&'r rusqlite::Row<'s>),
    #[cfg(feature = "postgres")]
    Postgres(&'r postgres::Row),
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
        RowReader {
            row: RowSource::Sqlite(row),
            next: 0,
        }
    }

    /// A reader of a PostgreSQL row.
    #[cfg(feature = "postgres")]
    #[inline]
    pub(crate) fn postgres(row: &'r postgres::Row) -> Self {
        RowReader {
            row: RowSource::Postgres(row),
            next: 0,
        }
    }

    /// Skips the next column without reading it: for a value the caller
    /// already has, such as the key a record was loaded by.
    ///
    /// ```
    /// # use txmanager::{Record, RecordMeta, RowReader, Binder, ValueError};
    /// # #[derive(Debug)] struct Tag { id: Option<i64>, label: String }
    /// # impl Record for Tag {
    /// #     type Key = i64;
    /// #     fn meta() -> &'static RecordMeta { static M: RecordMeta = RecordMeta::new("tag", "id", &["label"], None); &M }
    /// #     fn primary_key(&self) -> Option<&i64> { self.id.as_ref() }
    /// #     fn set_primary_key(&mut self, pk: Option<i64>) { self.id = pk; }
    /// #     fn version(&self) -> Option<i64> { None }
    /// #     fn set_version(&mut self, _: Option<i64>) {}
    /// #     fn bind_columns(&self, values: &mut Binder<'_, '_>) -> Result<(), ValueError> { values.bind(&self.label) }
    /// #     fn from_row(row: &mut RowReader<'_, '_>) -> Result<Self, ValueError> { Ok(Tag { id: row.read()?, label: row.read()? }) }
    /// // In `impl Record for Tag`: a row loaded by key `pk` has `pk` first.
    /// fn from_row_with_key(pk: &i64, row: &mut RowReader<'_, '_>) -> Result<Self, ValueError> {
    ///     row.skip();
    ///     Ok(Tag { id: Some(*pk), label: row.read()? })
    /// }
    /// # }
    /// # fn main() -> Result<(), txmanager::Error> {
    /// # let tm = txmanager::TransactionManager::open_in_memory()?;
    /// # tm.execute("CREATE TABLE tag (id INTEGER PRIMARY KEY, label TEXT)", [])?;
    /// # tm.execute("INSERT INTO tag VALUES (3, 'x')", [])?;
    /// # assert_eq!(Tag::get(&tm, 3)?.label, "x");
    /// # Ok(())
    /// # }
    /// ```
    #[inline]
    pub fn skip(&mut self) {
        self.next += 1;
    }

    /// Reads the next column.
    ///
    /// # Errors
    ///
    /// The database's error if the column does not convert to `V`.
    #[inline]
    pub fn read<V: FromSqlValue>(&mut self) -> Result<V, ValueError> {
        let value = match self.row {
            RowSource::Sqlite(row) => row.get(self.next)?,
            #[cfg(feature = "postgres")]
            RowSource::Postgres(row) => row.try_get(self.next)?,
        };
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
        let value_ref = match ToSql::to_sql(value) {
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
