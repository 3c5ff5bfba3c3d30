//! # txmanager
//!
//! Django's three transaction modes, and django-concurrency's optimistic
//! locking, for Rust over [rusqlite]. Built for many writers sharing one
//! SQLite database that must never lose an update. (A PostgreSQL backend
//! comes with the `postgres` feature.)
//!
//! | entry point | what it is for |
//! |---|---|
//! | [`TransactionManager`] | owns a connection; runs blocks in a mode ([modes](#modes)) |
//! | [`Transaction`] | the handle a block's closure gets: statements, `commit`/`rollback`, nesting, [`on_commit`](Transaction::on_commit) |
//! | [`#[commit_on_success]`](macro@commit_on_success), [`#[commit_manually]`](macro@commit_manually), [`#[autocommit]`](macro@autocommit) | run a function in a mode, as Django's decorators did (the functions [`commit_on_success()`] and its siblings do it at run time) |
//! | [`#[derive(Record)]`](derive@Record), [`Record`], [`VersionField`] | typed records whose saves check a version column ([records](#records-and-optimistic-concurrency)) |
//! | [`disable_concurrency`], [`apply_concurrency_check`], [`concurrency_check`] | django-concurrency's switches, triggers and manual checks |
//! | [`Opener`], [`Settings`] | managers for worker threads, with one set of settings and an init hook ([many writers](#many-writers)) |
//! | [`RetryPolicy`], [`TransactionManager::commit_on_success_with_retry`] | run a block again when the database is busy |
//! | [`testing::ConcurrencyTest`] | django-concurrency's test mixin, for your record types ([testing](#testing-your-record-types)) |
//! | [`TransactionManager::connection`], [`with_connection`](TransactionManager::with_connection), [`into_inner`](TransactionManager::into_inner) | the rusqlite connection underneath ([raw access](#raw-access)) |
//! | [`Error`], [`Conflict`] | every failure, and a version conflict as plain data |
//! | [`guide`] | the guides: modes, versioning, reliability, architecture |
//!
//! ## Modes
//!
//! A [`TransactionManager`] owns a connection. Outside any block it is in
//! autocommit mode; three methods run a closure in a mode, handing it a
//! [`Transaction`] handle:
//!
//! | method | what it does |
//! |---|---|
//! | [`autocommit`](TransactionManager::autocommit) | every statement commits as it runs |
//! | [`commit_on_success`](TransactionManager::commit_on_success) | one transaction: `Ok` commits, `Err` or a panic rolls back |
//! | [`commit_manually`](TransactionManager::commit_manually) | the closure calls `commit()` / `rollback()`; uncommitted writes at the end are rolled back and reported as [`Error::PendingCommitRollback`] |
//!
//! Closures return `Result<T, E>` with any `E: From<txmanager::Error>`, so you
//! keep your own error type.
//!
//! ```
//! use txmanager::{Error, TransactionManager};
//!
//! # fn main() -> Result<(), Error> {
//! let mut tm = TransactionManager::open_in_memory()?;
//! tm.execute("CREATE TABLE account (id INTEGER PRIMARY KEY, balance INTEGER NOT NULL)", [])?;
//! tm.execute("INSERT INTO account (id, balance) VALUES (1, 100), (2, 0)", [])?;
//!
//! // Both updates commit together, or neither does.
//! tm.commit_on_success(|tx| {
//!     tx.execute("UPDATE account SET balance = balance - 30 WHERE id = 1", [])?;
//!     tx.execute("UPDATE account SET balance = balance + 30 WHERE id = 2", [])?;
//!     Ok::<_, Error>(())
//! })?;
//!
//! // Manual mode: forgetting to commit is an error, and the write is rolled back.
//! let forgot = tm.commit_manually(|tx| {
//!     tx.execute("UPDATE account SET balance = 0", [])?;
//!     Ok::<_, Error>(())
//! });
//! assert!(matches!(forgot, Err(Error::PendingCommitRollback)));
//!
//! let total: i64 = tm.query_row("SELECT sum(balance) FROM account", [], |r| r.get(0))?;
//! assert_eq!(total, 100);
//! # Ok(())
//! # }
//! ```
//!
//! Blocks nest through the handle (as savepoints), [`Transaction::on_commit`]
//! hooks run after the outermost commit, and the attributes
//! [`#[commit_on_success]`](macro@commit_on_success),
//! [`#[commit_manually]`](macro@commit_manually) and
//! [`#[autocommit]`](macro@autocommit) run a function in a mode the way
//! Django's decorators did (the functions [`commit_on_success()`] and its
//! siblings do it at run time):
//!
//! ```
//! use txmanager::{commit_on_success, Error, Transaction, TransactionManager};
//!
//! #[commit_on_success]
//! fn add(tx: &mut Transaction<'_>, n: i64) -> Result<(), Error> {
//!     tx.execute("INSERT INTO t VALUES (?1)", [n]).map(drop)
//! }
//!
//! # fn main() -> Result<(), Error> {
//! let mut tm = TransactionManager::open_in_memory()?;
//! tm.execute("CREATE TABLE t (n INTEGER)", [])?;
//! tm.commit_on_success(|tx| {
//!     add(tx, 1)?; // nested: a savepoint
//!     let inner = tx.commit_on_success(|tx| {
//!         tx.execute("INSERT INTO t VALUES (2)", [])?;
//!         Err::<(), Box<dyn std::error::Error>>("undo".into()) // undoes only the inner block
//!     });
//!     assert!(inner.is_err());
//!     tx.on_commit(|| println!("saved"));
//!     Ok::<_, Error>(())
//! })?;
//! let n: i64 = tm.query_row("SELECT sum(n) FROM t", [], |r| r.get(0))?;
//! assert_eq!(n, 1);
//! # Ok(())
//! # }
//! ```
//!
//! ## Records and optimistic concurrency
//!
//! `#[derive(Record)]` declares a typed record with an optional version
//! column (see [the derive](derive@Record) for its attributes). Every
//! update and delete of a versioned record checks the version inside the
//! current transaction, so a stale write fails with [`Error::RecordModified`]
//! instead of overwriting someone else's work. See [`VersionKind`] for the
//! four kinds, [`disable_concurrency`] to switch the check off in a scope,
//! [`apply_concurrency_check`] for trigger versions on existing tables, and
//! [`guide::versioning`] for the whole story.
//!
//! ```
//! use txmanager::{Error, Record, TransactionManager, VersionField};
//!
//! #[derive(Debug, Clone, Default, Record)]
//! pub struct Page {
//!     #[record(primary_key)]
//!     pub id: Option<i64>,
//!     #[record(version(auto_increment))]
//!     pub version: Option<i64>,
//!     pub title: String,
//! }
//!
//! # fn main() -> Result<(), Error> {
//! let tm = TransactionManager::open_in_memory()?;
//! tm.execute("CREATE TABLE page (id INTEGER PRIMARY KEY, version INTEGER, title TEXT)", [])?;
//! Page { title: "Home".into(), ..Default::default() }.save(&tm)?;
//!
//! let (mut mine, mut theirs) = (Page::get(&tm, 1)?, Page::get(&tm, 1)?);
//! theirs.title = "Start".into();
//! theirs.save(&tm)?;
//! mine.title = "Home page".into();
//! let stale = mine.save(&tm).unwrap_err();
//! assert_eq!(stale.conflict().map(|c| (c.expected, c.found)), Some((1, Some(2))));
//! # Ok(())
//! # }
//! ```
//!
//! ## Many writers
//!
//! An [`Opener`] opens managers for worker threads, each with the same
//! [`Settings`] (WAL, a busy timeout, `BEGIN IMMEDIATE`) and an optional
//! init hook; [`TransactionManager::commit_on_success_with_retry`] runs a
//! block again, with backoff, when the database stays busy.
//!
//! ```
//! use std::thread;
//! use txmanager::{Error, Opener, RetryPolicy};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let opener = Opener::new(dir.path().join("app.db"))
//!     .with_init(|conn| conn.pragma_update(None, "cache_size", -8000));
//! opener.open()?.execute("CREATE TABLE counter (n INTEGER)", [])?;
//! opener.open()?.execute("INSERT INTO counter VALUES (0)", [])?;
//!
//! thread::scope(|s| {
//!     for _ in 0..4 {
//!         let opener = opener.clone();
//!         s.spawn(move || -> Result<(), Error> {
//!             let mut tm = opener.open()?;
//!             tm.commit_on_success_with_retry(&RetryPolicy::default(), |tx| {
//!                 tx.execute("UPDATE counter SET n = n + 1", []).map(drop)
//!             })
//!             .map_err(|failed| failed.into_inner())?;
//!             Ok(())
//!         });
//!     }
//! });
//! let n: i64 = opener.open()?.query_row("SELECT n FROM counter", [], |r| r.get(0))?;
//! assert_eq!(n, 4);
//! # Ok(())
//! # }
//! ```
//!
//! ## Testing your record types
//!
//! [`testing::ConcurrencyTest`] runs django-concurrency's three checks on a
//! record type of yours: a stale save fails, a fresh save succeeds, and a
//! delete of a stale copy fails.
//!
//! ```
//! use txmanager::{testing::ConcurrencyTest, TransactionManager, VersionField, Record};
//!
//! #[derive(Debug, Clone, Default, Record)]
//! pub struct Tag {
//!     #[record(primary_key)]
//!     pub id: Option<i64>,
//!     #[record(version(auto_increment))]
//!     pub version: Option<i64>,
//!     pub label: String,
//! }
//!
//! # fn main() -> Result<(), txmanager::Error> {
//! let mut tm = TransactionManager::open_in_memory()?;
//! tm.execute("CREATE TABLE tag (id INTEGER PRIMARY KEY, version INTEGER, label TEXT)", [])?;
//! ConcurrencyTest::new(|| Tag { label: "rust".into(), ..Default::default() }).assert(&mut tm);
//! # Ok(())
//! # }
//! ```
//!
//! ## Raw access
//!
//! The rusqlite connection is yours outside any block:
//! [`connection`](TransactionManager::connection) borrows it (transaction
//! control stays refused, so nothing half-commits behind the manager's
//! back), [`with_connection`](TransactionManager::with_connection) lends it
//! with nothing refused and takes it back safely, and
//! [`into_inner`](TransactionManager::into_inner) returns it.
//! [`TransactionManager::new_with`] wraps a connection you opened and
//! applies the [`Settings`]; [`TransactionManager::new`] applies none.
//!
//! ```
//! use txmanager::rusqlite::Connection;
//! use txmanager::{Settings, TransactionManager};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut tm = TransactionManager::new_with(Connection::open_in_memory()?, &Settings::default())?;
//! tm.connection().execute_batch("CREATE TABLE t (x)")?;
//! tm.with_connection(|conn| -> txmanager::rusqlite::Result<()> {
//!     let tx = conn.transaction()?; // rusqlite's own transaction
//!     tx.execute("INSERT INTO t VALUES (1)", [])?;
//!     tx.commit()
//! })??;
//! let conn: Connection = tm.into_inner();
//! assert_eq!(conn.query_row("SELECT count(*) FROM t", [], |r| r.get::<_, i64>(0))?, 1);
//! # Ok(())
//! # }
//! ```
//!
//! ## Feature flags
//!
//! | feature | default | what it does |
//! |---|---|---|
//! | `macros` | on | [`#[derive(Record)]`](derive@Record) and the [`#[commit_on_success]`](macro@commit_on_success)-style attributes, from the `txmanager-macros` crate |
//! | `bundled` | on | compiles SQLite into the program (rusqlite's `bundled`). Turn default features off to link the system's SQLite (3.45.3 or newer) or SQLCipher instead |
//! | `serde` | off | `Serialize`/`Deserialize` for [`Conflict`] (an HTTP 409 body) and [`Mode`]. Your records derive serde's traits themselves, beside `#[derive(Record)]` |
//! | `r2d2` | off | [`Opener`] is an `r2d2::ManageConnection`: `r2d2::Pool::new(opener)` pools managers, with a health check (on Rust older than 1.95, pin `scheduled-thread-pool` to 0.2.7: 0.2.8 pulls in parking_lot 0.13) |
//! | `tracing` | off | a `txmanager.block` span per block (mode, depth, outcome, conflicting table and key), a `txmanager.retry` span per retried block (attempts), events for savepoints, rollbacks, conflicts and retries |
//! | `postgres` | off | the PostgreSQL backend, `TransactionManager<Postgres>`, on the `postgres` crate |
//!
//! `serde`: a conflict as a response body.
//!
//! ```
//! # #[cfg(feature = "serde")]
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let err = txmanager::Error::RecordModified { table: "page", pk: 1.into(), expected: 1, found: Some(2) };
//! let body = serde_json::to_string(&err.conflict())?;
//! assert_eq!(body, r#"{"table":"page","pk":1,"expected":1,"found":2}"#);
//! # Ok(())
//! # }
//! # #[cfg(not(feature = "serde"))]
//! # fn main() {}
//! ```
//!
//! `r2d2`: a pool of managers, all opened by one [`Opener`].
//!
//! ```
//! # #[cfg(feature = "r2d2")]
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let pool = r2d2::Pool::new(txmanager::Opener::new(dir.path().join("app.db")))?;
//! let mut tm = pool.get()?;
//! tm.commit_on_success(|tx| tx.execute_batch("CREATE TABLE t (x)"))?;
//! # Ok(())
//! # }
//! # #[cfg(not(feature = "r2d2"))]
//! # fn main() {}
//! ```
//!
//! `tracing`: install any subscriber; `RUST_LOG=txmanager=trace` with
//! `tracing-subscriber`'s `EnvFilter` shows everything.
//!
//! ```
//! # #[cfg(feature = "tracing")]
//! # fn main() -> Result<(), txmanager::Error> {
//! let subscriber = tracing_subscriber::fmt().with_max_level(tracing::Level::DEBUG).finish();
//! tracing::subscriber::with_default(subscriber, || {
//!     let mut tm = txmanager::TransactionManager::open_in_memory()?;
//!     // prints: DEBUG txmanager.block{mode=commit_on_success depth=0}: ...
//!     tm.commit_on_success(|tx| tx.execute_batch("CREATE TABLE t (x)"))
//! })
//! # }
//! # #[cfg(not(feature = "tracing"))]
//! # fn main() {}
//! ```
//!
//! ## Rust, rusqlite and SQLite versions
//!
//! The minimum supported Rust version is 1.89 (rusqlite 0.43's); raising it
//! is a minor release.
//!
//! rusqlite's types are part of txmanager's API ([`TransactionManager::new`]
//! takes a [`rusqlite::Connection`], statements take [`rusqlite::Params`]),
//! so each txmanager minor release is built on one rusqlite minor release, and
//! moving to a newer rusqlite is a breaking (minor) release of txmanager:
//!
//! | txmanager | rusqlite | SQLite, with `default-features = false` |
//! |---|---|---|
//! | 0.1 | 0.43 | 3.45.3 or newer (rusqlite's floor; txmanager alone needs 3.35, for `RETURNING`) |
//!
//! Name rusqlite's types through the re-export `txmanager::rusqlite`
//! and your application cannot end up with two rusqlite versions whose types
//! do not match (or, with SQLite bundled twice, a `links = "sqlite3"`
//! conflict). If you also depend on rusqlite directly, ask for the same minor
//! version.
//!
//! ```
//! use txmanager::rusqlite::{Connection, params};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let conn = Connection::open_in_memory()?;
//! let tm = txmanager::TransactionManager::new(conn);
//! tm.execute("CREATE TABLE t (n INTEGER, s TEXT)", [])?;
//! tm.execute("INSERT INTO t VALUES (?1, ?2)", params![1, "one"])?;
//! # Ok(())
//! # }
//! ```
//!
//! ## Guides
//!
//! The [`guide`] tables every mode at every nesting level
//! ([`guide::modes`]), covers records and version checks
//! ([`guide::versioning`]) and the failure paths ([`guide::reliability`]),
//! and shows how a call flows through the modules ([`guide::architecture`]).
//!
//! [rusqlite]: https://docs.rs/rusqlite
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(unsafe_code)]
#![warn(
    missing_docs,
    missing_debug_implementations,
    unreachable_pub,
    rust_2018_idioms
)]
#![cfg_attr(not(test), warn(clippy::unwrap_used))]

