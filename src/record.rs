//! A small typed record layer: the [`Record`] trait (declared with
//! `#[derive(Record)]`) and its static description [`RecordMeta`]. Not an
//! ORM: no query builder, no relations; raw SQL through the handle stays the
//! way to do anything else.

use std::sync::{Arc, OnceLock};

use crate::backend::Backend;
use crate::shape::{ColumnSet, RecordSql, TableShape, UpdateSql, VersionRule, VersionShape};
use crate::sqlite::Sqlite;
use crate::store::{ClauseParams, RecordStore, SqlCache, TypeSql};
use crate::value::{Binder, FromSqlValue, RowReader, SqlValue, ValueError};
use crate::version::{VersionField, VersionKind};
use crate::{Error, Scope};

pub(crate) mod save;

/// The static description of a record type: its table, primary key, data
/// columns and version field, plus its SQL for each backend, built on first
/// use on that backend and reused for the life of the process.
///
/// Made by `#[derive(Record)]`; write one by hand only when implementing
/// [`Record`] yourself.
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
    read_only: &'static [&'static str],
    version: Option<VersionField>,
    settings: TypeSettings,
    /// The SQL of the first backend this type is used on (`RecordStore`'s
    /// `SqlCache`, by address, and the entry it holds for this type): a
    /// static slot, so a save finds its SQL without a lookup. Other
    /// backends find theirs in their own `SqlCache`.
    first_sql: OnceLock<(usize, &'static TypeSql)>,
}

