//! Everything SQLite-specific that txmanager says to the database: `BEGIN`
//! variants, savepoint SQL, the `PRAGMA`s applied at open, and identifier
//! quoting. Other modules ask this one for SQL text instead of writing their
//! own, so that a second backend has one module to mirror.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use rusqlite::fallible_iterator::FallibleIterator;
use rusqlite::hooks::{AuthAction, AuthContext, Authorization, TransactionOperation};
use rusqlite::{Batch, CachedStatement, Connection, ErrorCode};

use crate::Error;
use crate::backend::Backend;
use crate::block::Engine;
use crate::control::TransactionControl;
use crate::error::DatabaseError;
use crate::settings::{BeginMode, Settings, Synchronous};
use crate::shape::{self, BadName, ColumnSet, RecordSql, TableShape, UpdateSql};
use crate::store::RecordBackend;

mod records;

// txmanager's own transaction-control SQL ends in a `;`. SQLite ignores it,
// but it makes the text differ from what a user usually writes (`COMMIT`),
// and `is_own_control` recognises the exact texts, so that rusqlite's
// statement cache (keyed by the SQL text) never hands one of these compiled
// statements to user code. Every control statement on the hot path is at
// most 16 bytes long: the cache hashes its key on every lookup, and keys
// longer than that take the hash's slower path (about 80 instructions more
// per statement, measured with callgrind; 1 % of a one-insert block).
pub(crate) const COMMIT: &str = "COMMIT;";
pub(crate) const ROLLBACK: &str = "ROLLBACK;";
const BEGIN_DEFERRED: &str = "BEGIN DEFERRED;";
const BEGIN_IMMEDIATE: &str = "BEGIN IMMEDIATE;";
const BEGIN_EXCLUSIVE: &str = "BEGIN EXCLUSIVE;";
/// Savepoint statements: the verb, then the name `txm_<depth>`, then `;`.
const SAVEPOINT_VERBS: [&str; 3] = ["SAVEPOINT ", "RELEASE ", "ROLLBACK TO "];
/// The prefix of every savepoint name txmanager generates.
const SAVEPOINT_NAME: &str = "txm_";

/// The `BEGIN` statement for a begin mode.
pub(crate) fn begin(mode: BeginMode) -> &'static str {
    match mode {
        BeginMode::Deferred => BEGIN_DEFERRED,
        BeginMode::Immediate => BEGIN_IMMEDIATE,
        BeginMode::Exclusive => BEGIN_EXCLUSIVE,
    }
}

/// The SQLite backend: the default type parameter of
/// [`TransactionManager`](crate::TransactionManager) and
/// [`Transaction`](crate::Transaction), so SQLite code never names it.
///
/// # Example
///
/// ```
/// use txmanager::{Sqlite, TransactionManager};
///
/// # fn main() -> Result<(), txmanager::Error> {
/// // The same type, spelled out or not.
/// let tm: TransactionManager<Sqlite> = TransactionManager::open_in_memory()?;
/// let _same: &TransactionManager = &tm;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Sqlite;

impl Backend for Sqlite {
    type BlockOptions = BeginMode;
}

impl RecordBackend for Sqlite {
    type Records = records::SqliteRecords;
}

impl TransactionControl for Sqlite {
    type Connection = SqliteConnection;
    type BeginOptions = BeginMode;

    const ERROR_ABORTS_TRANSACTION: bool = false;

    #[inline]
    fn run_control(conn: &SqliteConnection, sql: &str) -> Result<(), DatabaseError> {
        conn.gate.run(&conn.conn, sql).map_err(DatabaseError::from)
    }

    #[inline]
    fn begin_sql(options: BeginMode) -> &'static str {
        begin(options)
    }

    #[inline]
    fn commit_sql() -> &'static str {
        COMMIT
    }

    #[inline]
    fn rollback_sql() -> &'static str {
        ROLLBACK
    }

    /// A short generated name, `txm_<depth>`: a plain identifier that needs
    /// no quoting, short enough that `SAVEPOINT` and `RELEASE` stay within
    /// 16 bytes up to depth 9 (see `COMMIT`).
    fn savepoint_sql(depth: usize) -> (String, String, String) {
        let [open, release, rollback_to] =
            SAVEPOINT_VERBS.map(|verb| format!("{verb}{SAVEPOINT_NAME}{depth};"));
        (open, release, rollback_to)
    }

    /// Grows the statement cache so that every depth's `SAVEPOINT` and
    /// `RELEASE` stay cached: a block nested deeper than the cache holds
    /// would otherwise evict its own statements in a cycle and prepare each
    /// of them again on every use (measured: nesting 16 deep ran at 0.67×
    /// the speed of rusqlite's `Savepoint`, which parses every time).
    ///
    /// Only ever grows it: the room for the application's statements stays
    /// what it was set to ([`Settings::with_statement_cache_capacity`],
    /// `TransactionManager::set_statement_cache_capacity`).
    fn savepoint_depth_reached(conn: &SqliteConnection, depth: usize) {
        let own = OWN_STATEMENTS.max(3 + 3 * (depth + 1));
        if own > conn.own_statements.get() {
            conn.own_statements.set(own);
            conn.apply_cache_capacity();
        }
    }

    #[inline]
    fn in_transaction(conn: &SqliteConnection) -> Option<bool> {
        Some(in_transaction(conn))
    }

    /// Installs the control gate again, and flushes the statement cache.
    fn reset_connection(conn: &mut SqliteConnection) -> Result<(), Error> {
        Ok(conn.reinstall_gate()?)
    }
}

