//! A small typed record layer: the [`Record`] trait, its static description
//! [`RecordMeta`], and the [`record!`](crate::record!) macro that declares a
//! record type. Not an ORM: no query builder, no relations; raw SQL through
//! the handle stays the way to do anything else.

use std::sync::OnceLock;

use rusqlite::{Params, Row, Statement};

use crate::shape::{TableShape, VersionRule, VersionShape};
use crate::sqlite::{self, BadName, RecordSql};
use crate::versioning::{self, VersionField, VersionKind};
use crate::{Error, Scope};

/// The static description of a record type: its table, primary key, data
/// columns and version field, plus its SQL, built on first use and reused
/// for the life of the process.
///
/// Made by the [`record!`](crate::record!) macro; write one by hand only when
/// implementing [`Record`] yourself.
///
/// # Example
///
/// ```
/// use txmanager::{RecordMeta, VersionField};
///
/// static META: RecordMeta = RecordMeta::new("reporter", "id", &["first_name", "last_name"], Some(VersionField::auto_increment().or_column("version")));
/// assert_eq!(META.table(), "reporter");
/// assert_eq!(META.version().map(|v| v.column_name()), Some("version"));
/// ```
#[derive(Debug)]
pub struct RecordMeta {
    table: &'static str,
    primary_key: &'static str,
    columns: &'static [&'static str],
    version: Option<VersionField>,
    sql: OnceLock<Result<RecordSql, BadName>>,
}

impl RecordMeta {
    /// Describes a record type. Names are validated (and the SQL built) on
    /// first use; a bad name makes every operation on the type fail with
    /// [`Error::InvalidIdentifier`] before any SQL runs.
    ///
    /// ```
    /// # use txmanager::RecordMeta;
    /// static META: RecordMeta = RecordMeta::new("tag", "id", &["label"], None);
    /// assert_eq!(META.columns(), ["label"]);
    /// ```
    #[must_use]
    pub const fn new(
        table: &'static str,
        primary_key: &'static str,
        columns: &'static [&'static str],
        version: Option<VersionField>,
    ) -> Self {
        RecordMeta {
            table,
            primary_key,
            columns,
            version,
            sql: OnceLock::new(),
        }
    }

    /// The table name.
    ///
    /// ```
    /// # use txmanager::RecordMeta;
    /// static META: RecordMeta = RecordMeta::new("tag", "id", &["label"], None);
    /// assert_eq!(META.table(), "tag");
    /// ```
    pub fn table(&self) -> &'static str {
        self.table
    }

    /// The integer primary key column.
    ///
    /// ```
    /// # use txmanager::RecordMeta;
    /// static META: RecordMeta = RecordMeta::new("tag", "tag_id", &["label"], None);
    /// assert_eq!(META.primary_key(), "tag_id");
    /// ```
    pub fn primary_key(&self) -> &'static str {
        self.primary_key
    }

    /// The data columns, in declaration order.
    ///
    /// ```
    /// # use txmanager::RecordMeta;
    /// static META: RecordMeta = RecordMeta::new("tag", "id", &["label", "color"], None);
    /// assert_eq!(META.columns(), ["label", "color"]);
    /// ```
    pub fn columns(&self) -> &'static [&'static str] {
        self.columns
    }

    /// The version field, if the type is versioned.
    ///
    /// ```
    /// # use txmanager::RecordMeta;
    /// static META: RecordMeta = RecordMeta::new("tag", "id", &["label"], None);
    /// assert!(META.version().is_none());
    /// ```
    pub fn version(&self) -> Option<VersionField> {
        self.version
    }

    /// What the SQL builders need to know of this type's table: records
    /// describe what to do, the backend module writes the SQL.
    fn shape(&self) -> TableShape {
        TableShape {
            table: self.table,
            primary_key: self.primary_key,
            columns: self.columns,
            version: self.version.map(|field| VersionShape {
                column: field.column_name(),
                rule: match field.kind() {
                    VersionKind::Integer => VersionRule::Integer,
                    VersionKind::AutoIncrement => VersionRule::AutoIncrement,
                    VersionKind::Conditional(fields) => VersionRule::Conditional(fields),
                    VersionKind::Trigger => VersionRule::Trigger,
                },
            }),
        }
    }

    #[inline]
    pub(crate) fn sql(&'static self) -> Result<&'static RecordSql, Error> {
        self.sql
            .get_or_init(|| sqlite::record_sql(&self.shape()))
            .as_ref()
            .map_err(|bad| bad.clone().into())
    }
}

