//! What a backend does for records: [`RecordStore`], the few operations
//! `record.rs` and `versioning.rs` need from a database (build a type's SQL,
//! run a record statement, the version trigger), and [`ClauseParams`], the
//! parameters of a `select_where` clause on each backend.
//!
//! Records and versioning decide *what* to do, generically over the
//! backend; each backend module implements this trait with its SQL and its
//! statement path. This module imports nothing from records or versioning,
//! so the graph stays a tree: `record` → `store` ← backend module → `shape`.

use std::sync::{Arc, Mutex, PoisonError};

use crate::Error;
use crate::block::Engine;
use crate::control::TransactionControl;
use crate::shape::{BadName, ColumnSet, RecordSql, TableShape, UpdateSql};
use crate::value::{Binder, FromSqlValue, RowReader, ValueError};

/// A version trigger as a backend finds it in the database.
///
/// `pub` in this private module, as [`RecordStore`] is, because that
/// trait's methods name it (a `pub(crate)` type there is a private type in
/// a public interface); it cannot be named from outside the crate.
#[derive(Debug)]
pub struct FoundTrigger {
    pub(crate) name: String,
    pub(crate) table: String,
    pub(crate) column: String,
}

/// Whether the version trigger of a table's column is there as
/// `apply_concurrency_check` creates it. `pub` for the same reason as
/// [`FoundTrigger`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TriggerState {
    Missing,
    Differs,
    AsCreated,
}

/// A record type's SQL on one backend: its statements, built (and its
/// names validated) once, and the `save_fields` `UPDATE`s, one per set of
/// written columns, built on first use. Lives as long as the process.
#[derive(Debug)]
pub(crate) struct TypeSql {
    pub(crate) record: Result<RecordSql, BadName>,
    pub(crate) subset_updates: Mutex<SubsetUpdates>,
}

/// `save_fields` `UPDATE`s by the sorted indices of the columns they write.
type SubsetUpdates = Vec<(Box<[usize]>, Arc<UpdateSql>)>;

impl TypeSql {
    /// The `UPDATE`s that write only the data columns at `written` (sorted,
    /// no repeats) of the table `shape` describes, built once per set.
    pub(crate) fn subset_update(
        &self,
        written: &[usize],
        build: impl FnOnce() -> UpdateSql,
    ) -> Arc<UpdateSql> {
        // A panic while the lock was held cannot leave the list half-pushed.
        let mut cache = self
            .subset_updates
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some((_, sql)) = cache.iter().find(|(set, _)| **set == *written) {
            return Arc::clone(sql);
        }
        let sql = Arc::new(build());
        cache.push((written.into(), Arc::clone(&sql)));
        sql
    }
}

/// One backend's [`TypeSql`] for every record type used on it, keyed by
/// the address of the type's `RecordMeta` (a `static`, so its address is
/// the type's identity). Each backend's records module holds one in a
/// `static`; a `RecordMeta` keeps the entry of the first backend it is
/// used on in a slot of its own, so the common case (one backend per
/// process) never comes here after the first save.
///
/// `pub` in this private module because [`RecordStore::sql_cache`] names it.
#[derive(Debug)]
pub struct SqlCache {
    by_type: Mutex<Vec<(usize, &'static TypeSql)>>,
}

impl SqlCache {
    /// An empty cache, for a `static`.
    pub(crate) const fn new() -> Self {
        SqlCache {
            by_type: Mutex::new(Vec::new()),
        }
    }

    /// The SQL of the record type whose `RecordMeta` is at `type_address`,
    /// built by `build` on first use here and kept for the life of the
    /// process (one per type and backend).
    #[cold]
    pub(crate) fn get_or_build(
        &self,
        type_address: usize,
        build: impl FnOnce() -> Result<RecordSql, BadName>,
    ) -> &'static TypeSql {
        let mut by_type = self.by_type.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(&(_, sql)) = by_type.iter().find(|(a, _)| *a == type_address) {
            return sql;
        }
        let sql: &'static TypeSql = Box::leak(Box::new(TypeSql {
            record: build(),
            subset_updates: Mutex::new(Vec::new()),
        }));
        by_type.push((type_address, sql));
        sql
    }
}

