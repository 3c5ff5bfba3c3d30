//! Optimistic concurrency: version kinds, the check every versioned update
//! and delete runs, scoped switches to turn it off, adding versioning to an
//! existing table, and checking by hand.

use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::backend::Backend;
use crate::block::Engine;
use crate::overrides::{Override, RecordType, Target};
use crate::scope::sealed::Sealed;
use crate::shape::RecordSql;
use crate::sqlite::Sqlite;
use crate::store::{FoundTrigger, RecordStore, TriggerState};
use crate::trace;
use crate::value::{Binder, KeyValue, SqlValue};
use crate::{Error, Mode, Record, RecordMeta, Scope, Transaction};

/// The record operations of backend `B`.
type Store<B> = <B as crate::backend::sealed::Sealed>::Records;

/// How a version column changes when a record is saved.
///
/// # Example
///
/// ```
/// use txmanager::VersionKind;
///
/// assert_eq!(VersionKind::AutoIncrement.to_string(), "auto-increment");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum VersionKind {
    /// A microsecond clock with a +1 floor: each save sets the version to
    /// `max(now in µs, old + 1)`. django-concurrency's `IntegerVersionField`.
    Integer,
    /// `old + 1` on every save, starting at 1. django-concurrency's
    /// `AutoIncVersionField`.
    AutoIncrement,
    /// A database trigger adds 1 on every `UPDATE` of the row that leaves
    /// the version as it was, so raw SQL writes, even from other programs,
    /// bump it too (an SQLite `AFTER UPDATE` trigger, or on PostgreSQL a
    /// PL/pgSQL `BEFORE UPDATE` trigger). Create the trigger with
    /// [`apply_concurrency_check`] (it is idempotent). django-concurrency's
    /// `TriggerVersionField`.
    Trigger,
    /// Bumped (by 1) only when one of the named columns changes; the check
    /// always runs. django-concurrency's `ConditionalVersionField`.
    Conditional(&'static [&'static str]),
}

impl fmt::Display for VersionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            VersionKind::Integer => "integer",
            VersionKind::AutoIncrement => "auto-increment",
            VersionKind::Trigger => "trigger",
            VersionKind::Conditional(_) => "conditional",
        })
    }
}

impl VersionKind {
    /// The version an inserted row starts with.
    pub(crate) fn initial(self) -> i64 {
        match self {
            VersionKind::Integer => clock_micros().max(1),
            _ => 1,
        }
    }

    /// The version after `current` when the application computes it.
    /// Inlined: every versioned save calls it, from the user's crate.
    #[inline]
    pub(crate) fn next(self, current: i64) -> i64 {
        let floor = current.saturating_add(1);
        match self {
            VersionKind::Integer => clock_micros().max(floor),
            _ => floor,
        }
    }
}

fn clock_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

/// A record type's version field: its [`VersionKind`], its column, and
/// whether it is checked automatically.
///
/// # Example
///
/// ```
/// use txmanager::{VersionField, VersionKind};
///
/// const FIELD: VersionField = VersionField::integer().column("cm_version_id").manual();
/// assert_eq!(FIELD.kind(), VersionKind::Integer);
/// assert_eq!(FIELD.column_name(), "cm_version_id");
/// assert!(FIELD.is_manual());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VersionField {
    kind: VersionKind,
    column: Option<&'static str>,
    manual: bool,
}

impl VersionField {
    /// A version field of `kind`, checked automatically.
    ///
    /// ```
    /// use txmanager::{VersionField, VersionKind};
    /// assert_eq!(VersionField::new(VersionKind::Trigger), VersionField::trigger());
    /// ```
    #[must_use]
    pub const fn new(kind: VersionKind) -> Self {
        VersionField {
            kind,
            column: None,
            manual: false,
        }
    }

    /// [`VersionKind::Integer`].
    ///
    /// ```
    /// assert_eq!(txmanager::VersionField::integer().kind(), txmanager::VersionKind::Integer);
    /// ```
    #[must_use]
    pub const fn integer() -> Self {
        Self::new(VersionKind::Integer)
    }

