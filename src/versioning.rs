//! Optimistic concurrency around the save path (`record/save.rs`): scoped
//! switches to turn the check off, adding versioning to an existing table,
//! the version triggers, and checking by hand.

use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};

use crate::backend::Backend;
use crate::block::Engine;
use crate::overrides::{Override, Target};
use crate::record::save::{
    Store, concurrency_policy, current_version, record_modified, record_type, version_field,
};
use crate::scope::sealed::Sealed;
use crate::sqlite::Sqlite;
use crate::store::{FoundTrigger, RecordStore, TriggerState};
use crate::value::KeyValue;
use crate::version::VersionKind;
use crate::{Error, Mode, Record, RecordMeta, RecordValues, Scope, Transaction};

/// What a [`disable_concurrency`] or [`disable_version_increment`] scope
/// applies to: every record, one record *type*, or one saved record of a
/// type. Two record types on one table (a full model and a narrow "proxy"
/// view of it) are separate targets.
///
/// # Example
///
/// ```
/// use txmanager::{ConcurrencyTarget, Record};
/// # #[derive(Debug, Clone, Default, Record)] pub struct Tag { #[record(primary_key)] pub id: Option<i64>, #[record(version(auto_increment))] pub version: Option<i64>, pub label: String, }
///
/// # fn main() -> Result<(), txmanager::Error> {
/// let everything = ConcurrencyTarget::all();
/// let tags = ConcurrencyTarget::of::<Tag>();
/// let one = ConcurrencyTarget::record(&Tag { id: Some(7), ..Default::default() })?;
/// assert_ne!(tags, one);
/// # let _ = everything;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ConcurrencyTarget(Target);

impl ConcurrencyTarget {
    /// Every record type.
    ///
    /// ```
    /// let _ = txmanager::ConcurrencyTarget::all();
    /// ```
    #[must_use]
    pub fn all() -> Self {
        ConcurrencyTarget(Target::All)
    }

    /// Every record of type `R`, and of no other type, even one that maps
    /// to the same table.
    ///
    /// ```
    /// # use txmanager::{ConcurrencyTarget, Record};
    /// # #[derive(Debug, Clone, Default, Record)] pub struct Tag { #[record(primary_key)] pub id: Option<i64>, #[record(version(auto_increment))] pub version: Option<i64>, pub label: String, }
    /// # #[derive(Debug, Clone, Default, Record)] #[record(table = "tag")] pub struct TagLabel { #[record(primary_key)] pub id: Option<i64>, #[record(version(auto_increment))] pub version: Option<i64>, pub label: String, }
    /// assert_ne!(ConcurrencyTarget::of::<Tag>(), ConcurrencyTarget::of::<TagLabel>());
    /// ```
    #[must_use]
    pub fn of<R: Record>() -> Self {
        ConcurrencyTarget(Target::Type(record_type(R::meta())))
    }

    /// This one record: its type and primary key.
    ///
    /// # Errors
    ///
    /// [`Error::RecordNotSaved`] for a record never saved: it has no
    /// primary key to match, and a target that silently matched nothing
    /// would leave its checks on. Save it first, or target its type with
    /// [`of`](Self::of).
    ///
    /// ```
    /// # use txmanager::{ConcurrencyTarget, Error, Record};
    /// # #[derive(Debug, Clone, Default, Record)] pub struct Tag { #[record(primary_key)] pub id: Option<i64>, #[record(version(auto_increment))] pub version: Option<i64>, pub label: String, }
    /// # fn main() -> Result<(), Error> {
    /// let _saved = ConcurrencyTarget::record(&Tag { id: Some(1), ..Default::default() })?;
    /// let err = ConcurrencyTarget::record(&Tag::default()).unwrap_err();
    /// assert!(matches!(err, Error::RecordNotSaved { table: "tag" }));
    /// # Ok(())
    /// # }
    /// ```
    pub fn record<R: RecordValues>(record: &R) -> Result<Self, Error> {
        let meta = R::meta();
        let pk = record.primary_key().ok_or(Error::RecordNotSaved {
            table: meta.table(),
        })?;
        Ok(ConcurrencyTarget(Target::Row(
            record_type(meta),
            KeyValue::of::<Sqlite, _>(pk),
        )))
    }
}

