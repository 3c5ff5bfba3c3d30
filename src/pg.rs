//! The PostgreSQL backend (cargo feature `postgres`): [`Postgres`], its block
//! options ([`PgBlockOptions`], [`PgIsolation`]), and the statement API of
//! `TransactionManager<Postgres>` and `Transaction<'_, Postgres>`.
//!
//! Everything PostgreSQL-specific lives here: the control statements, the
//! prepared-statement cache, the refusal of raw transaction control, and what
//! counts as a write. The block engine is the same as SQLite's.
//!
//! How PostgreSQL differs from SQLite, and what the engine does about it:
//! - after any error inside a transaction PostgreSQL aborts it, and a later
//!   `COMMIT` "succeeds" while rolling everything back. So a failed statement
//!   poisons the innermost block: it can only roll back, and ending it with
//!   `Ok` (or calling `commit()`) fails with [`Error::BlockAborted`];
//! - no client sees the server's transaction status, so the engine tracks it,
//!   and transaction-control statements (`BEGIN`, `COMMIT`, `ROLLBACK`,
//!   `SAVEPOINT`, …) sent through txmanager are refused before they run, in a
//!   batch too ([`Error::TransactionControlRefused`]);
//! - there is no "read-only statement" flag: every statement that is not a
//!   known read (`SELECT`, `SHOW`, `VALUES`, `TABLE`, `EXPLAIN` without
//!   `ANALYZE`) counts as a write for dirty tracking; a manual block that
//!   ran a known read and no known write compares the server's count of
//!   rows written by the transaction before that read and at its end.
//!
//! `docs/postgresql.md` covers isolation levels, retries, and the
//! PostgreSQL-compatible distributed engines.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use postgres::types::{ToSql, Type};
use postgres::{Client, NoTls, Row, Statement};

use crate::backend::Backend;
use crate::block::Engine;
use crate::control::TransactionControl;
use crate::error::DatabaseError;
use crate::store::RecordBackend;
use crate::{Error, Transaction, TransactionManager};

mod records;

/// The PostgreSQL backend, on the sync [`postgres`] client: the type
/// parameter of `TransactionManager<Postgres>`.
///
/// # Example
///
/// ```
/// use txmanager::{Postgres, TransactionManager};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let url = std::env::var("TXMANAGER_PG_URL").expect("TXMANAGER_PG_URL: run through scripts/with-postgres.sh");
/// let mut tm: TransactionManager<Postgres> = TransactionManager::connect(&url)?;
/// tm.execute_batch("CREATE TEMP TABLE reporter (id BIGSERIAL PRIMARY KEY, name TEXT NOT NULL)")?;
/// tm.commit_on_success(|tx| {
///     tx.execute("INSERT INTO reporter (name) VALUES ($1)", &[&"Alice"])?;
///     tx.execute("INSERT INTO reporter (name) VALUES ($1)", &[&"Ben"])?;
///     Ok::<_, txmanager::Error>(())
/// })?;
/// let n: i64 = tm.query_one("SELECT count(*) FROM reporter", &[])?.get(0);
/// assert_eq!(n, 2);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Postgres;

/// A transaction isolation level for a PostgreSQL block.
///
/// Under `ReadCommitted` a stale versioned `UPDATE … WHERE version = $n`
/// matches no row (a `RecordModified` conflict); under `RepeatableRead` and
/// `Serializable` a concurrent update fails with SQLSTATE 40001, which the
/// retry helper retries from the outermost block.
///
/// # Example
///
/// ```
/// use txmanager::{PgIsolation, PgBlockOptions};
///
/// let options = PgBlockOptions::default().with_isolation(PgIsolation::Serializable);
/// assert_eq!(options.isolation(), Some(PgIsolation::Serializable));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PgIsolation {
    /// `READ COMMITTED`, PostgreSQL's own default.
    ReadCommitted,
    /// `REPEATABLE READ`: one snapshot for the whole transaction.
    RepeatableRead,
    /// `SERIALIZABLE`: as if the transactions ran one at a time.
    Serializable,
}

/// How an outermost PostgreSQL block begins: its isolation level, and
/// whether it is read-only and deferrable. The default is a plain `BEGIN`,
/// which uses the server's defaults.
///
/// Pass it to [`TransactionManager::commit_on_success_with`] for one block,
/// or [`TransactionManager::set_block_options`] for every later block.
///
/// # Example
///
/// ```
/// use txmanager::{PgIsolation, PgBlockOptions, Postgres, TransactionManager};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let url = std::env::var("TXMANAGER_PG_URL").expect("TXMANAGER_PG_URL: run through scripts/with-postgres.sh");
/// let mut tm = TransactionManager::<Postgres>::connect(&url)?;
/// let report = PgBlockOptions::default()
///     .with_isolation(PgIsolation::Serializable)
///     .with_read_only(true)
///     .with_deferrable(true);
/// let level: String = tm.commit_on_success_with(report, |tx| {
///     Ok::<_, txmanager::Error>(tx.query_one("SHOW transaction_isolation", &[])?.get(0))
/// })?;
/// assert_eq!(level, "serializable");
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct PgBlockOptions {
    isolation: Option<PgIsolation>,
    read_only: bool,
    deferrable: bool,
}

impl PgBlockOptions {
    /// These options at `level`.
    ///
    /// ```
    /// use txmanager::{PgIsolation, PgBlockOptions};
    /// let o = PgBlockOptions::default().with_isolation(PgIsolation::RepeatableRead);
    /// assert_eq!(o.isolation(), Some(PgIsolation::RepeatableRead));
    /// ```
    #[must_use]
    pub fn with_isolation(mut self, level: PgIsolation) -> Self {
        self.isolation = Some(level);
        self
    }

    /// These options, read-only (`READ ONLY`) or not.
    ///
    /// ```
    /// assert!(txmanager::PgBlockOptions::default().with_read_only(true).read_only());
    /// ```
    #[must_use]
    pub fn with_read_only(mut self, read_only: bool) -> Self {
        self.read_only = read_only;
        self
    }

    /// These options, `DEFERRABLE` or not (it matters only for a
    /// serializable read-only block, which then waits for a safe snapshot
    /// and never fails with 40001).
    ///
    /// ```
    /// assert!(txmanager::PgBlockOptions::default().with_deferrable(true).deferrable());
    /// ```
    #[must_use]
    pub fn with_deferrable(mut self, deferrable: bool) -> Self {
        self.deferrable = deferrable;
        self
    }

    /// The isolation level, or `None` for the server's default.
    ///
    /// ```
    /// assert_eq!(txmanager::PgBlockOptions::default().isolation(), None);
    /// ```
    #[must_use]
    pub fn isolation(&self) -> Option<PgIsolation> {
        self.isolation
    }

    /// Whether the block is read-only.
    ///
    /// ```
    /// assert!(!txmanager::PgBlockOptions::default().read_only());
    /// ```
    #[must_use]
    pub fn read_only(&self) -> bool {
        self.read_only
    }

    /// Whether the block is deferrable.
    ///
    /// ```
    /// assert!(!txmanager::PgBlockOptions::default().deferrable());
    /// ```
    #[must_use]
    pub fn deferrable(&self) -> bool {
        self.deferrable
    }
}

/// Every `BEGIN` a block can send, indexed by isolation (none, read
/// committed, repeatable read, serializable) × read only × deferrable.
const BEGIN: [&str; 16] = [
    "BEGIN",
    "BEGIN DEFERRABLE",
    "BEGIN READ ONLY",
    "BEGIN READ ONLY, DEFERRABLE",
    "BEGIN ISOLATION LEVEL READ COMMITTED",
    "BEGIN ISOLATION LEVEL READ COMMITTED, DEFERRABLE",
    "BEGIN ISOLATION LEVEL READ COMMITTED, READ ONLY",
    "BEGIN ISOLATION LEVEL READ COMMITTED, READ ONLY, DEFERRABLE",
    "BEGIN ISOLATION LEVEL REPEATABLE READ",
    "BEGIN ISOLATION LEVEL REPEATABLE READ, DEFERRABLE",
    "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY",
    "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY, DEFERRABLE",
    "BEGIN ISOLATION LEVEL SERIALIZABLE",
    "BEGIN ISOLATION LEVEL SERIALIZABLE, DEFERRABLE",
    "BEGIN ISOLATION LEVEL SERIALIZABLE, READ ONLY",
    "BEGIN ISOLATION LEVEL SERIALIZABLE, READ ONLY, DEFERRABLE",
];

/// How many prepared statements a connection keeps. When it is full, the
/// one used least recently is closed to make room (an LRU), so a program's
/// hot statements stay prepared however many one-off texts it also runs.
const STATEMENT_CACHE_CAPACITY: usize = 256;

/// A prepared statement, with what txmanager knows about its SQL text (found
/// by one scan when it was prepared, never again).
struct CachedStatement {
    statement: Statement,
    /// Every statement of the text is a known read ([`SqlFacts::read_only`]).
    /// Texts that control the transaction are refused and never cached.
    read_only: bool,
    /// When it was last used, on the cache's clock.
    last_used: u64,
}