/// The record side of a backend: which [`RecordStore`] runs its record
/// statements. A supertrait of the public [`Backend`](crate::Backend), as
/// [`TransactionControl`] is, so that `B: Backend` is all that record and
/// versioning code (and users' code generic over the backend) needs.
///
/// `pub` in this private module, as [`RecordStore`] is; it cannot be
/// named from outside the crate.
pub trait RecordBackend {
    /// How this backend runs record statements and version triggers
    /// (`sqlite/records.rs`, `pg/records.rs`).
    type Records: RecordStore<Self>;
}

/// A backend's record operations. Implemented once per backend, by a
/// marker type named in the backend's [`RecordBackend::Records`].
///
/// The trait is public only so that it can bound that associated type; it
/// lives in a private module and cannot be named, so its methods cannot
/// be called outside the crate (not even through `B::Records`: a method
/// of an associated type's bound needs its trait in scope), and most take
/// an `&Engine`, which no public item hands out. `B` is bounded on each
/// method, not here, so that `RecordBackend` can name `RecordStore<Self>`;
/// the bound is the crate-private `TransactionControl`, hence
/// `private_bounds`.
#[allow(private_bounds)]
pub trait RecordStore<B: ?Sized> {
    /// This backend's SQL for every record type used on it: a `static` in
    /// the backend's records module.
    #[doc(hidden)]
    fn sql_cache() -> &'static SqlCache;

