//! PostgreSQL's half of the record seam: every piece of record SQL
//! txmanager writes for PostgreSQL (built from a `shape::TableShape`, so it
//! knows nothing of records), the version column and the PL/pgSQL version
//! trigger, and [`PgRecords`], which runs them through PostgreSQL's
//! statement path.
//!
//! Names are validated (at most 63 bytes, PostgreSQL's limit) and always
//! quoted, so they are case-sensitive, as Django writes them. Values are
//! always parameters (`$1`, `$2`, …); every version parameter is cast to
//! `int8`, so an `i64` binds whatever the surrounding expression would
//! otherwise make PostgreSQL infer, and every version that is read
//! (`SELECT`, `RETURNING`) is cast to `int8` too, so a version column of
//! any integer type (an `INTEGER` one from a migrated Django table) reads
//! as an `i64`.

use postgres::types::{FromSqlOwned, IsNull, ToSql, Type};

use super::Postgres;
use crate::Error;
use crate::block::Engine;
use crate::shape::{self, BadName, ColumnSet, RecordSql, TableShape, UpdateSql};
use crate::store::{ClauseParams, FoundTrigger, RecordStore, SqlCache, TriggerState};
use crate::value::{
    Binder, BindsValue, CommonValues, FromSqlValue, KeyValue, ReadsValue, RowReader, ValueError,
    ValueSeam,
};

/// PostgreSQL's [`RecordStore`].
#[derive(Debug)]
pub struct PgRecords;

/// PostgreSQL's longest name, in bytes (`NAMEDATALEN - 1`); longer names
/// are silently truncated by the server, so they are refused instead.
const MAX_NAME: usize = 63;

/// Checks a table, column or trigger name before it goes into SQL: the rule
/// every backend applies, within PostgreSQL's 63 bytes.
pub(crate) fn validate_identifier(what: &'static str, name: &str) -> Result<(), BadName> {
    shape::check_identifier(
        what,
        name,
        MAX_NAME,
        "it is longer than 63 bytes, PostgreSQL's limit for names",
    )
}

/// Quotes an identifier for PostgreSQL: wraps it in double quotes and
/// doubles any double quote inside it.
pub(crate) fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Builds a record type's SQL, validating every name first. The statements
/// and their parameter order are SQLite's (see `shape::RecordSql`); the
/// dialect differs: `$n`, quoted names, `GREATEST`, `IS DISTINCT FROM`, and
/// an insert without a key returns the key the server assigned.
pub(crate) fn record_sql(shape: &TableShape) -> Result<RecordSql, BadName> {
    shape::check_shape(shape, validate_identifier)?;
    let version = shape.version();
    let table = quote(shape.table());
    let pk = quote(shape.primary_key());
    let columns: Vec<String> = shape.columns().iter().map(|c| quote(c)).collect();
    let n = columns.len();
    let version_column = version.map(|v| quote(v.column_name()));

    let mut selected = vec![pk.clone()];
    selected.extend(version_column.as_ref().map(|v| format!("{v}::int8")));
    selected.extend(columns.iter().cloned());
    selected.extend(shape.read_only_columns().iter().map(|c| quote(c)));
    let select = format!("SELECT {} FROM {table}", selected.join(", "));

    // INSERT: columns, then the version, then (with a chosen key) the key.
    let mut insert_columns = columns.clone();
    let mut insert_values: Vec<String> = (1..=n).map(|i| format!("${i}")).collect();
    if let Some(v) = &version_column {
        insert_columns.push(v.clone());
        insert_values.push(format!("${}::int8", n + 1));
    }
    let insert = if insert_columns.is_empty() {
        format!("INSERT INTO {table} DEFAULT VALUES RETURNING {pk}")
    } else {
        format!(
            "INSERT INTO {table} ({}) VALUES ({}) RETURNING {pk}",
            insert_columns.join(", "),
            insert_values.join(", ")
        )
    };
    insert_columns.push(pk.clone());
    insert_values.push(format!("${}", insert_values.len() + 1));
    let insert_with_pk = format!(
        "INSERT INTO {table} ({}) VALUES ({})",
        insert_columns.join(", "),
        insert_values.join(", ")
    );

    let updates = update_sql(shape, ColumnSet::All);
    let update_unchecked = updates.unchecked;
    let (update_checked, delete_checked, current_version) = match &version_column {
        Some(v) => (
            updates.checked,
            format!("DELETE FROM {table} WHERE {pk} = $1 AND {v} = $2::int8"),
            format!("SELECT {v}::int8 FROM {table} WHERE {pk} = $1"),
        ),
        None => (update_unchecked.clone(), String::new(), String::new()),
    };

    Ok(RecordSql {
        get: format!("{select} WHERE {pk} = $1"),
        all: format!("{select} ORDER BY {pk}"),
        select,
        insert,
        insert_with_pk,
        update_checked,
        update_unchecked,
        delete_checked,
        delete_unchecked: format!("DELETE FROM {table} WHERE {pk} = $1"),
        current_version,
        version_param: updates.version_param,
        checked_update_returns_version: updates.checked_returns,
    })
}

