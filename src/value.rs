//! Values crossing between Rust and SQL for record types: the traits a
//! field's type must implement ([`SqlValue`], [`FromSqlValue`]), the
//! [`Binder`] a record binds its columns to, the [`RowReader`] it is read from, and
//! [`KeyValue`], the backend-neutral form of a primary key that errors carry.
//!
//! This is the seam between record types and the database: code generated
//! by `#[derive(Record)]` names only these items, never rusqlite's or
//! `postgres`'s, so one declaration works on every backend. `Binder` and
//! `RowReader` hold what their backend binds to and reads from (a SQLite
//! statement or row, a PostgreSQL parameter list or row): each backend
//! module names those types in its [`ValueSeam`] impl, so this module names
//! no database.
//!
//! The value traits and `Binder`/`RowReader` are generic over the backend
//! (SQLite by default), so a field type is required to convert only on the
//! backends its record is used on: turning the `postgres` feature on (a
//! Cargo feature, so for every crate in the build) never stops a
//! SQLite-only record with a `u16` or `u64` field, or a field of a type
//! that implements only rusqlite's traits, from compiling; using that record
//! on PostgreSQL does not compile (see `docs/postgresql.md` for the type
//! mapping).

use std::fmt;
use std::marker::PhantomData;

/// A value that can be bound as an SQL parameter on backend `B`
/// ([`Sqlite`](crate::Sqlite), or `Postgres` with the `postgres` feature):
/// a record's column or its primary key.
///
/// Implemented, per backend, for every type that backend's driver binds:
/// on SQLite every `rusqlite::types::ToSql` type (`i64`, `u16`, `String`,
/// `Option<T>`, `Vec<u8>`, …, `u64` with rusqlite's `fallible_uint`
/// feature, and your own types that implement it); on
/// PostgreSQL every `postgres::types::ToSql + Sync` type (`i64`, `i32`,
/// `f64`, `bool`, `String`, `&str`, `Vec<u8>`, `Option`s of them, … but
/// not `u16` or `u64`, which PostgreSQL has no type for). A record type needs its
/// field types to convert only on the backends it is used on: turning the
/// `postgres` feature on changes nothing for SQLite records.
///
/// # Example
///
/// ```
/// use txmanager::{Sqlite, SqlValue};
///
/// fn bindable<T: SqlValue<Sqlite> + ?Sized>(_: &T) {}
/// bindable(&1_i64);
/// bindable(&u16::MAX); // SQLite binds a u16; PostgreSQL has no unsigned types
/// bindable(&"text");
/// bindable(&Some(2.5_f64));
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be bound as a parameter on {B}",
    label = "not bindable on {B}",
    note = "a record's field and key types must convert on every backend the record is used on: use a type that backend's driver binds (PostgreSQL has no unsigned integers: use i64), or implement the driver's ToSql for your type"
)]
pub trait SqlValue<B> {
    /// Binds the value to parameter `index` (1-based) of `target`. Hidden,
    /// not API, and harmless outside the crate: the only targets users can
    /// reach are statements of their own (a `rusqlite::Statement` on
    /// SQLite), never one a [`Binder`] holds or the engine runs.
    #[doc(hidden)]
    fn bind_param<'s, 'c>(
        &self,
        target: &mut B::BindTarget<'s, 'c>,
        index: usize,
    ) -> Result<(), ValueError>
    where
        B: ValueSeam,
        'c: 's;

    /// The value as a key, for errors and `disable_concurrency` rows.
    #[doc(hidden)]
    fn key_value(&self) -> KeyValue;
}

impl<T: ?Sized, B: BindsValue<T>> SqlValue<B> for T {
    #[doc(hidden)] // as in the trait: no dead links on the implementors' pages
    #[inline(always)] // a forwarding call per field: keep the field's bind in line
    fn bind_param<'s, 'c>(
        &self,
        target: &mut B::BindTarget<'s, 'c>,
        index: usize,
    ) -> Result<(), ValueError>
    where
        'c: 's,
    {
        B::bind_value(self, target, index)
    }

    #[doc(hidden)]
    #[inline]
    fn key_value(&self) -> KeyValue {
        B::key_value(self)
    }
}