/// A row of one table, with an integer primary key and, optionally, a version
/// column that makes every update and delete check for concurrent changes.
///
/// Declare record types with [`record!`](crate::record!). The provided
/// methods take any [`Scope`]: the manager (default autocommit mode: each
/// operation is one atomic statement) or a transaction handle (the
/// operation joins the block's transaction).
///
/// # Example
///
/// The cookbook's first recipe: two copies of one record; the first save wins
/// and the second fails instead of overwriting it.
///
/// ```
/// use txmanager::{record, Error, Record, TransactionManager, VersionField};
///
/// record! {
///     #[derive(Debug, Clone, Default)]
///     pub struct ConcurrentModel in "concurrent_model" (
///         primary_key id,
///         version version: VersionField::integer(),
///     ) {
///         pub name: String,
///     }
/// }
///
/// # fn main() -> Result<(), Error> {
/// let tm = TransactionManager::open_in_memory()?;
/// tm.execute("CREATE TABLE concurrent_model (id INTEGER PRIMARY KEY, version INTEGER NOT NULL, name TEXT NOT NULL)", [])?;
/// ConcurrentModel { name: "first".into(), ..Default::default() }.save(&tm)?;
///
/// let mut a = ConcurrentModel::get(&tm, 1)?;
/// let mut b = ConcurrentModel::get(&tm, 1)?;
/// a.save(&tm)?;
/// let err = b.save(&tm).unwrap_err(); // this raises RecordModified
/// assert!(matches!(err, Error::RecordModified { table: "concurrent_model", pk: 1, .. }));
/// # Ok(())
/// # }
/// ```
pub trait Record: Sized {
    /// The type's static description.
    ///
    /// ```
    /// # use txmanager::{record, Record, TransactionManager, VersionField};
    /// # record! { #[derive(Debug, Clone, Default)] pub struct Tag in "tag" (primary_key id, version version: VersionField::auto_increment()) { pub label: String, } }
    /// assert_eq!(Tag::meta().table(), "tag");
    /// assert_eq!(Tag::meta().columns(), ["label"]);
    /// ```
    fn meta() -> &'static RecordMeta;

    /// The primary key, or `None` for a record never saved.
    ///
    /// ```
    /// # use txmanager::{record, Record, TransactionManager, VersionField};
    /// # record! { #[derive(Debug, Clone, Default)] pub struct Tag in "tag" (primary_key id, version version: VersionField::auto_increment()) { pub label: String, } }
    /// # fn main() -> Result<(), txmanager::Error> {
    /// # let tm = TransactionManager::open_in_memory()?;
    /// # tm.execute("CREATE TABLE tag (id INTEGER PRIMARY KEY, version INTEGER, label TEXT)", [])?;
    /// let mut tag = Tag { label: "rust".into(), ..Default::default() };
    /// assert_eq!(tag.primary_key(), None);
    /// tag.save(&tm)?;
    /// assert_eq!(tag.primary_key(), Some(1));
    /// # Ok(())
    /// # }
    /// ```
    fn primary_key(&self) -> Option<i64>;

    /// Sets the primary key (after an insert, or `None` after a delete).
    ///
    /// ```
    /// # use txmanager::{record, Record, TransactionManager, VersionField};
    /// # record! { #[derive(Debug, Clone, Default)] pub struct Tag in "tag" (primary_key id, version version: VersionField::auto_increment()) { pub label: String, } }
    /// let mut tag = Tag::default();
    /// tag.set_primary_key(Some(7));
    /// assert_eq!(tag.id, Some(7));
    /// ```
    fn set_primary_key(&mut self, pk: Option<i64>);

    /// The version this record was loaded or last saved with; `None` for a
    /// new record, or a type without a version field.
    ///
    /// ```
    /// # use txmanager::{record, Record, TransactionManager, VersionField};
    /// # record! { #[derive(Debug, Clone, Default)] pub struct Tag in "tag" (primary_key id, version version: VersionField::auto_increment()) { pub label: String, } }
    /// # fn main() -> Result<(), txmanager::Error> {
    /// # let tm = TransactionManager::open_in_memory()?;
    /// # tm.execute("CREATE TABLE tag (id INTEGER PRIMARY KEY, version INTEGER, label TEXT)", [])?;
    /// let mut tag = Tag { label: "rust".into(), ..Default::default() };
    /// assert_eq!(tag.version(), None);
    /// tag.save(&tm)?;
    /// assert_eq!(tag.version(), Some(1));
    /// # Ok(())
    /// # }
    /// ```
    fn version(&self) -> Option<i64>;