/// A rusqlite connection with txmanager's [`ControlGate`] installed: what a
/// `TransactionManager<Sqlite>` owns. It dereferences to the connection.
#[derive(Debug)]
pub(crate) struct SqliteConnection {
    conn: Connection,
    pub(crate) gate: ControlGate,
    /// Room in rusqlite's statement cache for the application's statements,
    /// as set through txmanager (rusqlite cannot say what it is).
    app_statements: Cell<usize>,
    /// Room for txmanager's own control statements, grown as blocks nest
    /// deeper, never shrunk.
    own_statements: Cell<usize>,
}

impl SqliteConnection {
    /// Installs a gate on `conn`. A gate that cannot be installed is
    /// returned as the error beside the connection, which is kept.
    pub(crate) fn new(
        mut conn: Connection,
        app_statements: usize,
    ) -> (Self, Option<rusqlite::Error>) {
        let gate = ControlGate::new();
        let failed = gate.install(&mut conn).err();
        let conn = SqliteConnection {
            conn,
            gate,
            app_statements: Cell::new(app_statements),
            own_statements: Cell::new(OWN_STATEMENTS),
        };
        (conn, failed)
    }

    /// Sets the room for the application's statements; txmanager's own
    /// room stays as it is.
    pub(crate) fn set_app_statements(&self, statements: usize) {
        self.app_statements.set(statements);
        self.apply_cache_capacity();
    }

    /// Gives rusqlite's statement cache room for both.
    fn apply_cache_capacity(&self) {
        self.conn.set_prepared_statement_cache_capacity(
            self.app_statements
                .get()
                .saturating_add(self.own_statements.get()),
        );
    }

    /// Installs the gate again (after `reset`).
    pub(crate) fn reinstall_gate(&mut self) -> rusqlite::Result<()> {
        self.gate.install(&mut self.conn)
    }

    /// Lends the connection to `f` with the gate down ([`ControlGate::lend`]).
    pub(crate) fn lend<T>(&mut self, f: impl FnOnce(&mut Connection) -> T) -> rusqlite::Result<T> {
        self.gate.lend(&mut self.conn, f)
    }

    /// The plain connection, with the gate removed.
    pub(crate) fn into_inner(mut self) -> Connection {
        // Removing an authorizer only fails on a closed connection, which a
        // manager never holds; the connection is returned either way.
        let _ = ControlGate::uninstall(&mut self.conn);
        self.conn
    }
}

impl std::ops::Deref for SqliteConnection {
    type Target = Connection;

    #[inline]
    fn deref(&self) -> &Connection {
        &self.conn
    }
}

/// The least room txmanager keeps for its own control statements (`BEGIN`,
/// `COMMIT`, `ROLLBACK`, and three per savepoint depth), grown as nesting
/// deepens ([`Backend::savepoint_depth_reached`]).
const OWN_STATEMENTS: usize = 16;