/// A scope in which some version checks or increments are switched off, on
/// one manager only. Dropping it (at the end of the scope, or while a panic
/// unwinds) switches them back on. It derefs to the scope it was made from,
/// and is itself a [`Scope`], so records can be saved through it.
///
/// Made by [`disable_concurrency`] and [`disable_version_increment`].
///
/// # Example
///
/// ```
/// use txmanager::{disable_concurrency, ConcurrencyTarget, Record, TransactionManager, VersionField};
/// # #[derive(Debug, Clone, Default, Record)] pub struct Tag { #[record(primary_key)] pub id: Option<i64>, #[record(version(auto_increment))] pub version: Option<i64>, pub label: String, }
///
/// # fn main() -> Result<(), txmanager::Error> {
/// let mut tm = TransactionManager::open_in_memory()?;
/// tm.execute("CREATE TABLE tag (id INTEGER PRIMARY KEY, version INTEGER, label TEXT)", [])?;
/// let mut tag = Tag { label: "a".into(), ..Default::default() };
/// tag.save(&tm)?;
/// let mut stale = tag.clone();
/// tag.save(&tm)?;
/// {
///     let guard = disable_concurrency(&mut tm, ConcurrencyTarget::all());
///     stale.save(&guard)?; // not checked: overwrites
/// }
/// assert!(stale.save(&tm).is_ok(), "stale was brought up to date by its save");
/// # Ok(())
/// # }
/// ```
pub struct ConcurrencyGuard<'a, S: Scope<B>, B: Backend = Sqlite> {
    scope: &'a mut S,
    backend: PhantomData<fn() -> B>,
}

impl<B: Backend, S: Scope<B>> fmt::Debug for ConcurrencyGuard<'_, S, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConcurrencyGuard")
            .field(
                "active_scopes",
                &self.scope.engine().concurrency_overrides.len(),
            )
            .finish()
    }
}

impl<B: Backend, S: Scope<B>> Deref for ConcurrencyGuard<'_, S, B> {
    type Target = S;
    fn deref(&self) -> &S {
        self.scope
    }
}

impl<B: Backend, S: Scope<B>> DerefMut for ConcurrencyGuard<'_, S, B> {
    fn deref_mut(&mut self) -> &mut S {
        self.scope
    }
}

impl<B: Backend, S: Scope<B>> Drop for ConcurrencyGuard<'_, S, B> {
    fn drop(&mut self) {
        // Guards borrow their scope mutably, so they can only be dropped in
        // the reverse order of their creation: popping is always ours.
        self.scope.engine_mut().concurrency_overrides.pop();
    }
}

impl<B: Backend, S: Scope<B>> Sealed<B> for ConcurrencyGuard<'_, S, B> {
    fn engine(&self) -> &Engine<B> {
        self.scope.engine()
    }
    fn engine_mut(&mut self) -> &mut Engine<B> {
        self.scope.engine_mut()
    }
}

impl<B: Backend, S: Scope<B>> Scope<B> for ConcurrencyGuard<'_, S, B> {
    fn run<T, E, F>(&mut self, mode: Mode, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut Transaction<'_, B>) -> Result<T, E>,
        E: From<Error>,
    {
        self.scope.run(mode, f)
    }
}

fn push_override<B: Backend, S: Scope<B>>(
    scope: &mut S,
    target: ConcurrencyTarget,
    skip_check: bool,
) -> ConcurrencyGuard<'_, S, B> {
    scope.engine_mut().concurrency_overrides.push(Override {
        target: target.0,
        skip_check,
    });
    ConcurrencyGuard {
        scope,
        backend: PhantomData,
    }
}