    /// Sets the in-memory version. A type without a version field ignores it.
    ///
    /// ```
    /// # use txmanager::{record, Record, TransactionManager, VersionField};
    /// # record! { #[derive(Debug, Clone, Default)] pub struct Tag in "tag" (primary_key id, version version: VersionField::auto_increment()) { pub label: String, } }
    /// let mut tag = Tag::default();
    /// tag.set_version(Some(3));
    /// assert_eq!(tag.version, Some(3));
    /// ```
    fn set_version(&mut self, version: Option<i64>);

    /// Binds the data columns, in declaration order, to parameters
    /// `first_index..`; returns the next free index.
    ///
    /// ```
    /// # use txmanager::{record, Record, TransactionManager, VersionField};
    /// # record! { #[derive(Debug, Clone, Default)] pub struct Tag in "tag" (primary_key id, version version: VersionField::auto_increment()) { pub label: String, } }
    /// # fn main() -> Result<(), txmanager::Error> {
    /// # let tm = TransactionManager::open_in_memory()?;
    /// # tm.execute("CREATE TABLE tag (id INTEGER PRIMARY KEY, version INTEGER, label TEXT)", [])?;
    /// let tag = Tag { label: "rust".into(), ..Default::default() };
    /// let conn = tm.into_inner();
    /// let mut stmt = conn.prepare("SELECT ?1")?;
    /// assert_eq!(tag.bind_columns(&mut stmt, 1)?, 2); // one data column bound, at 1
    /// let label: String = stmt.raw_query().next()?.expect("a row").get(0)?;
    /// assert_eq!(label, "rust");
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// A binding error from rusqlite.
    fn bind_columns(&self, stmt: &mut Statement<'_>, first_index: usize)
    -> rusqlite::Result<usize>;

    /// Builds a record from a row holding the primary key, the version (if
    /// versioned) and the data columns, in that order.
    ///
    /// ```
    /// # use txmanager::{record, Record, TransactionManager, VersionField};
    /// # record! { #[derive(Debug, Clone, Default)] pub struct Tag in "tag" (primary_key id, version version: VersionField::auto_increment()) { pub label: String, } }
    /// # fn main() -> Result<(), txmanager::Error> {
    /// # let tm = TransactionManager::open_in_memory()?;
    /// # tm.execute("CREATE TABLE tag (id INTEGER PRIMARY KEY, version INTEGER, label TEXT)", [])?;
    /// let conn = tm.into_inner();
    /// let tag = conn.query_row("SELECT 5, 2, 'rust'", [], Tag::from_row)?;
    /// assert_eq!((tag.id, tag.version, tag.label.as_str()), (Some(5), Some(2), "rust"));
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// A conversion error from rusqlite.
    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self>;

    /// Inserts a new record (no primary key, or a versioned record with no
    /// version yet) or updates an existing one. A versioned update checks the
    /// version inside the current transaction and bumps it.
    ///
    /// # Errors
    ///
    /// [`Error::RecordModified`] if the row changed or was deleted since this
    /// record was loaded (nothing is written; the in-memory version is
    /// unchanged); [`Error::Statement`] for SQL errors;
    /// [`Error::InvalidIdentifier`] for a bad declaration.
    ///
    /// # Example
    ///
    /// ```
    /// # use txmanager::{record, Record, TransactionManager, VersionField};
    /// # record! { #[derive(Debug, Clone, Default)] pub struct Tag in "tag" (primary_key id, version version: VersionField::auto_increment()) { pub label: String, } }
    /// # fn main() -> Result<(), txmanager::Error> {
    /// let mut tm = TransactionManager::open_in_memory()?;
    /// tm.execute("CREATE TABLE tag (id INTEGER PRIMARY KEY, version INTEGER, label TEXT)", [])?;
    /// let mut tag = Tag { label: "urgent".into(), ..Default::default() };
    /// assert_eq!(tag.version(), None);
    /// tm.commit_on_success(|tx| tag.save(tx))?;
    /// assert_eq!((tag.id, tag.version), (Some(1), Some(1)));
    /// tag.label = "later".into();
    /// tag.save(&tm)?;
    /// assert_eq!(tag.version, Some(2));
    /// # Ok(())
    /// # }
    /// ```
    fn save<S: Scope>(&mut self, scope: &S) -> Result<(), Error> {
        versioning::save(scope.manager(), self)
    }

    /// Deletes the record's row. A versioned delete checks the version first.
    /// Afterwards the record has no primary key or version, as in Django.
    ///
    /// # Errors
    ///
    /// [`Error::RecordNotSaved`] for a record without a primary key;
    /// [`Error::RecordModified`] if the row changed since it was loaded
    /// (nothing is deleted).
    ///
    /// # Example
    ///
    /// ```
    /// # use txmanager::{record, Record, TransactionManager, VersionField};
    /// # record! { #[derive(Debug, Clone, Default)] pub struct Tag in "tag" (primary_key id, version version: VersionField::auto_increment()) { pub label: String, } }
    /// # fn main() -> Result<(), txmanager::Error> {
    /// let tm = TransactionManager::open_in_memory()?;
    /// tm.execute("CREATE TABLE tag (id INTEGER PRIMARY KEY, version INTEGER, label TEXT)", [])?;
    /// let mut tag = Tag { label: "urgent".into(), ..Default::default() };
    /// tag.save(&tm)?;
    /// tag.delete(&tm)?;
    /// assert_eq!(tag.id, None);
    /// assert!(Tag::all(&tm)?.is_empty());
    /// # Ok(())
    /// # }
    /// ```
    fn delete<S: Scope>(&mut self, scope: &S) -> Result<(), Error> {
        versioning::delete(scope.manager(), self)
    }

    /// Loads the record with primary key `pk`.
    ///
    /// # Errors
    ///
    /// [`Error::RecordNotFound`] if there is no such row.
    ///
    /// # Example
    ///
    /// ```
    /// # use txmanager::{record, Error, Record, TransactionManager, VersionField};
    /// # record! { #[derive(Debug, Clone, Default)] pub struct Tag in "tag" (primary_key id, version version: VersionField::auto_increment()) { pub label: String, } }
    /// # fn main() -> Result<(), Error> {
    /// let tm = TransactionManager::open_in_memory()?;
    /// tm.execute("CREATE TABLE tag (id INTEGER PRIMARY KEY, version INTEGER, label TEXT)", [])?;
    /// tm.execute("INSERT INTO tag (id, version, label) VALUES (7, 1, 'urgent')", [])?;
    /// assert_eq!(Tag::get(&tm, 7)?.label, "urgent");
    /// assert!(matches!(Tag::get(&tm, 8), Err(Error::RecordNotFound { pk: 8, .. })));
    /// # Ok(())
    /// # }
    /// ```
    fn get<S: Scope>(scope: &S, pk: i64) -> Result<Self, Error> {
        let meta = Self::meta();
        let sql = meta.sql()?;
        scope
            .manager()
            .run_statement(&sql.get, |stmt| {
                stmt.raw_bind_parameter(1, pk)?;
                let mut rows = stmt.raw_query();
                rows.next()?.map(Self::from_row).transpose()
            })?
            .ok_or(Error::RecordNotFound {
                table: meta.table(),
                pk,
            })
    }

    /// Loads every record of the type, in primary-key order.
    ///
    /// # Errors
    ///
    /// [`Error::Statement`] for SQL errors.
    ///
    /// # Example
    ///
    /// ```
    /// # use txmanager::{record, Record, TransactionManager, VersionField};
    /// # record! { #[derive(Debug, Clone, Default)] pub struct Tag in "tag" (primary_key id, version version: VersionField::auto_increment()) { pub label: String, } }
    /// # fn main() -> Result<(), txmanager::Error> {
    /// let tm = TransactionManager::open_in_memory()?;
    /// tm.execute("CREATE TABLE tag (id INTEGER PRIMARY KEY, version INTEGER, label TEXT)", [])?;
    /// for label in ["a", "b"] {
    ///     Tag { label: label.into(), ..Default::default() }.save(&tm)?;
    /// }
    /// let labels: Vec<String> = Tag::all(&tm)?.into_iter().map(|t| t.label).collect();
    /// assert_eq!(labels, ["a", "b"]);
    /// # Ok(())
    /// # }
    /// ```
    fn all<S: Scope>(scope: &S) -> Result<Vec<Self>, Error> {
        let sql = Self::meta().sql()?;
        query_records(scope, &sql.all, [])
    }

    /// Loads the records matching a raw SQL `WHERE` clause, with bound
    /// parameters. Only the clause is yours; the columns and table come from
    /// the declaration. Never format values into the clause: bind them.
    ///
    /// # Errors
    ///
    /// [`Error::Statement`] if the clause is not valid SQL.
    ///
    /// # Example
    ///
    /// ```
    /// # use txmanager::{record, Record, TransactionManager, VersionField};
    /// # record! { #[derive(Debug, Clone, Default)] pub struct Tag in "tag" (primary_key id, version version: VersionField::auto_increment()) { pub label: String, } }
    /// # fn main() -> Result<(), txmanager::Error> {
    /// let tm = TransactionManager::open_in_memory()?;
    /// tm.execute("CREATE TABLE tag (id INTEGER PRIMARY KEY, version INTEGER, label TEXT)", [])?;
    /// for label in ["alpha", "beta", "alps"] {
    ///     Tag { label: label.into(), ..Default::default() }.save(&tm)?;
    /// }
    /// let al = Tag::select_where(&tm, "label LIKE ?1 ORDER BY label", ["al%"])?;
    /// assert_eq!(al.len(), 2);
    /// # Ok(())
    /// # }
    /// ```
    fn select_where<S: Scope, P: Params>(
        scope: &S,
        clause: &str,
        params: P,
    ) -> Result<Vec<Self>, Error> {
        let sql = Self::meta().sql()?;
        query_records(scope, &format!("{} WHERE {clause}", sql.select), params)
    }

    /// Reloads the record from its row, taking the row's current values and
    /// version.
    ///
    /// # Errors
    ///
    /// [`Error::RecordNotSaved`] without a primary key;
    /// [`Error::RecordNotFound`] if the row is gone.
    ///
    /// # Example
    ///
    /// ```
    /// # use txmanager::{record, Record, TransactionManager, VersionField};
    /// # record! { #[derive(Debug, Clone, Default)] pub struct Tag in "tag" (primary_key id, version version: VersionField::auto_increment()) { pub label: String, } }
    /// # fn main() -> Result<(), txmanager::Error> {
    /// let tm = TransactionManager::open_in_memory()?;
    /// tm.execute("CREATE TABLE tag (id INTEGER PRIMARY KEY, version INTEGER, label TEXT)", [])?;
    /// let mut tag = Tag { label: "a".into(), ..Default::default() };
    /// tag.save(&tm)?;
    /// tm.execute("UPDATE tag SET label = 'b', version = version + 1", [])?;
    /// tag.reload(&tm)?;
    /// assert_eq!((tag.label.as_str(), tag.version), ("b", Some(2)));
    /// # Ok(())
    /// # }
    /// ```
    fn reload<S: Scope>(&mut self, scope: &S) -> Result<(), Error> {
        let pk = self.primary_key().ok_or(Error::RecordNotSaved {
            table: Self::meta().table(),
        })?;
        *self = Self::get(scope, pk)?;
        Ok(())
    }
}

fn query_records<R: Record, S: Scope, P: Params>(
    scope: &S,
    sql: &str,
    params: P,
) -> Result<Vec<R>, Error> {
    scope.manager().run_statement(sql, |stmt| {
        let rows = stmt.query_map(params, R::from_row)?;
        rows.collect()
    })
}

/// Declares a record type: the struct, and its [`Record`] implementation.
///
/// ```text
/// record! {
///     #[derive(...)]                      // any attributes for the struct
///     pub struct Name in "table" (
///         primary_key id,                 // an Option<i64> field, INTEGER PRIMARY KEY
///         version version: VersionField::integer(),   // optional: an Option<i64> field
///     ) {
///         pub data_field: Type,           // one column each, named like the field
///     }
/// }
/// ```
///
/// The struct gets an `Option<i64>` primary-key field, an optional
/// `Option<i64>` version field, and the data fields you list; each field's
/// name is its column's name, and each type must convert to and from SQL
/// (rusqlite's `ToSql` and `FromSql`). The version takes a [`VersionField`]
/// (`integer()`, `auto_increment()`, `trigger()`, `conditional(&[..])`, with
/// `.column("name")` for a column named differently from the field, and
/// `.manual()` to check only when you call
/// [`concurrency_check`](crate::concurrency_check)).
///
/// Attributes on the struct and its fields are passed through, so a record
/// derives what any struct can: `#[derive(serde::Serialize,
/// serde::Deserialize)]` (with your own serde dependency) puts the primary
/// key and the version in the JSON beside the fields, as a client must send
/// the version back for an optimistic edit.
///
/// # Example
///
/// The cookbook's `AbstractModelWithCustomSave`: a version stored in column
/// `cm_version_id`, checked by hand.
///
/// ```
/// use txmanager::{concurrency_check, record, Error, Record, Scope, TransactionManager, VersionField};
///
/// record! {
///     /// A model that runs its own save logic.
///     #[derive(Debug, Clone, Default)]
///     pub struct Security in "security" (
///         primary_key id,
///         version version: VersionField::integer().column("cm_version_id").manual(),
///     ) {
///         pub name: String,
///     }
/// }
///
/// impl Security {
///     fn checked_save(&mut self, tm: &mut TransactionManager) -> Result<(), Error> {
///         tm.commit_on_success(|tx| {
///             concurrency_check(tx, self)?;
///             // ... custom logic, logging ...
///             self.save(tx)
///         })
///     }
/// }
///
/// # fn main() -> Result<(), Error> {
/// let mut tm = TransactionManager::open_in_memory()?;
/// tm.execute("CREATE TABLE security (id INTEGER PRIMARY KEY, cm_version_id INTEGER NOT NULL, name TEXT)", [])?;
/// let mut a = Security { name: "s".into(), ..Default::default() };
/// a.checked_save(&mut tm)?;
/// let mut b = a.clone();
/// a.checked_save(&mut tm)?;
/// assert!(matches!(b.checked_save(&mut tm), Err(Error::RecordModified { .. })));
/// # Ok(())
/// # }
/// ```
#[macro_export]
macro_rules! record {
    (
        $(#[$attr:meta])*
        $vis:vis struct $name:ident in $table:literal (
            primary_key $pk:ident
            $(, version $ver:ident : $vspec:expr )?
            $(,)?
        ) {
            $( $(#[$fattr:meta])* $fvis:vis $field:ident : $fty:ty ),* $(,)?
        }
    ) => {
        $(#[$attr])*
        $vis struct $name {
            /// The primary key; `None` until the record is saved.
            pub $pk: ::core::option::Option<i64>,
            $(
                /// The version the record was loaded or saved with; `None` for a new record.
                pub $ver: ::core::option::Option<i64>,
            )?
            $( $(#[$fattr])* $fvis $field: $fty, )*
        }

        impl $crate::Record for $name {
            fn meta() -> &'static $crate::RecordMeta {
                static META: $crate::RecordMeta = $crate::RecordMeta::new(
                    $table,
                    ::core::stringify!($pk),
                    &[$( ::core::stringify!($field) ),*],
                    $crate::__record_version!($( $vspec, ::core::stringify!($ver) )?),
                );
                &META
            }

            fn primary_key(&self) -> ::core::option::Option<i64> {
                self.$pk
            }

            fn set_primary_key(&mut self, pk: ::core::option::Option<i64>) {
                self.$pk = pk;
            }

            fn version(&self) -> ::core::option::Option<i64> {
                $crate::__record_version_get!(self $(, $ver)?)
            }

            fn set_version(&mut self, version: ::core::option::Option<i64>) {
                $crate::__record_version_set!(self, version $(, $ver)?)
            }

            fn bind_columns(
                &self,
                stmt: &mut $crate::rusqlite::Statement<'_>,
                first_index: usize,
            ) -> $crate::rusqlite::Result<usize> {
                #[allow(unused_mut)]
                let mut index = first_index;
                $(
                    stmt.raw_bind_parameter(index, &self.$field)?;
                    index += 1;
                )*
                Ok(index)
            }

            fn from_row(row: &$crate::rusqlite::Row<'_>) -> $crate::rusqlite::Result<Self> {
                let mut index = 0usize;
                let mut next = || {
                    index += 1;
                    index - 1
                };
                Ok($name {
                    $pk: row.get(next())?,
                    $( $ver: row.get(next())?, )?
                    $( $field: row.get(next())?, )*
                })
            }
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __record_version {
    () => {
        ::core::option::Option::None
    };
    ($spec:expr, $default_column:expr) => {
        ::core::option::Option::Some($crate::VersionField::or_column($spec, $default_column))
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __record_version_get {
    ($self:ident) => {
        ::core::option::Option::None
    };
    ($self:ident, $ver:ident) => {
        $self.$ver
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __record_version_set {
    ($self:ident, $value:ident) => {{
        let _ = $value;
    }};
    ($self:ident, $value:ident, $ver:ident) => {
        $self.$ver = $value
    };
}