/// The [`postgres`](https://docs.rs/postgres) client crate, re-exported so
/// that the version txmanager builds with is the one you name
/// (`txmanager::postgres::Client`, `txmanager::postgres::types::ToSql`).
#[cfg(feature = "postgres")]
pub use postgres;
pub use rusqlite;
/// `#[derive(Record)]`: declares a record type. See [`Record`](trait@Record)
/// for the trait, and the attributes below.
#[cfg(feature = "macros")]
pub use txmanager_macros::Record;
#[cfg(feature = "macros")]
pub use txmanager_macros::{autocommit, commit_manually, commit_on_success};

mod backend;
mod block;
mod conflict;
mod control;
mod error;
pub mod guide;
mod manager;
mod mode;
mod opener;
mod optional;
mod overrides;
#[cfg(feature = "postgres")]
mod pg;
#[cfg(feature = "r2d2")]
mod pool;
mod record;
mod retry;
mod scope;
mod settings;
mod shape;
mod sqlite;
mod store;
pub mod testing;
mod trace;
mod transaction;
mod value;
mod version;
mod versioning;

#[cfg(feature = "postgres")]
pub use crate::pg::{PgBlockOptions, PgIsolation, Postgres};
pub use backend::Backend;
pub use conflict::Conflict;
pub use error::{DatabaseError, Error, Step};
pub use manager::TransactionManager;
pub use mode::Mode;
pub use opener::Opener;
pub use optional::OptionalExtension;
pub use record::{Record, RecordMeta, RecordValues};
pub use retry::{GaveUp, Retried, RetryError, RetryPolicy, Retryable};
#[doc(hidden)]
pub use scope::macro_support as __private;
pub use scope::{InMode, Scope, autocommit, commit_manually, commit_on_success};
pub use settings::{BeginMode, Settings, Synchronous};
pub use sqlite::Sqlite;
pub use store::ClauseParams;
pub use transaction::Transaction;
pub use value::{Binder, FromSqlValue, KeyValue, RowReader, SqlValue, ValueError};
pub use version::{VersionField, VersionKind};
pub use versioning::{
    ConcurrencyGuard, ConcurrencyTarget, VersionTrigger, apply_concurrency_check,
    apply_concurrency_check_for, check_version_triggers, concurrency_check, disable_concurrency,
    disable_version_increment, drop_version_triggers, has_changed, version_triggers,
    with_concurrency_disabled, with_version_increment_disabled,
};

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

// C-SEND-SYNC, checked at compile time: a manager moves to a worker thread,
// and errors, settings and options cross threads freely.
const _: () = {
    const fn send<T: Send>() {}
    const fn send_sync<T: Send + Sync>() {}
    send::<TransactionManager>();
    send_sync::<Error>();
    send_sync::<DatabaseError>();
    send_sync::<Settings>();
    send_sync::<Opener>();
    send_sync::<RetryPolicy>();
    #[cfg(feature = "postgres")]
    send::<TransactionManager<Postgres>>();
    #[cfg(feature = "postgres")]
    send_sync::<PgBlockOptions>();
};
