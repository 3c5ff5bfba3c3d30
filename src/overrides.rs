//! The `disable_concurrency` / `disable_version_increment` scopes active on
//! one manager, as plain data: what the engine keeps for `versioning.rs`
//! without knowing records. A record type is named by the address of its
//! `RecordMeta` (a `static` per type, with interior mutability, so its
//! address is the type's identity) and, for `Debug`, its table.

use std::fmt;

use crate::value::{KeyValue, SqlValue};

/// One active `disable_*` scope, kept on the manager's stack.
#[derive(Debug, Clone)]
pub(crate) struct Override {
    pub(crate) target: Target,
    /// `true`: no check (and the version still moves on);
    /// `false`: check, but leave the version as it is.
    pub(crate) skip_check: bool,
}

/// What a scope applies to: every record, one record type, or one row of a type.
#[derive(Clone, PartialEq, Eq, Hash)]
pub(crate) enum Target {
    All,
    Type(RecordType),
    Row(RecordType, KeyValue),
}

impl Target {
    /// Whether this target covers the row `pk` of `record_type`.
    #[inline]
    pub(crate) fn covers<B, K: SqlValue<B> + ?Sized>(
        &self,
        record_type: RecordType,
        pk: &K,
    ) -> bool {
        match self {
            Target::All => true,
            Target::Type(t) => *t == record_type,
            Target::Row(t, row) => *t == record_type && *row == pk.key_value(),
        }
    }
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::All => f.write_str("All"),
            Target::Type(t) => f.debug_tuple("Type").field(&t.table).finish(),
            Target::Row(t, pk) => f.debug_tuple("Row").field(&t.table).field(pk).finish(),
        }
    }
}

/// A record type: the address of its `RecordMeta`, and its table. Equal
/// by address only (two types on one table are different targets).
#[derive(Clone, Copy)]
pub(crate) struct RecordType {
    address: usize,
    table: &'static str,
}

impl RecordType {
    /// The record type described by `meta`, a `static`.
    #[inline]
    pub(crate) fn of<M>(meta: &M, table: &'static str) -> Self {
        RecordType {
            address: std::ptr::from_ref(meta).addr(),
            table,
        }
    }
}

impl PartialEq for RecordType {
    fn eq(&self, other: &Self) -> bool {
        self.address == other.address
    }
}

impl Eq for RecordType {}

impl std::hash::Hash for RecordType {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.address.hash(state);
    }
}