/// Runs one of txmanager's transaction-control statements (`BEGIN`,
/// `COMMIT`, `ROLLBACK`, a savepoint statement) as a cached prepared
/// statement, so it is parsed once per connection instead of on every call
/// as `execute_batch` would.
///
/// The statement is always reset after it runs, whether it succeeded or
/// failed (`Statement::execute` resets it before returning, and the cache
/// clears its bindings when it is put back): a failed `COMMIT` (`SQLITE_BUSY`,
/// a deferred constraint) leaves a clean statement ready to run again, and no
/// cached statement holds a read transaction open between uses. If the cache
/// is full, or its capacity was set to 0, the statement is simply prepared
/// again: slower, never wrong.
#[inline]
pub(crate) fn run_control(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

/// The fast exit of [`is_own_control`] for ordinary SQL, meant to inline
/// into every statement: false if the text's last byte is neither `;` nor
/// possibly whitespace (rusqlite trims Unicode whitespace, which ends in an
/// ASCII byte no greater than a space, or in a non-ASCII byte).
#[inline]
pub(crate) fn may_be_own_control(sql: &str) -> bool {
    match sql.as_bytes().last() {
        Some(b';') => true,
        Some(&b) => b <= b' ' || !b.is_ascii(),
        None => false,
    }
}

/// Whether a user's SQL text is one of txmanager's own control statements,
/// which rusqlite's cache would hand over compiled, past the
/// [`ControlGate`]. Compares the text as rusqlite's cache keys it (trimmed);
/// anything not ending in `;` is rejected after looking at its last bytes
/// only, so the check costs next to nothing on ordinary statements.
pub(crate) fn is_own_control(sql: &str) -> bool {
    let sql = sql.trim();
    let Some(body) = sql.strip_suffix(';') else {
        return false;
    };
    matches!(
        sql,
        COMMIT | ROLLBACK | BEGIN_DEFERRED | BEGIN_IMMEDIATE | BEGIN_EXCLUSIVE
    ) || SAVEPOINT_VERBS.iter().any(|verb| {
        body.strip_prefix(verb)
            .and_then(|name| name.strip_prefix(SAVEPOINT_NAME))
            .is_some_and(|depth| !depth.is_empty() && depth.bytes().all(|b| b.is_ascii_digit()))
    })
}

/// Refuses transaction-control statements that txmanager did not issue
/// itself, before they run.
///
/// It is an SQLite authorizer: SQLite asks it about every action of a
/// statement while the statement is *compiled*. `BEGIN`, `COMMIT`/`END`,
/// `ROLLBACK`, `SAVEPOINT`, `RELEASE` and `ROLLBACK TO` are one action each
/// (`SQLITE_TRANSACTION` or `SQLITE_SAVEPOINT`), whatever way they arrive:
/// `execute`, `query_row`, `prepare`, or any statement of a batch. The gate
/// denies them unless txmanager has opened it around its own control SQL
/// ([`ControlGate::run`]), so the statement fails to compile with
/// `SQLITE_AUTH` and nothing of it runs.
///
/// A statement compiled once is not asked about again (unless SQLite
/// recompiles it, after a schema change), so statements from rusqlite's
/// cache cost nothing here. Consequences:
/// - statements compiled before the gate was installed: installing an
///   authorizer makes SQLite expire every compiled statement, so each is
///   recompiled, and asked about, before it runs again; `install` also
///   flushes rusqlite's statement cache;
/// - txmanager's own control statements sit in rusqlite's statement cache
///   ([`run_control`]), compiled with the gate open. A user's statement
///   whose text is identical would find them there already compiled, so
///   the engine refuses user SQL that starts with their marker
///   ([`is_own_control`]) before looking in the cache. And since a
///   recompile asks again, they *run* inside the open gate, not only
///   compile inside it;
/// - while the gate is open (txmanager's control SQL; a future loan of the
///   raw connection), whatever compiles is allowed: after a loan, flush
///   rusqlite's statement cache, or a user's cached `BEGIN` survives it.
#[derive(Debug, Clone)]
pub(crate) struct ControlGate {
    state: Arc<GateState>,
}

#[derive(Debug, Default)]
struct GateState {
    /// Open while txmanager runs its own control SQL (or lends the raw
    /// connection).
    open: AtomicBool,
    /// The last statement the gate refused, as SQLite's action names it
    /// (`COMMIT`, `SAVEPOINT "x"`, …), until it is taken for an error.
    refused: Mutex<Option<String>>,
    /// Set when txmanager's own control statements may sit compiled in
    /// rusqlite's statement cache, where `prepare_cached` on a lent
    /// connection would find them past the gate.
    control_cached: AtomicBool,
}

impl ControlGate {
    /// A gate not yet installed on any connection.
    pub(crate) fn new() -> Self {
        ControlGate {
            state: Arc::new(GateState::default()),
        }
    }

    /// Installs the gate on `conn`, replacing any authorizer it had, and
    /// flushes the statements rusqlite cached before, which were compiled
    /// without it. Installing again is harmless.
    pub(crate) fn install(&self, conn: &mut Connection) -> rusqlite::Result<()> {
        let seen = Arc::clone(&self.state);
        conn.authorizer(Some(move |ctx: AuthContext<'_>| {
            let control = matches!(
                ctx.action,
                AuthAction::Transaction { .. } | AuthAction::Savepoint { .. }
            );
            if !control || seen.open.load(Ordering::Relaxed) {
                return Authorization::Allow;
            }
            *seen.refused.lock().unwrap_or_else(PoisonError::into_inner) =
                Some(describe_control(&ctx.action));
            Authorization::Deny
        }))?;
        conn.flush_prepared_statement_cache();
        Ok(())
    }

    /// Runs txmanager's own control SQL (`BEGIN`, `COMMIT`, savepoints)
    /// with the gate open.
    #[inline]
    pub(crate) fn run(&self, conn: &Connection, sql: &str) -> rusqlite::Result<()> {
        self.state.control_cached.store(true, Ordering::Relaxed);
        self.state.open.store(true, Ordering::Relaxed);
        let result = run_control(conn, sql);
        self.state.open.store(false, Ordering::Relaxed);
        result
    }

    /// Takes txmanager's own compiled control statements (`BEGIN`,
    /// `COMMIT`, `ROLLBACK`, and `savepoints`' texts) out of rusqlite's
    /// statement cache, so a connection lent by reference cannot run them
    /// past the gate through `prepare_cached`: that text is compiled anew,
    /// and refused. Costs nothing unless a control statement ran since the
    /// last call; then the next block compiles its `BEGIN` and `COMMIT`
    /// again, once.
    pub(crate) fn forget_own_control<'a>(
        &self,
        conn: &Connection,
        savepoints: impl Iterator<Item = &'a str>,
    ) {
        if !self.state.control_cached.swap(false, Ordering::Relaxed) {
            return;
        }
        // Open, so that a text not in the cache compiles (and is dropped)
        // without leaving a refusal behind for the next error.
        self.state.open.store(true, Ordering::Relaxed);
        for sql in [
            BEGIN_DEFERRED,
            BEGIN_IMMEDIATE,
            BEGIN_EXCLUSIVE,
            COMMIT,
            ROLLBACK,
        ]
        .into_iter()
        .chain(savepoints)
        {
            if let Ok(stmt) = conn.prepare_cached(sql) {
                stmt.discard();
            }
        }
        self.state.open.store(false, Ordering::Relaxed);
    }

    /// Lends `conn` to `f` with the gate open, so raw transaction control
    /// works in `f`; then closes the gate and installs it again (`f` may
    /// have replaced the authorizer), which also flushes every statement
    /// compiled while the gate was open. A panic in `f` closes and
    /// reinstalls the gate too.
    pub(crate) fn lend<T>(
        &self,
        conn: &mut Connection,
        f: impl FnOnce(&mut Connection) -> T,
    ) -> rusqlite::Result<T> {
        self.state.open.store(true, Ordering::Relaxed);
        let mut conn = scopeguard::guard(conn, |conn| {
            self.state.open.store(false, Ordering::Relaxed);
            let _ = self.install(conn); // unwinding: the next block finds a missing gate by itself
        });
        let value = f(&mut conn);
        let conn = scopeguard::ScopeGuard::into_inner(conn);
        self.state.open.store(false, Ordering::Relaxed);
        self.install(conn)?;
        Ok(value)
    }

    /// Removes the gate from `conn`, for a connection leaving txmanager, and
    /// flushes the statements compiled under it.
    pub(crate) fn uninstall(conn: &mut Connection) -> rusqlite::Result<()> {
        conn.authorizer(None::<fn(AuthContext<'_>) -> Authorization>)?;
        conn.flush_prepared_statement_cache();
        Ok(())
    }

    /// The statement the gate refused since the last call, if any.
    pub(crate) fn take_refusal(&self) -> Option<String> {
        self.state
            .refused
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }
}

/// A transaction-control action as the statement that asked for it.
fn describe_control(action: &AuthAction<'_>) -> String {
    match action {
        AuthAction::Transaction {
            operation: TransactionOperation::Begin,
        } => "BEGIN".to_owned(),
        AuthAction::Transaction {
            operation: TransactionOperation::Rollback,
        } => "ROLLBACK".to_owned(),
        // SQLite names both COMMIT and END "COMMIT", which rusqlite does not map.
        AuthAction::Transaction { .. } => "COMMIT".to_owned(),
        AuthAction::Savepoint {
            operation,
            savepoint_name,
        } => {
            let verb = match operation {
                TransactionOperation::Begin => "SAVEPOINT",
                TransactionOperation::Release => "RELEASE",
                _ => "ROLLBACK TO",
            };
            format!("{verb} {}", quote_identifier(savepoint_name))
        }
        _ => String::new(),
    }
}

/// Whether `conn` is inside a transaction, as SQLite reports it.
#[inline]
pub(crate) fn in_transaction(conn: &Connection) -> bool {
    !conn.is_autocommit()
}

/// Rows changed on `conn` since it opened, as SQLite counts them
/// (`sqlite3_total_changes64`): every row a statement inserted, updated or
/// deleted and did not undo, including statements that then failed. Schema
/// changes are not rows and are not counted.
#[inline]
pub(crate) fn total_changes(conn: &Connection) -> u64 {
    conn.total_changes()
}

/// Runs the statements of `sql` one by one, as `execute_batch` does (a
/// statement that returns rows is stepped once). Returns, alongside the
/// first error if any, whether a statement that is not read-only (such as
/// DDL) completed: such a statement may have changed the schema without
/// changing a row.
pub(crate) fn run_batch(conn: &Connection, sql: &str) -> (rusqlite::Result<()>, bool) {
    let mut wrote = false;
    let mut batch = Batch::new(conn, sql);
    loop {
        let mut stmt = match batch.next() {
            Ok(Some(stmt)) => stmt,
            Ok(None) => return (Ok(()), wrote),
            Err(err) => return (Err(err), wrote),
        };
        let readonly = stmt.readonly();
        if let Err(err) = stmt.raw_query().next() {
            return (Err(err), wrote);
        }
        wrote |= !readonly;
    }
}

/// Applies `settings` to a freshly opened connection. `is_file` is false for
/// in-memory databases, where WAL and `synchronous` do not apply. Each
/// failure names the setting that failed.
pub(crate) fn configure(
    conn: &Connection,
    settings: &Settings,
    is_file: bool,
) -> Result<(), Error> {
    let failed = |setting: &'static str| move |source| Error::Configure { setting, source };
    conn.busy_timeout(settings.busy_timeout())
        .map_err(failed("busy_timeout"))?;
    conn.set_prepared_statement_cache_capacity(
        settings
            .statement_cache_capacity()
            .saturating_add(OWN_STATEMENTS),
    );
    conn.pragma_update(
        None,
        "foreign_keys",
        if settings.foreign_keys() { "ON" } else { "OFF" },
    )
    .map_err(failed("foreign_keys"))?;
    if is_file {
        if settings.wal() {
            // Switching to WAL needs a lock; a file already in WAL (every
            // open after the first) does not switch again, so opening a
            // manager does not wait on other writers. WAL can also be refused
            // (e.g. on some network file systems), which is not an error.
            switch_to_wal(conn, settings.busy_timeout()).map_err(failed("journal_mode"))?;
        }
        let level = match settings.synchronous() {
            Synchronous::Off => "OFF",
            Synchronous::Normal => "NORMAL",
            Synchronous::Full => "FULL",
        };
        conn.pragma_update(None, "synchronous", level)
            .map_err(failed("synchronous"))?;
    }
    Ok(())
}

/// Switches a file to WAL unless it already is. Connections opening a new
/// file together race for the exclusive lock the switch needs, and SQLite
/// answers the losers `SQLITE_BUSY` at once, without calling the busy handler
/// (waiting could deadlock). So the switch is retried here, with short
/// sleeps, until the busy timeout has passed.
fn switch_to_wal(conn: &Connection, busy_timeout: Duration) -> rusqlite::Result<()> {
    let deadline = Instant::now() + busy_timeout;
    let mut pause = Duration::from_millis(1);
    loop {
        let attempt = conn
            .pragma_query_value(None, "journal_mode", |r| r.get::<_, String>(0))
            .and_then(|mode| {
                if mode.eq_ignore_ascii_case("wal") {
                    Ok(())
                } else {
                    conn.pragma_update_and_check(None, "journal_mode", "WAL", |_| Ok(()))
                }
            });
        match attempt {
            Err(e)
                if e.sqlite_error_code() == Some(ErrorCode::DatabaseBusy)
                    && Instant::now() < deadline =>
            {
                thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(20));
            }
            other => return other,
        }
    }
}