/// The prepared statements of one connection, by SQL text, the least
/// recently used evicted first.
#[derive(Default)]
struct StatementCache {
    by_sql: HashMap<String, CachedStatement>,
    /// Counts uses; an entry's `last_used` is the count at its last use.
    clock: u64,
}

impl StatementCache {
    /// The statement cached for `sql`, marked as used now, with whether
    /// it is a known read.
    fn get(&mut self, sql: &str) -> Option<(Statement, bool)> {
        self.clock += 1;
        let entry = self.by_sql.get_mut(sql)?;
        entry.last_used = self.clock;
        // A `Statement` is an `Arc`: the clone is cheap.
        Some((entry.statement.clone(), entry.read_only))
    }

    /// Caches `statement` for `sql`, first evicting the least recently used
    /// statement when the cache is full (an O(n) scan, only on a miss of a
    /// full cache).
    fn insert(&mut self, sql: &str, statement: Statement, read_only: bool) -> &Statement {
        if self.by_sql.len() >= STATEMENT_CACHE_CAPACITY
            && let Some(oldest) = self
                .by_sql
                .iter()
                .min_by_key(|(_, entry)| entry.last_used)
                .map(|(text, _)| text.clone())
        {
            // Dropping the statement closes it on the server.
            self.by_sql.remove(&oldest);
        }
        let entry = CachedStatement {
            statement,
            read_only,
            last_used: self.clock,
        };
        &self
            .by_sql
            .entry(sql.to_owned())
            .insert_entry(entry)
            .into_mut()
            .statement
    }

    /// Forgets what a failed statement says is stale: every statement after
    /// 26000 (the server knows no such prepared statement: `DISCARD ALL` or
    /// `DEALLOCATE ALL` ran, so none of them exists any more), this one
    /// after "cached plan must not change result type" (DDL changed a table
    /// it reads). Returns whether it forgot anything.
    fn forget_stale(&mut self, sql: &str, error: &postgres::Error) -> bool {
        match error.code().map(postgres::error::SqlState::code) {
            Some("26000") => {
                self.by_sql.clear();
                true
            }
            Some("0A000") if is_stale_plan(error) => self.by_sql.remove(sql).is_some(),
            _ => false,
        }
    }
}

/// Whether a 0A000 (`feature_not_supported`) error is the server refusing a
/// prepared statement whose plan DDL made stale, raised by
/// `RevalidateCachedQuery` ("cached plan must not change result type").
/// Every other 0A000 (an unsupported feature, a subquery where none is
/// allowed) is an ordinary error of the statement: running it again would
/// repeat its side effects (`nextval`, a function's `NOTIFY`).
fn is_stale_plan(error: &postgres::Error) -> bool {
    error.as_db_error().is_some_and(|db| {
        db.routine() == Some("RevalidateCachedQuery")
            || db.message() == "cached plan must not change result type"
    })
}

/// A PostgreSQL client with txmanager's prepared-statement cache: what a
/// `TransactionManager<Postgres>` owns.
pub(crate) struct PgConnection {
    client: RefCell<Client>,
    statements: RefCell<StatementCache>,
    /// Set by the client's notice callback (installed by `connect`) when the
    /// server warns "there is already a transaction in progress" (25001):
    /// after txmanager's own `BEGIN`, a transaction was open underneath.
    already_in_transaction: Arc<AtomicBool>,
    /// What the counts of rows written (`Postgres::rows_written`) learned
    /// in the open transaction; forgotten at its `BEGIN`, `COMMIT` or
    /// `ROLLBACK`.
    rows_written: RefCell<WrittenRows>,
}

/// What `Postgres::rows_written` learned of the open transaction.
#[derive(Debug, Default)]
struct WrittenRows {
    /// The count taken in the open transaction while it had no
    /// transaction id: the counts of the session's earlier transactions
    /// that the server has not flushed yet, which stay as they are until
    /// this transaction ends. `None` until such a count.
    before_first_write: Option<i64>,
    /// Each relation with rows written in the counts, by oid, with its
    /// count when last counted. A relation that left `pg_class` since
    /// (dropped by this transaction, or by another session when its rows
    /// are from an earlier transaction of this one) keeps its last count:
    /// its rows were written all the same, and taking them out of the sum
    /// could cancel a write made since (review 4, finding 1).
    by_relation: Vec<(u32, i64)>,
    /// The counts could not tell at some count of this transaction:
    /// `track_counts` was off (the server counted nothing), or a
    /// relation's count fell (a `TRUNCATE` forgets the rows its
    /// transaction level wrote to the table).
    untrusted: bool,
}

impl WrittenRows {
    /// Takes in a scan: the relations in `pg_class` with rows written, and
    /// those counted before that are still there; returns the sum.
    fn update(&mut self, counting: bool, scanned: impl Iterator<Item = (u32, i64)>) -> i64 {
        self.untrusted |= !counting;
        for (oid, rows) in scanned {
            match self
                .by_relation
                .binary_search_by_key(&oid, |&(kept, _)| kept)
            {
                Ok(i) => {
                    self.untrusted |= rows < self.by_relation[i].1;
                    self.by_relation[i].1 = rows;
                }
                Err(i) => self.by_relation.insert(i, (oid, rows)),
            }
        }
        self.by_relation.iter().map(|&(_, rows)| rows).sum()
    }
}

impl fmt::Debug for PgConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgConnection")
            // `try_borrow`: `Debug` may be called while a statement runs.
            .field(
                "cached_statements",
                &self.statements.try_borrow().map(|cache| cache.by_sql.len()),
            )
            .finish_non_exhaustive()
    }
}

impl PgConnection {
    fn new(client: Client, already_in_transaction: Arc<AtomicBool>) -> Self {
        PgConnection {
            client: RefCell::new(client),
            statements: RefCell::new(StatementCache::default()),
            already_in_transaction,
            rows_written: RefCell::new(WrittenRows::default()),
        }
    }
}

/// The notice callback `connect` installs: it notes the server's warning
/// that a `BEGIN` found a transaction already open (25001), and passes every
/// other notice to tracing (feature `tracing`; the `postgres` client's own
/// default logs them through `log`).
fn watch_notices(
    already_in_transaction: Arc<AtomicBool>,
) -> impl Fn(postgres::error::DbError) + Send + Sync + 'static {
    move |notice| {
        if notice.code().code() == "25001" {
            already_in_transaction.store(true, Ordering::SeqCst);
        }
        crate::trace::server_notice(notice.severity(), notice.code().code(), notice.message());
    }
}

impl Backend for Postgres {
    type BlockOptions = PgBlockOptions;
}

impl RecordBackend for Postgres {
    type Records = records::PgRecords;
}

impl TransactionControl for Postgres {
    type Connection = PgConnection;
    type BeginOptions = PgBlockOptions;

    const ERROR_ABORTS_TRANSACTION: bool = true;

    fn run_control(conn: &PgConnection, sql: &str) -> Result<(), DatabaseError> {
        // A warning left over from an earlier statement is not this one's.
        conn.already_in_transaction.store(false, Ordering::SeqCst);
        // Only the savepoint statements (`savepoint_sql`) stay inside the
        // transaction whose count without writes is known.
        if !["SAVEPOINT ", "RELEASE ", "ROLLBACK TO "]
            .iter()
            .any(|savepoint| sql.starts_with(savepoint))
        {
            conn.rows_written.take();
        }
        // The simple query protocol: one round trip, no statement to prepare.
        conn.client
            .borrow_mut()
            .batch_execute(sql)
            .map_err(DatabaseError::from)
    }

