//! SQLite's half of the record seam: [`SqliteRecords`] runs a record
//! type's statements (built by `sqlite::record_sql`) through SQLite's
//! statement path, and manages the version triggers; `select_where`
//! clauses take anything rusqlite binds.

use rusqlite::Params;
use rusqlite::types::{FromSql, ToSql, ToSqlOutput, ValueRef};

use super::{
    Sqlite, TABLE_COLUMNS, TRIGGER_SQL, VERSION_TRIGGERS, WITHOUT_ROWID_KEY, add_version_column,
    drop_trigger, legacy_version_trigger, record_sql, update_sql, validate_identifier,
    version_trigger, version_trigger_column, version_trigger_name,
};
use crate::Error;
use crate::block::Engine;
use crate::shape::{BadName, ColumnSet, RecordSql, TableShape, UpdateSql};
use crate::store::{ClauseParams, FoundTrigger, RecordStore, SqlCache, TriggerState};
use crate::value::{
    Binder, BindsValue, CommonValues, FromSqlValue, KeyValue, ReadsValue, RowReader, ValueError,
    ValueSeam,
};

/// SQLite's [`RecordStore`].
#[derive(Debug)]
pub struct SqliteRecords;

impl RecordStore<Sqlite> for SqliteRecords {
    fn sql_cache() -> &'static SqlCache {
        static SQL: SqlCache = SqlCache::new();
        &SQL
    }

    fn validate_identifier(what: &'static str, name: &str) -> Result<(), BadName> {
        validate_identifier(what, name)
    }

    fn record_sql(shape: &TableShape) -> Result<RecordSql, BadName> {
        record_sql(shape)
    }

    fn update_sql(shape: &TableShape, written: ColumnSet<'_>) -> UpdateSql {
        update_sql(shape, written)
    }

    #[inline]
    fn execute(
        tm: &Engine<Sqlite>,
        sql: &str,
        bind: impl Fn(&mut Binder<'_, '_, Sqlite>) -> Result<(), ValueError>,
    ) -> Result<u64, Error> {
        tm.run_statement(sql, |stmt| {
            bind(&mut Binder::<Sqlite>::new(stmt, 1))?;
            stmt.raw_execute()
        })
        .map(|n| n as u64)
    }

    #[inline]
    fn query_first<T>(
        tm: &Engine<Sqlite>,
        sql: &str,
        bind: impl Fn(&mut Binder<'_, '_, Sqlite>) -> Result<(), ValueError>,
        read: impl FnOnce(&mut RowReader<'_, '_, Sqlite>) -> Result<T, ValueError>,
    ) -> Result<Option<T>, Error> {
        tm.run_statement(sql, |stmt| {
            bind(&mut Binder::<Sqlite>::new(stmt, 1))?;
            let mut rows = stmt.raw_query();
            match rows.next()? {
                Some(row) => Ok(Some(read(&mut RowReader::new(row))?)),
                None => Ok(None),
            }
        })
    }

    fn query_all<T>(
        tm: &Engine<Sqlite>,
        sql: &str,
        bind: impl Fn(&mut Binder<'_, '_, Sqlite>) -> Result<(), ValueError>,
        mut read: impl FnMut(&mut RowReader<'_, '_, Sqlite>) -> Result<T, ValueError>,
    ) -> Result<Vec<T>, Error> {
        tm.run_statement(sql, |stmt| {
            bind(&mut Binder::<Sqlite>::new(stmt, 1))?;
            let mut rows = stmt.raw_query();
            let mut found = Vec::new();
            while let Some(row) = rows.next()? {
                found.push(read(&mut RowReader::new(row))?);
            }
            Ok(found)
        })
    }

    /// SQLite assigns a rowid: a key type that holds an integer.
    #[inline]
    fn can_assign_key<K: FromSqlValue<Sqlite>>() -> bool {
        key_from_rowid::<K>(1).is_ok()
    }

    /// A rowid is an `i64`: a narrower key type may not hold it.
    #[inline]
    fn holds_every_assigned_key<K: FromSqlValue<Sqlite>>() -> bool {
        key_from_rowid::<K>(i64::MAX).is_ok() && key_from_rowid::<K>(i64::MIN).is_ok()
    }

    #[inline]
    fn insert_assigning_key<K: FromSqlValue<Sqlite>>(
        tm: &Engine<Sqlite>,
        sql: &RecordSql,
        (table, column): (&'static str, &'static str),
        bind: impl Fn(&mut Binder<'_, '_, Sqlite>) -> Result<(), ValueError>,
    ) -> Result<K, Error> {
        let rowid = tm.run_statement(&sql.insert, |stmt| {
            bind(&mut Binder::<Sqlite>::new(stmt, 1))?;
            stmt.raw_execute()?;
            Ok(tm.conn.last_insert_rowid())
        })?;
        key_from_rowid(rowid).map_err(|_| Error::AssignedKeyType {
            table,
            column,
            column_type: format!("the rowid {rowid}"),
            key_type: std::any::type_name::<K>(),
        })
    }

    fn table_columns(tm: &Engine<Sqlite>, table: &str) -> Result<Vec<String>, Error> {
        tm.run_statement(TABLE_COLUMNS, |stmt| {
            stmt.query_map([table], |r| r.get(0))?.collect()
        })
    }

    fn add_version_column(tx: &Engine<Sqlite>, table: &str, column: &str) -> Result<(), Error> {
        tx.run_statement(&add_version_column(table, column), |stmt| stmt.execute([]))
            .map(drop)
    }

    /// Creates the version trigger of `table`'s `column`, or replaces a
    /// same-name trigger whose text differs (an older txmanager's, or one
    /// edited by hand), and the exact trigger older versions of txmanager
    /// created under the previous naming scheme, which would bump twice.
    fn ensure_version_trigger(tx: &Engine<Sqlite>, table: &str, column: &str) -> Result<(), Error> {
        let tm = tx;
        let (legacy_name, legacy_sql) = legacy_version_trigger(table, column);
        if trigger_sql(tm, &legacy_name)?.as_deref() == Some(legacy_sql.as_str()) {
            tx.run_statement(&drop_trigger(&legacy_name), |stmt| stmt.execute([]))?;
        }
        let wanted = wanted_version_trigger(tm, table, column)?;
        let name = version_trigger_name(table, column);
        match trigger_sql(tm, &name)? {
            Some(found) if found == wanted => return Ok(()),
            Some(_) => {
                tx.run_statement(&drop_trigger(&name), |stmt| stmt.execute([]))?;
            }
            None => {}
        }
        tx.run_statement(&wanted, |stmt| stmt.execute([])).map(drop)
    }

    fn version_trigger_state(
        tm: &Engine<Sqlite>,
        table: &str,
        column: &str,
    ) -> Result<TriggerState, Error> {
        let found = trigger_sql(tm, &version_trigger_name(table, column))?;
        Ok(match found {
            None => TriggerState::Missing,
            Some(found) if found == wanted_version_trigger(tm, table, column)? => {
                TriggerState::AsCreated
            }
            Some(_) => TriggerState::Differs,
        })
    }

    fn version_triggers(tm: &Engine<Sqlite>) -> Result<Vec<FoundTrigger>, Error> {
        let rows: Vec<(String, String)> = tm.run_statement(VERSION_TRIGGERS, |stmt| {
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect()
        })?;
        let mut found = Vec::new();
        for (name, table) in rows {
            if let Some(column) = version_trigger_column(&name, &table) {
                let column = column.to_owned();
                found.push(FoundTrigger {
                    name,
                    table,
                    column,
                });
            }
        }
        Ok(found)
    }

    fn drop_version_trigger(tx: &Engine<Sqlite>, trigger: &FoundTrigger) -> Result<(), Error> {
        tx.run_statement(&drop_trigger(&trigger.name), |stmt| stmt.execute([]))
            .map(drop)
    }
}