/// Checks a table, column or trigger name before it goes into SQL: ASCII
/// letters, digits and `_`, not starting with a digit, at most 64 bytes, and
/// not in SQLite's reserved `sqlite_` namespace. Names are quoted as well;
/// this check is what turns an injection attempt into a clear error before
/// anything runs.
///
/// `txmanager-macros` applies the same rule at compile time in its own copy
/// (a proc-macro crate cannot call the library it expands into): change both
/// together.
pub(crate) fn validate_identifier(what: &'static str, name: &str) -> Result<(), BadName> {
    shape::check_identifier(what, name, 64, "it is longer than 64 bytes")?;
    if name.len() >= 7 && name[..7].eq_ignore_ascii_case("sqlite_") {
        return Err(BadName {
            what,
            name: name.to_owned(),
            reason: "names starting with 'sqlite_' are reserved by SQLite",
        });
    }
    Ok(())
}

/// Builds a record type's SQL, validating every name first.
pub(crate) fn record_sql(meta: &TableShape) -> Result<RecordSql, BadName> {
    shape::check_shape(meta, validate_identifier)?;
    let version = meta.version();

    let table = record_identifier(meta.table());
    let pk = record_identifier(meta.primary_key());
    let columns: Vec<String> = meta
        .columns()
        .iter()
        .map(|c| record_identifier(c))
        .collect();
    let version_column = version.map(|v| record_identifier(v.column_name()));

    let mut selected = vec![pk.clone()];
    selected.extend(version_column.clone());
    selected.extend(columns.iter().cloned());
    selected.extend(meta.read_only_columns().iter().map(|c| quote_identifier(c)));
    let select = format!("SELECT {} FROM {table}", selected.join(", "));

    // INSERT: columns, then the version, then (with a chosen key) the key.
    let mut insert_columns = columns.clone();
    insert_columns.extend(version_column.clone());
    let placeholders = |count: usize| {
        (1..=count)
            .map(|i| format!("?{i}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    // A type with nothing but a key: `() VALUES ()` is not SQL.
    let insert = if insert_columns.is_empty() {
        format!("INSERT INTO {table} DEFAULT VALUES")
    } else {
        format!(
            "INSERT INTO {table} ({}) VALUES ({})",
            insert_columns.join(", "),
            placeholders(insert_columns.len())
        )
    };
    insert_columns.push(pk.clone());
    let insert_with_pk = format!(
        "INSERT INTO {table} ({}) VALUES ({})",
        insert_columns.join(", "),
        placeholders(insert_columns.len())
    );

    let updates = update_sql(meta, ColumnSet::All);
    let update_unchecked = updates.unchecked;
    let (update_checked, delete_checked, current_version) = match &version_column {
        Some(v) => (
            updates.checked,
            format!("DELETE FROM {table} WHERE {pk} = ?1 AND {v} = ?2"),
            format!("SELECT {v} FROM {table} WHERE {pk} = ?1"),
        ),
        None => (update_unchecked.clone(), String::new(), String::new()),
    };

    Ok(RecordSql {
        get: format!("{select} WHERE {pk} = ?1"),
        all: format!("{select} ORDER BY {pk}"),
        select,
        insert,
        insert_with_pk,
        update_checked,
        update_unchecked,
        delete_checked,
        delete_unchecked: format!("DELETE FROM {table} WHERE {pk} = ?1"),
        current_version,
        version_param: updates.version_param,
        checked_update_returns_version: updates.checked_returns,
    })
}

/// SQLite's spellings of a record type's `UPDATE`s: names bare unless
/// they are keywords, `?n` parameters, an unwritten column left out.
const DIALECT: shape::Dialect = shape::Dialect {
    quote: record_identifier,
    param: |n| format!("?{n}"),
    version_param: |n| format!("?{n}"),
    unwritten: None,
    greatest: "max",
    differs: "IS NOT",
    never: "0",
    read_version: "",
};

/// Builds the `UPDATE`s of a record type that write the data columns in
/// `written` (see [`shape::update_sql`]).
pub(crate) fn update_sql(meta: &TableShape, written: ColumnSet<'_>) -> UpdateSql {
    shape::update_sql(&DIALECT, meta, written)
}

/// The names of a table's columns; empty if the table does not exist.
pub(crate) const TABLE_COLUMNS: &str = "SELECT name FROM pragma_table_info(?1)";

/// Adds a version column to an existing table; existing rows start at 1.
pub(crate) fn add_version_column(table: &str, column: &str) -> String {
    format!(
        "ALTER TABLE {} ADD COLUMN {} INTEGER NOT NULL DEFAULT 1",
        quote_identifier(table),
        quote_identifier(column)
    )
}

/// The prefix of every version trigger's name.
const VERSION_TRIGGER_PREFIX: &str = "txmanager_version_";

/// The name of the version trigger for `table`'s `column`:
/// `txmanager_version_<table length>_<table>_<column>`. The length makes it
/// injective: `("a_b", "c")` and `("a", "b_c")` get different names.
pub(crate) fn version_trigger_name(table: &str, column: &str) -> String {
    format!("{VERSION_TRIGGER_PREFIX}{}_{table}_{column}", table.len())
}

/// The name and stored text of the version trigger older versions of
/// txmanager created (`txmanager_version_<table>_<column>`, keyed on
/// `rowid`), so it can be recognized exactly and replaced.
pub(crate) fn legacy_version_trigger(table: &str, column: &str) -> (String, String) {
    let name = format!("{VERSION_TRIGGER_PREFIX}{table}_{column}");
    let sql = trigger_text(&name, table, column, "rowid = NEW.rowid");
    (name, sql)
}

/// The version column of a trigger named by [`version_trigger_name`] (or
/// the legacy scheme) on `table`; `None` if the name is not one of ours.
pub(crate) fn version_trigger_column<'n>(name: &'n str, table: &str) -> Option<&'n str> {
    let rest = name.strip_prefix(VERSION_TRIGGER_PREFIX)?;
    let current = format!("{}_{table}_", table.len());
    let legacy = format!("{table}_");
    rest.strip_prefix(current.as_str())
        .or_else(|| rest.strip_prefix(legacy.as_str()))
        .filter(|column| !column.is_empty())
}

/// A trigger that bumps the version on every UPDATE that does not set it
/// itself, so writes from raw SQL and other programs bump it too.
/// `recursive_triggers` is off by default, so the trigger's own UPDATE does
/// not fire it again. The row is found by `key` (the primary key columns of
/// a `WITHOUT ROWID` table), or by `rowid` when `key` is empty. The text is
/// exactly what SQLite stores in `sqlite_schema.sql`, so a trigger found
/// there can be compared with it.
pub(crate) fn version_trigger(table: &str, column: &str, key: &[String]) -> String {
    let name = version_trigger_name(table, column);
    let row = if key.is_empty() {
        "rowid = NEW.rowid".to_owned()
    } else {
        key.iter()
            .map(|k| {
                let k = quote_identifier(k);
                format!("{k} = NEW.{k}")
            })
            .collect::<Vec<_>>()
            .join(" AND ")
    };
    trigger_text(&name, table, column, &row)
}

fn trigger_text(name: &str, table: &str, column: &str, row: &str) -> String {
    let trigger = quote_identifier(name);
    let table = quote_identifier(table);
    let column = quote_identifier(column);
    format!(
        "CREATE TRIGGER {trigger} AFTER UPDATE ON {table} FOR EACH ROW \
         WHEN NEW.{column} IS OLD.{column} \
         BEGIN UPDATE {table} SET {column} = OLD.{column} + 1 WHERE {row}; END"
    )
}

/// Drops a trigger by name.
pub(crate) fn drop_trigger(name: &str) -> String {
    format!("DROP TRIGGER IF EXISTS {}", quote_identifier(name))
}

/// The stored text of the trigger named `?1`, if there is one.
pub(crate) const TRIGGER_SQL: &str =
    "SELECT sql FROM sqlite_schema WHERE type = 'trigger' AND name = ?1";

/// Every trigger whose name starts like a version trigger's: name, table.
pub(crate) const VERSION_TRIGGERS: &str = "SELECT name, tbl_name FROM sqlite_schema \
     WHERE type = 'trigger' AND name LIKE 'txmanager\\_version\\_%' ESCAPE '\\' ORDER BY name";

/// The primary key columns of table `?1` if it is a `WITHOUT ROWID` table
/// (in key order); none for a rowid table, whose triggers use `rowid`.
pub(crate) const WITHOUT_ROWID_KEY: &str = "SELECT p.name FROM pragma_table_info(?1) AS p \
     WHERE p.pk > 0 AND EXISTS (SELECT 1 FROM pragma_table_list WHERE schema = 'main' \
     AND name = ?1 AND wr = 1) ORDER BY p.pk";

/// SQLite's keywords (<https://sqlite.org/lang_keywords.html>), upper case.
const KEYWORDS: [&str; 147] = [
    "ABORT",
    "ACTION",
    "ADD",
    "AFTER",
    "ALL",
    "ALTER",
    "ALWAYS",
    "ANALYZE",
    "AND",
    "AS",
    "ASC",
    "ATTACH",
    "AUTOINCREMENT",
    "BEFORE",
    "BEGIN",
    "BETWEEN",
    "BY",
    "CASCADE",
    "CASE",
    "CAST",
    "CHECK",
    "COLLATE",
    "COLUMN",
    "COMMIT",
    "CONFLICT",
    "CONSTRAINT",
    "CREATE",
    "CROSS",
    "CURRENT",
    "CURRENT_DATE",
    "CURRENT_TIME",
    "CURRENT_TIMESTAMP",
    "DATABASE",
    "DEFAULT",
    "DEFERRABLE",
    "DEFERRED",
    "DELETE",
    "DESC",
    "DETACH",
    "DISTINCT",
    "DO",
    "DROP",
    "EACH",
    "ELSE",
    "END",
    "ESCAPE",
    "EXCEPT",
    "EXCLUDE",
    "EXCLUSIVE",
    "EXISTS",
    "EXPLAIN",
    "FAIL",
    "FILTER",
    "FIRST",
    "FOLLOWING",
    "FOR",
    "FOREIGN",
    "FROM",
    "FULL",
    "GENERATED",
    "GLOB",
    "GROUP",
    "GROUPS",
    "HAVING",
    "IF",
    "IGNORE",
    "IMMEDIATE",
    "IN",
    "INDEX",
    "INDEXED",
    "INITIALLY",
    "INNER",
    "INSERT",
    "INSTEAD",
    "INTERSECT",
    "INTO",
    "IS",
    "ISNULL",
    "JOIN",
    "KEY",
    "LAST",
    "LEFT",
    "LIKE",
    "LIMIT",
    "MATCH",
    "MATERIALIZED",
    "NATURAL",
    "NO",
    "NOT",
    "NOTHING",
    "NOTNULL",
    "NULL",
    "NULLS",
    "OF",
    "OFFSET",
    "ON",
    "OR",
    "ORDER",
    "OTHERS",
    "OUTER",
    "OVER",
    "PARTITION",
    "PLAN",
    "PRAGMA",
    "PRECEDING",
    "PRIMARY",
    "QUERY",
    "RAISE",
    "RANGE",
    "RECURSIVE",
    "REFERENCES",
    "REGEXP",
    "REINDEX",
    "RELEASE",
    "RENAME",
    "REPLACE",
    "RESTRICT",
    "RETURNING",
    "RIGHT",
    "ROLLBACK",
    "ROW",
    "ROWS",
    "SAVEPOINT",
    "SELECT",
    "SET",
    "TABLE",
    "TEMP",
    "TEMPORARY",
    "THEN",
    "TIES",
    "TO",
    "TRANSACTION",
    "TRIGGER",
    "UNBOUNDED",
    "UNION",
    "UNIQUE",
    "UPDATE",
    "USING",
    "VACUUM",
    "VALUES",
    "VIEW",
    "VIRTUAL",
    "WHEN",
    "WHERE",
    "WINDOW",
    "WITH",
    "WITHOUT",
];

/// A validated name (see [`validate_identifier`]) as it goes into a record
/// type's SQL: bare unless it is an SQLite keyword, which is quoted. Quoting
/// every name made the SQL two bytes longer per name, and rusqlite hashes
/// and compares a statement's full text at every cached use: measured with
/// callgrind, about 18 instructions per column per save, enough to make
/// txmanager's advantage shrink as records grow wider. A validated name
/// needs no quoting otherwise: ASCII letters, digits and `_`, not starting
/// with a digit.
fn record_identifier(name: &str) -> String {
    if KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(name)) {
        quote_identifier(name)
    } else {
        name.to_owned()
    }
}