/// Switches version *checks* off for `target`, on this manager only, until
/// the guard is dropped: saves and deletes of matching records overwrite
/// whatever is there, and a save whose row was deleted re-inserts it under
/// the same primary key. Versions still move on, so other holders of the
/// record see the change. Scopes nest; other managers and threads keep
/// checking (django-concurrency's switch was process-global, a known hazard).
///
/// # Example
///
/// The cookbook's "recover a deleted record": saving a record whose row was
/// deleted is a conflict, unless concurrency is disabled for it.
///
/// ```
/// use txmanager::{disable_concurrency, ConcurrencyTarget, Error, Record, TransactionManager, VersionField};
/// # #[derive(Debug, Clone, Default, Record)] pub struct Tag { #[record(primary_key)] pub id: Option<i64>, #[record(version(auto_increment))] pub version: Option<i64>, pub label: String, }
///
/// # fn main() -> Result<(), Error> {
/// let mut tm = TransactionManager::open_in_memory()?;
/// tm.execute("CREATE TABLE tag (id INTEGER PRIMARY KEY, version INTEGER, label TEXT)", [])?;
/// let mut tag = Tag { label: "keep me".into(), ..Default::default() };
/// tag.save(&tm)?;
/// let mut revision = tag.clone();
/// tag.delete(&tm)?;
///
/// let err = revision.save(&tm).unwrap_err();
/// assert!(matches!(err, Error::RecordModified { found: None, .. }));
///
/// let target = ConcurrencyTarget::record(&revision)?;
/// revision.save(&disable_concurrency(&mut tm, target))?;
/// assert_eq!(Tag::get(&tm, 1)?.label, "keep me");
/// # Ok(())
/// # }
/// ```
pub fn disable_concurrency<B: Backend, S: Scope<B>>(
    scope: &mut S,
    target: ConcurrencyTarget,
) -> ConcurrencyGuard<'_, S, B> {
    push_override(scope, target, true)
}

/// Runs `f` with version checks switched off for `target`: the closure form
/// of [`disable_concurrency`], as the cookbook's `with disable_concurrency(...)`.
///
/// # Errors
///
/// Whatever `f` returns.
///
/// # Example
///
/// The cookbook's data import: load rows without checks.
///
/// ```
/// use txmanager::{with_concurrency_disabled, ConcurrencyTarget, Error, Record, TransactionManager, VersionField};
/// # #[derive(Debug, Clone, Default, Record)] pub struct Tag { #[record(primary_key)] pub id: Option<i64>, #[record(version(auto_increment))] pub version: Option<i64>, pub label: String, }
///
/// # fn main() -> Result<(), Error> {
/// let mut tm = TransactionManager::open_in_memory()?;
/// tm.execute("CREATE TABLE tag (id INTEGER PRIMARY KEY, version INTEGER, label TEXT)", [])?;
/// with_concurrency_disabled(&mut tm, ConcurrencyTarget::of::<Tag>(), |tm| {
///     tm.commit_on_success(|tx| {
///         for (id, label) in [(1, "imported"), (2, "also imported")] {
///             Tag { id: Some(id), version: Some(1), label: label.into() }.save(tx)?;
///         }
///         Ok::<_, Error>(())
///     })
/// })?;
/// assert_eq!(Tag::all(&tm)?.len(), 2);
/// # Ok(())
/// # }
/// ```
pub fn with_concurrency_disabled<B: Backend, S: Scope<B>, T>(
    scope: &mut S,
    target: ConcurrencyTarget,
    f: impl FnOnce(&mut ConcurrencyGuard<'_, S, B>) -> T,
) -> T {
    f(&mut disable_concurrency(scope, target))
}

/// Keeps version checks on for `target` but stops saves from bumping the
/// version, until the guard is dropped. A stale save still fails; a fresh one
/// writes without changing the version, so copies loaded earlier stay valid
/// (useful for bookkeeping writes such as a `last_seen` column). It never
/// outlives its scope: django-concurrency's per-instance switch could leave an
/// instance's checks off for good.
///
/// [`VersionKind::Trigger`] versions are bumped by the database itself and
/// are not affected.
///
/// # Example
///
/// ```
/// use txmanager::{disable_version_increment, ConcurrencyTarget, Record, TransactionManager, VersionField};
/// # #[derive(Debug, Clone, Default, Record)] pub struct Tag { #[record(primary_key)] pub id: Option<i64>, #[record(version(auto_increment))] pub version: Option<i64>, pub label: String, }
///
/// # fn main() -> Result<(), txmanager::Error> {
/// let mut tm = TransactionManager::open_in_memory()?;
/// tm.execute("CREATE TABLE tag (id INTEGER PRIMARY KEY, version INTEGER, label TEXT)", [])?;
/// let mut tag = Tag { label: "a".into(), ..Default::default() };
/// tag.save(&tm)?;
/// {
///     let guard = disable_version_increment(&mut tm, ConcurrencyTarget::of::<Tag>());
///     tag.label = "b".into();
///     tag.save(&guard)?;
///     assert_eq!(tag.version, Some(1), "not bumped");
/// }
/// tag.save(&tm)?;
/// assert_eq!(tag.version, Some(2), "bumped again once the scope ends");
/// # Ok(())
/// # }
/// ```
pub fn disable_version_increment<B: Backend, S: Scope<B>>(
    scope: &mut S,
    target: ConcurrencyTarget,
) -> ConcurrencyGuard<'_, S, B> {
    push_override(scope, target, false)
}

