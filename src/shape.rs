//! What a record type's SQL must do, described without SQL: the table, its
//! key and columns, and how its version moves. `record.rs` fills it in from a
//! record type's description; each backend module turns it into SQL. This
//! module is a leaf, so backends know nothing of records or versioning.

/// One record type's table, as the SQL builders see it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TableShape {
    pub(crate) table: &'static str,
    pub(crate) primary_key: &'static str,
    /// The data columns, in the order values are bound.
    pub(crate) columns: &'static [&'static str],
    /// Columns the database fills in: selected, never written.
    pub(crate) read_only: &'static [&'static str],
    pub(crate) version: Option<VersionShape>,
}

/// The version column and the rule that moves it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct VersionShape {
    pub(crate) column: &'static str,
    pub(crate) rule: VersionRule,
}

/// How a save moves the version; one per version kind.
#[derive(Debug, Clone, Copy)]
pub(crate) enum VersionRule {
    /// The application binds a new version: a clock with a +1 floor.
    Integer,
    /// The application binds the old version + 1.
    AutoIncrement,
    /// The version moves only when one of these columns changes.
    Conditional(&'static [&'static str]),
    /// The database moves it (a trigger); updates leave it alone.
    Trigger,
}

impl TableShape {
    #[inline]
    pub(crate) fn table(&self) -> &'static str {
        self.table
    }

    #[inline]
    pub(crate) fn primary_key(&self) -> &'static str {
        self.primary_key
    }

    #[inline]
    pub(crate) fn columns(&self) -> &'static [&'static str] {
        self.columns
    }

    #[inline]
    pub(crate) fn read_only_columns(&self) -> &'static [&'static str] {
        self.read_only
    }

    #[inline]
    pub(crate) fn version(&self) -> Option<VersionShape> {
        self.version
    }
}

impl VersionShape {
    #[inline]
    pub(crate) fn column_name(&self) -> &'static str {
        self.column
    }

    #[inline]
    pub(crate) fn kind(&self) -> VersionRule {
        self.rule
    }
}

/// Which data columns an `UPDATE` writes: every one (a save), or some of
/// them (`save_fields`), by their index in [`TableShape::columns`]. A
/// conditional version watches only the written columns it lists: a column
/// that is not written cannot change.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ColumnSet<'a> {
    All,
    /// Indices into the data columns, each at most once.
    Only(&'a [usize]),
}

impl ColumnSet<'_> {
    #[inline]
    pub(crate) fn contains(&self, index: usize) -> bool {
        match self {
            ColumnSet::All => true,
            ColumnSet::Only(indices) => indices.contains(&index),
        }
    }
}