/// PostgreSQL's spellings of a record type's `UPDATE`s: names always
/// quoted, `$n` parameters, versions typed `int8` (read back as `int8` too,
/// so an `INTEGER` version column works). PostgreSQL must know every
/// parameter's type, so a column that is not written still names its
/// parameter, in an assignment that keeps the column's value (`"c" = CASE
/// WHEN false THEN $i ELSE "c" END`, which also gives the parameter the
/// column's type); one `bind_columns` serves every subset.
const DIALECT: shape::Dialect = shape::Dialect {
    quote,
    param: |n| format!("${n}"),
    version_param: |n| format!("${n}::int8"),
    unwritten: Some(|c, n| format!("{c} = CASE WHEN false THEN ${n} ELSE {c} END")),
    greatest: "GREATEST",
    differs: "IS DISTINCT FROM",
    never: "false",
    read_version: "::int8",
};

/// Builds the `UPDATE`s of a record type that write the data columns in
/// `written`, with [`record_sql`]'s parameter layout (see
/// [`shape::update_sql`]).
pub(crate) fn update_sql(shape: &TableShape, written: ColumnSet<'_>) -> UpdateSql {
    shape::update_sql(&DIALECT, shape, written)
}

/// Adds a version column to an existing table; existing rows start at 1.
/// BIGINT, so it reads as an `i64`.
pub(crate) fn add_version_column(table: &str, column: &str) -> String {
    format!(
        "ALTER TABLE {} ADD COLUMN {} BIGINT NOT NULL DEFAULT 1",
        quote(table),
        quote(column)
    )
}

/// The prefix of every version trigger's (and its function's) name.
const VERSION_TRIGGER_PREFIX: &str = "txmanager_version_";

