//! Procedural macros for [txmanager](https://docs.rs/txmanager):
//! `#[derive(Record)]` and the `#[commit_on_success]`, `#[commit_manually]`
//! and `#[autocommit]` attributes. Use them through txmanager (its default `macros`
//! feature re-exports them); this crate is not meant to be a dependency of
//! its own.
#![deny(unsafe_code)]
#![warn(missing_docs, unreachable_pub, rust_2018_idioms)]

use proc_macro::TokenStream;
use syn::{DeriveInput, parse_macro_input};

mod mode;
mod record;

/// On a mistake, the error and the function as written: the one error is
/// all the user sees, not a cascade about a function that went missing.
fn mode_attribute(mode: mode::Mode, args: TokenStream, item: TokenStream) -> TokenStream {
    let item = proc_macro2::TokenStream::from(item);
    match mode::expand(mode, args.into(), item.clone()) {
        Ok(expanded) => expanded.into(),
        Err(err) => {
            let mut out = err.into_compile_error();
            out.extend(item);
            out.into()
        }
    }
}

/// Runs a function as a `commit_on_success` block: Django's
/// `@transaction.commit_on_success`. `Ok` commits, `Err` or a panic rolls
/// back.
///
/// The function's first parameter (after `self`, for a method) must be the
/// handle, `tx: &mut Transaction<'_>`, and it must return a `Result` whose
/// error type is `From<txmanager::Error>`. The attribute replaces the handle
/// parameter with `&mut impl Scope`: callers pass the manager (the function
/// runs as an outermost block) or an open handle (it runs nested, as a
/// savepoint). It works on free functions and on methods; `async fn`, a
/// missing handle or a return type that is not a `Result` are compile errors.
///
/// Options: `begin = deferred | immediate | exclusive` (the `BEGIN` when this
/// block opens the transaction; nested blocks are savepoints and ignore it)
/// and `retry = <RetryPolicy expression>` (run the body again from scratch
/// while it fails with a retryable error, as
/// `TransactionManager::commit_on_success_with_retry` does; the error type
/// must implement `Retryable`; nested inside an open block it runs once, and
/// the outermost block's retry covers it).
///
/// # Example
///
/// ```
/// use txmanager::{commit_on_success, Error, RetryPolicy, Transaction, TransactionManager};
///
/// #[commit_on_success(begin = immediate, retry = RetryPolicy::default())]
/// fn transfer(tx: &mut Transaction<'_>, from: i64, to: i64, amount: i64) -> Result<(), Error> {
///     tx.execute("UPDATE account SET balance = balance - ?1 WHERE id = ?2", (amount, from))?;
///     tx.execute("UPDATE account SET balance = balance + ?1 WHERE id = ?2", (amount, to))?;
///     Ok(())
/// }
///
/// # fn main() -> Result<(), Error> {
/// let mut tm = TransactionManager::open_in_memory()?;
/// tm.execute_batch("CREATE TABLE account (id INTEGER PRIMARY KEY, balance INTEGER);
///                   INSERT INTO account VALUES (1, 100), (2, 0);")?;
/// transfer(&mut tm, 1, 2, 30)?;                                 // an outermost block
/// tm.commit_on_success(|tx| transfer(tx, 2, 1, 10))?;           // nested: a savepoint
/// let balance: i64 = tm.query_row("SELECT balance FROM account WHERE id = 2", [], |r| r.get(0))?;
/// assert_eq!(balance, 20);
/// # Ok(())
/// # }
/// ```
#[proc_macro_attribute]
pub fn commit_on_success(args: TokenStream, item: TokenStream) -> TokenStream {
    mode_attribute(mode::Mode::CommitOnSuccess, args, item)
}

/// Runs a function as a `commit_manually` block: Django's
/// `@transaction.commit_manually`. The body calls `tx.commit()` and
/// `tx.rollback()`; writes left uncommitted at the end are rolled back and
/// reported as `Error::PendingCommitRollback`.
///
/// The signature rules are those of [`macro@commit_on_success`]; the one option
/// is `begin = deferred | immediate | exclusive`.
///
/// # Example
///
/// ```
/// use txmanager::{commit_manually, Error, Transaction, TransactionManager};
///
/// struct Importer { table: &'static str }
///
/// impl Importer {
///     #[commit_manually]
///     fn import(&self, tx: &mut Transaction<'_>, rows: &[i64]) -> Result<usize, Error> {
///         for row in rows {
///             tx.execute(&format!("INSERT INTO {} VALUES (?1)", self.table), [row])?;
///         }
///         tx.commit()?;
///         Ok(rows.len())
///     }
/// }
///
/// # fn main() -> Result<(), Error> {
/// let mut tm = TransactionManager::open_in_memory()?;
/// tm.execute("CREATE TABLE item (x)", [])?;
/// assert_eq!(Importer { table: "item" }.import(&mut tm, &[1, 2, 3])?, 3);
/// # Ok(())
/// # }
/// ```
#[proc_macro_attribute]
pub fn commit_manually(args: TokenStream, item: TokenStream) -> TokenStream {
    mode_attribute(mode::Mode::CommitManually, args, item)
}