/// A value that can be read from an SQL column on backend `B`: a
/// record's column or its primary key. Implemented, per backend, for every
/// type that backend's driver reads: on SQLite every
/// `rusqlite::types::FromSql` type; on PostgreSQL every
/// `postgres::types::FromSqlOwned` type.
///
/// # Example
///
/// ```
/// use txmanager::{FromSqlValue, Sqlite};
///
/// fn readable<T: FromSqlValue<Sqlite>>() {}
/// readable::<i64>();
/// readable::<u16>();
/// readable::<Option<String>>();
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be read from a column on {B}",
    label = "not readable on {B}",
    note = "a record's field and key types must convert on every backend the record is used on: use a type that backend's driver reads (PostgreSQL has no unsigned integers: use i64), or implement the driver's FromSql for your type"
)]
pub trait FromSqlValue<B>: Sized {
    /// Reads column `index` (0-based) of `row`. Hidden, not API, and
    /// harmless outside the crate, as [`SqlValue`]'s `bind_param` is: it
    /// only reads a row the caller already has.
    #[doc(hidden)]
    fn read_column<'r, 's>(row: &B::Row<'r, 's>, index: usize) -> Result<Self, ValueError>
    where
        B: ValueSeam,
        's: 'r;

    /// Whether a column of type `ty` reads as `Self`: asked before a
    /// statement whose result must read once it has written.
    #[doc(hidden)]
    fn reads_column_type(ty: &B::ColumnType) -> bool
    where
        B: ValueSeam;

    /// Converts a key the database assigned on insert (SQLite's rowid).
    #[doc(hidden)]
    fn from_assigned_key(key: B::AssignedKey) -> Result<Self, ValueError>
    where
        B: ValueSeam;
}

impl<T, B: ReadsValue<T>> FromSqlValue<B> for T {
    #[doc(hidden)] // as in the trait: no dead links on the implementors' pages
    #[inline(always)] // a forwarding call per field: keep the field's read in line
    fn read_column<'r, 's>(row: &B::Row<'r, 's>, index: usize) -> Result<Self, ValueError>
    where
        's: 'r,
    {
        B::read_value(row, index)
    }

    #[doc(hidden)]
    #[inline]
    fn reads_column_type(ty: &B::ColumnType) -> bool {
        B::reads_column_type(ty)
    }

    #[doc(hidden)]
    #[inline]
    fn from_assigned_key(key: B::AssignedKey) -> Result<Self, ValueError> {
        B::from_assigned_key(key)
    }
}

/// A backend's side of the value seam: what its statements bind values to
/// and its rows are read from. Each backend module implements it for its
/// backend type, and [`BindsValue`] and [`ReadsValue`] for the value types
/// its driver converts; [`Binder`] and [`RowReader`] then hold that
/// backend's own target and row, so a value can never reach another
/// backend's statement. `pub` in this private module because the value
/// traits name it; it cannot be named, or implemented, from outside the
/// crate.
///
/// Its `on_unimplemented` message is what generic code that names
/// `Binder<'_, '_, B>` or `RowReader<'_, '_, B>` without bounding `B` sees:
/// it points at [`Backend`](crate::Backend), the bound users can write,
/// rather than at this trait, which they cannot (`tests/ui/binder_without_backend_bound.rs`).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a txmanager backend",
    label = "not a txmanager backend",
    note = "code generic over the backend bounds its type parameter with `B: txmanager::Backend`"
)]
pub trait ValueSeam: Sized {
    /// What a [`Binder`] binds parameters to, for a statement borrowed for
    /// `'s` from a connection borrowed for `'c`.
    type BindTarget<'s, 'c>
    where
        'c: 's;

    /// What a [`RowReader`] reads, a row borrowed for `'r` from a statement
    /// borrowed for `'s`.
    type Row<'r, 's>
    where
        's: 'r;

    /// A result column's type, as the driver reports it before any row is
    /// read (see [`ReadsValue::reads_column_type`]); `Infallible` where the
    /// driver reports none.
    type ColumnType;

    /// A key the database assigns on insert and the driver reports apart
    /// from any row (SQLite's rowid; see [`ReadsValue::from_assigned_key`]);
    /// `Infallible` where an assigned key is read back from a row
    /// (PostgreSQL's `RETURNING`).
    type AssignedKey;

    /// The client's error, which a [`ValueError`] holds (the backend
    /// module implements `From` for it, through `ValueError::new`), and
    /// which `error.rs` turns into that database's variant of
    /// [`Error`](crate::Error).
    type Error: std::error::Error + Send + Sync + 'static + Into<ValueError>;
}

/// A backend that binds values of type `T`: implemented by each backend
/// module for the types its driver binds. `pub` in this private module
/// because [`SqlValue`]'s blanket impl and [`CommonValues`] name it; it
/// cannot be named, or implemented, from outside the crate.
#[diagnostic::on_unimplemented(
    message = "{Self} cannot bind a `{T}`",
    note = "PostgreSQL has no unsigned integers: use i64, or a type with the postgres crate's ToSql"
)]
pub trait BindsValue<T: ?Sized>: ValueSeam {
    /// Binds `value` to parameter `index` (1-based) of `target`.
    fn bind_value<'s, 'c: 's>(
        value: &T,
        target: &mut Self::BindTarget<'s, 'c>,
        index: usize,
    ) -> Result<(), ValueError>;

    /// `value` as a key, for errors and `disable_concurrency` rows.
    fn key_value(value: &T) -> KeyValue;
}