/// Runs `f` with version increments switched off for `target`: the closure
/// form of [`disable_version_increment`].
///
/// # Errors
///
/// Whatever `f` returns.
///
/// # Example
///
/// ```
/// use txmanager::{with_version_increment_disabled, ConcurrencyTarget, Record, TransactionManager, VersionField};
/// # #[derive(Debug, Clone, Default, Record)] pub struct Tag { #[record(primary_key)] pub id: Option<i64>, #[record(version(auto_increment))] pub version: Option<i64>, pub label: String, }
/// # fn main() -> Result<(), txmanager::Error> {
/// let mut tm = TransactionManager::open_in_memory()?;
/// tm.execute("CREATE TABLE tag (id INTEGER PRIMARY KEY, version INTEGER, label TEXT)", [])?;
/// let mut tag = Tag { label: "a".into(), ..Default::default() };
/// tag.save(&tm)?;
/// with_version_increment_disabled(&mut tm, ConcurrencyTarget::record(&tag)?, |tm| tag.save(tm))?;
/// assert_eq!(tag.version, Some(1));
/// # Ok(())
/// # }
/// ```
pub fn with_version_increment_disabled<B: Backend, S: Scope<B>, T>(
    scope: &mut S,
    target: ConcurrencyTarget,
    f: impl FnOnce(&mut ConcurrencyGuard<'_, S, B>) -> T,
) -> T {
    f(&mut disable_version_increment(scope, target))
}

/// Checks by hand that `record`'s row still has the version it was loaded
/// with, for records whose version field is [`manual`](crate::VersionField::manual)
/// (or any versioned record, before custom save logic). The cookbook's
/// `concurrency_check(self)`. Run it in the same `commit_on_success` block
/// as the save that follows, so nothing can change in between.
///
/// A record never saved passes; so does one covered by [`disable_concurrency`].
///
/// # Errors
///
/// [`Error::RecordModified`] if the row changed or is gone;
/// [`Error::NotVersioned`] for a type without a version field.
///
/// # Example
///
/// See [the derive](derive@crate::Record) for the cookbook's custom-save model.
///
/// ```
/// use txmanager::{concurrency_check, Error, Record, TransactionManager, VersionField};
/// # #[derive(Debug, Clone, Default, Record)] pub struct Tag { #[record(primary_key)] pub id: Option<i64>, #[record(version(auto_increment, manual))] pub version: Option<i64>, pub label: String, }
///
/// # fn main() -> Result<(), Error> {
/// let tm = TransactionManager::open_in_memory()?;
/// tm.execute("CREATE TABLE tag (id INTEGER PRIMARY KEY, version INTEGER, label TEXT)", [])?;
/// let mut tag = Tag { label: "a".into(), ..Default::default() };
/// tag.save(&tm)?;
/// concurrency_check(&tm, &tag)?;
/// tm.execute("UPDATE tag SET version = version + 1", [])?;
/// assert!(matches!(concurrency_check(&tm, &tag), Err(Error::RecordModified { expected: 1, found: Some(2), .. })));
/// # Ok(())
/// # }
/// ```
pub fn concurrency_check<B: Backend, S: Scope<B>, R: RecordValues<B>>(
    scope: &S,
    record: &R,
) -> Result<(), Error> {
    let meta = R::meta();
    version_field(meta)?;
    let (Some(pk), Some(expected)) = (record.primary_key(), record.version()) else {
        return Ok(());
    };
    let tm = scope.engine();
    if !concurrency_policy(tm, meta, pk).check {
        return Ok(());
    }
    let sql = meta.sql::<B>()?;
    let found = current_version(tm, sql, pk)?;
    if found == Some(expected) {
        Ok(())
    } else {
        Err(record_modified(tm, meta, pk, expected, found))
    }
}

/// Whether `record`'s row has changed (or gone) since the record was loaded
/// or last saved, judged by its version.
///
/// # Errors
///
/// [`Error::NotVersioned`] for a type without a version field;
/// [`Error::RecordNotSaved`] for a record never saved.
///
/// # Example
///
/// ```
/// use txmanager::{has_changed, Record, TransactionManager, VersionField};
/// # #[derive(Debug, Clone, Default, Record)] pub struct Tag { #[record(primary_key)] pub id: Option<i64>, #[record(version(auto_increment))] pub version: Option<i64>, pub label: String, }
/// # fn main() -> Result<(), txmanager::Error> {
/// let tm = TransactionManager::open_in_memory()?;
/// tm.execute("CREATE TABLE tag (id INTEGER PRIMARY KEY, version INTEGER, label TEXT)", [])?;
/// let mut tag = Tag { label: "a".into(), ..Default::default() };
/// tag.save(&tm)?;
/// assert!(!has_changed(&tm, &tag)?);
/// tm.execute("UPDATE tag SET label = 'b', version = version + 1", [])?;
/// assert!(has_changed(&tm, &tag)?);
/// # Ok(())
/// # }
/// ```
pub fn has_changed<B: Backend, S: Scope<B>, R: RecordValues<B>>(
    scope: &S,
    record: &R,
) -> Result<bool, Error> {
    let meta = R::meta();
    version_field(meta)?;
    let pk = record.primary_key().ok_or(Error::RecordNotSaved {
        table: meta.table(),
    })?;
    let found = current_version(scope.engine(), meta.sql::<B>()?, pk)?;
    Ok(found.is_none() || found != record.version())
}

/// Adds versioning to an existing table: adds `column` (an `INTEGER NOT NULL
/// DEFAULT 1` on SQLite, `BIGINT` on PostgreSQL, so existing rows start at
/// version 1) unless it is already
/// there, and for [`VersionKind::Trigger`] creates the bumping trigger. Safe to
/// call again: it is idempotent. Runs as one `commit_on_success` block (nested,
/// if `scope` is a handle), so on any error nothing has changed.
///
/// From then on, every save of a record type declared with that version
/// column is checked. Rust types are fixed at compile time, so to version an
/// existing record type, add a `#[record(version)]` field to its declaration
/// and call [`apply_concurrency_check_for`] at start-up; the
/// cookbook's `apply_concurrency_check(User, 'version', IntegerVersionField)`.
///
/// # Errors
///
/// [`Error::InvalidIdentifier`] for a bad table or column name (checked before
/// any SQL runs); [`Error::NoSuchTable`]; SQL errors.
///
/// # Example
///
/// ```
/// use txmanager::{apply_concurrency_check, Error, TransactionManager, VersionKind};
///
/// # fn main() -> Result<(), Error> {
/// let mut tm = TransactionManager::open_in_memory()?;
/// tm.execute_batch("CREATE TABLE auth_user (id INTEGER PRIMARY KEY, username TEXT); INSERT INTO auth_user (username) VALUES ('ann');")?;
/// apply_concurrency_check(&mut tm, "auth_user", "version", VersionKind::Integer)?;
/// apply_concurrency_check(&mut tm, "auth_user", "version", VersionKind::Integer)?; // idempotent
/// let v: i64 = tm.query_row("SELECT version FROM auth_user", [], |r| r.get(0))?;
/// assert_eq!(v, 1);
///
/// let err = apply_concurrency_check(&mut tm, "auth_user; DROP TABLE auth_user", "version", VersionKind::Integer).unwrap_err();
/// assert!(matches!(err, Error::InvalidIdentifier { what: "table", .. }));
/// # Ok(())
/// # }
/// ```
pub fn apply_concurrency_check<B: Backend, S: Scope<B>>(
    scope: &mut S,
    table: &str,
    column: &str,
    kind: VersionKind,
) -> Result<(), Error> {
    Store::<B>::validate_identifier("table", table)?;
    Store::<B>::validate_identifier("version column", column)?;
    scope.run(Mode::CommitOnSuccess, |tx| {
        let existing = Store::<B>::table_columns(tx.engine_ref(), table)?;
        if existing.is_empty() {
            return Err(Error::NoSuchTable {
                table: table.to_owned(),
            });
        }
        if !existing.iter().any(|c| c.eq_ignore_ascii_case(column)) {
            Store::<B>::add_version_column(tx.engine_ref(), table, column)?;
        }
        if kind == VersionKind::Trigger {
            Store::<B>::ensure_version_trigger(tx.engine_ref(), table, column)?;
        }
        Ok(())
    })
}

/// A version trigger found in the database: what
/// [`version_triggers`] lists and [`drop_version_triggers`] drops.
///
/// # Example
///
/// ```
/// use txmanager::{apply_concurrency_check, version_triggers, TransactionManager, VersionKind};
///
/// # fn main() -> Result<(), txmanager::Error> {
/// let mut tm = TransactionManager::open_in_memory()?;
/// tm.execute("CREATE TABLE page (id INTEGER PRIMARY KEY, body TEXT)", [])?;
/// apply_concurrency_check(&mut tm, "page", "version", VersionKind::Trigger)?;
/// let found = version_triggers(&tm)?;
/// assert_eq!((found[0].table(), found[0].column()), ("page", "version"));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VersionTrigger {
    name: String,
    table: String,
    column: String,
}