    /// Checks a table or column name for this backend.
    #[doc(hidden)]
    fn validate_identifier(what: &'static str, name: &str) -> Result<(), BadName>
    where
        B: TransactionControl;

    /// Builds a record type's SQL, validating every name first.
    #[doc(hidden)]
    fn record_sql(shape: &TableShape) -> Result<RecordSql, BadName>
    where
        B: TransactionControl;

    /// Builds the `UPDATE`s that write only the data columns in `written`
    /// (`save_fields`), with `record_sql`'s parameter layout.
    #[doc(hidden)]
    fn update_sql(shape: &TableShape, written: ColumnSet<'_>) -> UpdateSql
    where
        B: TransactionControl;

    /// Runs a record statement that returns no rows, binding its parameters
    /// with `bind`; the number of rows it changed.
    #[doc(hidden)]
    fn execute(
        tm: &Engine<B>,
        sql: &str,
        bind: impl Fn(&mut Binder<'_, '_, B>) -> Result<(), ValueError>,
    ) -> Result<u64, Error>
    where
        B: TransactionControl;

    /// Runs a record statement and reads its first row with `read`, if it
    /// returned one.
    #[doc(hidden)]
    fn query_first<T>(
        tm: &Engine<B>,
        sql: &str,
        bind: impl Fn(&mut Binder<'_, '_, B>) -> Result<(), ValueError>,
        read: impl FnOnce(&mut RowReader<'_, '_, B>) -> Result<T, ValueError>,
    ) -> Result<Option<T>, Error>
    where
        B: TransactionControl;

    /// Runs a record statement and reads every row with `read`.
    #[doc(hidden)]
    fn query_all<T>(
        tm: &Engine<B>,
        sql: &str,
        bind: impl Fn(&mut Binder<'_, '_, B>) -> Result<(), ValueError>,
        read: impl FnMut(&mut RowReader<'_, '_, B>) -> Result<T, ValueError>,
    ) -> Result<Vec<T>, Error>
    where
        B: TransactionControl;

    /// Whether the database can assign a key of type `K` to a record
    /// inserted without one (SQLite: a rowid, so an integer type;
    /// PostgreSQL: whatever the key column's default gives, read back with
    /// `RETURNING`). Asked before anything is written: a record whose key
    /// cannot be assigned fails with `Error::MissingPrimaryKey`.
    #[doc(hidden)]
    fn can_assign_key<K: FromSqlValue<B>>() -> bool
    where
        B: TransactionControl;

    /// Whether every key the database may assign converts to `K`, so that
    /// the conversion after an insert cannot fail once the row is written
    /// (PostgreSQL checks the key column's type before the insert runs;
    /// SQLite's rowid is an `i64`). A save whose key type does not runs
    /// its insert in a transaction of its own (`all_or_nothing`).
    #[doc(hidden)]
    #[inline]
    fn holds_every_assigned_key<K: FromSqlValue<B>>() -> bool
    where
        B: TransactionControl,
    {
        true
    }

    /// Runs `sql.insert` (a record without a key) and returns the key the
    /// database assigned, converted to `K`; `Error::AssignedKeyType`
    /// (naming `table` and its key `column`) when it does not convert.
    #[doc(hidden)]
    fn insert_assigning_key<K: FromSqlValue<B>>(
        tm: &Engine<B>,
        sql: &RecordSql,
        key: (&'static str, &'static str),
        bind: impl Fn(&mut Binder<'_, '_, B>) -> Result<(), ValueError>,
    ) -> Result<K, Error>
    where
        B: TransactionControl;

    /// The names of `table`'s columns; empty if there is no such table.
    #[doc(hidden)]
    fn table_columns(tm: &Engine<B>, table: &str) -> Result<Vec<String>, Error>
    where
        B: TransactionControl;

    /// Adds a version column to `table` (existing rows start at 1).
    #[doc(hidden)]
    fn add_version_column(tx: &Engine<B>, table: &str, column: &str) -> Result<(), Error>
    where
        B: TransactionControl;

    /// Creates the version trigger of `table`'s `column`, or replaces one
    /// that differs, inside the caller's block.
    #[doc(hidden)]
    fn ensure_version_trigger(tx: &Engine<B>, table: &str, column: &str) -> Result<(), Error>
    where
        B: TransactionControl;

    /// Whether the version trigger of `table`'s `column` is as created.
    #[doc(hidden)]
    fn version_trigger_state(
        tm: &Engine<B>,
        table: &str,
        column: &str,
    ) -> Result<TriggerState, Error>
    where
        B: TransactionControl;

    /// Every version trigger in the database (the current schema, on
    /// PostgreSQL), by name.
    #[doc(hidden)]
    fn version_triggers(tm: &Engine<B>) -> Result<Vec<FoundTrigger>, Error>
    where
        B: TransactionControl;

    /// Drops a version trigger found by [`version_triggers`](Self::version_triggers).
    #[doc(hidden)]
    fn drop_version_trigger(tx: &Engine<B>, trigger: &FoundTrigger) -> Result<(), Error>
    where
        B: TransactionControl;
}

pub(crate) mod sealed {
    /// Seals [`ClauseParams`](super::ClauseParams): each backend's records
    /// module implements it for the parameter types that backend binds.
    /// Generic over the backend, so SQLite's blanket impl over
    /// `rusqlite::Params` and PostgreSQL's arrays do not overlap.
    pub trait Params<B> {}
}

/// The parameters of a [`Record::select_where`](crate::Record::select_where)
/// clause, on backend `B`: on SQLite anything rusqlite binds
/// (`rusqlite::Params`: arrays, tuples, `params![]`, `[]`); on PostgreSQL
/// a `&[&(dyn ToSql + Sync)]` slice, as the `postgres` crate takes, or an
/// array of one value type.
///
/// # Example
///
/// ```
/// use txmanager::{ClauseParams, Sqlite};
///
/// fn sqlite_params<P: ClauseParams<Sqlite>>(_: P) {}
/// sqlite_params(["al%"]);
/// sqlite_params((1_i64, "x"));
/// ```
///
/// The trait is sealed: its method is txmanager's to change, so only the
/// parameter types above implement it.
///
/// ```compile_fail
/// use txmanager::{ClauseParams, Error, RowReader, Sqlite, TransactionManager, ValueError};
///
/// struct Mine;
/// impl ClauseParams<Sqlite> for Mine {
///     fn query_all<T>(
///         self,
///         _: &TransactionManager<Sqlite>,
///         _: &str,
///         _: impl FnMut(&mut RowReader<'_, '_>) -> Result<T, ValueError>,
///     ) -> Result<Vec<T>, Error> {
///         Ok(Vec::new())
///     }
/// }
/// ```
pub trait ClauseParams<B>: sealed::Params<B> {
    /// Runs `sql` with these parameters and reads every row with `read`.
    /// Not API, and harmless: callable outside the crate only with an
    /// `&Engine`, which no public item hands out (its bound is the
    /// crate-private `TransactionControl`, hence `private_bounds`).
    #[doc(hidden)]
    #[allow(private_bounds)]
    fn query_all<T>(
        self,
        tm: &Engine<B>,
        sql: &str,
        read: impl FnMut(&mut RowReader<'_, '_, B>) -> Result<T, ValueError>,
    ) -> Result<Vec<T>, Error>
    where
        B: TransactionControl;
}
