//! # txmanager
//!
//! Django's three transaction modes, and django-concurrency's optimistic
//! locking, for Rust over [rusqlite]. Built for many writers sharing one
//! SQLite database that must never lose an update.
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
//! Blocks nest through the handle (as savepoints), [`Transaction::on_commit`]
//! hooks run after the outermost commit, and the free functions
//! [`autocommit()`], [`commit_on_success()`] and [`commit_manually()`] wrap a
//! plain function the way Django's decorators did.
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
//! let total: i64 = tm.query_row("SELECT sum(balance) FROM account", [], |r| r.get(0))?;
//! assert_eq!(total, 100);
//! # Ok(())
//! # }
//! ```
//!
//! ## Optimistic concurrency
//!
//! [`record!`] declares a typed record with an optional version column. Every
//! update and delete of a versioned record checks the version inside the
//! current transaction, so a stale write fails with [`Error::RecordModified`]
//! instead of overwriting someone else's work. See [`Record`], [`VersionKind`],
//! [`disable_concurrency`], [`apply_concurrency_check`], [`concurrency_check`]
//! and [`testing::ConcurrencyTest`].
//!
//! The [`guide`] tables every mode at every nesting level
//! ([`guide::modes`]), covers records and version checks
//! ([`guide::versioning`]) and the failure paths ([`guide::reliability`]),
//! and shows how a call flows through the modules ([`guide::architecture`]).
//!
//! ## rusqlite and SQLite versions
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
//! ## Feature flags
//!
//! | feature | default | what it does |
//! |---|---|---|
//! | `bundled` | on | compiles SQLite into the program (rusqlite's `bundled`). Turn default features off to link the system's SQLite or SQLCipher instead |
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

pub use rusqlite;

mod backend;
mod block;
mod conflict;
mod error;
pub mod guide;
mod manager;
mod mode;
mod opener;
#[cfg(feature = "r2d2")]
mod pool;
#[cfg(feature = "postgres")]
mod postgres;
mod record;
mod retry;
mod settings;
mod sqlite;
pub mod testing;
mod trace;
mod transaction;
mod versioning;

#[cfg(feature = "postgres")]
pub use crate::postgres::{IsolationLevel, PgBlockOptions, Postgres};
pub use backend::Backend;
pub use conflict::Conflict;
pub use error::{DatabaseError, Error, Step};
pub use manager::TransactionManager;
pub use mode::{InMode, Mode, Scope, autocommit, commit_manually, commit_on_success};
pub use opener::Opener;
pub use record::{Record, RecordMeta};
pub use retry::{GaveUp, Retried, RetryError, RetryPolicy, Retryable};
pub use settings::{BeginMode, Settings, Synchronous};
pub use sqlite::Sqlite;
pub use transaction::Transaction;
pub use versioning::{
    ConcurrencyGuard, ConcurrencyTarget, VersionField, VersionKind, VersionTrigger,
    apply_concurrency_check, apply_concurrency_check_for, check_version_triggers,
    concurrency_check, disable_concurrency, disable_version_increment, drop_version_triggers,
    has_changed, version_triggers, with_concurrency_disabled, with_version_increment_disabled,
};

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