/// Quotes an identifier for SQLite: wraps it in double quotes and doubles any
/// double quote inside it.
pub(crate) fn quote_identifier(name: &str) -> String {
    let mut quoted = String::with_capacity(name.len() + 2);
    quoted.push('"');
    for c in name.chars() {
        if c == '"' {
            quoted.push('"');
        }
        quoted.push(c);
    }
    quoted.push('"');
    quoted
}

/// The SQLite statement path: statements run through rusqlite's statement
/// cache, the control gate refuses raw transaction control, and SQLite
/// itself says whether each one wrote.
impl Engine<Sqlite> {
    /// Runs one statement for a handle or the manager, keeping the books:
    /// refuses work on a broken manager, begins a lazily closed manual
    /// block, marks the block dirty when SQLite reports a changed row (even
    /// if the statement then failed, or its row mapper did) or a statement
    /// that is not read-only completed, and checks afterwards that the
    /// statement did not open or close a transaction behind our back.
    #[inline(always)]
    pub(crate) fn run_statement<R>(
        &self,
        sql: &str,
        op: impl FnOnce(&mut CachedStatement<'_>) -> rusqlite::Result<R>,
    ) -> Result<R, Error> {
        self.check_usable()?;
        self.refuse_own_control(sql)?;
        self.ensure_open()?;
        // Changes are counted only where they can make a block dirty: not
        // outside blocks, not in a block that is dirty already.
        let count = self.top_is_clean();
        let changes = if count { total_changes(&self.conn) } else { 0 };
        // A `match`, not `and_then`: the statement's put-back into
        // rusqlite's cache then inlines here, and its dead half (finalizing
        // placeholder statements) compiles away: 120 instructions per
        // statement (statements per block, docs/PERFORMANCE.md).
        let result = match self.conn.prepare_cached(sql) {
            Ok(mut stmt) => {
                // Nothing to learn without a clean block: treated as a
                // write, which marks nothing new.
                let readonly = count && stmt.readonly();
                // A row mapper that panics skips the accounting below, yet
                // the statement may have written (`UPDATE … RETURNING`
                // writes before its first row), and the caller may catch
                // the panic and carry on: account for it while unwinding.
                // Defused on every return.
                let unwinding = scopeguard::guard_on_unwind((), |()| {
                    if count && (!readonly || total_changes(&self.conn) != changes) {
                        self.mark_dirty();
                    }
                    self.expect_unwatched_sql();
                });
                let result = op(&mut stmt).map(|value| (value, readonly));
                scopeguard::ScopeGuard::into_inner(unwinding);
                drop(stmt);
                result
            }
            Err(err) => Err(err),
        };
        // A statement that is not read-only and succeeded marks the block
        // dirty whatever it changed: no need to count (a hot-path saving).
        let wrote =
            matches!(result, Ok((_, false))) || count && total_changes(&self.conn) != changes;
        let state = self.check_transaction_state(sql);
        match result {
            Ok((value, _)) => {
                if wrote {
                    self.mark_dirty();
                }
                state?;
                Ok(value)
            }
            Err(source) => {
                if wrote {
                    self.mark_dirty();
                }
                Err(self.statement_error(sql, source))
            }
        }
    }

    /// Prepares a statement for a handle or the manager. A statement that is
    /// not read-only marks the block dirty now, since txmanager cannot see
    /// when it runs.
    pub(crate) fn prepare_statement(&self, sql: &str) -> Result<CachedStatement<'_>, Error> {
        self.check_usable()?;
        self.refuse_own_control(sql)?;
        self.ensure_open()?;
        // The caller runs it when it likes, unseen by the checks.
        self.expect_unwatched_sql();
        let stmt = self
            .conn
            .prepare_cached(sql)
            .map_err(|source| self.statement_error(sql, source))?;
        if !stmt.readonly() {
            self.mark_dirty();
        }
        Ok(stmt)
    }