impl VersionTrigger {
    /// The trigger's name.
    ///
    /// ```
    /// # use txmanager::{apply_concurrency_check, version_triggers, TransactionManager, VersionKind};
    /// # fn main() -> Result<(), txmanager::Error> {
    /// # let mut tm = TransactionManager::open_in_memory()?;
    /// # tm.execute("CREATE TABLE a_b (id INTEGER PRIMARY KEY, c INTEGER)", [])?;
    /// apply_concurrency_check(&mut tm, "a_b", "c", VersionKind::Trigger)?;
    /// assert_eq!(version_triggers(&tm)?[0].name(), "txmanager_version_3_a_b_c");
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The table the trigger is on.
    ///
    /// ```
    /// # use txmanager::{apply_concurrency_check, version_triggers, TransactionManager, VersionKind};
    /// # fn main() -> Result<(), txmanager::Error> {
    /// # let mut tm = TransactionManager::open_in_memory()?;
    /// # tm.execute("CREATE TABLE page (id INTEGER PRIMARY KEY)", [])?;
    /// apply_concurrency_check(&mut tm, "page", "version", VersionKind::Trigger)?;
    /// assert_eq!(version_triggers(&tm)?[0].table(), "page");
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn table(&self) -> &str {
        &self.table
    }

    /// The version column it bumps.
    ///
    /// ```
    /// # use txmanager::{apply_concurrency_check, version_triggers, TransactionManager, VersionKind};
    /// # fn main() -> Result<(), txmanager::Error> {
    /// # let mut tm = TransactionManager::open_in_memory()?;
    /// # tm.execute("CREATE TABLE page (id INTEGER PRIMARY KEY)", [])?;
    /// apply_concurrency_check(&mut tm, "page", "revision", VersionKind::Trigger)?;
    /// assert_eq!(version_triggers(&tm)?[0].column(), "revision");
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn column(&self) -> &str {
        &self.column
    }
}