/// The text the version trigger of `table`'s `column` must have.
fn wanted_version_trigger(tm: &Engine<Sqlite>, table: &str, column: &str) -> Result<String, Error> {
    let key: Vec<String> = tm.run_statement(WITHOUT_ROWID_KEY, |stmt| {
        stmt.query_map([table], |r| r.get(0))?.collect()
    })?;
    Ok(version_trigger(table, column, &key))
}

/// The stored text of the trigger `name`, if it exists.
fn trigger_sql(tm: &Engine<Sqlite>, name: &str) -> Result<Option<String>, Error> {
    tm.run_statement(TRIGGER_SQL, |stmt| {
        stmt.raw_bind_parameter(1, name)?;
        let mut rows = stmt.raw_query();
        rows.next()?.map(|row| row.get(0)).transpose()
    })
}

impl<P: Params> crate::store::sealed::Params<Sqlite> for P {}

impl<P: Params> ClauseParams<Sqlite> for P {
    fn query_all<T>(
        self,
        tm: &Engine<Sqlite>,
        sql: &str,
        mut read: impl FnMut(&mut RowReader<'_, '_, Sqlite>) -> Result<T, ValueError>,
    ) -> Result<Vec<T>, Error> {
        tm.run_statement(sql, |stmt| {
            let rows = stmt.query_map(self, |row| Ok(read(&mut RowReader::new(row))?))?;
            rows.collect()
        })
    }
}