    fn begin_sql(options: PgBlockOptions) -> &'static str {
        let isolation = match options.isolation {
            None => 0,
            Some(PgIsolation::ReadCommitted) => 1,
            Some(PgIsolation::RepeatableRead) => 2,
            Some(PgIsolation::Serializable) => 3,
        };
        BEGIN[isolation * 4 + usize::from(options.read_only) * 2 + usize::from(options.deferrable)]
    }

    fn commit_sql() -> &'static str {
        "COMMIT"
    }

    fn rollback_sql() -> &'static str {
        "ROLLBACK"
    }

    /// `COMMIT`, guarded: PostgreSQL answers the `COMMIT` of an aborted
    /// transaction with a `ROLLBACK` tag and no error, and the `COMMIT` of
    /// a transaction that is not open with a mere warning. The `SAVEPOINT`
    /// sent first, in the same round trip, fails in both cases (25P02,
    /// 25P01), so such a commit is never reported as `Ok`, even when the
    /// engine missed the abort or the end. The transaction the failed guard
    /// leaves open is rolled back.
    fn commit(conn: &PgConnection) -> Result<(), DatabaseError> {
        conn.rows_written.take();
        let mut client = conn.client.borrow_mut();
        match client.batch_execute("SAVEPOINT txmanager_commit_guard; COMMIT") {
            Ok(()) => Ok(()),
            Err(e) => {
                let source = DatabaseError::from(e);
                if source.is_from_server() {
                    let _ = client.batch_execute("ROLLBACK");
                }
                Err(source)
            }
        }
    }

    /// The rows this backend's transaction inserted, updated and deleted,
    /// over every table, from the counters of `pg_stat_xact_all_tables`
    /// (the same functions, without the view's joins). The server updates
    /// them as each row is written, in the backend itself: a function's
    /// writes count, and so do those of savepoints rolled back; row locks
    /// do not. They include counts not yet flushed from the session's
    /// earlier transactions, and are flushed only between transactions, so
    /// within one transaction only a difference means anything.
    ///
    /// Only heap relations are summed (tables, partitions, materialized
    /// views: relkind `r`, `m`): a toast table's rows are written only with
    /// a row of their table, which is counted already, and a partitioned
    /// table (`p`) stores no rows (its partitions are `r`).
    ///
    /// The sum is a scan of `pg_class`, whose cost grows with the tables in
    /// the whole database, so it is gated on the transaction id: until the
    /// transaction (or any of its subtransactions) writes a row it has
    /// none, and its count is the same as at any earlier moment in it. So
    /// the first count while it has no id scans and is kept
    /// (`WrittenRows::before_first_write`, passed as `$1`); every
    /// later count while it still has none returns `$1` without scanning.
    /// Once it has an id (a row written, or locked: `FOR UPDATE` assigns
    /// one too) every count scans, as exact as before. Returns whether the
    /// transaction had no id, and the count.
    /// `pg_current_xact_id_if_assigned()` needs PostgreSQL 13.
    ///
    /// The scan returns each relation's count, not only their sum: a
    /// relation that left `pg_class` (another session's `DROP TABLE` is
    /// visible at once under READ COMMITTED) would take its counts out of
    /// the sum and could cancel a write (see `WrittenRows::by_relation`).
    /// It also says whether `track_counts` is on: when it is off the
    /// server counts nothing, so once the transaction has an id the count
    /// cannot tell (`None`). Every name is qualified with `pg_catalog.`
    /// (operators and types too), so that no `search_path` can shadow it.
    const ROWS_WRITTEN_SQL: &'static str = "SELECT \
        pg_catalog.pg_current_xact_id_if_assigned() IS NULL, \
        pg_catalog.current_setting('track_counts') OPERATOR(pg_catalog.=) 'on', \
        pg_catalog.array_agg(c.oid), pg_catalog.array_agg(c.n) \
        FROM (SELECT r.oid, pg_catalog.int8pl(pg_catalog.int8pl(\
        pg_catalog.pg_stat_get_xact_tuples_inserted(r.oid), \
        pg_catalog.pg_stat_get_xact_tuples_updated(r.oid)), \
        pg_catalog.pg_stat_get_xact_tuples_deleted(r.oid)) AS n \
        FROM pg_catalog.pg_class r \
        WHERE (r.relkind OPERATOR(pg_catalog.=) 'r' OR r.relkind OPERATOR(pg_catalog.=) 'm') \
        AND NOT (pg_catalog.pg_current_xact_id_if_assigned() IS NULL \
        AND $1::pg_catalog.int8 IS NOT NULL)) c \
        WHERE c.n OPERATOR(pg_catalog.<>) 0 \
        OR c.oid OPERATOR(pg_catalog.=) ANY ($2::pg_catalog.oid[])";

    /// One round trip, prepared once in the connection's statement cache
    /// (parsing and planning it cost more than running it without a
    /// scan). A stale statement fails like any cached one inside a
    /// transaction (the count fails, and its block can only roll back),
    /// and is forgotten, so the next count prepares it afresh.
    fn rows_written(conn: &PgConnection) -> Result<Option<i64>, DatabaseError> {
        let sql = Self::ROWS_WRITTEN_SQL;
        let cached = conn.statements.borrow_mut().get(sql);
        let statement = match cached {
            Some((statement, _)) => statement,
            None => {
                let statement = conn
                    .client
                    .borrow_mut()
                    .prepare_typed(sql, &[Type::INT8, Type::OID_ARRAY])?;
                conn.statements
                    .borrow_mut()
                    .insert(sql, statement, true)
                    .clone()
            }
        };
        let (known, kept): (Option<i64>, Vec<u32>) = {
            let written = conn.rows_written.borrow();
            let kept = written.by_relation.iter().map(|&(oid, _)| oid).collect();
            (written.before_first_write, kept)
        };
        let counted = conn
            .client
            .borrow_mut()
            .query_one(&statement, &[&known, &kept]);
        let row = counted.inspect_err(|e| {
            conn.statements.borrow_mut().forget_stale(sql, e);
        })?;
        let no_transaction_id: bool = row.try_get(0)?;
        if no_transaction_id && let Some(rows) = known {
            return Ok(Some(rows));
        }
        let counting: bool = row.try_get(1)?;
        let relations: Option<Vec<u32>> = row.try_get(2)?;
        let counts: Option<Vec<i64>> = row.try_get(3)?;
        let mut written = conn.rows_written.borrow_mut();
        let rows = written.update(
            counting,
            relations
                .unwrap_or_default()
                .into_iter()
                .zip(counts.unwrap_or_default()),
        );
        if no_transaction_id {
            written.before_first_write = Some(rows);
        }
        // Without a transaction id the transaction wrote nothing: the
        // count is exact whatever the server counts.
        Ok((no_transaction_id || !written.untrusted).then_some(rows))
    }

    /// 26000 (the server knows no such prepared statement: `DISCARD ALL`),
    /// or the 0A000 of a plan DDL made stale; see `forget_stale`.
    fn is_stale_statement(error: &DatabaseError) -> bool {
        match error {
            DatabaseError::Postgres(e) => match e.code().map(postgres::error::SqlState::code) {
                Some("26000") => true,
                Some("0A000") => is_stale_plan(e),
                _ => false,
            },
            DatabaseError::Sqlite(_) => false,
        }
    }

    fn savepoint_sql(depth: usize) -> (String, String, String) {
        let name = format!("\"txmanager_sp_{depth}\"");
        (
            format!("SAVEPOINT {name}"),
            format!("RELEASE SAVEPOINT {name}"),
            format!("ROLLBACK TO SAVEPOINT {name}"),
        )
    }

    /// Whether the server warned that the `BEGIN` just sent found a
    /// transaction already open (25001): the `BEGIN` did nothing, and the
    /// block would run inside that transaction and commit its work too.
    /// Known only on a manager from `connect`, whose client reports notices
    /// to txmanager; always `false` on one from `from_client`.
    fn begin_found_transaction_open(conn: &PgConnection) -> bool {
        conn.already_in_transaction.swap(false, Ordering::SeqCst)
    }

    fn in_transaction(_conn: &PgConnection) -> Option<bool> {
        None
    }

    /// Forgets the prepared statements (the engine's reset has already sent
    /// its one `ROLLBACK`, whatever it believed was open).
    fn reset_connection(conn: &mut PgConnection) -> Result<(), Error> {
        conn.statements.get_mut().by_sql.clear();
        conn.rows_written.take();
        Ok(())
    }
}

/// The keywords that control a transaction. Sent through txmanager, they
/// would end or restart the block's transaction behind the engine's back.
const CONTROL_KEYWORDS: [&str; 9] = [
    "BEGIN",
    "START",
    "COMMIT",
    "END",
    "ROLLBACK",
    "ABORT",
    "SAVEPOINT",
    "RELEASE",
    "PREPARE",
];

/// The first keyword of each statement in `sql`, skipping whitespace,
/// comments (block comments nest, as PostgreSQL nests them), and the
/// contents of quoted strings (`'…'`, `E'…'` with backslash escapes,
/// `U&'…'`), quoted identifiers and dollar-quoted bodies (`$tag$…$tag$`).
/// Identifiers are read whole, so a `$` inside one (`a$b$`) never opens a
/// dollar quote.
fn for_each_statement_keyword<'a>(sql: &'a str, mut keyword: impl FnMut(&'a str)) {
    let bytes = sql.as_bytes();
    let mut at_start = true;
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        match c {
            b';' => {
                at_start = true;
                i += 1;
            }
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                i = sql[i..].find('\n').map_or(bytes.len(), |n| i + n + 1);
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => i = block_comment_end(bytes, i),
            b'\'' | b'"' => {
                at_start = false;
                i = quoted_end(bytes, i, false);
            }
            b'$' => {
                at_start = false;
                i = dollar_quote_end(sql, i).unwrap_or(i + 1);
            }
            c if c.is_ascii_whitespace() => i += 1,
            c if c.is_ascii_alphabetic() || c == b'_' || c >= 0x80 => {
                // A whole word: a keyword or identifier ($ may follow its
                // first character), or the prefix of an E'…' string.
                let end = sql[i..]
                    .find(|ch: char| {
                        !(ch.is_alphanumeric() || ch == '_' || ch == '$' || !ch.is_ascii())
                    })
                    .map_or(bytes.len(), |n| i + n);
                let word = &sql[i..end];
                if at_start {
                    keyword(word);
                }
                at_start = false;
                i = if word.eq_ignore_ascii_case("e") && bytes.get(end) == Some(&b'\'') {
                    quoted_end(bytes, end, true)
                } else {
                    end
                };
            }
            _ => {
                at_start = false;
                i += 1;
            }
        }
    }
}