/// The name of the version trigger of `table`'s `column`, and of the
/// function it runs: `txmanager_version_<table length>_<table>_<column>`
/// as on SQLite (the length makes it injective), when that fits in 63
/// bytes. A longer one would be truncated by the server, and two tables
/// could then share a name, so it becomes
/// `txmanager_version_h<16 hex digits>_<start of table_column>`: a 64-bit
/// FNV-1a hash of the table and column, cut to 63 bytes. The `h` keeps the
/// two forms apart (the first has a digit there).
pub(crate) fn version_trigger_name(table: &str, column: &str) -> String {
    let name = format!("{VERSION_TRIGGER_PREFIX}{}_{table}_{column}", table.len());
    if name.len() <= MAX_NAME {
        return name;
    }
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in table.bytes().chain([0]).chain(column.bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    let mut name = format!("{VERSION_TRIGGER_PREFIX}h{hash:016x}_{table}_{column}");
    // Names are ASCII (validated), so any byte is a character boundary.
    name.truncate(MAX_NAME);
    name
}

/// The body of the version trigger's PL/pgSQL function: bump the version
/// by one on every UPDATE that leaves it as it was (an UPDATE that sets it
/// itself, such as a forced save, is left alone). It runs `BEFORE` the
/// update, so `RETURNING` shows the bumped version.
fn version_function_body(column: &str) -> String {
    let column = quote(column);
    format!(
        "\nBEGIN\n    IF NEW.{column} IS NOT DISTINCT FROM OLD.{column} THEN\n        \
         NEW.{column} := OLD.{column} + 1;\n    END IF;\n    RETURN NEW;\nEND\n"
    )
}

/// Creates (or replaces) the version trigger of `table`'s `column` and its
/// function, in one batch. `CREATE OR REPLACE TRIGGER` needs PostgreSQL 14.
pub(crate) fn version_trigger(table: &str, column: &str) -> String {
    let name = quote(&version_trigger_name(table, column));
    format!(
        "CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $txmanager${}$txmanager$; \
         CREATE OR REPLACE TRIGGER {name} BEFORE UPDATE ON {} FOR EACH ROW EXECUTE FUNCTION {name}('{column}')",
        version_function_body(column),
        quote(table),
    )
}

/// Drops a version trigger and its function.
pub(crate) fn drop_version_trigger(name: &str, table: &str) -> String {
    let name_q = quote(name);
    format!(
        "DROP TRIGGER IF EXISTS {name_q} ON {}; DROP FUNCTION IF EXISTS {name_q}()",
        quote(table)
    )
}

/// The columns of table `$1` (a quoted name, found through the search
/// path); none if there is no such table.
const TABLE_COLUMNS: &str = "SELECT attname::text FROM pg_attribute \
     WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped";

/// The trigger `$2` on table `$1`: its function's name and body, its type
/// bits, whether it is enabled, and its arguments.
const TRIGGER_FACTS: &str = "SELECT p.proname::text, p.prosrc, t.tgtype::int4, t.tgenabled::text, \
     encode(t.tgargs, 'escape') FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid \
     WHERE t.tgrelid = to_regclass($1) AND t.tgname = $2";

/// Every trigger on a table of the current schema whose name starts like a
/// version trigger's, with one argument: name, table, argument.
const VERSION_TRIGGERS: &str = "SELECT t.tgname::text, c.relname::text, \
     split_part(encode(t.tgargs, 'escape'), '\\000', 1) \
     FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid \
     WHERE NOT t.tgisinternal AND t.tgnargs = 1 \
     AND c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema()) \
     AND t.tgname LIKE 'txmanager\\_version\\_%' ORDER BY t.tgname";

/// `tgtype` of a `BEFORE UPDATE … FOR EACH ROW` trigger: ROW (1) | BEFORE
/// (2) | UPDATE (16).
const BEFORE_UPDATE_ROW: i32 = 1 | 2 | 16;

/// Runs one record statement through PostgreSQL's statement path: `bind`
/// encodes the parameters for the prepared statement's types (before the
/// client is borrowed), then `op` runs it.
fn run<R>(
    tm: &Engine<Postgres>,
    sql: &str,
    bind: impl Fn(&mut Binder<'_, '_, Postgres>) -> Result<(), ValueError>,
    op: impl Fn(
        &mut postgres::Client,
        &postgres::Statement,
        &[&(dyn ToSql + Sync)],
    ) -> Result<R, postgres::Error>,
) -> Result<R, Error> {
    tm.pg_statement_encoded(
        sql,
        // Runs with nothing of the connection borrowed: `bind` is a
        // record's `bind_columns`, which may be user code.
        |stmt| {
            let mut values = Vec::with_capacity(stmt.params().len());
            bind(&mut Binder::new(
                PgParams {
                    types: stmt.params(),
                    values: &mut values,
                },
                1,
            ))
            .map(|()| values)
        },
        |client, stmt, values| match values {
            Ok(values) => {
                let params: Vec<&(dyn ToSql + Sync)> = values
                    .iter()
                    .map(|v: &Encoded| v as &(dyn ToSql + Sync))
                    .collect();
                op(client, stmt, &params).map(Ok)
            }
            Err(e) => Ok(Err(e)),
        },
    )?
    .map_err(Error::from)
}

/// Reads rows with `read`, turning a column that does not convert into the
/// statement's error.
fn read_rows<T>(
    sql: &str,
    rows: &[postgres::Row],
    mut read: impl FnMut(&mut RowReader<'_, '_, Postgres>) -> Result<T, ValueError>,
) -> Result<Vec<T>, Error> {
    rows.iter()
        .map(|row| read(&mut RowReader::new(row)).map_err(|e| e.into_statement_error(sql)))
        .collect()
}

impl RecordStore<Postgres> for PgRecords {
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

    fn execute(
        tm: &Engine<Postgres>,
        sql: &str,
        bind: impl Fn(&mut Binder<'_, '_, Postgres>) -> Result<(), ValueError>,
    ) -> Result<u64, Error> {
        run(tm, sql, bind, |client, stmt, params| {
            client.execute(stmt, params)
        })
    }

    fn query_first<T>(
        tm: &Engine<Postgres>,
        sql: &str,
        bind: impl Fn(&mut Binder<'_, '_, Postgres>) -> Result<(), ValueError>,
        read: impl FnOnce(&mut RowReader<'_, '_, Postgres>) -> Result<T, ValueError>,
    ) -> Result<Option<T>, Error> {
        let row = run(tm, sql, bind, |client, stmt, params| {
            client.query_opt(stmt, params)
        })?;
        row.map(|row| read(&mut RowReader::new(&row)).map_err(|e| e.into_statement_error(sql)))
            .transpose()
    }

    fn query_all<T>(
        tm: &Engine<Postgres>,
        sql: &str,
        bind: impl Fn(&mut Binder<'_, '_, Postgres>) -> Result<(), ValueError>,
        read: impl FnMut(&mut RowReader<'_, '_, Postgres>) -> Result<T, ValueError>,
    ) -> Result<Vec<T>, Error> {
        let rows = run(tm, sql, bind, |client, stmt, params| {
            client.query(stmt, params)
        })?;
        read_rows(sql, &rows, read)
    }

    /// `INSERT … RETURNING` reads back any key the server assigns (a
    /// sequence, `DEFAULT gen_random_uuid()::text`, …), of any type the
    /// column converts to; a key column without a default refuses the
    /// insert with the server's not-null error.
    #[inline]
    fn can_assign_key<K: FromSqlValue<Postgres>>() -> bool {
        true
    }

    /// The key column's type is checked against `K` from the prepared
    /// statement, before the insert runs: a key that would not convert
    /// after the row is committed is refused with nothing written.
    fn insert_assigning_key<K: FromSqlValue<Postgres>>(
        tm: &Engine<Postgres>,
        sql: &RecordSql,
        (table, column): (&'static str, &'static str),
        bind: impl Fn(&mut Binder<'_, '_, Postgres>) -> Result<(), ValueError>,
    ) -> Result<K, Error> {
        let row = run(tm, &sql.insert, bind, |client, stmt, params| {
            match stmt.columns().first().map(postgres::Column::type_) {
                Some(ty) if !K::reads_column_type(ty) => Ok(Err(ty.name().to_owned())),
                _ => client.query_one(stmt, params).map(Ok),
            }
        })?
        .map_err(|column_type| Error::AssignedKeyType {
            table,
            column,
            column_type,
            key_type: std::any::type_name::<K>(),
        })?;
        RowReader::new(&row)
            .read()
            .map_err(|e| e.into_statement_error(&sql.insert))
    }

    fn table_columns(tm: &Engine<Postgres>, table: &str) -> Result<Vec<String>, Error> {
        let rows = tm.query(TABLE_COLUMNS, &[&quote(table)])?;
        rows.iter()
            .map(|r| r.try_get(0))
            .collect::<Result<_, _>>()
            .map_err(|e| Error::statement(TABLE_COLUMNS, e))
    }

    fn add_version_column(tx: &Engine<Postgres>, table: &str, column: &str) -> Result<(), Error> {
        tx.execute(&add_version_column(table, column), &[])
            .map(drop)
    }

    fn ensure_version_trigger(
        tx: &Engine<Postgres>,
        table: &str,
        column: &str,
    ) -> Result<(), Error> {
        if Self::version_trigger_state(tx, table, column)? == TriggerState::AsCreated {
            return Ok(());
        }
        tx.execute_batch(&version_trigger(table, column))
    }

    fn version_trigger_state(
        tm: &Engine<Postgres>,
        table: &str,
        column: &str,
    ) -> Result<TriggerState, Error> {
        let name = version_trigger_name(table, column);
        let Some(row) = tm.query_opt(TRIGGER_FACTS, &[&quote(table), &name])? else {
            return Ok(TriggerState::Missing);
        };
        let read = || -> Result<(String, String, i32, String, String), postgres::Error> {
            Ok((
                row.try_get(0)?,
                row.try_get(1)?,
                row.try_get(2)?,
                row.try_get(3)?,
                row.try_get(4)?,
            ))
        };
        let (function, body, kind, enabled, args) =
            read().map_err(|e| Error::statement(TRIGGER_FACTS, e))?;
        let as_created = function == name
            && body == version_function_body(column)
            && kind == BEFORE_UPDATE_ROW
            && enabled == "O"
            && args == format!("{column}\\000");
        Ok(if as_created {
            TriggerState::AsCreated
        } else {
            TriggerState::Differs
        })
    }

    fn version_triggers(tm: &Engine<Postgres>) -> Result<Vec<FoundTrigger>, Error> {
        let rows = tm.query(VERSION_TRIGGERS, &[])?;
        let mut found = Vec::with_capacity(rows.len());
        for r in &rows {
            let trigger = (|| {
                Ok::<_, postgres::Error>(FoundTrigger {
                    name: r.try_get(0)?,
                    table: r.try_get(1)?,
                    column: r.try_get(2)?,
                })
            })()
            .map_err(|e| Error::statement(VERSION_TRIGGERS, e))?;
            if version_trigger_name(&trigger.table, &trigger.column) == trigger.name {
                found.push(trigger);
            }
        }
        Ok(found)
    }

    fn drop_version_trigger(tx: &Engine<Postgres>, trigger: &FoundTrigger) -> Result<(), Error> {
        tx.execute_batch(&drop_version_trigger(&trigger.name, &trigger.table))
    }
}

/// A `select_where` clause's parameters as the `postgres` crate takes them.
impl crate::store::sealed::Params<Postgres> for &[&(dyn ToSql + Sync)] {}

impl ClauseParams<Postgres> for &[&(dyn ToSql + Sync)] {
    fn query_all<T>(
        self,
        tm: &Engine<Postgres>,
        sql: &str,
        read: impl FnMut(&mut RowReader<'_, '_, Postgres>) -> Result<T, ValueError>,
    ) -> Result<Vec<T>, Error> {
        let rows = tm.query(sql, self)?;
        read_rows(sql, &rows, read)
    }
}

/// An array of parameters of one type: `["al%"]`, `[1_i64, 2]`.
impl<V: ToSql + Sync, const N: usize> crate::store::sealed::Params<Postgres> for [V; N] {}

impl<V: ToSql + Sync, const N: usize> ClauseParams<Postgres> for [V; N] {
    fn query_all<T>(
        self,
        tm: &Engine<Postgres>,
        sql: &str,
        read: impl FnMut(&mut RowReader<'_, '_, Postgres>) -> Result<T, ValueError>,
    ) -> Result<Vec<T>, Error> {
        let params: Vec<&(dyn ToSql + Sync)> =
            self.iter().map(|v| v as &(dyn ToSql + Sync)).collect();
        params.as_slice().query_all(tm, sql, read)
    }
}

// ---------- values: what PostgreSQL binds and reads ----------

/// PostgreSQL binds to a statement's parameter list, encoding each value
/// as it is bound, and reads from its row; the prepared statement reports
/// each column's type before the statement runs.
impl ValueSeam for Postgres {
    type BindTarget<'s, 'c>
        = PgParams<'s>
    where
        'c: 's;
    type Row<'r, 's>
        = &'r postgres::Row
    where
        's: 'r;
    type ColumnType = Type;
    type AssignedKey = std::convert::Infallible;
    type Error = postgres::Error;
}

impl From<postgres::Error> for ValueError {
    #[inline]
    fn from(e: postgres::Error) -> Self {
        ValueError::new::<Postgres>(e)
    }
}

/// Where a `Binder` binds on PostgreSQL: the prepared statement's parameter
/// types, and the values encoded so far.
#[derive(Debug)]
pub struct PgParams<'s> {
    types: &'s [Type],
    values: &'s mut Vec<Encoded>,
}