    /// [`VersionKind::AutoIncrement`].
    ///
    /// ```
    /// assert_eq!(txmanager::VersionField::auto_increment().kind(), txmanager::VersionKind::AutoIncrement);
    /// ```
    #[must_use]
    pub const fn auto_increment() -> Self {
        Self::new(VersionKind::AutoIncrement)
    }

    /// [`VersionKind::Trigger`].
    ///
    /// ```
    /// assert_eq!(txmanager::VersionField::trigger().kind(), txmanager::VersionKind::Trigger);
    /// ```
    #[must_use]
    pub const fn trigger() -> Self {
        Self::new(VersionKind::Trigger)
    }

    /// [`VersionKind::Conditional`]: bumped only when one of `fields` changes.
    ///
    /// ```
    /// let field = txmanager::VersionField::conditional(&["title"]);
    /// assert_eq!(field.kind(), txmanager::VersionKind::Conditional(&["title"]));
    /// ```
    #[must_use]
    pub const fn conditional(fields: &'static [&'static str]) -> Self {
        Self::new(VersionKind::Conditional(fields))
    }

    /// Stores the version in `column` instead of a column named like the field.
    ///
    /// ```
    /// assert_eq!(txmanager::VersionField::integer().column("v").column_name(), "v");
    /// ```
    #[must_use]
    pub const fn column(mut self, column: &'static str) -> Self {
        self.column = Some(column);
        self
    }

    /// Checks only when you call [`concurrency_check`]: saves still bump the
    /// version, but do not check it. The cookbook's `manually=True`.
    ///
    /// ```
    /// assert!(txmanager::VersionField::integer().manual().is_manual());
    /// ```
    #[must_use]
    pub const fn manual(mut self) -> Self {
        self.manual = true;
        self
    }

    /// Sets the column to `default` unless [`column`](Self::column) chose one.
    /// For hand-written [`RecordMeta`]s that default to a field's name.
    ///
    /// ```
    /// use txmanager::VersionField;
    /// assert_eq!(VersionField::integer().or_column("version").column_name(), "version");
    /// assert_eq!(VersionField::integer().column("v").or_column("version").column_name(), "v");
    /// ```
    #[must_use]
    pub const fn or_column(mut self, default: &'static str) -> Self {
        if self.column.is_none() {
            self.column = Some(default);
        }
        self
    }

    /// The kind.
    ///
    /// ```
    /// assert_eq!(txmanager::VersionField::trigger().kind(), txmanager::VersionKind::Trigger);
    /// ```
    #[must_use]
    pub const fn kind(&self) -> VersionKind {
        self.kind
    }

    /// The column name (`"version"` if none was set).
    ///
    /// ```
    /// assert_eq!(txmanager::VersionField::integer().column_name(), "version");
    /// ```
    #[must_use]
    pub const fn column_name(&self) -> &'static str {
        match self.column {
            Some(column) => column,
            None => "version",
        }
    }

    /// Whether saves skip the automatic check.
    ///
    /// ```
    /// assert!(!txmanager::VersionField::integer().is_manual());
    /// ```
    #[must_use]
    pub const fn is_manual(&self) -> bool {
        self.manual
    }
}

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
    pub fn record<R: Record>(record: &R) -> Result<Self, Error> {
        let meta = R::meta();
        let pk = record.primary_key().ok_or(Error::RecordNotSaved {
            table: meta.table(),
        })?;
        Ok(ConcurrencyTarget(Target::Row(
            record_type(meta),
            KeyValue::of(pk),
        )))
    }
}

/// A record type as a scope's target names it: its `RecordMeta`, a
/// `static` per type, so its address is the type's identity.
#[inline]
fn record_type(meta: &RecordMeta) -> RecordType {
    RecordType::of(meta, meta.table())
}