/// A backend that reads values of type `T`; see [`BindsValue`].
#[diagnostic::on_unimplemented(
    message = "{Self} cannot read a `{T}`",
    note = "PostgreSQL has no unsigned integers: use i64, or a type with the postgres crate's FromSql"
)]
pub trait ReadsValue<T>: ValueSeam {
    /// Reads column `index` (0-based) of `row`.
    fn read_value<'r, 's: 'r>(row: &Self::Row<'r, 's>, index: usize) -> Result<T, ValueError>;

    /// Whether a column of type `ty` reads as a `T`. By default `true`:
    /// a driver that says nothing before reading reads or fails per value.
    #[inline]
    fn reads_column_type(_ty: &Self::ColumnType) -> bool {
        true
    }

    /// Converts a key the database assigned on insert.
    fn from_assigned_key(key: Self::AssignedKey) -> Result<T, ValueError>;
}

/// The value types every backend converts (the version's `i64`, and the
/// usual field types, plain and in an `Option`): a supertrait of
/// [`Backend`](crate::Backend), so that code generic over the backend can
/// load and save records made of them. Each backend's records module
/// implements it with an empty `impl`, which the compiler checks against
/// this list.
pub trait CommonValues:
    BindsValue<i64>
    + ReadsValue<i64>
    + BindsValue<Option<i64>>
    + ReadsValue<Option<i64>>
    + BindsValue<i32>
    + ReadsValue<i32>
    + BindsValue<Option<i32>>
    + ReadsValue<Option<i32>>
    + BindsValue<f64>
    + ReadsValue<f64>
    + BindsValue<Option<f64>>
    + ReadsValue<Option<f64>>
    + BindsValue<bool>
    + ReadsValue<bool>
    + BindsValue<Option<bool>>
    + ReadsValue<Option<bool>>
    + BindsValue<String>
    + ReadsValue<String>
    + BindsValue<Option<String>>
    + ReadsValue<Option<String>>
    + BindsValue<Vec<u8>>
    + ReadsValue<Vec<u8>>
    + BindsValue<Option<Vec<u8>>>
    + ReadsValue<Option<Vec<u8>>>
{
}

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
pub struct ValueError(Box<dyn std::error::Error + Send + Sync + 'static>);

impl ValueError {
    /// A value error holding `error`, the error of backend `B`'s client:
    /// what each backend's `From` impl for its client's error calls.
    /// Boxed, so that a `Result<_, ValueError>` on the per-field path
    /// stays two words, and the box is made only when a value fails.
    #[cold]
    #[inline]
    pub(crate) fn new<B: ValueSeam>(error: B::Error) -> Self {
        ValueError(Box::new(error))
    }

    /// The client's error this value error holds: `error.rs` and the
    /// backend modules recover its type by downcasting.
    pub(crate) fn into_inner(self) -> Box<dyn std::error::Error + Send + Sync + 'static> {
        self.0
    }
}

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

/// Binds the parameters of a record statement, in order: what
/// [`RecordValues::bind_columns`](crate::RecordValues::bind_columns) writes its columns to.
/// It holds backend `B`'s own bind target: a SQLite statement, or a
/// PostgreSQL parameter list. `B` is a [`Backend`](crate::Backend) (the
/// bound the type shows names the backend's value types, which are not
/// public): code generic over the backend writes `B: Backend`.
///
/// # Example
///
/// See [`Record`](crate::Record) for a hand-written implementation. Code
/// generic over the backend binds the types every backend converts:
///
/// ```
/// use txmanager::{Backend, Binder, ValueError};
///
/// fn bind_label<B: Backend>(values: &mut Binder<'_, '_, B>, id: i64, label: &String) -> Result<(), ValueError> {
///     values.bind(&id)?;
///     values.bind(label)
/// }
/// ```
pub struct Binder<'s, 'c: 's, B: ValueSeam> {
    target: B::BindTarget<'s, 'c>,
    next: usize,
    backend: PhantomData<fn() -> B>,
}

impl<B: ValueSeam> fmt::Debug for Binder<'_, '_, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Binder")
            .field("next", &self.next)
            .finish_non_exhaustive()
    }
}