/// A value encoded for one parameter of a prepared PostgreSQL statement,
/// in the format its own `ToSql` chose: what a `Binder` collects, because
/// a record's fields are borrowed only while it binds them. The statement
/// sends the bytes as they are. A value that would not convert keeps its
/// error, and the statement fails with it (naming the parameter) when it
/// runs.
#[derive(Debug)]
pub(crate) struct Encoded(Result<Option<(bytes::BytesMut, postgres::types::Format)>, String>);

impl Encoded {
    /// Encodes `value` for a parameter of type `ty`; `None` when the
    /// statement has no such parameter (the server then refuses the count).
    fn new<V: ToSql + ?Sized>(ty: Option<&Type>, value: &V) -> Self {
        let Some(ty) = ty else {
            return Encoded(Err(
                "the statement has no parameter for this value".to_owned()
            ));
        };
        let mut out = bytes::BytesMut::new();
        Encoded(match value.to_sql_checked(ty, &mut out) {
            Ok(IsNull::Yes) => Ok(None),
            Ok(IsNull::No) => Ok(Some((out, value.encode_format(ty)))),
            Err(e) => Err(e.to_string()),
        })
    }
}

impl ToSql for Encoded {
    fn to_sql(
        &self,
        _ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match &self.0 {
            Ok(Some((bytes, _))) => {
                out.extend_from_slice(bytes);
                Ok(IsNull::No)
            }
            Ok(None) => Ok(IsNull::Yes),
            Err(e) => Err(e.clone().into()),
        }
    }

