//! The three transaction modes: [`Mode`]. A leaf: errors, the engine and
//! the tracing spans name a mode; where a block runs is `scope.rs`.

use std::fmt;

/// The way a block runs its statements: Django's three transaction modes.
///
/// See [`guide::modes`](crate::guide::modes) for the full table of what each mode does at every
/// nesting level.
///
/// # Example
///
/// ```
/// use txmanager::Mode;
///
/// assert_eq!(Mode::CommitOnSuccess.to_string(), "commit_on_success");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum Mode {
    /// Every statement commits as it runs.
    Autocommit,
    /// One transaction: `Ok` commits, `Err` or a panic rolls back.
    CommitOnSuccess,
    /// The block calls `commit()` and `rollback()` itself.
    CommitManually,
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Autocommit => "autocommit",
            Mode::CommitOnSuccess => "commit_on_success",
            Mode::CommitManually => "commit_manually",
        })
    }
}