/// A type's own concurrency settings: django-concurrency's `ConcurrencyMeta`
/// and `CONCURRENCY_VERSION_FIELD_REQUIRED`, per type.
#[derive(Debug, Clone, Copy)]
struct TypeSettings {
    version_required: bool,
    check: bool,
    increment: bool,
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
            read_only: &[],
            version,
            settings: TypeSettings {
                version_required: true,
                check: true,
                increment: true,
            },
            first_sql: OnceLock::new(),
        }
    }

    /// Adds columns the database fills in (defaults, generated columns,
    /// triggers): read by every load, never written by a save.
    ///
    /// ```
    /// # use txmanager::RecordMeta;
    /// static META: RecordMeta = RecordMeta::new("tag", "id", &["label"], None).read_only(&["created_at"]);
    /// assert_eq!(META.read_only_columns(), ["created_at"]);
    /// ```
    #[must_use]
    pub const fn read_only(mut self, columns: &'static [&'static str]) -> Self {
        self.read_only = columns;
        self
    }

    /// Whether a saved record (one with a primary key) also needs a version
    /// to be saved over its row. Required (the default, strict): a record
    /// with a key but no version is taken for a new row and inserted, so an
    /// existing row is never overwritten unchecked. Not required
    /// (`#[record(version_required = false)]`): such a record saves over its
    /// row without a check, bumping the row's version (or inserts it if the
    /// row is gone), as django-concurrency's
    /// `CONCURRENCY_VERSION_FIELD_REQUIRED = False` does; records that do
    /// carry a version are still checked.
    ///
    /// ```
    /// # use txmanager::{RecordMeta, VersionField};
    /// static META: RecordMeta = RecordMeta::new("tag", "id", &["label"], Some(VersionField::integer())).version_required(false);
    /// assert!(!META.is_version_required());
    /// ```
    #[must_use]
    pub const fn version_required(mut self, required: bool) -> Self {
        self.settings.version_required = required;
        self
    }

    /// Whether saves and deletes of this type check the version (default:
    /// yes). Off (`#[record(check = false)]`), they never fail with
    /// [`Error::RecordModified`] and still move the version on, computed
    /// from the row, so copies held elsewhere see the change:
    /// django-concurrency's `ConcurrencyMeta.enabled = False`.
    /// [`concurrency_check`](crate::concurrency_check) passes too.
    ///
    /// ```
    /// # use txmanager::{RecordMeta, VersionField};
    /// static META: RecordMeta = RecordMeta::new("tag", "id", &["label"], Some(VersionField::integer())).check(false);
    /// assert!(!META.is_checked());
    /// ```
    #[must_use]
    pub const fn check(mut self, check: bool) -> Self {
        self.settings.check = check;
        self
    }

    /// Whether saves of this type move the version on (default: yes). Off
    /// (`#[record(increment = false)]`), saves are still checked but leave
    /// the version as it is: for a type whose writes (a view counter, say)
    /// must never make copies held elsewhere stale. The per-type form of
    /// [`disable_version_increment`](crate::disable_version_increment). A
    /// trigger version is moved by the database, not by saves: the derive
    /// refuses `increment = false` on it.
    ///
    /// ```
    /// # use txmanager::{RecordMeta, VersionField};
    /// static META: RecordMeta = RecordMeta::new("tag", "id", &["label"], Some(VersionField::integer())).increment(false);
    /// assert!(!META.is_incremented());
    /// ```
    #[must_use]
    pub const fn increment(mut self, increment: bool) -> Self {
        self.settings.increment = increment;
        self
    }

    /// See [`version_required`](Self::version_required).
    ///
    /// ```
    /// # use txmanager::RecordMeta;
    /// static META: RecordMeta = RecordMeta::new("tag", "id", &["label"], None);
    /// assert!(META.is_version_required());
    /// ```
    pub fn is_version_required(&self) -> bool {
        self.settings.version_required
    }

    /// See [`check`](Self::check).
    ///
    /// ```
    /// # use txmanager::RecordMeta;
    /// static META: RecordMeta = RecordMeta::new("tag", "id", &["label"], None);
    /// assert!(META.is_checked());
    /// ```
    pub fn is_checked(&self) -> bool {
        self.settings.check
    }

    /// See [`increment`](Self::increment).
    ///
    /// ```
    /// # use txmanager::RecordMeta;
    /// static META: RecordMeta = RecordMeta::new("tag", "id", &["label"], None);
    /// assert!(META.is_incremented());
    /// ```
    pub fn is_incremented(&self) -> bool {
        self.settings.increment
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

    /// The primary key column.
    ///
    /// ```
    /// # use txmanager::RecordMeta;
    /// static META: RecordMeta = RecordMeta::new("tag", "tag_id", &["label"], None);
    /// assert_eq!(META.primary_key(), "tag_id");
    /// ```
    pub fn primary_key(&self) -> &'static str {
        self.primary_key
    }

    /// The data columns a save writes, in declaration order.
    ///
    /// ```
    /// # use txmanager::RecordMeta;
    /// static META: RecordMeta = RecordMeta::new("tag", "id", &["label", "color"], None);
    /// assert_eq!(META.columns(), ["label", "color"]);
    /// ```
    pub fn columns(&self) -> &'static [&'static str] {
        self.columns
    }

    /// The read-only columns, in declaration order: loaded, never saved.
    ///
    /// ```
    /// # use txmanager::RecordMeta;
    /// static META: RecordMeta = RecordMeta::new("tag", "id", &["label"], None);
    /// assert!(META.read_only_columns().is_empty());
    /// ```
    pub fn read_only_columns(&self) -> &'static [&'static str] {
        self.read_only
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
            read_only: self.read_only,
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

    /// This type's SQL on backend `B`, built (and its names validated) on
    /// first use there.
    #[inline]
    pub(crate) fn sql<B: Backend>(&'static self) -> Result<&'static RecordSql, Error> {
        self.type_sql::<B>()
            .record
            .as_ref()
            .map_err(|bad| bad.clone().into())
    }

    /// The `UPDATE`s that write only the data columns at `written` (sorted,
    /// no repeats), built once per set and kept. The names were validated
    /// by [`sql`](Self::sql), which the caller has already called.
    pub(crate) fn subset_update_sql<B: Backend>(
        &'static self,
        written: &[usize],
    ) -> Arc<UpdateSql> {
        self.type_sql::<B>().subset_update(written, || {
            <B::Records as RecordStore<B>>::update_sql(&self.shape(), ColumnSet::Only(written))
        })
    }

    /// Backend `B`'s SQL for this type: from the static slot if `B` is the
    /// first backend this type was used on, else from `B`'s `SqlCache`.
    #[inline]
    fn type_sql<B: Backend>(&'static self) -> &'static TypeSql {
        let cache = <B::Records as RecordStore<B>>::sql_cache();
        let backend = std::ptr::from_ref(cache).addr();
        match self.first_sql.get() {
            Some(&(first, sql)) if first == backend => sql,
            _ => self.type_sql_slow::<B>(cache, backend),
        }
    }

    #[cold]
    #[inline(never)]
    fn type_sql_slow<B: Backend>(
        &'static self,
        cache: &SqlCache,
        backend: usize,
    ) -> &'static TypeSql {
        let sql = cache.get_or_build(std::ptr::from_ref(self).addr(), || {
            <B::Records as RecordStore<B>>::record_sql(&self.shape())
        });
        // The first backend keeps the slot; later ones look theirs up.
        let _ = self.first_sql.set((backend, sql));
        sql
    }
}

/// A row of one table, with a primary key and, optionally, a version column
/// that makes every update and delete check for concurrent changes.
///
/// Declare record types with `#[derive(Record)]` (see the
/// [derive's documentation](derive@crate::Record) for every attribute). The
/// provided methods take any [`Scope`]: the manager (default autocommit
/// mode: each operation is one atomic statement) or a transaction handle
/// (the operation joins the block's transaction).
///
/// # Example
///
/// The cookbook's first recipe: two copies of one record; the first save wins
/// and the second fails instead of overwriting it.
///
/// ```
/// use txmanager::{Error, Record, TransactionManager};
///
/// #[derive(Debug, Clone, Default, Record)]
/// struct ConcurrentModel {
///     #[record(primary_key)]
///     id: Option<i64>,
///     #[record(version(integer))]
///     version: Option<i64>,
///     name: String,
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
/// assert!(matches!(err, Error::RecordModified { table: "concurrent_model", ref pk, .. } if *pk == 1));
/// # Ok(())
/// # }
/// ```
///
/// Implementing it by hand, without the derive (the derive writes the same):
///
/// ```
/// use txmanager::{
///     Binder, Record, RecordMeta, RecordValues, RowReader, Sqlite, TransactionManager, ValueError,
/// };
///
/// #[derive(Debug, Default)]
/// struct Tag {
///     name: Option<String>,
///     color: String,
/// }
///
/// impl Record for Tag {
///     type Key = String;
///     fn meta() -> &'static RecordMeta {
///         static META: RecordMeta = RecordMeta::new("tag", "name", &["color"], None);
///         &META
///     }
///     fn primary_key(&self) -> Option<&String> {
///         self.name.as_ref()
///     }
///     fn set_primary_key(&mut self, pk: Option<String>) {
///         self.name = pk;
///     }
///     fn version(&self) -> Option<i64> {
///         None
///     }
///     fn set_version(&mut self, _: Option<i64>) {}
/// }
///
/// // Its values on SQLite (the derive writes one impl for every backend).
/// impl RecordValues<Sqlite> for Tag {
///     fn bind_columns(&self, values: &mut Binder<'_, '_, Sqlite>) -> Result<(), ValueError> {
///         values.bind(&self.color)
///     }
///     fn from_row(row: &mut RowReader<'_, '_, Sqlite>) -> Result<Self, ValueError> {
///         Ok(Tag { name: row.read()?, color: row.read()? })
///     }
/// }
///
/// # fn main() -> Result<(), txmanager::Error> {
/// let tm = TransactionManager::open_in_memory()?;
/// tm.execute("CREATE TABLE tag (name TEXT PRIMARY KEY, color TEXT)", [])?;
/// Tag { name: Some("urgent".into()), color: "red".into() }.save(&tm)?;
/// assert_eq!(Tag::get(&tm, "urgent")?.color, "red");
/// # Ok(())
/// # }
/// ```
pub trait Record: Sized {
    /// The primary key's type: `i64`, `String`, or any type that converts to
    /// and from SQL on the backends the record is used on
    /// ([`RecordValues`]). A record field holds it as `Option<Key>`.
    type Key: Clone;

    /// The type's static description.
    ///
    /// ```
    /// # use txmanager::{Record, TransactionManager, VersionField};
    /// # #[derive(Debug, Clone, Default, Record)] pub struct Tag { #[record(primary_key)] pub id: Option<i64>, #[record(version(auto_increment))] pub version: Option<i64>, pub label: String, }
    /// assert_eq!(Tag::meta().table(), "tag");
    /// assert_eq!(Tag::meta().columns(), ["label"]);
    /// ```
    fn meta() -> &'static RecordMeta;

    /// The primary key, or `None` for a record never saved.
    ///
    /// ```
    /// # use txmanager::{Record, TransactionManager, VersionField};
    /// # #[derive(Debug, Clone, Default, Record)] pub struct Tag { #[record(primary_key)] pub id: Option<i64>, #[record(version(auto_increment))] pub version: Option<i64>, pub label: String, }
    /// # fn main() -> Result<(), txmanager::Error> {
    /// # let tm = TransactionManager::open_in_memory()?;
    /// # tm.execute("CREATE TABLE tag (id INTEGER PRIMARY KEY, version INTEGER, label TEXT)", [])?;
    /// let mut tag = Tag { label: "rust".into(), ..Default::default() };
    /// assert_eq!(tag.primary_key(), None);
    /// tag.save(&tm)?;
    /// assert_eq!(tag.primary_key(), Some(&1));
    /// # Ok(())
    /// # }
    /// ```
    fn primary_key(&self) -> Option<&Self::Key>;

    /// Sets the primary key (after an insert, or `None` after a delete).
    ///
    /// ```
    /// # use txmanager::{Record, TransactionManager, VersionField};
    /// # #[derive(Debug, Clone, Default, Record)] pub struct Tag { #[record(primary_key)] pub id: Option<i64>, #[record(version(auto_increment))] pub version: Option<i64>, pub label: String, }
    /// let mut tag = Tag::default();
    /// tag.set_primary_key(Some(7));
    /// assert_eq!(tag.id, Some(7));
    /// ```
    fn set_primary_key(&mut self, pk: Option<Self::Key>);

    /// The version this record was loaded or last saved with; `None` for a
    /// new record, or a type without a version field.
    ///
    /// ```
    /// # use txmanager::{Record, TransactionManager, VersionField};
    /// # #[derive(Debug, Clone, Default, Record)] pub struct Tag { #[record(primary_key)] pub id: Option<i64>, #[record(version(auto_increment))] pub version: Option<i64>, pub label: String, }
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
    /// # use txmanager::{Record, TransactionManager, VersionField};
    /// # #[derive(Debug, Clone, Default, Record)] pub struct Tag { #[record(primary_key)] pub id: Option<i64>, #[record(version(auto_increment))] pub version: Option<i64>, pub label: String, }
    /// let mut tag = Tag::default();
    /// tag.set_version(Some(3));
    /// assert_eq!(tag.version, Some(3));
    /// ```
    fn set_version(&mut self, version: Option<i64>);

    /// Inserts a new record (no primary key, or a versioned record with no
    /// version yet) or updates an existing one. A versioned update checks the
    /// version inside the current transaction and bumps it.
    ///
    /// # Errors
    ///
    /// [`Error::RecordModified`] if the row changed or was deleted since this
    /// record was loaded (nothing is written; the in-memory version is
    /// unchanged); [`Error::Statement`] for SQL errors;
    /// [`Error::InvalidIdentifier`] for a bad declaration. Outside a block,
    /// a trigger-versioned save's own transaction (below) can also fail at
    /// its `BEGIN` ([`Error::StepFailed`] with [`Step::Begin`](crate::Step),
    /// e.g. `SQLITE_BUSY`: nothing was written) or its `COMMIT`
    /// ([`Error::CommitFailed`], rolled back; [`Error::CommitOutcomeUnknown`]
    /// if the connection was lost), as a block's would.
    ///
    /// A save is all-or-nothing, and the record changes only when it
    /// succeeded. A save of a trigger-versioned record is two statements:
    /// the write, then a read of the version the trigger set. Inside a
    /// block they commit or roll back with it; outside one (on the manager,
    /// or in an autocommit block) they run in a transaction of their own
    /// (one `BEGIN` and `COMMIT`), so if the read fails (a lost connection,
    /// `SQLITE_BUSY`, a version that does not read as an integer) nothing
    /// is committed and the record keeps its key and version. So does the
    /// insert of a record without a key whose key type is narrower than a
    /// SQLite rowid (`i32`): if the rowid does not fit,
    /// [`Error::AssignedKeyType`], and nothing is committed. On PostgreSQL
    /// the key column's type is checked against the key type before the
    /// insert runs ([`Error::AssignedKeyType`], nothing written). A save of
    /// any other kind writes in one statement and needs no transaction of
    /// its own. Inside a block, return the error: the block rolls back
    /// whatever the save wrote.
    ///
    /// # Example
    ///
    /// ```
    /// # use txmanager::{Record, TransactionManager};
    /// # #[derive(Debug, Clone, Default, Record)] struct Tag { #[record(primary_key)] id: Option<i64>, #[record(version(auto_increment))] version: Option<i64>, label: String }
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
    fn save<B: Backend, S: Scope<B>>(&mut self, scope: &S) -> Result<(), Error>
    where
        Self: RecordValues<B>,
    {
        save::save(scope.engine(), self)
    }

    /// Saves only the named data fields of a record already saved, leaving
    /// the rest of its row as it is: Django's `save(update_fields=[...])`.
    /// Names are column names (a field's name, unless it has
    /// `#[record(column = "...")]`); an empty list saves nothing.
    ///
    /// It is checked and bumps the version exactly as [`save`](Record::save)
    /// does: the row changed, so copies loaded earlier must meet a conflict,
    /// and a write that the per-type settings or an active
    /// [`disable_version_increment`](crate::disable_version_increment) say
    /// not to bump is not bumped. A conditional version moves only if one of
    /// the named fields that it watches changed: a field not written cannot
    /// change. The in-memory version is updated; the other fields are not
    /// reloaded.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidIdentifier`] (`what: "update field"`) for a name that
    /// is not a saved data column, before anything runs;
    /// [`Error::RecordNotSaved`] for a record without a primary key;
    /// [`Error::VersionMissing`] for a record with a key but no version, of
    /// a type that requires one; [`Error::RecordModified`] if the row's
    /// version moved or the row is gone (nothing is written);
    /// [`Error::RecordNotFound`] if an unchecked save finds no row (a
    /// partial row cannot be inserted).
    ///
    /// # Example
    ///
    /// ```
    /// # use txmanager::{Error, Record, TransactionManager};
    /// #[derive(Debug, Clone, Default, Record)]
    /// struct Page {
    ///     #[record(primary_key)]
    ///     id: Option<i64>,
    ///     #[record(version(auto_increment))]
    ///     version: Option<i64>,
    ///     title: String,
    ///     views: i64,
    /// }
    /// # fn main() -> Result<(), Error> {
    /// let tm = TransactionManager::open_in_memory()?;
    /// tm.execute("CREATE TABLE page (id INTEGER PRIMARY KEY, version INTEGER, title TEXT, views INTEGER)", [])?;
    /// let mut page = Page { title: "Home".into(), ..Default::default() };
    /// page.save(&tm)?;
    /// let mut counter = page.clone();
    /// page.title = "Start".into();
    /// page.views = 99; // not written below
    /// page.save_fields(&tm, &["title"])?;
    /// let stored = Page::get(&tm, 1)?;
    /// assert_eq!((stored.title.as_str(), stored.views, stored.version), ("Start", 0, Some(2)));
    /// // The copy loaded before is stale, whatever field it writes.
    /// counter.views += 1;
    /// assert!(matches!(counter.save_fields(&tm, &["views"]), Err(Error::RecordModified { expected: 1, found: Some(2), .. })));
    /// # Ok(())
    /// # }
    /// ```
    fn save_fields<B: Backend, S: Scope<B>>(
        &mut self,
        scope: &S,
        fields: &[&str],
    ) -> Result<(), Error>
    where
        Self: RecordValues<B>,
    {
        save::save_fields(scope.engine(), self, fields)
    }

    /// Saves, then reloads the row, so the record holds what the database
    /// made of it: column defaults, read-only columns filled by triggers or
    /// generated columns, and the version. The save and the read run in
    /// one transaction: the block's, or outside a block one of their own
    /// (one `BEGIN` and `COMMIT`), so the read sees exactly what this save
    /// wrote, and a failed read leaves nothing committed.
    ///
    /// # Errors
    ///
    /// As [`save`](Record::save), then as [`reload`](Record::reload). On
    /// any error the record is unchanged, and outside a block nothing was
    /// committed (inside one, the block decides).
    ///
    /// # Example
    ///
    /// ```
    /// # use txmanager::{Error, Record, TransactionManager};
    /// #[derive(Debug, Clone, Default, Record)]
    /// struct Tag {
    ///     #[record(primary_key)]
    ///     id: Option<i64>,
    ///     label: String,
    ///     #[record(read_only)]
    ///     slug: Option<String>,
    /// }
    /// # fn main() -> Result<(), Error> {
    /// let mut tm = TransactionManager::open_in_memory()?;
    /// tm.execute("CREATE TABLE tag (id INTEGER PRIMARY KEY, label TEXT,
    ///             slug TEXT GENERATED ALWAYS AS (lower(label)) VIRTUAL)", [])?;
    /// let mut tag = Tag { label: "Urgent".into(), ..Default::default() };
    /// tm.commit_on_success(|tx| tag.save_and_reload(tx))?;
    /// assert_eq!(tag.slug.as_deref(), Some("urgent"));
    /// # Ok(())
    /// # }
    /// ```
    fn save_and_reload<B: Backend, S: Scope<B>>(&mut self, scope: &S) -> Result<(), Error>
    where
        Self: RecordValues<B>,
    {
        save::save_and_reload(scope.engine(), self)
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
    /// # use txmanager::{Record, TransactionManager};
    /// # #[derive(Debug, Clone, Default, Record)] struct Tag { #[record(primary_key)] id: Option<i64>, #[record(version(auto_increment))] version: Option<i64>, label: String }
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
    fn delete<B: Backend, S: Scope<B>>(&mut self, scope: &S) -> Result<(), Error>
    where
        Self: RecordValues<B>,
    {
        save::delete(scope.engine(), self)
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
    /// # use txmanager::{Error, Record, TransactionManager};
    /// # #[derive(Debug, Clone, Default, Record)] struct Tag { #[record(primary_key)] id: Option<i64>, #[record(version(auto_increment))] version: Option<i64>, label: String }
    /// # fn main() -> Result<(), Error> {
    /// let tm = TransactionManager::open_in_memory()?;
    /// tm.execute("CREATE TABLE tag (id INTEGER PRIMARY KEY, version INTEGER, label TEXT)", [])?;
    /// tm.execute("INSERT INTO tag (id, version, label) VALUES (7, 1, 'urgent')", [])?;
    /// assert_eq!(Tag::get(&tm, 7)?.label, "urgent");
    /// assert!(matches!(Tag::get(&tm, 8), Err(Error::RecordNotFound { pk, .. }) if pk == 8));
    /// # Ok(())
    /// # }
    /// ```
    fn get<B: Backend, S: Scope<B>>(scope: &S, pk: impl Into<Self::Key>) -> Result<Self, Error>
    where
        Self: RecordValues<B>,
    {
        let pk = pk.into();
        find_by_key(scope, &pk)?.ok_or_else(|| Error::RecordNotFound {
            table: Self::meta().table(),
            pk: pk.key_value(),
        })
    }

    /// Loads the record with primary key `pk`, or `None` if there is no such
    /// row: [`get`](Record::get) for lookups where a missing row is not an
    /// error.
    ///
    /// # Errors
    ///
    /// [`Error::Statement`] for SQL errors.
    ///
    /// # Example
    ///
    /// ```
    /// # use txmanager::{Record, TransactionManager};
    /// # #[derive(Debug, Clone, Default, Record)] struct Tag { #[record(primary_key)] id: Option<i64>, label: String }
    /// # fn main() -> Result<(), txmanager::Error> {
    /// let tm = TransactionManager::open_in_memory()?;
    /// tm.execute("CREATE TABLE tag (id INTEGER PRIMARY KEY, label TEXT)", [])?;
    /// Tag { label: "urgent".into(), ..Default::default() }.save(&tm)?;
    /// assert_eq!(Tag::find(&tm, 1)?.map(|t| t.label), Some("urgent".to_owned()));
    /// assert!(Tag::find(&tm, 2)?.is_none());
    /// # Ok(())
    /// # }
    /// ```
    fn find<B: Backend, S: Scope<B>>(
        scope: &S,
        pk: impl Into<Self::Key>,
    ) -> Result<Option<Self>, Error>
    where
        Self: RecordValues<B>,
    {
        find_by_key(scope, &pk.into())
    }

    /// Loads the record with primary key `pk` only if its row still has
    /// `version`: django-concurrency's `get_version`. A form posted with
    /// version 5 is checked before any work starts, and the record loaded
    /// is the one the form was made from. It always checks, whatever the
    /// type's settings and the active scopes say: you asked for a version.
    ///
    /// # Errors
    ///
    /// [`Error::RecordModified`] if the row has another version (`found:
    /// Some(..)`) or is gone (`found: None`), with `expected: version`;
    /// [`Error::NotVersioned`] for a type without a version field.
    ///
    /// # Example
    ///
    /// ```
    /// # use txmanager::{Error, Record, TransactionManager};
    /// # #[derive(Debug, Clone, Default, Record)] struct Tag { #[record(primary_key)] id: Option<i64>, #[record(version(auto_increment))] version: Option<i64>, label: String }
    /// # fn main() -> Result<(), Error> {
    /// let tm = TransactionManager::open_in_memory()?;
    /// tm.execute("CREATE TABLE tag (id INTEGER PRIMARY KEY, version INTEGER, label TEXT)", [])?;
    /// let mut tag = Tag { label: "a".into(), ..Default::default() };
    /// tag.save(&tm)?;
    /// tag.save(&tm)?; // now at version 2
    /// // The edit form was made from version 2: go ahead.
    /// assert_eq!(Tag::get_version(&tm, 1, 2)?.label, "a");
    /// // A form made from version 1 is stale: refuse it before any work.
    /// let err = Tag::get_version(&tm, 1, 1).unwrap_err();
    /// assert!(matches!(err, Error::RecordModified { expected: 1, found: Some(2), .. }));
    /// # Ok(())
    /// # }
    /// ```
    fn get_version<B: Backend, S: Scope<B>>(
        scope: &S,
        pk: impl Into<Self::Key>,
        version: i64,
    ) -> Result<Self, Error>
    where
        Self: RecordValues<B>,
    {
        let meta = Self::meta();
        if meta.version().is_none() {
            return Err(Error::NotVersioned {
                table: meta.table().to_owned(),
            });
        }
        let pk = pk.into();
        match find_by_key::<B, S, Self>(scope, &pk)? {
            Some(record) if record.version() == Some(version) => Ok(record),
            other => Err(save::record_modified(
                scope.engine(),
                meta,
                &pk,
                version,
                other.and_then(|r| r.version()),
            )),
        }
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
    /// # use txmanager::{Record, TransactionManager};
    /// # #[derive(Debug, Clone, Default, Record)] struct Tag { #[record(primary_key)] id: Option<i64>, #[record(version(auto_increment))] version: Option<i64>, label: String }
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
    fn all<B: Backend, S: Scope<B>>(scope: &S) -> Result<Vec<Self>, Error>
    where
        Self: RecordValues<B>,
    {
        let sql = Self::meta().sql::<B>()?;
        <B::Records as RecordStore<B>>::query_all(
            scope.engine(),
            &sql.all,
            |_| Ok(()),
            Self::from_row,
        )
    }

    /// Loads the records matching a raw SQL `WHERE` clause, with bound
    /// parameters. Only the clause is yours; the columns and table come from
    /// the declaration. Never format values into the clause: bind them.
    /// The clause is in the backend's dialect, and so are its parameters
    /// ([`ClauseParams`](crate::ClauseParams)): `?1` and anything rusqlite
    /// binds on SQLite; `$1` and `&[&(dyn ToSql + Sync)]` (or an array of one
    /// type) on PostgreSQL, as in
    /// `Tag::select_where(&tm, "label LIKE $1", ["al%"])`.
    ///
    /// # Errors
    ///
    /// [`Error::Statement`] if the clause is not valid SQL.
    ///
    /// # Example
    ///
    /// ```
    /// # use txmanager::{Record, TransactionManager};
    /// # #[derive(Debug, Clone, Default, Record)] struct Tag { #[record(primary_key)] id: Option<i64>, #[record(version(auto_increment))] version: Option<i64>, label: String }
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
    fn select_where<B: Backend, S: Scope<B>, P: ClauseParams<B>>(
        scope: &S,
        clause: &str,
        params: P,
    ) -> Result<Vec<Self>, Error>
    where
        Self: RecordValues<B>,
    {
        let sql = Self::meta().sql::<B>()?;
        params.query_all(
            scope.engine(),
            &format!("{} WHERE {clause}", sql.select),
            Self::from_row,
        )
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
    /// # use txmanager::{Record, TransactionManager};
    /// # #[derive(Debug, Clone, Default, Record)] struct Tag { #[record(primary_key)] id: Option<i64>, #[record(version(auto_increment))] version: Option<i64>, label: String }
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
    fn reload<B: Backend, S: Scope<B>>(&mut self, scope: &S) -> Result<(), Error>
    where
        Self: RecordValues<B>,
    {
        let pk = self.primary_key().cloned().ok_or(Error::RecordNotSaved {
            table: Self::meta().table(),
        })?;
        *self = Self::get(scope, pk)?;
        Ok(())
    }
}

/// Loads the record of type `R` whose primary key is `pk`, if its row
/// exists: [`Record::find`], [`Record::get`] and [`Record::get_version`].
#[inline]
fn find_by_key<B: Backend, S: Scope<B>, R: RecordValues<B>>(
    scope: &S,
    pk: &R::Key,
) -> Result<Option<R>, Error> {
    let sql = R::meta().sql::<B>()?;
    <B::Records as RecordStore<B>>::query_first(
        scope.engine(),
        &sql.get,
        |values| values.bind(pk),
        |row| R::from_row_with_key(pk, row),
    )
}

/// How a record's values cross to backend `B` (SQLite by default): its
/// data columns bound as parameters, a row read back into a record.
/// `#[derive(Record)]` implements it for every backend on which the
/// record's field and key types convert, so a field type only one backend
/// supports (`u16` on SQLite) compiles, and the record works there; using
/// it on another backend is a compile error naming the field type. The
/// operations of [`Record`] require it for the scope's backend.
///
/// # Example
///
/// A record with a `u16` field (PostgreSQL has no unsigned types) works on
/// SQLite, whatever features are on:
///
/// ```
/// use txmanager::{Record, RecordValues, Sqlite, TransactionManager};
///
/// #[derive(Debug, Clone, Default, Record)]
/// struct Counter {
///     #[record(primary_key)]
///     id: Option<i64>,
///     hits: u16,
/// }
///
/// fn on_sqlite<R: RecordValues<Sqlite>>() {}
/// on_sqlite::<Counter>();
///
/// # fn main() -> Result<(), txmanager::Error> {
/// let tm = TransactionManager::open_in_memory()?;
/// tm.execute("CREATE TABLE counter (id INTEGER PRIMARY KEY, hits INTEGER)", [])?;
/// Counter { hits: 7, ..Default::default() }.save(&tm)?;
/// assert_eq!(Counter::get(&tm, 1)?.hits, 7);
/// # Ok(())
/// # }
/// ```
pub trait RecordValues<B: Backend = Sqlite>: Record<Key: SqlValue<B> + FromSqlValue<B>> {
    /// Binds the written data columns ([`RecordMeta::columns`]), in order.
    /// The derive writes it; [`save`](Record::save) calls it.
    ///
    /// ```
    /// # use txmanager::{Record, TransactionManager};
    /// # #[derive(Debug, Clone, Default, Record)] pub struct Tag { #[record(primary_key)] pub id: Option<i64>, #[record(version(auto_increment))] pub version: Option<i64>, pub label: String, }
    /// # fn main() -> Result<(), txmanager::Error> {
    /// # let tm = TransactionManager::open_in_memory()?;
    /// # tm.execute("CREATE TABLE tag (id INTEGER PRIMARY KEY, version INTEGER, label TEXT)", [])?;
    /// // `label` is the one data column: the value `save` binds for it is stored.
    /// assert_eq!(Tag::meta().columns(), ["label"]);
    /// Tag { label: "rust".into(), ..Default::default() }.save(&tm)?;
    /// let label: String = tm.query_row("SELECT label FROM tag", [], |r| r.get(0))?;
    /// assert_eq!(label, "rust");
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// A value that cannot be bound.
    fn bind_columns(&self, values: &mut Binder<'_, '_, B>) -> Result<(), ValueError>;

    /// Builds a record from a row holding the primary key, the version (if
    /// versioned), the data columns and the read-only columns, in that order.
    /// The derive writes it; every load calls it.
    ///
    /// ```
    /// # use txmanager::{Record, TransactionManager};
    /// # #[derive(Debug, Clone, Default, Record)] pub struct Tag { #[record(primary_key)] pub id: Option<i64>, #[record(version(auto_increment))] pub version: Option<i64>, pub label: String, }
    /// # fn main() -> Result<(), txmanager::Error> {
    /// # let tm = TransactionManager::open_in_memory()?;
    /// # tm.execute("CREATE TABLE tag (id INTEGER PRIMARY KEY, version INTEGER, label TEXT)", [])?;
    /// tm.execute("INSERT INTO tag VALUES (5, 2, 'rust')", [])?;
    /// let tag = Tag::get(&tm, 5)?; // the row: key, version, then `label`
    /// assert_eq!((tag.id, tag.version, tag.label.as_str()), (Some(5), Some(2), "rust"));
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// A column that does not convert to its field's type.
    fn from_row(row: &mut RowReader<'_, '_, B>) -> Result<Self, ValueError>;

    /// [`from_row`](RecordValues::from_row) for a row loaded by its primary key
    /// `pk` ([`get`](Record::get), [`find`](Record::find)): the row's key
    /// column holds a value equal to `pk`. The default reads the key back,
    /// as `from_row` does. The derive, for a plain integer key (`i64`,
    /// `i32`, …, whose SQL equality is exact, unlike a text key under a
    /// `NOCASE` collation), skips the key column and takes `pk`, so a
    /// load does not decode a value it was given (W2's hot path).
    ///
    /// One visible difference follows, on SQLite only: an integer key on a
    /// column of `TEXT` affinity that holds `'7'`. `WHERE id = 7` finds
    /// that row (SQLite turns 7 into `'7'` for the comparison), so `get`
    /// and `find` load it with key 7, while [`all`](Record::all), which
    /// reads the key, fails on `'7'`, as it fails on any column that does
    /// not convert. Nothing is lost either way: a save of the loaded record
    /// runs `WHERE id = 7` too, so it updates that row, checked. Declare
    /// integer keys `INTEGER PRIMARY KEY` and every path agrees.
    ///
    /// ```
    /// # use txmanager::{Record, TransactionManager};
    /// # #[derive(Debug, Clone, Default, Record)] pub struct Tag { #[record(primary_key)] pub id: Option<i64>, #[record(version(auto_increment))] pub version: Option<i64>, pub label: String, }
    /// # fn main() -> Result<(), txmanager::Error> {
    /// # let tm = TransactionManager::open_in_memory()?;
    /// # tm.execute("CREATE TABLE tag (id INTEGER PRIMARY KEY, version INTEGER, label TEXT)", [])?;
    /// tm.execute("INSERT INTO tag VALUES (5, 2, 'rust')", [])?;
    /// let tag = Tag::find(&tm, 5)?; // the key comes from the caller
    /// assert_eq!(tag.map(|t| (t.id, t.label)), Some((Some(5), "rust".to_owned())));
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// A column that does not convert to its field's type.
    #[inline]
    fn from_row_with_key(
        pk: &Self::Key,
        row: &mut RowReader<'_, '_, B>,
    ) -> Result<Self, ValueError> {
        let _ = pk;
        Self::from_row(row)
    }
}