/// Converts a rowid SQLite assigned on insert into the key type, or says
/// why the key type cannot hold one.
#[inline]
fn key_from_rowid<K: FromSqlValue<Sqlite>>(rowid: i64) -> Result<K, ValueError> {
    K::from_assigned_key(rowid)
}

// ---------- values: what SQLite binds and reads ----------

/// SQLite binds to its statement and reads from its row; its driver
/// reports no column type before reading (a value reads or fails as it is
/// read).
impl ValueSeam for Sqlite {
    type BindTarget<'s, 'c>
        = &'s mut rusqlite::Statement<'c>
    where
        'c: 's;
    type Row<'r, 's>
        = &'r rusqlite::Row<'s>
    where
        's: 'r;
    type ColumnType = std::convert::Infallible;
    type AssignedKey = i64;
    type Error = rusqlite::Error;
}

impl From<rusqlite::Error> for ValueError {
    #[inline]
    fn from(e: rusqlite::Error) -> Self {
        ValueError::new::<Sqlite>(e)
    }
}

/// For `?` inside rusqlite's own closures (a statement run through
/// `run_statement`, a `query_map` row).
impl From<ValueError> for rusqlite::Error {
    #[inline]
    fn from(e: ValueError) -> Self {
        match e.into_inner().downcast::<rusqlite::Error>() {
            Ok(e) => *e,
            // A hand-written `RecordValues<Sqlite>` that returned another
            // database's error: kept whole, as the conversion's cause.
            Err(other) => rusqlite::Error::ToSqlConversionFailure(other),
        }
    }
}

/// Every type in the list binds and reads here.
impl CommonValues for Sqlite {}

/// SQLite binds every type rusqlite binds.
impl<T: ToSql + ?Sized> BindsValue<T> for Sqlite {
    #[inline(always)] // once per field, on every save
    fn bind_value<'s, 'c: 's>(
        value: &T,
        stmt: &mut &'s mut rusqlite::Statement<'c>,
        index: usize,
    ) -> Result<(), ValueError> {
        Ok(stmt.raw_bind_parameter(index, value)?)
    }

    fn key_value(value: &T) -> KeyValue {
        let value_ref = match ToSql::to_sql(value) {
            Ok(ToSqlOutput::Borrowed(v)) => v,
            Ok(ToSqlOutput::Owned(ref v)) => return key_of(v.into()),
            Ok(_) => return KeyValue::Other("(unrepresentable)".to_owned()),
            Err(e) => return KeyValue::Other(format!("(unrepresentable: {e})")),
        };
        key_of(value_ref)
    }
}

/// A SQLite value as a key.
fn key_of(value: ValueRef<'_>) -> KeyValue {
    match value {
        ValueRef::Integer(i) => KeyValue::Integer(i),
        ValueRef::Text(t) => KeyValue::Text(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => KeyValue::Blob(b.to_vec()),
        ValueRef::Real(r) => KeyValue::Other(r.to_string()),
        ValueRef::Null => KeyValue::Other("NULL".to_owned()),
    }
}

/// SQLite reads every type rusqlite reads.
impl<T: FromSql> ReadsValue<T> for Sqlite {
    #[inline(always)] // once per field, on every load
    fn read_value<'r, 's: 'r>(row: &&'r rusqlite::Row<'s>, index: usize) -> Result<T, ValueError> {
        Ok(row.get(index)?)
    }

    /// The rowid SQLite assigned, as `T`.
    fn from_assigned_key(rowid: i64) -> Result<T, ValueError> {
        T::column_result(ValueRef::Integer(rowid)).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(
                0,
                rusqlite::types::Type::Integer,
                Box::new(e),
            )
            .into()
        })
    }
}
