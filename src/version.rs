//! How a record type's version moves: [`VersionKind`] and [`VersionField`],
//! plain descriptions that `record.rs` keeps in a `RecordMeta` and the save
//! path reads. A leaf.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

/// How a version column changes when a record is saved.
///
/// # Example
///
/// ```
/// use txmanager::VersionKind;
///
/// assert_eq!(VersionKind::AutoIncrement.to_string(), "auto-increment");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum VersionKind {
    /// A microsecond clock with a +1 floor: each save sets the version to
    /// `max(now in µs, old + 1)`. django-concurrency's `IntegerVersionField`.
    Integer,
    /// `old + 1` on every save, starting at 1. django-concurrency's
    /// `AutoIncVersionField`.
    AutoIncrement,
    /// A database trigger adds 1 on every `UPDATE` of the row that leaves
    /// the version as it was, so raw SQL writes, even from other programs,
    /// bump it too (an SQLite `AFTER UPDATE` trigger, or on PostgreSQL a
    /// PL/pgSQL `BEFORE UPDATE` trigger). Create the trigger with
    /// [`apply_concurrency_check`](crate::apply_concurrency_check) (it is idempotent). django-concurrency's
    /// `TriggerVersionField`.
    Trigger,
    /// Bumped (by 1) only when one of the named columns changes; the check
    /// always runs. django-concurrency's `ConditionalVersionField`.
    Conditional(&'static [&'static str]),
}

impl fmt::Display for VersionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            VersionKind::Integer => "integer",
            VersionKind::AutoIncrement => "auto-increment",
            VersionKind::Trigger => "trigger",
            VersionKind::Conditional(_) => "conditional",
        })
    }
}

impl VersionKind {
    /// The version an inserted row starts with.
    pub(crate) fn initial(self) -> i64 {
        match self {
            VersionKind::Integer => clock_micros().max(1),
            _ => 1,
        }
    }

    /// The version after `current` when the application computes it.
    /// Inlined: every versioned save calls it, from the user's crate.
    #[inline]
    pub(crate) fn next(self, current: i64) -> i64 {
        let floor = current.saturating_add(1);
        match self {
            VersionKind::Integer => clock_micros().max(floor),
            _ => floor,
        }
    }
}

pub(crate) fn clock_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

/// A record type's version field: its [`VersionKind`], its column, and
/// whether it is checked automatically.
///
/// # Example
///
/// ```
/// use txmanager::{VersionField, VersionKind};
///
/// const FIELD: VersionField = VersionField::integer().column("cm_version_id").manual();
/// assert_eq!(FIELD.kind(), VersionKind::Integer);
/// assert_eq!(FIELD.column_name(), "cm_version_id");
/// assert!(FIELD.is_manual());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VersionField {
    kind: VersionKind,
    column: Option<&'static str>,
    manual: bool,
}

impl VersionField {
    /// A version field of `kind`, checked automatically.
    ///
    /// ```
    /// use txmanager::{VersionField, VersionKind};
    /// assert_eq!(VersionField::new(VersionKind::Trigger), VersionField::trigger());
    /// ```
    #[must_use]
    pub const fn new(kind: VersionKind) -> Self {
        VersionField {
            kind,
            column: None,
            manual: false,
        }
    }

    /// [`VersionKind::Integer`].
    ///
    /// ```
    /// assert_eq!(txmanager::VersionField::integer().kind(), txmanager::VersionKind::Integer);
    /// ```
    #[must_use]
    pub const fn integer() -> Self {
        Self::new(VersionKind::Integer)
    }

    /// [`VersionKind::AutoIncrement`].
    ///
    /// ```
    /// assert_eq!(txmanager::VersionField::auto_increment().kind(), txmanager::VersionKind::AutoIncrement);
    /// ```
    #[must_use]
    pub const fn auto_increment() -> Self {
        Self::new(VersionKind::AutoIncrement)
    }

    /// [`VersionKind::Trigger`].
    ///
    /// ```
    /// assert_eq!(txmanager::VersionField::trigger().kind(), txmanager::VersionKind::Trigger);
    /// ```
    #[must_use]
    pub const fn trigger() -> Self {
        Self::new(VersionKind::Trigger)
    }

    /// [`VersionKind::Conditional`]: bumped only when one of `fields` changes.
    ///
    /// ```
    /// let field = txmanager::VersionField::conditional(&["title"]);
    /// assert_eq!(field.kind(), txmanager::VersionKind::Conditional(&["title"]));
    /// ```
    #[must_use]
    pub const fn conditional(fields: &'static [&'static str]) -> Self {
        Self::new(VersionKind::Conditional(fields))
    }

    /// Stores the version in `column` instead of a column named like the field.
    ///
    /// ```
    /// assert_eq!(txmanager::VersionField::integer().column("v").column_name(), "v");
    /// ```
    #[must_use]
    pub const fn column(mut self, column: &'static str) -> Self {
        self.column = Some(column);
        self
    }

    /// Checks only when you call [`concurrency_check`](crate::concurrency_check): saves still bump the
    /// version, but do not check it. The cookbook's `manually=True`.
    ///
    /// ```
    /// assert!(txmanager::VersionField::integer().manual().is_manual());
    /// ```
    #[must_use]
    pub const fn manual(mut self) -> Self {
        self.manual = true;
        self
    }

    /// Sets the column to `default` unless [`column`](Self::column) chose one.
    /// For hand-written [`RecordMeta`](crate::RecordMeta)s that default to a field's name.
    ///
    /// ```
    /// use txmanager::VersionField;
    /// assert_eq!(VersionField::integer().or_column("version").column_name(), "version");
    /// assert_eq!(VersionField::integer().column("v").or_column("version").column_name(), "v");
    /// ```
    #[must_use]
    pub const fn or_column(mut self, default: &'static str) -> Self {
        if self.column.is_none() {
            self.column = Some(default);
        }
        self
    }

    /// The kind.
    ///
    /// ```
    /// assert_eq!(txmanager::VersionField::trigger().kind(), txmanager::VersionKind::Trigger);
    /// ```
    #[must_use]
    pub const fn kind(&self) -> VersionKind {
        self.kind
    }

    /// The column name (`"version"` if none was set).
    ///
    /// ```
    /// assert_eq!(txmanager::VersionField::integer().column_name(), "version");
    /// ```
    #[must_use]
    pub const fn column_name(&self) -> &'static str {
        match self.column {
            Some(column) => column,
            None => "version",
        }
    }

    /// Whether saves skip the automatic check.
    ///
    /// ```
    /// assert!(!txmanager::VersionField::integer().is_manual());
    /// ```
    #[must_use]
    pub const fn is_manual(&self) -> bool {
        self.manual
    }
}