/// The index after the block comment that starts at `start` (`/*`), counting
/// nested comments as PostgreSQL does; the end of `bytes` if it never closes.
fn block_comment_end(bytes: &[u8], start: usize) -> usize {
    let mut depth = 0usize;
    let mut i = start;
    while i + 1 < bytes.len() {
        match (bytes[i], bytes[i + 1]) {
            (b'/', b'*') => {
                depth += 1;
                i += 2;
            }
            (b'*', b'/') => {
                depth -= 1;
                i += 2;
                if depth == 0 {
                    return i;
                }
            }
            _ => i += 1,
        }
    }
    bytes.len()
}

/// The index after the quoted string or identifier whose opening quote is at
/// `start`. A doubled quote stays inside; with `backslash_escapes` (an
/// `E'…'` string) so does a quote after a backslash.
fn quoted_end(bytes: &[u8], start: usize, backslash_escapes: bool) -> usize {
    let quote = bytes[start];
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if backslash_escapes => i += 2,
            b if b == quote => {
                if bytes.get(i + 1) == Some(&quote) {
                    i += 2;
                } else {
                    return i + 1;
                }
            }
            _ => i += 1,
        }
    }
    bytes.len()
}

/// The index after the dollar-quoted body that starts at `start`
/// (`$tag$ … $tag$`), or `None` when the `$` opens no dollar quote (a
/// parameter such as `$1`).
fn dollar_quote_end(sql: &str, start: usize) -> Option<usize> {
    let bytes = sql.as_bytes();
    let end = sql[start + 1..]
        .find(|ch: char| !(ch.is_alphanumeric() || ch == '_' || !ch.is_ascii()))
        .map(|n| start + 1 + n)?;
    if bytes[end] != b'$'
        || bytes[start + 1..end]
            .first()
            .is_some_and(u8::is_ascii_digit)
    {
        return None;
    }
    let tag = &sql[start..=end];
    Some(
        sql[end + 1..]
            .find(tag)
            .map_or(bytes.len(), |n| end + 1 + n + tag.len()),
    )
}

/// What txmanager needs to know about an SQL text before it runs, found in
/// one scan without allocating: for a cached statement, once per connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct SqlFacts {
    /// The transaction-control keyword that starts one of its statements
    /// (in capitals), if any: such a text is refused.
    control: Option<&'static str>,
    /// Whether every statement is a known read (`SELECT`, `SHOW`, `VALUES`,
    /// `TABLE`, or one `EXPLAIN` without `ANALYZE`/`ANALYSE`, which would
    /// run its statement: see `explain_may_run`). `WITH` may hide a data-modifying statement, so it counts
    /// as a write.
    read_only: bool,
}