    /// The type was checked when the value was encoded.
    fn accepts(_ty: &Type) -> bool {
        true
    }

    fn encode_format(&self, _ty: &Type) -> postgres::types::Format {
        match &self.0 {
            Ok(Some((_, format))) => *format,
            _ => postgres::types::Format::Binary,
        }
    }

    postgres::types::to_sql_checked!();
}

/// Every type in the list binds and reads here.
impl CommonValues for Postgres {}

/// PostgreSQL binds every type the `postgres` crate binds, encoded for
/// the parameter's type as it is bound.
impl<T: ToSql + Sync + ?Sized> BindsValue<T> for Postgres {
    #[inline]
    fn bind_value<'s, 'c: 's>(
        value: &T,
        target: &mut PgParams<'s>,
        index: usize,
    ) -> Result<(), ValueError> {
        target
            .values
            .push(Encoded::new(target.types.get(index - 1), value));
        Ok(())
    }

    /// The value as PostgreSQL stores it in an integer, text or `bytea`
    /// key column; anything else by its `Debug` form.
    fn key_value(value: &T) -> KeyValue {
        let mut out = bytes::BytesMut::new();
        let mut encoded = |ty: &Type| {
            out.clear();
            matches!(value.to_sql_checked(ty, &mut out), Ok(IsNull::No)).then(|| out.to_vec())
        };
        if let Some(Ok(b)) = encoded(&Type::INT8).map(<[u8; 8]>::try_from) {
            return KeyValue::Integer(i64::from_be_bytes(b));
        }
        if let Some(Ok(b)) = encoded(&Type::INT4).map(<[u8; 4]>::try_from) {
            return KeyValue::Integer(i32::from_be_bytes(b).into());
        }
        if let Some(Ok(b)) = encoded(&Type::INT2).map(<[u8; 2]>::try_from) {
            return KeyValue::Integer(i16::from_be_bytes(b).into());
        }
        if let Some(b) = encoded(&Type::TEXT) {
            return KeyValue::Text(String::from_utf8_lossy(&b).into_owned());
        }
        if let Some(b) = encoded(&Type::BYTEA) {
            return KeyValue::Blob(b);
        }
        KeyValue::Other(format!("{value:?}"))
    }
}