/// Lists the version triggers in the database (django-concurrency's
/// `get_triggers`), by name.
///
/// # Errors
///
/// SQL errors reading `sqlite_schema` (SQLite) or the catalog (PostgreSQL,
/// where the triggers of the current schema's tables are listed).
///
/// # Example
///
/// ```
/// use txmanager::{apply_concurrency_check, version_triggers, TransactionManager, VersionKind};
///
/// # fn main() -> Result<(), txmanager::Error> {
/// let mut tm = TransactionManager::open_in_memory()?;
/// assert!(version_triggers(&tm)?.is_empty());
/// tm.execute_batch("CREATE TABLE a (id INTEGER PRIMARY KEY); CREATE TABLE b (id INTEGER PRIMARY KEY)")?;
/// apply_concurrency_check(&mut tm, "a", "version", VersionKind::Trigger)?;
/// apply_concurrency_check(&mut tm, "b", "version", VersionKind::Integer)?; // no trigger
/// let tables: Vec<_> = version_triggers(&tm)?.iter().map(|t| t.table().to_owned()).collect();
/// assert_eq!(tables, ["a"]);
/// # Ok(())
/// # }
/// ```
pub fn version_triggers<B: Backend, S: Scope<B>>(scope: &S) -> Result<Vec<VersionTrigger>, Error> {
    let found = Store::<B>::version_triggers(scope.engine())?;
    Ok(found.into_iter().map(VersionTrigger::from).collect())
}