#[cfg(test)]
thread_local! {
    /// How many texts this thread scanned, for the tests that check that a
    /// cached statement is not scanned again.
    static SCANS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Whether an `EXPLAIN` text may run its statement: it holds `ANALYZE` or
/// `ANALYSE` (PostgreSQL accepts both spellings, bare or among the options
/// in parentheses, in any case) anywhere, or a Unicode-escaped identifier
/// (`U&"…"`) that could spell either. Anywhere, comments and literals
/// included: a false "may run" only costs a `PendingCommitRollback`.
fn explain_may_run(sql: &str) -> bool {
    may_name(sql, &[b"ANALYZE", b"ANALYSE"])
}

/// Whether a read may send a notification (`SELECT pg_notify(..)`, or a
/// name spelt with Unicode escapes): a side effect no row count shows,
/// which a manual block ending without `commit()` would drop silently, so
/// such a read counts as a write. A function that calls `pg_notify` itself
/// is not seen (docs/postgresql.md, "Dirty tracking").
fn may_notify(sql: &str) -> bool {
    may_name(sql, &[b"PG_NOTIFY"])
}

/// Whether `sql` may name one of `words` (each the same length, upper
/// case): it holds one anywhere, in any case, or a Unicode-escaped
/// identifier (`U&"…"`) that could spell it. The scan behind
/// `explain_may_run` and `may_notify`, run once per statement text.
fn may_name(sql: &str, words: &[&[u8]]) -> bool {
    let bytes = sql.as_bytes();
    words.iter().any(|word| {
        bytes
            .windows(word.len())
            .any(|w| w.eq_ignore_ascii_case(word))
    }) || bytes.windows(2).any(|w| w.eq_ignore_ascii_case(b"U&"))
}

impl SqlFacts {
    fn of(sql: &str) -> SqlFacts {
        #[cfg(test)]
        SCANS.with(|n| n.set(n.get() + 1));
        let mut control = None;
        let mut statements = 0usize;
        let mut all_reads = true;
        let mut explain = false;
        for_each_statement_keyword(sql, |keyword| {
            statements += 1;
            if control.is_none() {
                control = CONTROL_KEYWORDS
                    .iter()
                    .find(|c| c.eq_ignore_ascii_case(keyword))
                    .copied();
            }
            all_reads &= ["SELECT", "SHOW", "VALUES", "TABLE"]
                .iter()
                .any(|r| r.eq_ignore_ascii_case(keyword));
            explain = statements == 1 && keyword.eq_ignore_ascii_case("EXPLAIN");
        });
        let read_only =
            statements > 0 && (all_reads || explain && !explain_may_run(sql)) && !may_notify(sql);
        SqlFacts { control, read_only }
    }

    /// Refuses a text that would control the transaction itself.
    fn refuse_control(self, sql: &str) -> Result<Self, Error> {
        match self.control {
            Some(statement) => Err(Error::TransactionControlRefused {
                statement: statement.to_owned(),
                sql: sql.to_owned(),
            }),
            None => Ok(self),
        }
    }
}

/// The PostgreSQL statement path, shared by the manager and the handle.
impl TransactionManager<Postgres> {
    /// Connects to the server at `params` (a URL such as
    /// `postgresql://user@host:5432/db`, or `host=… user=…`) without TLS.
    /// Outermost blocks begin with a plain `BEGIN` (the server's defaults).
    /// The client's notice callback is txmanager's: a block whose `BEGIN`
    /// the server answers with "there is already a transaction in progress"
    /// rolls that transaction back and fails with
    /// [`Error::TransactionOpenedUnderneath`]; other notices go to tracing
    /// (feature `tracing`).
    ///
    /// # Errors
    ///
    /// [`Error::Postgres`] if the connection fails.
    ///
    /// # Example
    ///
    /// ```
    /// use txmanager::{Postgres, TransactionManager};
    /// # fn main() -> Result<(), txmanager::Error> {
    /// # let url = std::env::var("TXMANAGER_PG_URL").expect("TXMANAGER_PG_URL: run through scripts/with-postgres.sh");
    /// let tm = TransactionManager::<Postgres>::connect(&url)?;
    /// assert!(!tm.is_broken());
    /// # Ok(())
    /// # }
    /// ```
    pub fn connect(params: &str) -> Result<Self, Error> {
        let already_in_transaction = Arc::new(AtomicBool::new(false));
        let client = params
            .parse::<postgres::Config>()?
            .notice_callback(watch_notices(Arc::clone(&already_in_transaction)))
            .connect(NoTls)?;
        Self::from_client_watched(client, already_in_transaction)
    }

    /// Wraps a client you connected yourself (with TLS, or a custom
    /// configuration). It must not be inside a transaction.
    ///
    /// # Errors
    ///
    /// [`Error::TransactionOpenedUnderneath`] if the client is inside a
    /// transaction (its work is rolled back, never committed by the first
    /// block); [`Error::Postgres`] if the server cannot be asked.
    ///
    /// # Example
    ///
    /// ```
    /// use txmanager::{Postgres, TransactionManager};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let url = std::env::var("TXMANAGER_PG_URL").expect("TXMANAGER_PG_URL: run through scripts/with-postgres.sh");
    /// let client = postgres::Client::connect(&url, postgres::NoTls)?;
    /// let tm = TransactionManager::<Postgres>::from_client(client)?;
    /// let one: i32 = tm.query_one("SELECT 1", &[])?.get(0);
    /// assert_eq!(one, 1);
    /// # Ok(())
    /// # }
    /// ```
    pub fn from_client(client: Client) -> Result<Self, Error> {
        Self::from_client_watched(client, Arc::new(AtomicBool::new(false)))
    }

    /// [`from_client`](Self::from_client), for a client whose notice
    /// callback sets `already_in_transaction` ([`watch_notices`]).
    fn from_client_watched(
        mut client: Client,
        already_in_transaction: Arc<AtomicBool>,
    ) -> Result<Self, Error> {
        if in_transaction_block(&mut client)? {
            client.batch_execute("ROLLBACK")?;
            return Err(Error::TransactionOpenedUnderneath { statement: None });
        }
        Ok(Self::from_connection(
            PgConnection::new(client, already_in_transaction),
            PgBlockOptions::default(),
        ))
    }

    /// Runs one statement in the default autocommit mode. Returns the number
    /// of rows changed.
    ///
    /// # Errors
    ///
    /// [`Error::Statement`] with the SQL if the server rejects it;
    /// [`Error::TransactionControlRefused`] for `BEGIN`, `COMMIT`,
    /// `ROLLBACK`, savepoint SQL and the like (refused before it runs);
    /// [`Error::Broken`] on a broken manager or a lost connection.
    ///
    /// # Example
    ///
    /// ```
    /// # use txmanager::{Postgres, TransactionManager};
    /// # fn main() -> Result<(), txmanager::Error> {
    /// # let url = std::env::var("TXMANAGER_PG_URL").expect("TXMANAGER_PG_URL: run through scripts/with-postgres.sh");
    /// let tm = TransactionManager::<Postgres>::connect(&url)?;
    /// tm.execute("CREATE TEMP TABLE t (x BIGINT)", &[])?;
    /// assert_eq!(tm.execute("INSERT INTO t VALUES ($1), ($2)", &[&1i64, &2i64])?, 2);
    /// # Ok(())
    /// # }
    /// ```
    pub fn execute(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64, Error> {
        self.engine.execute(sql, params)
    }

    /// Runs a query and returns its rows, in autocommit mode.
    ///
    /// # Errors
    ///
    /// As for [`execute`](Self::execute).
    ///
    /// # Example
    ///
    /// ```
    /// # use txmanager::{Postgres, TransactionManager};
    /// # fn main() -> Result<(), txmanager::Error> {
    /// # let url = std::env::var("TXMANAGER_PG_URL").expect("TXMANAGER_PG_URL: run through scripts/with-postgres.sh");
    /// let tm = TransactionManager::<Postgres>::connect(&url)?;
    /// let rows = tm.query("SELECT generate_series(1, 3)", &[])?;
    /// assert_eq!(rows.len(), 3);
    /// # Ok(())
    /// # }
    /// ```
    pub fn query(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>, Error> {
        self.engine.query(sql, params)
    }

    /// Runs a query that returns exactly one row.
    ///
    /// # Errors
    ///
    /// As for [`execute`](Self::execute); no row, or more than one, is an
    /// [`Error::Statement`].
    ///
    /// # Example
    ///
    /// ```
    /// # use txmanager::{Postgres, TransactionManager};
    /// # fn main() -> Result<(), txmanager::Error> {
    /// # let url = std::env::var("TXMANAGER_PG_URL").expect("TXMANAGER_PG_URL: run through scripts/with-postgres.sh");
    /// let tm = TransactionManager::<Postgres>::connect(&url)?;
    /// let two: i64 = tm.query_one("SELECT 1 + $1::int8", &[&1i64])?.get(0);
    /// assert_eq!(two, 2);
    /// # Ok(())
    /// # }
    /// ```
    pub fn query_one(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Row, Error> {
        self.engine.query_one(sql, params)
    }

    /// Runs a query that returns at most one row.
    ///
    /// # Errors
    ///
    /// As for [`execute`](Self::execute); more than one row is an
    /// [`Error::Statement`].
    ///
    /// # Example
    ///
    /// ```
    /// # use txmanager::{Postgres, TransactionManager};
    /// # fn main() -> Result<(), txmanager::Error> {
    /// # let url = std::env::var("TXMANAGER_PG_URL").expect("TXMANAGER_PG_URL: run through scripts/with-postgres.sh");
    /// let tm = TransactionManager::<Postgres>::connect(&url)?;
    /// assert!(tm.query_opt("SELECT 1 WHERE false", &[])?.is_none());
    /// # Ok(())
    /// # }
    /// ```
    pub fn query_opt(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, Error> {
        self.engine.query_opt(sql, params)
    }

    /// Runs several `;`-separated statements without parameters, in one
    /// round trip (the simple query protocol).
    ///
    /// # Errors
    ///
    /// As for [`execute`](Self::execute); a transaction-control statement
    /// anywhere in the batch refuses the whole batch before any of it runs.
    ///
    /// # Example
    ///
    /// ```
    /// # use txmanager::{Postgres, TransactionManager};
    /// # fn main() -> Result<(), txmanager::Error> {
    /// # let url = std::env::var("TXMANAGER_PG_URL").expect("TXMANAGER_PG_URL: run through scripts/with-postgres.sh");
    /// let tm = TransactionManager::<Postgres>::connect(&url)?;
    /// tm.execute_batch("CREATE TEMP TABLE a (x INT); CREATE TEMP TABLE b (y INT);")?;
    /// let err = tm.execute_batch("INSERT INTO a VALUES (1); COMMIT").unwrap_err();
    /// assert!(matches!(err, txmanager::Error::TransactionControlRefused { .. }));
    /// # Ok(())
    /// # }
    /// ```
    pub fn execute_batch(&self, sql: &str) -> Result<(), Error> {
        self.engine.execute_batch(sql)
    }
}

/// PostgreSQL's statement path, on the engine: what the statement API of
/// the manager and of a handle, and `PgRecords`, run statements through.
impl Engine<Postgres> {
    pub(crate) fn execute(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64, Error> {
        self.pg_statement(sql, |client, stmt| client.execute(stmt, params))
    }

    pub(crate) fn query(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, Error> {
        self.pg_statement(sql, |client, stmt| client.query(stmt, params))
    }

    pub(crate) fn query_one(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Row, Error> {
        self.pg_statement(sql, |client, stmt| client.query_one(stmt, params))
    }

    pub(crate) fn query_opt(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, Error> {
        self.pg_statement(sql, |client, stmt| client.query_opt(stmt, params))
    }

    pub(crate) fn execute_batch(&self, sql: &str) -> Result<(), Error> {
        let facts = SqlFacts::of(sql).refuse_control(sql)?;
        self.before_statement()?;
        // A batch cannot be inspected statement by statement as it runs:
        // it counts as a write, even when it fails part way.
        if facts.read_only {
            self.mark_read()?;
        } else {
            self.mark_dirty();
        }
        let result = self.conn.client.borrow_mut().batch_execute(sql);
        result.map_err(|source| self.statement_failed(sql, source))
    }

    /// One statement through the prepared-statement cache, keeping the
    /// engine's books.
    ///
    /// A cached statement costs one hash lookup: its facts (transaction
    /// control is refused before anything is cached; whether it is a read)
    /// were found when it was prepared. A text not yet cached is scanned
    /// once, refused if it controls the transaction, and prepared.
    ///
    /// A cached statement the server no longer accepts (0A000 "cached plan
    /// must not change result type": DDL changed the result type of its
    /// plan; 26000: `DISCARD ALL` deallocated it; any other 0A000 is the
    /// statement's own error, returned as it is) is
    /// forgotten. Outside a transaction it is then prepared again and run
    /// once more, transparently: the failed run was a transaction of its
    /// own that changed nothing. Inside one, the failure has aborted the
    /// transaction (PostgreSQL aborts it on any error), so the error is
    /// returned and the block is poisoned as for any failed statement; the
    /// statement is prepared afresh at its next use (the block's retry, or
    /// the next block).
    fn pg_statement<R>(
        &self,
        sql: &str,
        op: impl Fn(&mut Client, &Statement) -> Result<R, postgres::Error>,
    ) -> Result<R, Error> {
        self.pg_statement_encoded(sql, |_| (), |client, stmt, ()| op(client, stmt))
    }

    /// [`pg_statement`](Self::pg_statement), with the parameters encoded by
    /// `encode` from the prepared statement (its parameter types) while
    /// nothing of the connection is borrowed: `encode` may run user code (a
    /// record's `bind_columns`), which may call the manager again.
    pub(crate) fn pg_statement_encoded<P, R>(
        &self,
        sql: &str,
        encode: impl Fn(&Statement) -> P,
        op: impl Fn(&mut Client, &Statement, P) -> Result<R, postgres::Error>,
    ) -> Result<R, Error> {
        let cached = self.conn.statements.borrow_mut().get(sql);
        let (cached, read_only) = match cached {
            Some((statement, read_only)) => (Some(statement), read_only),
            None => (None, SqlFacts::of(sql).refuse_control(sql)?.read_only),
        };
        self.before_statement()?;
        if read_only {
            self.mark_read()?;
        } else {
            // Even when it then fails: a statement that was sent may have
            // written before it failed.
            self.mark_dirty();
        }
        let run = |cached: Option<Statement>| {
            let statement = match cached {
                Some(statement) => statement,
                None => {
                    let statement = self.conn.client.borrow_mut().prepare(sql)?;
                    self.conn
                        .statements
                        .borrow_mut()
                        .insert(sql, statement, read_only)
                        .clone()
                }
            };
            let params = encode(&statement);
            op(&mut self.conn.client.borrow_mut(), &statement, params)
        };
        let result = match run(cached) {
            Err(e)
                if self.conn.statements.borrow_mut().forget_stale(sql, &e)
                    && !self.expects_open_transaction() =>
            {
                run(None)
            }
            result => result,
        };
        result.map_err(|source| self.statement_failed(sql, source))
    }
}

/// Whether `client` is inside a transaction block, aborted or not, asked in
/// one round trip without an error in the server's log. A query sent alone
/// in the simple protocol outside a block runs in a transaction of its own
/// that starts with it, so its statement time is the transaction's time;
/// inside a block the transaction began earlier (and in an aborted one the
/// query fails).
fn in_transaction_block(client: &mut Client) -> Result<bool, postgres::Error> {
    match client.simple_query("SELECT now() <> statement_timestamp()") {
        Ok(messages) => Ok(messages.iter().any(
            |m| matches!(m, postgres::SimpleQueryMessage::Row(row) if row.try_get(0).ok().flatten() == Some("t")),
        )),
        Err(e) if e.as_db_error().is_some() => Ok(true),
        Err(e) => Err(e),
    }
}

/// A PostgreSQL block's statements: the same as the manager's, inside the
/// block.
impl Transaction<'_, Postgres> {
    /// Runs one statement in this block. Returns the number of rows changed.
    ///
    /// # Errors
    ///
    /// [`Error::Statement`] with the SQL if the server rejects it; the block
    /// is then aborted (PostgreSQL's rule) and can only roll back: return
    /// the error, or ending the block fails with [`Error::BlockAborted`].
    /// [`Error::TransactionControlRefused`] for transaction control (refused
    /// before it runs; the block is as it was).
    ///
    /// # Example
    ///
    /// ```
    /// # use txmanager::{Error, Postgres, TransactionManager};
    /// # fn main() -> Result<(), Error> {
    /// # let url = std::env::var("TXMANAGER_PG_URL").expect("TXMANAGER_PG_URL: run through scripts/with-postgres.sh");
    /// let mut tm = TransactionManager::<Postgres>::connect(&url)?;
    /// tm.execute("CREATE TEMP TABLE t (x BIGINT PRIMARY KEY)", &[])?;
    /// // A swallowed error never leads to a COMMIT reported as Ok.
    /// let err = tm
    ///     .commit_on_success(|tx| {
    ///         tx.execute("INSERT INTO t VALUES (1)", &[])?;
    ///         let _ignored = tx.execute("INSERT INTO t VALUES (1)", &[]); // duplicate key
    ///         Ok::<_, Error>(())
    ///     })
    ///     .unwrap_err();
    /// assert!(matches!(err, Error::BlockAborted));
    /// let n: i64 = tm.query_one("SELECT count(*) FROM t", &[])?.get(0);
    /// assert_eq!(n, 0);
    /// # Ok(())
    /// # }
    /// ```
    pub fn execute(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64, Error> {
        self.engine_ref().execute(sql, params)
    }

    /// Runs a query in this block and returns its rows.
    ///
    /// # Errors
    ///
    /// As for [`execute`](Self::execute).
    ///
    /// # Example
    ///
    /// ```
    /// # use txmanager::{Postgres, TransactionManager};
    /// # fn main() -> Result<(), txmanager::Error> {
    /// # let url = std::env::var("TXMANAGER_PG_URL").expect("TXMANAGER_PG_URL: run through scripts/with-postgres.sh");
    /// let mut tm = TransactionManager::<Postgres>::connect(&url)?;
    /// let rows = tm.commit_on_success(|tx| tx.query("SELECT generate_series(1, 2)", &[]))?;
    /// assert_eq!(rows.len(), 2);
    /// # Ok(())
    /// # }
    /// ```
    pub fn query(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>, Error> {
        self.engine_ref().query(sql, params)
    }

    /// Runs a query in this block that returns exactly one row.
    ///
    /// # Errors
    ///
    /// As for [`execute`](Self::execute).
    ///
    /// # Example
    ///
    /// ```
    /// # use txmanager::{Postgres, TransactionManager};
    /// # fn main() -> Result<(), txmanager::Error> {
    /// # let url = std::env::var("TXMANAGER_PG_URL").expect("TXMANAGER_PG_URL: run through scripts/with-postgres.sh");
    /// let mut tm = TransactionManager::<Postgres>::connect(&url)?;
    /// let n: i64 = tm.commit_on_success(|tx| Ok::<_, txmanager::Error>(tx.query_one("SELECT 42::int8", &[])?.get(0)))?;
    /// assert_eq!(n, 42);
    /// # Ok(())
    /// # }
    /// ```
    pub fn query_one(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Row, Error> {
        self.engine_ref().query_one(sql, params)
    }

    /// Runs a query in this block that returns at most one row.
    ///
    /// # Errors
    ///
    /// As for [`execute`](Self::execute).
    ///
    /// # Example
    ///
    /// ```
    /// # use txmanager::{Postgres, TransactionManager};
    /// # fn main() -> Result<(), txmanager::Error> {
    /// # let url = std::env::var("TXMANAGER_PG_URL").expect("TXMANAGER_PG_URL: run through scripts/with-postgres.sh");
    /// let mut tm = TransactionManager::<Postgres>::connect(&url)?;
    /// let row = tm.commit_on_success(|tx| tx.query_opt("SELECT 1 WHERE false", &[]))?;
    /// assert!(row.is_none());
    /// # Ok(())
    /// # }
    /// ```
    pub fn query_opt(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, Error> {
        self.engine_ref().query_opt(sql, params)
    }

    /// Runs several `;`-separated statements in this block, in one round
    /// trip. The block counts as dirty afterwards.
    ///
    /// # Errors
    ///
    /// As for [`execute`](Self::execute).
    ///
    /// # Example
    ///
    /// ```
    /// # use txmanager::{Postgres, TransactionManager};
    /// # fn main() -> Result<(), txmanager::Error> {
    /// # let url = std::env::var("TXMANAGER_PG_URL").expect("TXMANAGER_PG_URL: run through scripts/with-postgres.sh");
    /// let mut tm = TransactionManager::<Postgres>::connect(&url)?;
    /// tm.commit_on_success(|tx| tx.execute_batch("CREATE TEMP TABLE a (x INT); INSERT INTO a VALUES (1);"))?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn execute_batch(&self, sql: &str) -> Result<(), Error> {
        self.engine_ref().execute_batch(sql)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;

    fn statement_keywords(sql: &str) -> Vec<&str> {
        let mut keywords = Vec::new();
        for_each_statement_keyword(sql, |k| keywords.push(k));
        keywords
    }

    fn control_keyword(sql: &str) -> Option<&'static str> {
        SqlFacts::of(sql).control
    }

    fn is_read_only(sql: &str) -> bool {
        SqlFacts::of(sql).read_only
    }

    fn scans() -> usize {
        SCANS.with(std::cell::Cell::get)
    }

    #[test]
    fn a_cached_statement_is_scanned_once_and_a_batch_once_per_run() {
        let tm = TransactionManager::<Postgres>::from_client(client()).unwrap();
        let before = scans();
        for _ in 0..3 {
            tm.query_one("SELECT 1", &[]).unwrap();
        }
        assert_eq!(scans() - before, 1, "scanned again on a cache hit");
        let before = scans();
        tm.execute_batch("SELECT 1; SELECT 2").unwrap();
        assert_eq!(
            scans() - before,
            1,
            "a batch is scanned once, not once per question"
        );
        // A refused text is never cached, so it is refused every time.
        for _ in 0..2 {
            assert!(matches!(
                tm.execute("COMMIT", &[]),
                Err(Error::TransactionControlRefused { .. })
            ));
        }
    }

    #[test]
    fn the_statement_cache_evicts_the_least_recently_used_statement_when_full() {
        let tm = TransactionManager::<Postgres>::from_client(client()).unwrap();
        let hot = "SELECT 0::int8";
        for n in 1..=STATEMENT_CACHE_CAPACITY + 10 {
            tm.query_one(hot, &[]).unwrap();
            tm.query_one(&format!("SELECT {n}::int8"), &[]).unwrap();
            let cache = tm.engine.conn.statements.borrow();
            assert!(cache.by_sql.len() <= STATEMENT_CACHE_CAPACITY);
            assert!(
                cache.by_sql.contains_key(hot),
                "the hot statement was evicted at {n}"
            );
        }
        let cache = tm.engine.conn.statements.borrow();
        assert_eq!(cache.by_sql.len(), STATEMENT_CACHE_CAPACITY);
        assert!(
            !cache.by_sql.contains_key("SELECT 1::int8"),
            "the oldest stayed"
        );
        assert!(
            cache
                .by_sql
                .contains_key(&format!("SELECT {}::int8", STATEMENT_CACHE_CAPACITY + 10))
        );
    }

    #[test]
    fn a_statement_invalidated_by_ddl_or_discard_is_prepared_again_outside_a_block() {
        let table = table("reprepare");
        let tm = TransactionManager::<Postgres>::from_client(client()).unwrap();
        let select = format!("SELECT * FROM {table}");
        tm.execute(&format!("INSERT INTO {table} VALUES (1)"), &[])
            .unwrap();
        assert_eq!(tm.query(&select, &[]).unwrap()[0].len(), 1);
        // DDL changes the result type of the cached plan (0A000).
        tm.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN y INT DEFAULT 7"))
            .unwrap();
        let rows = tm.query(&select, &[]).unwrap();
        assert_eq!(rows[0].len(), 2);
        assert_eq!(rows[0].get::<_, Option<i32>>(1), Some(7));
        // DISCARD ALL deallocates every prepared statement (26000).
        tm.execute_batch("DISCARD ALL").unwrap();
        assert_eq!(tm.query(&select, &[]).unwrap().len(), 1);
        assert_eq!(committed(&table), [1]);
    }

    #[test]
    fn another_feature_not_supported_error_is_returned_and_never_run_again() {
        let name = format!("unit_not_supported_{}", std::process::id());
        client()
            .batch_execute(&format!(
                "DROP SEQUENCE IF EXISTS {name}; CREATE SEQUENCE {name}; \
                 CREATE OR REPLACE FUNCTION {name}() RETURNS int8 LANGUAGE plpgsql AS $$ BEGIN \
                 PERFORM nextval('{name}'); \
                 RAISE EXCEPTION 'not supported here' USING ERRCODE = 'feature_not_supported'; \
                 END $$"
            ))
            .unwrap();
        let tm = TransactionManager::<Postgres>::from_client(client()).unwrap();
        let err = tm.query(&format!("SELECT {name}()"), &[]).unwrap_err();
        assert_eq!(err.sqlstate(), Some("0A000"), "{err}");
        assert!(err.to_string().contains("not supported here"), "{err}");
        let last: i64 = client()
            .query_one(&format!("SELECT last_value FROM {name}"), &[])
            .unwrap()
            .get(0);
        assert_eq!(
            last, 1,
            "the statement ran once: its side effect is not repeated"
        );
    }

    #[test]
    fn a_statement_invalidated_inside_a_block_fails_the_block_and_is_prepared_again_after() {
        let table = table("reprepare_block");
        let mut tm = TransactionManager::<Postgres>::from_client(client()).unwrap();
        let select = format!("SELECT * FROM {table}");
        tm.query(&select, &[]).unwrap();
        tm.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN y INT"))
            .unwrap();
        let result = tm.commit_on_success(|tx| {
            tx.execute(&format!("INSERT INTO {table} VALUES (1)"), &[])?;
            let stale = tx.query(&select, &[]).unwrap_err();
            // The server's own error, not a retry's "transaction aborted".
            assert_eq!(stale.sqlstate(), Some("0A000"), "{stale}");
            Ok::<_, Error>(()) // swallowed
        });
        // PostgreSQL aborted the transaction at the stale statement: it
        // cannot be run again inside it, and the block cannot commit.
        assert!(matches!(result, Err(Error::BlockAborted)), "{result:?}");
        assert_eq!(committed(&table), Vec::<i64>::new());
        let err = tm
            .commit_on_success(|tx| tx.query(&select, &[]).map(drop))
            .err();
        assert!(err.is_none(), "prepared again at its next use: {err:?}");
    }

    /// A client of the test server (`scripts/with-postgres.sh`).
    fn client() -> Client {
        let url = std::env::var("TXMANAGER_PG_URL")
            .expect("TXMANAGER_PG_URL: run through scripts/with-postgres.sh");
        Client::connect(&url, NoTls).expect("connect to the test server")
    }

    /// A fresh table of one BIGINT column, `x`, named for the test.
    fn table(name: &str) -> String {
        let table = format!("unit_{name}_{}", std::process::id());
        client()
            .batch_execute(&format!(
                "DROP TABLE IF EXISTS {table}; CREATE TABLE {table} (x BIGINT)"
            ))
            .expect("create the test table");
        table
    }

    /// The values committed in `table`, read through a second connection.
    fn committed(table: &str) -> Vec<i64> {
        client()
            .query(&format!("SELECT x FROM {table} ORDER BY x"), &[])
            .expect("read the committed rows")
            .iter()
            .map(|r| r.get(0))
            .collect()
    }

    #[test]
    fn a_failed_savepoint_aborts_the_enclosing_block_which_then_cannot_commit() {
        let table = table("savepoint");
        let mut tm = TransactionManager::<Postgres>::from_client(client()).unwrap();
        // The server rejects the nested block's SAVEPOINT, as when a cancel
        // (57014) lands on it: that aborts the whole transaction.
        tm.engine
            .savepoints
            .replace_open::<Postgres>(1, "SAVEPOINT \"txmanager_sp_1");
        let result = tm.commit_on_success(|tx| {
            tx.execute(&format!("INSERT INTO {table} VALUES (1)"), &[])?;
            let nested = tx.commit_on_success(|_| Ok::<_, Error>(()));
            assert_eq!(nested.unwrap_err().step(), Some(crate::Step::Savepoint));
            Ok::<_, Error>(()) // the nested error ignored
        });
        assert!(matches!(result, Err(Error::BlockAborted)), "{result:?}");
        assert_eq!(committed(&table), Vec::<i64>::new());
        assert!(!tm.is_broken());
    }

    /// Review 4 finding 7: a nested manual `commit()` whose count of rows
    /// written fails (a cancel, a timeout) has released nothing: its `Err`
    /// means "not kept", so the enclosing block's commit keeps nothing of
    /// it.
    #[test]
    fn a_nested_manual_commit_whose_count_fails_releases_nothing() {
        let table = table("nested_commit_count");
        let mut tm = TransactionManager::<Postgres>::from_client(client()).unwrap();
        let mut nested_commit = None;
        let outer = tm.commit_manually(|tx| {
            // The outer block counts before its read, so the nested
            // commit() must count for the savepoint it opens anew.
            tx.query_one("SELECT 1", &[])?;
            let nested = tx.commit_manually(|inner| {
                inner.execute(&format!("INSERT INTO {table} VALUES (1)"), &[])?;
                crate::block::FAIL_NEXT_COUNT.with(|fail| fail.set(true));
                nested_commit = Some(inner.commit());
                Ok::<_, Error>(())
            });
            assert!(matches!(nested, Err(Error::BlockAborted)), "{nested:?}");
            tx.commit()
        });
        assert!(outer.is_ok(), "{outer:?}");
        let Some(Err(Error::Statement { sql, .. })) = nested_commit else {
            panic!("commit() ended {nested_commit:?}, not the count's error");
        };
        assert_eq!(sql, Postgres::ROWS_WRITTEN_SQL);
        assert_eq!(
            committed(&table),
            Vec::<i64>::new(),
            "commit() returned Err, yet its row was committed"
        );
    }

    #[test]
    fn a_broken_manager_keeps_the_servers_error_as_its_cause() {
        let table = table("broken_cause");
        let mut tm = TransactionManager::<Postgres>::from_client(client()).unwrap();
        let result = tm.commit_on_success(|tx| {
            tx.execute(&format!("INSERT INTO {table} VALUES (1)"), &[])?;
            let nested = tx.commit_on_success(|inner| {
                // The savepoint released behind the engine's back: its
                // ROLLBACK TO fails (3B001), which breaks the manager.
                inner
                    .engine_ref()
                    .conn
                    .client
                    .borrow_mut()
                    .batch_execute("RELEASE SAVEPOINT \"txmanager_sp_1\"")
                    .unwrap();
                Err::<(), _>(Error::PendingCommitRollback)
            });
            assert!(matches!(nested, Err(Error::PendingCommitRollback)));
            Ok::<_, Error>(())
        });
        for err in [
            result.unwrap_err(),
            tm.execute("SELECT 1", &[]).unwrap_err(),
        ] {
            match err {
                Error::Broken { reason, source } => {
                    assert!(reason.contains("ROLLBACK TO SAVEPOINT failed"), "{reason}");
                    let source = source.expect("the broken state keeps the server's error");
                    assert_eq!(source.sqlstate(), Some("3B001"), "{source}");
                }
                other => panic!("expected a broken manager, got {other:?}"),
            }
        }
        assert_eq!(committed(&table), Vec::<i64>::new());
        tm.reset().unwrap();
        assert!(!tm.is_broken());
    }

    /// A client that counts the server's "there is no transaction in
    /// progress" warnings: each is a `ROLLBACK` sent with none open.
    fn client_counting_idle_rollbacks() -> (Client, Arc<AtomicUsize>) {
        let url = std::env::var("TXMANAGER_PG_URL")
            .expect("TXMANAGER_PG_URL: run through scripts/with-postgres.sh");
        let count = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&count);
        let client = url
            .parse::<postgres::Config>()
            .expect("parse the test server's URL")
            .notice_callback(move |notice| {
                if notice.code().code() == "25P01" {
                    counter.fetch_add(1, Ordering::SeqCst);
                }
            })
            .connect(NoTls)
            .expect("connect to the test server");
        (client, count)
    }

    #[test]
    fn reset_sends_one_rollback_whatever_the_engine_believes() {
        for believed_open in [true, false] {
            let (client, idle_rollbacks) = client_counting_idle_rollbacks();
            let mut tm = TransactionManager::<Postgres>::from_client(client).unwrap();
            tm.engine
                .conn
                .client
                .borrow_mut()
                .batch_execute("BEGIN")
                .unwrap();
            tm.engine.tracked_open.set(believed_open);
            tm.reset().unwrap();
            assert!(
                !in_transaction_block(&mut tm.engine.conn.client.borrow_mut()).unwrap(),
                "believed open: {believed_open}"
            );
            assert_eq!(
                idle_rollbacks.load(Ordering::SeqCst),
                0,
                "a second ROLLBACK with no transaction open (believed open: {believed_open})"
            );
        }
    }

    #[test]
    fn a_transaction_that_begin_finds_open_is_rolled_back_and_the_block_refused() {
        let table = table("stray_begin");
        let url = std::env::var("TXMANAGER_PG_URL")
            .expect("TXMANAGER_PG_URL: run through scripts/with-postgres.sh");
        let mut tm = TransactionManager::<Postgres>::connect(&url).unwrap();
        // As if a BEGIN had slipped past the keyword scan: the engine
        // believes no transaction is open, the server has one.
        tm.engine
            .conn
            .client
            .borrow_mut()
            .batch_execute(&format!("BEGIN; INSERT INTO {table} VALUES (1)"))
            .unwrap();
        let result =
            tm.commit_on_success(|tx| tx.execute(&format!("INSERT INTO {table} VALUES (2)"), &[]));
        assert!(
            matches!(
                result,
                Err(Error::TransactionOpenedUnderneath { statement: None })
            ),
            "{result:?}"
        );
        assert_eq!(
            committed(&table),
            Vec::<i64>::new(),
            "the stray work committed"
        );
        assert!(!in_transaction_block(&mut tm.engine.conn.client.borrow_mut()).unwrap());
        // The manager is ready at once.
        tm.commit_on_success(|tx| tx.execute(&format!("INSERT INTO {table} VALUES (3)"), &[]))
            .unwrap();
        assert_eq!(committed(&table), [3]);
    }

    #[test]
    fn a_commit_of_an_aborted_transaction_is_an_error_and_commits_nothing() {
        let table = table("guard");
        let conn = PgConnection::new(client(), Arc::default());
        conn.client
            .borrow_mut()
            .batch_execute(&format!("BEGIN; INSERT INTO {table} VALUES (1)"))
            .unwrap();
        let _ = conn.client.borrow_mut().batch_execute("SELECT 1 / 0");
        // PostgreSQL itself answers COMMIT here with a ROLLBACK tag, no error.
        let err = Postgres::commit(&conn).unwrap_err();
        assert_eq!(err.sqlstate(), Some("25P02"), "{err}");
        // Not left inside the aborted transaction.
        assert!(!in_transaction_block(&mut conn.client.borrow_mut()).unwrap());
        assert_eq!(committed(&table), Vec::<i64>::new());
        // And a COMMIT with no transaction open is no success either.
        let err = Postgres::commit(&conn).unwrap_err();
        assert_eq!(err.sqlstate(), Some("25P01"), "{err}");
    }

    #[test]
    fn statement_keywords_skip_comments_strings_and_dollar_quotes() {
        assert_eq!(
            statement_keywords(
                "-- c\n/* BEGIN */ select 'a;COMMIT'; \"x;end\"; DO $b$ BEGIN; COMMIT; $b$; update t set x = $1"
            ),
            ["select", "DO", "update"]
        );
    }

    #[test]
    fn transaction_control_is_found_in_any_statement_of_a_batch() {
        for sql in [
            "BEGIN",
            "start transaction",
            "  commit",
            "END",
            "rollback to savepoint x",
            "ABORT",
            "SAVEPOINT s",
            "release s",
            "PREPARE TRANSACTION 'x'",
            "INSERT INTO t VALUES (1); COMMIT",
            "/* hi */ COMMIT; BEGIN",
            "/* /* */ */ COMMIT",
            "/* a /* b /* c */ */ */ commit",
            "SELECT E'\\''; COMMIT; SELECT '",
            "SELECT e'\\\\'; COMMIT",
            "SELECT U&'\\0041'; COMMIT",
            "SELECT 1 AS a$b$; COMMIT; SELECT $b$",
            "SELECT 'it''s'; COMMIT",
            "SELECT \"a\"\"b\"; END",
            "SELECT $x$ ; $y$ $x$; ROLLBACK",
            "SELECT 1 AS é; COMMIT",
        ] {
            assert!(control_keyword(sql).is_some(), "{sql}");
        }
        for sql in [
            "SELECT 'BEGIN'",
            "INSERT INTO t (\"commit\") VALUES (1)",
            "CREATE FUNCTION f() RETURNS trigger AS $$ BEGIN RETURN NEW; END $$ LANGUAGE plpgsql",
            "UPDATE t SET x = 1 WHERE y = $1",
            "/* /* */ COMMIT */ SELECT 1",
            "SELECT E'\\'; COMMIT; SELECT '",
            "SELECT 'a\\'; SELECT 1",
            "SELECT $q$ /* $q$; SELECT 1",
            "SELECT 1 AS e, 'x; COMMIT'",
        ] {
            assert_eq!(control_keyword(sql), None, "{sql}");
        }
    }

    #[test]
    fn only_known_reads_are_read_only() {
        assert!(is_read_only("SELECT 1"));
        assert!(is_read_only(" select x from t for update"));
        assert!(is_read_only("SHOW transaction_isolation"));
        assert!(is_read_only("EXPLAIN SELECT 1"));
        assert!(!is_read_only("EXPLAIN ANALYZE DELETE FROM t"));
        // A notification is a side effect no row count shows.
        assert!(!is_read_only("SELECT pg_notify('jobs', 'new')"));
        assert!(!is_read_only("select PG_CATALOG.\"pg_notify\"('jobs', '')"));
        assert!(!is_read_only("SELECT U&\"pg\\005fnotify\"('jobs', '')"));
        // The EXPLAIN family: whether it may run its statement (a write).
        for (sql, read_only) in [
            ("EXPLAIN SELECT 1", true),
            ("explain verbose select 1", true),
            ("EXPLAIN (COSTS OFF, FORMAT JSON) DELETE FROM t", true),
            ("EXPLAIN ANALYSE DELETE FROM t", false),
            ("explain analyse delete from t", false),
            ("EXPLAIN\n\tAnalyse\nDELETE FROM t", false),
            ("EXPLAIN /* why */ ANALYSE DELETE FROM t", false),
            ("EXPLAIN ANALYZE VERBOSE DELETE FROM t", false),
            ("EXPLAIN (ANALYSE) DELETE FROM t", false),
            ("EXPLAIN (ANALYZE, BUFFERS) UPDATE t SET x = 1", false),
            (
                "EXPLAIN (FORMAT JSON, analyse true) INSERT INTO t VALUES (1)",
                false,
            ),
            ("EXPLAIN ( Analyze ) DELETE FROM t", false),
            ("EXPLAIN (\"analyse\") DELETE FROM t", false),
            ("EXPLAIN (U&\"\\0061nalyze\") DELETE FROM t", false),
            ("EXPLAIN (ANALYZE false) DELETE FROM t", false), // cautious
        ] {
            assert_eq!(is_read_only(sql), read_only, "{sql}");
        }
        assert!(!is_read_only(
            "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d"
        ));
        assert!(!is_read_only("INSERT INTO t VALUES (1)"));
        assert!(!is_read_only("SELECT 1; DELETE FROM t"));
        assert!(!is_read_only(""));
    }

    #[test]
    fn begin_sql_spells_every_option() {
        let o = PgBlockOptions::default();
        assert_eq!(Postgres::begin_sql(o), "BEGIN");
        assert_eq!(
            Postgres::begin_sql(
                o.with_isolation(PgIsolation::Serializable)
                    .with_read_only(true)
                    .with_deferrable(true)
            ),
            "BEGIN ISOLATION LEVEL SERIALIZABLE, READ ONLY, DEFERRABLE"
        );
        assert_eq!(
            Postgres::begin_sql(o.with_isolation(PgIsolation::RepeatableRead)),
            "BEGIN ISOLATION LEVEL REPEATABLE READ"
        );
        assert_eq!(
            Postgres::begin_sql(o.with_read_only(true)),
            "BEGIN READ ONLY"
        );
    }
}