/// What a save or delete of one row does, after the active scopes.
#[derive(Debug, Clone, Copy)]
struct Policy {
    check: bool,
    bump: bool,
}

#[inline(always)] // on every save: a loop over nothing in the common case
fn concurrency_policy<B: Backend, K: SqlValue + ?Sized>(
    tm: &Engine<B>,
    meta: &RecordMeta,
    pk: &K,
) -> Policy {
    // The type's own settings, then the active scopes on top.
    let mut policy = Policy {
        check: meta.is_checked(),
        bump: meta.is_incremented(),
    };
    for o in &tm.concurrency_overrides {
        if o.target.covers(record_type(meta), pk) {
            if o.skip_check {
                policy.check = false;
            } else {
                policy.bump = false;
            }
        }
    }
    policy
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
/// with, for records whose version field is [`manual`](VersionField::manual)
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
pub fn concurrency_check<B: Backend, S: Scope<B>, R: Record>(
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
pub fn has_changed<B: Backend, S: Scope<B>, R: Record>(
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

/// The type's version field, or the error for a type that has none.
fn version_field(meta: &RecordMeta) -> Result<VersionField, Error> {
    meta.version().ok_or_else(|| Error::NotVersioned {
        table: meta.table().to_owned(),
    })
}

// ---------- the operations behind `Record` ----------

/// What a write changed, applied to the record once the borrow for binding
/// its values has ended.
struct Written<K> {
    /// The key the database assigned, for an insert without one.
    new_key: Option<K>,
    version: Option<i64>,
}

pub(crate) fn save<B: Backend, R: Record>(tm: &Engine<B>, record: &mut R) -> Result<(), Error> {
    let meta = R::meta();
    let sql = meta.sql::<B>()?;
    let written = if reads_back_the_version(meta) {
        tm.all_or_nothing(|| write(tm, meta, sql, record))?
    } else {
        write(tm, meta, sql, record)?
    };
    if let Some(key) = written.new_key {
        record.set_primary_key(Some(key));
    }
    record.set_version(written.version);
    Ok(())
}

/// Whether a save of the type is two statements, the write and then a
/// read of the version the database set (the trigger kind): outside a
/// block the two run in one internal transaction, so that a failed read
/// cannot leave the write committed behind an `Err` (an insert's key
/// unknown, so that a retry inserts the row twice). Every other save is
/// one statement where it writes: an unchecked update that matched no row
/// wrote nothing before its insert, and a conflict's read follows an
/// `UPDATE` or `DELETE` that matched nothing.
#[inline(always)]
fn reads_back_the_version(meta: &RecordMeta) -> bool {
    meta.version()
        .is_some_and(|field| field.kind() == VersionKind::Trigger)
}

/// `save_and_reload`: the save and the read of the row it wrote, in one
/// transaction (see [`TransactionManager::all_or_nothing`]). The record is
/// changed only when both succeeded (and, outside a block, committed).
pub(crate) fn save_and_reload<B: Backend, R: Record>(
    tm: &Engine<B>,
    record: &mut R,
) -> Result<(), Error> {
    let meta = R::meta();
    let sql = meta.sql::<B>()?;
    let reloaded =
        tm.all_or_nothing(|| {
            let written = write(tm, meta, sql, record)?;
            let pk = written.new_key.as_ref().or(record.primary_key()).ok_or(
                Error::MissingPrimaryKey {
                    table: meta.table(),
                },
            )?;
            Store::<B>::query_first(tm, &sql.get, |values| values.bind(pk), R::from_row)?
                .ok_or_else(|| not_found(meta, pk))
        })?;
    *record = reloaded;
    Ok(())
}

#[inline]
fn write<B: Backend, R: Record>(
    tm: &Engine<B>,
    meta: &'static RecordMeta,
    sql: &RecordSql,
    record: &R,
) -> Result<Written<R::Key>, Error> {
    let Some(pk) = record.primary_key() else {
        let version = meta.version().map(|f| f.kind().initial());
        return insert(tm, meta, sql, record, None, version);
    };
    match (meta.version(), record.version()) {
        (Some(field), Some(expected)) => {
            update_versioned(tm, meta, sql, field, record, pk, Some(expected))
        }
        // No version, and the type does not require one: save over the
        // row without a check (or insert it if there is none).
        (Some(field), None) if !meta.is_version_required() => {
            update_versioned(tm, meta, sql, field, record, pk, None)
        }
        (Some(field), None) => insert(
            tm,
            meta,
            sql,
            record,
            Some(pk),
            Some(field.kind().initial()),
        ),
        (None, _) => {
            let updated = Store::<B>::execute(tm, &sql.update_unchecked, |values| {
                record.bind_columns(values)?;
                values.bind(pk)
            })?;
            if updated == 0 {
                insert(tm, meta, sql, record, Some(pk), None)
            } else {
                Ok(Written {
                    new_key: None,
                    version: None,
                })
            }
        }
    }
}

fn insert<B: Backend, R: Record>(
    tm: &Engine<B>,
    meta: &'static RecordMeta,
    sql: &RecordSql,
    record: &R,
    pk: Option<&R::Key>,
    version: Option<i64>,
) -> Result<Written<R::Key>, Error> {
    // A key the database will assign must fit the key type: find out before
    // anything is written.
    if pk.is_none() && !Store::<B>::can_assign_key::<R::Key>() {
        return Err(Error::MissingPrimaryKey {
            table: meta.table(),
        });
    }
    let bind = |values: &mut Binder<'_, '_>| {
        record.bind_columns(values)?;
        if let Some(version) = &version {
            values.bind(version)?;
        }
        if let Some(pk) = pk {
            values.bind(pk)?;
        }
        Ok(())
    };
    let new_key = match pk {
        Some(_) => {
            Store::<B>::execute(tm, &sql.insert_with_pk, bind)?;
            None
        }
        None => Some(Store::<B>::insert_assigning_key::<R::Key>(tm, sql, bind)?),
    };
    // A table's own AFTER INSERT trigger may update the new row, which
    // fires the version trigger: read what the row holds.
    let version = match meta.version() {
        Some(field) if field.kind() == VersionKind::Trigger => {
            let key = pk.or(new_key.as_ref()).ok_or(Error::MissingPrimaryKey {
                table: meta.table(),
            })?;
            current_version(tm, sql, key)?
        }
        _ => version,
    };
    Ok(Written { new_key, version })
}

#[inline(always)] // one caller, on the hot path: keep it inside `save`
fn update_versioned<B: Backend, R: Record>(
    tm: &Engine<B>,
    meta: &'static RecordMeta,
    sql: &RecordSql,
    field: crate::VersionField,
    record: &R,
    pk: &R::Key,
    expected: Option<i64>,
) -> Result<Written<R::Key>, Error> {
    let plan = plan_update(tm, meta, field, pk, expected);
    let text = if plan.checked.is_some() {
        &sql.update_checked
    } else {
        &sql.update_unchecked
    };
    match run_update(tm, sql, text, field, plan, record, pk)? {
        Some(version) => Ok(Written {
            new_key: None,
            version: Some(version),
        }),
        None => match plan.checked {
            Some(expected) => Err(conflict(tm, meta, sql, pk, expected)),
            // Unchecked, and the row is gone: re-insert it under the same
            // key (the cookbook's recovery of a deleted record).
            None => {
                let kind = field.kind();
                let version = expected.map_or_else(|| kind.initial(), |v| kind.next(v));
                insert(tm, meta, sql, record, Some(pk), Some(version))
            }
        },
    }
}

/// What a versioned `UPDATE` binds: the version it checks (`None`: an
/// unchecked update) and the version parameter.
#[derive(Debug, Clone, Copy)]
struct UpdatePlan {
    checked: Option<i64>,
    version_value: i64,
}

/// The check and the version parameter of an update, from the policy. A
/// record with no version (`expected: None`) is never checked.
#[inline(always)]
fn plan_update<B: Backend, K: SqlValue + ?Sized>(
    tm: &Engine<B>,
    meta: &RecordMeta,
    field: crate::VersionField,
    pk: &K,
    expected: Option<i64>,
) -> UpdatePlan {
    let policy = concurrency_policy(tm, meta, pk);
    // The version to check against; `None`: an unchecked save (checks off,
    // a manual version, or no version and the type does not require one).
    let checked = expected.filter(|_| policy.check && !field.is_manual());
    let kind = field.kind();
    // The version parameter: see `RecordSql::version_param`.
    let version_value = match (kind, checked) {
        (VersionKind::Integer | VersionKind::AutoIncrement, Some(expected)) if policy.bump => {
            kind.next(expected)
        }
        (VersionKind::Integer | VersionKind::AutoIncrement, Some(expected)) => expected,
        (VersionKind::Integer, None) if policy.bump => clock_micros().max(1),
        (VersionKind::AutoIncrement | VersionKind::Conditional(_), _) => i64::from(policy.bump),
        (VersionKind::Integer, None) | (VersionKind::Trigger, _) => 0,
    };
    UpdatePlan {
        checked,
        version_value,
    }
}

/// Runs one versioned `UPDATE` (`text`: the full save's, or a
/// `save_fields` one; both bind alike) and returns the row's new version,
/// or `None` if no row matched.
#[inline(always)]
fn run_update<B: Backend, R: Record>(
    tm: &Engine<B>,
    sql: &RecordSql,
    text: &str,
    field: crate::VersionField,
    plan: UpdatePlan,
    record: &R,
    pk: &R::Key,
) -> Result<Option<i64>, Error> {
    let returns_version = plan.checked.is_none() || sql.checked_update_returns_version;
    let bind = |values: &mut Binder<'_, '_>| {
        record.bind_columns(values)?;
        if sql.version_param.is_some() {
            values.bind(&plan.version_value)?;
        }
        values.bind(pk)?;
        if let Some(expected) = &plan.checked {
            values.bind(expected)?;
        }
        Ok(())
    };
    let new_version = if returns_version {
        Store::<B>::query_first(tm, text, bind, |row| row.read::<i64>())?
    } else {
        (Store::<B>::execute(tm, text, bind)? > 0).then_some(plan.version_value)
    };
    match new_version {
        // RETURNING shows the row before AFTER triggers ran: a table's own
        // AFTER trigger that updates the row (an `updated_at` trigger) fires
        // the version trigger again, on both backends, and SQLite's version
        // trigger itself runs AFTER the update. Read what they produced.
        Some(_) if field.kind() == VersionKind::Trigger => current_version(tm, sql, pk),
        other => Ok(other),
    }
}

/// `save(update_fields=...)`: writes only `fields` (column names) of a
/// saved row, with the same check and bump as a full save.
pub(crate) fn save_fields<B: Backend, R: Record>(
    tm: &Engine<B>,
    record: &mut R,
    fields: &[&str],
) -> Result<(), Error> {
    let meta = R::meta();
    let sql = meta.sql::<B>()?;
    let columns = meta.columns();
    let mut written = Vec::with_capacity(fields.len());
    for name in fields {
        let index =
            columns
                .iter()
                .position(|c| c == name)
                .ok_or_else(|| Error::InvalidIdentifier {
                    what: "update field",
                    name: (*name).to_owned(),
                    reason: "it is not one of the record's saved data columns (the key, the \
                         version and read-only columns are never saved by name); \
                         name a column of RecordMeta::columns()",
                })?;
        written.push(index);
    }
    let Some(pk) = record.primary_key() else {
        return Err(Error::RecordNotSaved {
            table: meta.table(),
        });
    };
    if written.is_empty() {
        return Ok(()); // as Django: `update_fields=[]` saves nothing
    }
    written.sort_unstable();
    written.dedup();
    let updates = meta.subset_update_sql::<B>(&written);
    let Some(field) = meta.version() else {
        let updated = Store::<B>::execute(tm, &updates.unchecked, |values| {
            record.bind_columns(values)?;
            values.bind(pk)
        })?;
        return match updated {
            0 => Err(not_found(meta, pk)),
            _ => Ok(()),
        };
    };
    let expected = record.version();
    if expected.is_none() && meta.is_version_required() {
        return Err(Error::VersionMissing {
            table: meta.table(),
            pk: KeyValue::of(pk),
        });
    }
    let plan = plan_update(tm, meta, field, pk, expected);
    let text = if plan.checked.is_some() {
        &updates.checked
    } else {
        &updates.unchecked
    };
    let update = || run_update(tm, sql, text, field, plan, record, pk);
    let updated = if reads_back_the_version(meta) {
        tm.all_or_nothing(update)?
    } else {
        update()?
    };
    let version = match updated {
        Some(version) => version,
        None => {
            return Err(match plan.checked {
                Some(expected) => conflict(tm, meta, sql, pk, expected),
                None => not_found(meta, pk),
            });
        }
    };
    record.set_version(Some(version));
    Ok(())
}

fn not_found<K: SqlValue + ?Sized>(meta: &RecordMeta, pk: &K) -> Error {
    Error::RecordNotFound {
        table: meta.table(),
        pk: KeyValue::of(pk),
    }
}

pub(crate) fn delete<B: Backend, R: Record>(tm: &Engine<B>, record: &mut R) -> Result<(), Error> {
    let meta = R::meta();
    let sql = meta.sql::<B>()?;
    let pk = record.primary_key().ok_or(Error::RecordNotSaved {
        table: meta.table(),
    })?;
    let expected = match (meta.version(), record.version()) {
        (Some(field), Some(expected))
            if !field.is_manual() && concurrency_policy(tm, meta, pk).check =>
        {
            Some(expected)
        }
        _ => None,
    };
    let text = if expected.is_some() {
        &sql.delete_checked
    } else {
        &sql.delete_unchecked
    };
    let deleted = Store::<B>::execute(tm, text, |values| {
        values.bind(pk)?;
        if let Some(expected) = &expected {
            values.bind(expected)?;
        }
        Ok(())
    })?;
    if let (0, Some(expected)) = (deleted, expected) {
        return Err(conflict(tm, meta, sql, pk, expected));
    }
    record.set_primary_key(None);
    record.set_version(None);
    Ok(())
}

fn current_version<B: Backend, K: SqlValue + ?Sized>(
    tm: &Engine<B>,
    sql: &RecordSql,
    pk: &K,
) -> Result<Option<i64>, Error> {
    Store::<B>::query_first(
        tm,
        &sql.current_version,
        |values| values.bind(pk),
        |row| row.read::<i64>(),
    )
}

/// The error for a stale write, with the version found just after it. If
/// even that read fails, its error is returned instead: it says more.
fn conflict<B: Backend, K: SqlValue + ?Sized>(
    tm: &Engine<B>,
    meta: &RecordMeta,
    sql: &RecordSql,
    pk: &K,
    expected: i64,
) -> Error {
    match current_version(tm, sql, pk) {
        Ok(found) => record_modified(tm, meta, pk, expected, found),
        Err(err) => err,
    }
}

/// Every version conflict is made here: traced, shown to the manager's
/// conflict handler, then returned.
#[cold]
pub(crate) fn record_modified<B: Backend, K: SqlValue + ?Sized>(
    tm: &Engine<B>,
    meta: &RecordMeta,
    pk: &K,
    expected: i64,
    found: Option<i64>,
) -> Error {
    let pk = KeyValue::of(pk);
    trace::conflict(meta.table(), &pk, expected, found);
    let err = Error::RecordModified {
        table: meta.table(),
        pk,
        expected,
        found,
    };
    tm.report_conflict(&err);
    err
}