impl From<FoundTrigger> for VersionTrigger {
    fn from(t: FoundTrigger) -> Self {
        VersionTrigger {
            name: t.name,
            table: t.table,
            column: t.column,
        }
    }
}

/// Drops every version trigger in the database (django-concurrency's
/// `drop_triggers`), in one `commit_on_success` block, and returns what it
/// dropped. Versions stop moving on raw updates until the triggers are
/// created again ([`apply_concurrency_check`]).
///
/// # Errors
///
/// SQL errors; on any error nothing was dropped.
///
/// # Example
///
/// ```
/// use txmanager::{apply_concurrency_check, drop_version_triggers, version_triggers, TransactionManager, VersionKind};
///
/// # fn main() -> Result<(), txmanager::Error> {
/// let mut tm = TransactionManager::open_in_memory()?;
/// tm.execute("CREATE TABLE page (id INTEGER PRIMARY KEY)", [])?;
/// apply_concurrency_check(&mut tm, "page", "version", VersionKind::Trigger)?;
/// assert_eq!(drop_version_triggers(&mut tm)?.len(), 1);
/// assert!(version_triggers(&tm)?.is_empty());
/// # Ok(())
/// # }
/// ```
pub fn drop_version_triggers<B: Backend, S: Scope<B>>(
    scope: &mut S,
) -> Result<Vec<VersionTrigger>, Error> {
    scope.run(Mode::CommitOnSuccess, |tx| {
        let found = Store::<B>::version_triggers(tx.engine_ref())?;
        for trigger in &found {
            Store::<B>::drop_version_trigger(tx.engine_ref(), trigger)?;
        }
        Ok(found.into_iter().map(VersionTrigger::from).collect())
    })
}