impl<'s, 'c: 's, B: ValueSeam> Binder<'s, 'c, B> {
    /// A binder of `target`'s parameters from `first` (1-based) on: made
    /// only by backend `B`'s module, for its own statements.
    #[inline]
    pub(crate) fn new(target: B::BindTarget<'s, 'c>, first: usize) -> Self {
        Binder {
            target,
            next: first,
            backend: PhantomData,
        }
    }
}

impl<B: ValueSeam> Binder<'_, '_, B> {
    /// Binds `value` to the next parameter. `V` must convert on this
    /// binder's backend `B` ([`SqlValue<B>`]).
    ///
    /// # Errors
    ///
    /// The database's error if the value cannot be bound. (On PostgreSQL a
    /// value that does not convert to its parameter's type is reported when
    /// the statement runs, as an [`Error::Statement`](crate::Error::Statement) naming the SQL and the
    /// parameter.)
    #[inline(always)] // once per field: the derive's binds stay one pass
    pub fn bind<V: SqlValue<B> + ?Sized>(&mut self, value: &V) -> Result<(), ValueError> {
        value.bind_param(&mut self.target, self.next)?;
        self.next += 1;
        Ok(())
    }
}

/// A result row of a record statement, read column by column in order: what
/// [`RecordValues::from_row`](crate::RecordValues::from_row) builds a record from.
/// It holds backend `B`'s own row: a SQLite row, or a PostgreSQL row. `B`
/// is a [`Backend`](crate::Backend), as for [`Binder`].
///
/// # Example
///
/// See [`Record`](crate::Record) for a hand-written implementation.
pub struct RowReader<'r, 's: 'r, B: ValueSeam> {
    row: B::Row<'r, 's>,
    next: usize,
    backend: PhantomData<fn() -> B>,
}

impl<B: ValueSeam> fmt::Debug for RowReader<'_, '_, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RowReader")
            .field("next", &self.next)
            .finish_non_exhaustive()
    }
}

impl<'r, 's: 'r, B: ValueSeam> RowReader<'r, 's, B> {
    /// A reader of `row`: made only by backend `B`'s module, for its own
    /// statements.
    #[inline]
    pub(crate) fn new(row: B::Row<'r, 's>) -> Self {
        RowReader {
            row,
            next: 0,
            backend: PhantomData,
        }
    }
}

impl<B: ValueSeam> RowReader<'_, '_, B> {
    /// Skips the next column without reading it: for a value the caller
    /// already has, such as the key a record was loaded by.
    ///
    /// ```
    /// # use txmanager::{Record, RecordMeta, RecordValues, RowReader, Binder, Sqlite, ValueError};
    /// # #[derive(Debug)] struct Tag { id: Option<i64>, label: String }
    /// # impl Record for Tag {
    /// #     type Key = i64;
    /// #     fn meta() -> &'static RecordMeta { static M: RecordMeta = RecordMeta::new("tag", "id", &["label"], None); &M }
    /// #     fn primary_key(&self) -> Option<&i64> { self.id.as_ref() }
    /// #     fn set_primary_key(&mut self, pk: Option<i64>) { self.id = pk; }
    /// #     fn version(&self) -> Option<i64> { None }
    /// #     fn set_version(&mut self, _: Option<i64>) {}
    /// # }
    /// # impl RecordValues<Sqlite> for Tag {
    /// #     fn bind_columns(&self, values: &mut Binder<'_, '_, Sqlite>) -> Result<(), ValueError> { values.bind(&self.label) }
    /// #     fn from_row(row: &mut RowReader<'_, '_, Sqlite>) -> Result<Self, ValueError> { Ok(Tag { id: row.read()?, label: row.read()? }) }
    /// // In `impl RecordValues<Sqlite> for Tag`: a row loaded by key `pk` has `pk` first.
    /// fn from_row_with_key(pk: &i64, row: &mut RowReader<'_, '_, Sqlite>) -> Result<Self, ValueError> {
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

    /// Reads the next column. `V` must convert on this reader's backend
    /// `B` ([`FromSqlValue<B>`]).
    ///
    /// # Errors
    ///
    /// The database's error if the column does not convert to `V`.
    #[inline(always)] // once per field: the derive's reads stay one pass
    pub fn read<V: FromSqlValue<B>>(&mut self) -> Result<V, ValueError> {
        let value = V::read_column(&self.row, self.next)?;
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
    /// assert_eq!(KeyValue::of::<txmanager::Sqlite, _>(&String::from("x")), KeyValue::Text("x".into()));
    /// ```
    #[must_use]
    pub fn of<B, V: SqlValue<B> + ?Sized>(value: &V) -> Self {
        value.key_value()
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