/// PostgreSQL reads every type the `postgres` crate reads into an owned value.
impl<T: FromSqlOwned> ReadsValue<T> for Postgres {
    #[inline]
    fn read_value<'r, 's: 'r>(row: &&'r postgres::Row, index: usize) -> Result<T, ValueError> {
        Ok(row.try_get(index)?)
    }

    #[inline]
    fn reads_column_type(ty: &Type) -> bool {
        <T as postgres::types::FromSql<'_>>::accepts(ty)
    }

    /// PostgreSQL has no rowids: a key it assigns is read back with
    /// `RETURNING`.
    fn from_assigned_key(key: std::convert::Infallible) -> Result<T, ValueError> {
        match key {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trigger_names_fit_in_63_bytes_and_stay_injective() {
        assert_eq!(
            version_trigger_name("a_b", "c"),
            "txmanager_version_3_a_b_c"
        );
        assert_ne!(
            version_trigger_name("a_b", "c"),
            version_trigger_name("a", "b_c")
        );
        let long = "t".repeat(63);
        let a = version_trigger_name(&long, "version");
        let b = version_trigger_name(&long, "versioN");
        let c = version_trigger_name(&long[..62], "tversion");
        assert!(a.len() <= 63 && b.len() <= 63, "{a} {b}");
        assert!(a.starts_with("txmanager_version_h"), "{a}");
        assert_ne!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn names_longer_than_63_bytes_are_refused() {
        assert!(validate_identifier("table", &"t".repeat(63)).is_ok());
        let err = validate_identifier("table", &"t".repeat(64)).unwrap_err();
        assert!(err.reason.contains("63 bytes"), "{err:?}");
    }
}