/// Checks that every trigger-versioned record type among `types` has its
/// version trigger, exactly as [`apply_concurrency_check`] creates it
/// (django-concurrency's check of `TriggerVersionField`s). Run it at
/// start-up. Types with another version kind, or none, are skipped.
///
/// # Errors
///
/// [`Error::MissingVersionTrigger`] naming the first table and column whose
/// trigger is missing or differs; SQL errors.
///
/// # Example
///
/// ```
/// use txmanager::{apply_concurrency_check_for, check_version_triggers, Error, Record, TransactionManager, VersionField};
///
/// #[derive(Debug, Clone, Default, Record)]
/// pub struct Page {
///     #[record(primary_key)]
///     pub id: Option<i64>,
///     #[record(version(trigger))]
///     pub version: Option<i64>,
///     pub body: String,
/// }
///
/// # fn main() -> Result<(), Error> {
/// let mut tm = TransactionManager::open_in_memory()?;
/// tm.execute("CREATE TABLE page (id INTEGER PRIMARY KEY, version INTEGER, body TEXT)", [])?;
/// let err = check_version_triggers(&tm, &[Page::meta()]).unwrap_err();
/// assert!(matches!(err, Error::MissingVersionTrigger { ref table, ref column, .. } if table == "page" && column == "version"));
/// apply_concurrency_check_for::<Page, _>(&mut tm)?;
/// check_version_triggers(&tm, &[Page::meta()])?;
/// # Ok(())
/// # }
/// ```
pub fn check_version_triggers<B: Backend, S: Scope<B>>(
    scope: &S,
    types: &[&RecordMeta],
) -> Result<(), Error> {
    let tm = scope.engine();
    for meta in types {
        let Some(field) = meta.version() else {
            continue;
        };
        if field.kind() != VersionKind::Trigger {
            continue;
        }
        let (table, column) = (meta.table(), field.column_name());
        let state = Store::<B>::version_trigger_state(tm, table, column)?;
        if state != TriggerState::AsCreated {
            return Err(Error::MissingVersionTrigger {
                table: table.to_owned(),
                column: column.to_owned(),
                differs: state == TriggerState::Differs,
            });
        }
    }
    Ok(())
}

/// [`apply_concurrency_check`] for record type `R`'s table and declared
/// version field.
///
/// # Errors
///
/// [`Error::NotVersioned`] if `R` declares no version field; else as for
/// [`apply_concurrency_check`].
///
/// # Example
///
/// ```
/// use txmanager::{apply_concurrency_check_for, Record, TransactionManager, VersionField};
///
/// #[derive(Debug, Clone, Default, Record)]
/// #[record(table = "auth_user")]
/// pub struct User {
///     #[record(primary_key)]
///     pub id: Option<i64>,
///     #[record(version(trigger))]
///     pub version: Option<i64>,
///     pub username: String,
/// }
///
/// # fn main() -> Result<(), txmanager::Error> {
/// let mut tm = TransactionManager::open_in_memory()?;
/// tm.execute_batch("CREATE TABLE auth_user (id INTEGER PRIMARY KEY, username TEXT); INSERT INTO auth_user (username) VALUES ('ann');")?;
/// apply_concurrency_check_for::<User, _>(&mut tm)?;
/// let mut ann = User::get(&tm, 1)?;
/// tm.execute("UPDATE auth_user SET username = 'anne'", [])?; // raw SQL: the trigger bumps the version
/// assert!(ann.save(&tm).is_err());
/// # Ok(())
/// # }
/// ```
pub fn apply_concurrency_check_for<R: Record, B: Backend>(
    scope: &mut impl Scope<B>,
) -> Result<(), Error> {
    let meta = R::meta();
    let field = version_field(meta)?;
    apply_concurrency_check(scope, meta.table(), field.column_name(), field.kind())
}
