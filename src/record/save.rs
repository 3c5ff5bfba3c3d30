//! What [`Record`]'s writing methods do: `save` (an insert, or a versioned
//! update and its check), `save_fields`, `save_and_reload` and `delete`,
//! written once over the backend's [`RecordStore`]; the policy the active
//! `disable_*` scopes make; and `record_modified`, the one place a version
//! conflict is made. Part of `record` (the trait's provided methods call
//! it); `versioning.rs` builds its scopes and checks on top of it.

use crate::Error;
use crate::backend::Backend;
use crate::block::Engine;
use crate::overrides::RecordType;
use crate::shape::RecordSql;
use crate::store::RecordStore;
use crate::trace;
use crate::value::{Binder, SqlValue};
use crate::version::{VersionField, VersionKind, clock_micros};

use super::{RecordMeta, RecordValues};

/// The record operations of backend `B`.
pub(crate) type Store<B> = <B as crate::store::RecordBackend>::Records;

/// A record type as a scope's target names it: its `RecordMeta`, a
/// `static` per type, so its address is the type's identity.
#[inline]
pub(crate) fn record_type(meta: &RecordMeta) -> RecordType {
    RecordType::of(meta, meta.table())
}

/// What a save or delete of one row does, after the active scopes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Policy {
    pub(crate) check: bool,
    pub(crate) bump: bool,
}

#[inline(always)] // on every save: a loop over nothing in the common case
pub(crate) fn concurrency_policy<B: Backend, K: SqlValue<B> + ?Sized>(
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

/// The type's version field, or the error for a type that has none.
pub(crate) fn version_field(meta: &RecordMeta) -> Result<VersionField, Error> {
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

pub(crate) fn save<B: Backend, R: RecordValues<B>>(
    tm: &Engine<B>,
    record: &mut R,
) -> Result<(), Error> {
    let meta = R::meta();
    let sql = meta.sql::<B>()?;
    let written = if reads_back_the_version(meta)
        || record.primary_key().is_none() && !Store::<B>::holds_every_assigned_key::<R::Key>()
    {
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
pub(crate) fn save_and_reload<B: Backend, R: RecordValues<B>>(
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
fn write<B: Backend, R: RecordValues<B>>(
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

fn insert<B: Backend, R: RecordValues<B>>(
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
    let bind = |values: &mut Binder<'_, '_, B>| {
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
        None => Some(Store::<B>::insert_assigning_key::<R::Key>(
            tm,
            sql,
            (meta.table(), meta.primary_key()),
            bind,
        )?),
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
fn update_versioned<B: Backend, R: RecordValues<B>>(
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
fn plan_update<B: Backend, K: SqlValue<B> + ?Sized>(
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
fn run_update<B: Backend, R: RecordValues<B>>(
    tm: &Engine<B>,
    sql: &RecordSql,
    text: &str,
    field: crate::VersionField,
    plan: UpdatePlan,
    record: &R,
    pk: &R::Key,
) -> Result<Option<i64>, Error> {
    let returns_version = plan.checked.is_none() || sql.checked_update_returns_version;
    let bind = |values: &mut Binder<'_, '_, B>| {
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
pub(crate) fn save_fields<B: Backend, R: RecordValues<B>>(
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
            pk: pk.key_value(),
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

fn not_found<B, K: SqlValue<B> + ?Sized>(meta: &RecordMeta, pk: &K) -> Error {
    Error::RecordNotFound {
        table: meta.table(),
        pk: pk.key_value(),
    }
}

pub(crate) fn delete<B: Backend, R: RecordValues<B>>(
    tm: &Engine<B>,
    record: &mut R,
) -> Result<(), Error> {
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

pub(crate) fn current_version<B: Backend, K: SqlValue<B> + ?Sized>(
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
pub(crate) fn conflict<B: Backend, K: SqlValue<B> + ?Sized>(
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
pub(crate) fn record_modified<B: Backend, K: SqlValue<B> + ?Sized>(
    tm: &Engine<B>,
    meta: &RecordMeta,
    pk: &K,
    expected: i64,
    found: Option<i64>,
) -> Error {
    let pk = pk.key_value();
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