/// Runs a function as an `autocommit` block: Django's
/// `@transaction.autocommit`. Every statement commits as it runs; inside an
/// open transaction it is refused with `Error::AutocommitInTransaction`.
///
/// The signature rules are those of [`macro@commit_on_success`]; it takes no
/// options.
///
/// # Example
///
/// ```
/// use txmanager::{autocommit, Error, Transaction, TransactionManager};
///
/// #[autocommit]
/// fn log_then_fail(tx: &mut Transaction<'_>, message: &str) -> Result<(), Error> {
///     tx.execute("INSERT INTO log VALUES (?1)", [message])?;
///     Err(Error::PendingCommitRollback) // any error: the row is already committed
/// }
///
/// # fn main() -> Result<(), Error> {
/// let mut tm = TransactionManager::open_in_memory()?;
/// tm.execute("CREATE TABLE log (message TEXT)", [])?;
/// assert!(log_then_fail(&mut tm, "kept").is_err());
/// let n: i64 = tm.query_row("SELECT count(*) FROM log", [], |r| r.get(0))?;
/// assert_eq!(n, 1);
/// # Ok(())
/// # }
/// ```
#[proc_macro_attribute]
pub fn autocommit(args: TokenStream, item: TokenStream) -> TokenStream {
    mode_attribute(mode::Mode::Autocommit, args, item)
}

/// Declares a record type: implements `txmanager::Record` for a struct with
/// named fields, one per column.
///
/// # Attributes
///
/// On the struct, `#[record(...)]` takes:
///
/// | attribute | meaning |
/// |---|---|
/// | `table = "name"` | the table (default: the struct's name in snake_case) |
/// | `version_required = false` | a record with a key but no version saves over its row unchecked (django-concurrency's `CONCURRENCY_VERSION_FIELD_REQUIRED = False`); default: strict, such a record is inserted |
/// | `check = false` | saves and deletes of this type never check the version (they still bump it): `ConcurrencyMeta.enabled = False` |
/// | `increment = false` | saves of this type check the version but never bump it (refused on a trigger version, which the database moves) |
/// | `ignore(field, ...)` | with `version(conditional)`: fields that never count as a change (`ConcurrencyMeta.ignore_fields`) |
///
/// The three settings need a version field, and each mistake is a compile
/// error.
///
/// On a field, `#[record(...)]` takes:
///
/// | attribute | meaning |
/// |---|---|
/// | `primary_key` | the key: an `Option<K>` field, where `K` is `i64`, `String` or any type that converts to and from SQL. Exactly one field has it. `None` until saved; an integer key left `None` is assigned by the database |
/// | `version` | the version: an `Option<i64>` field; kind `integer` (a clock, django-concurrency's `IntegerVersionField`) |
/// | `version(auto_increment)` / `version(integer)` / `version(trigger)` / `version(conditional(field, ...))` | the version's kind; `conditional` alone watches every saved field; add `, manual` to check only in `concurrency_check` |
/// | `column = "name"` | the column, when it is not named like the field |
/// | `read_only` | a column the database fills in (default, trigger, generated): loaded, never saved |
/// | `skip` | not a column: `Default::default()` when loaded |
///
/// Raw identifiers map to their plain names (`r#type` is column `type`,
/// quoted in SQL). Fields may be private, and generic structs work when
/// their field types convert to and from SQL. Every mistake (an unknown
/// attribute, a field named in `conditional(...)` that does not exist, two
/// primary keys, a version that is not `Option<i64>`, a table or column name
/// txmanager would refuse) is a compile error pointing at the offending
/// token.
///
/// # Example
///
/// ```
/// use txmanager::{Error, Record, TransactionManager};
///
/// #[derive(Debug, Clone, Default, Record)]
/// #[record(table = "security")]
/// pub struct Security {
///     #[record(primary_key)]
///     id: Option<i64>,
///     #[record(version(integer, manual), column = "cm_version_id")]
///     version: Option<i64>,
///     r#type: String,
///     #[record(read_only)]
///     created_at: Option<String>,
///     #[record(skip)]
///     unsaved_note: String,
/// }
///
/// # fn main() -> Result<(), Error> {
/// let tm = TransactionManager::open_in_memory()?;
/// tm.execute("CREATE TABLE security (id INTEGER PRIMARY KEY, cm_version_id INTEGER NOT NULL, \
///             type TEXT NOT NULL, created_at TEXT DEFAULT 'today')", [])?;
/// let mut s = Security { r#type: "bond".into(), unsaved_note: "kept in memory".into(), ..Default::default() };
/// s.save(&tm)?;
/// let loaded = Security::get(&tm, 1)?;
/// assert_eq!(loaded.r#type, "bond");
/// assert_eq!(loaded.created_at.as_deref(), Some("today"));
/// assert_eq!(loaded.unsaved_note, "");
/// # Ok(())
/// # }
/// ```
#[proc_macro_derive(Record, attributes(record))]
pub fn derive_record(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    record::derive(input)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}