    /// Runs a batch of statements one by one. The block is dirty if SQLite
    /// reports a changed row, or a statement that is not read-only (DDL)
    /// completed, even when a later statement of the batch failed.
    pub(crate) fn run_batch(&self, sql: &str) -> Result<(), Error> {
        self.before_statement()?;
        let changes = total_changes(&self.conn);
        let (result, completed_write) = run_batch(&self.conn, sql);
        if completed_write || total_changes(&self.conn) != changes {
            self.mark_dirty();
        }
        let state = self.check_transaction_state(sql);
        result.map_err(|source| self.statement_error(sql, source))?;
        state
    }

    /// Refuses a user's statement spelled exactly like one of txmanager's
    /// own control statements: rusqlite's cache would hand it over already
    /// compiled, and the gate would not see it.
    #[inline]
    fn refuse_own_control(&self, sql: &str) -> Result<(), Error> {
        if may_be_own_control(sql) && is_own_control(sql) {
            return Err(own_control_refused(sql));
        }
        Ok(())
    }

    /// The error for a statement of the user's that failed: the gate's
    /// refusal of a transaction-control statement, or SQLite's own error.
    fn statement_error(&self, sql: &str, source: rusqlite::Error) -> Error {
        if source.sqlite_error_code() == Some(ErrorCode::AuthorizationForStatementDenied)
            && let Some(statement) = self.conn.gate.take_refusal()
        {
            return Error::TransactionControlRefused {
                statement,
                sql: sql.to_owned(),
            };
        }
        self.statement_failed(sql, source)
    }
}

