//! Procedural macros for [txmanager](https://docs.rs/txmanager):
//! `#[derive(Record)]`. Use them through txmanager (its default `macros`
//! feature re-exports them); this crate is not meant to be a dependency of
//! its own.
#![deny(unsafe_code)]
#![warn(missing_docs, unreachable_pub, rust_2018_idioms)]

use proc_macro::TokenStream;
use syn::{DeriveInput, parse_macro_input};

mod record;

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
/// | `version_required = false` | a record without a version may overwrite an existing row (django-concurrency's `CONCURRENCY_VERSION_FIELD_REQUIRED = False`); default: strict |
/// | `check = false` | saves of this type never check the version (they still bump it) |
/// | `increment = false` | saves of this type check the version but never bump it |
/// | `ignore(field, ...)` | with a conditional version: fields that never count as a change |
///
/// On a field, `#[record(...)]` takes:
///
/// | attribute | meaning |
/// |---|---|
/// | `primary_key` | the key: an `Option<K>` field, where `K` is `i64`, `String` or any type that converts to and from SQL. Exactly one field has it. `None` until saved; an integer key left `None` is assigned by the database |
/// | `version` | the version: an `Option<i64>` field; kind `integer` (a clock, django-concurrency's `IntegerVersionField`) |
/// | `version(auto_increment)` / `version(integer)` / `version(trigger)` / `version(conditional(field, ...))` | the version's kind; add `, manual` to check only in `concurrency_check` |
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