/// The error for user SQL spelled like one of txmanager's own control
/// statements (see `refuse_own_control`).
#[cold]
#[inline(never)]
fn own_control_refused(sql: &str) -> Error {
    Error::TransactionControlRefused {
        statement: "txmanager's own control statement".to_owned(),
        sql: sql.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_control_statements_are_recognised_by_their_exact_text_and_nothing_else() {
        let (open, release, rollback_to) = Sqlite::savepoint_sql(12);
        let own = [
            COMMIT,
            ROLLBACK,
            begin(BeginMode::Deferred),
            begin(BeginMode::Immediate),
            begin(BeginMode::Exclusive),
            &open,
            &release,
            &rollback_to,
        ];
        for sql in own {
            assert!(may_be_own_control(sql) && is_own_control(sql), "{sql}");
            for padded in [
                format!("  {sql}\n"),
                format!("{sql}\u{b}"),
                format!("{sql}\u{3000}"),
            ] {
                assert!(
                    may_be_own_control(&padded) && is_own_control(&padded),
                    "rusqlite trims: {padded:?}"
                );
            }
        }
        for sql in [
            "COMMIT",
            "commit;",
            "BEGIN;",
            "SAVEPOINT txm_;",
            "SAVEPOINT txm_1x;",
            "RELEASE mine;",
            "INSERT INTO t VALUES (1);",
        ] {
            assert!(!(may_be_own_control(sql) && is_own_control(sql)), "{sql}");
        }
    }

    #[test]
    fn hot_control_statements_fit_the_statement_cache_s_short_hash() {
        for depth in 0..10 {
            let (open, release, _) = Sqlite::savepoint_sql(depth);
            assert!(open.len() <= 16 && release.len() <= 16, "{open} {release}");
        }
        for mode in [
            BeginMode::Deferred,
            BeginMode::Immediate,
            BeginMode::Exclusive,
        ] {
            assert!(begin(mode).len() <= 16, "{}", begin(mode));
        }
    }

    #[test]
    fn record_sql_quotes_only_names_that_are_keywords() {
        assert_eq!(record_identifier("qty"), "qty");
        assert_eq!(record_identifier("order"), "\"order\"");
        assert_eq!(record_identifier("Group"), "\"Group\"");
        let mut sorted = KEYWORDS;
        sorted.sort_unstable();
        assert_eq!(
            sorted, KEYWORDS,
            "the list is sorted, so a duplicate would show"
        );
    }

    #[test]
    fn quote_identifier_doubles_embedded_quotes() {
        assert_eq!(quote_identifier("plain"), "\"plain\"");
        assert_eq!(quote_identifier("a\"b"), "\"a\"\"b\"");
    }
}
