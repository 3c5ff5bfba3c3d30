//! Tracing (feature `tracing`): a span per block, events for savepoints,
//! rollbacks, conflicts and retries. Without the feature every function
//! here is empty and inlined away, so the engine calls them unconditionally.
//!
//! | span / event | level | fields |
//! |---|---|---|
//! | span `txmanager.block` | `DEBUG` | `mode`, `depth`, `outcome` (`ok`, `rolled_back`, `failed`, `panicked`), `error`, `conflict_table`, `conflict_pk` |
//! | span `txmanager.retry` | `DEBUG` | `attempts`, `outcome` (`ok`, or why it gave up) |
//! | event: savepoint opened, released, rolled back | `TRACE` | `depth` |
//! | event: transaction rolled back | `DEBUG` | `depth` |
//! | event: robust `on_commit` hook failed | `ERROR` | `error` |
//! | event: version conflict | `DEBUG` | `table`, `pk`, `expected`, `found` |
//! | event: PostgreSQL notice (a manager from `Postgres` `connect`) | `INFO` | `severity`, `code`, `message` |
//! | event: retrying | `INFO` | `attempt`, `wait_ms`, `cause` (`Retryable::retry_cause`: `conflict`, `busy`, `serialization_failure`, `deadlock`, `lock_not_available`, `retryable`) |

#[cfg(feature = "tracing")]
use tracing::field::Empty;

use crate::Mode;

/// The span of a running block (or nothing, without the feature).
#[must_use]
pub(crate) struct Span(#[cfg(feature = "tracing")] tracing::span::EnteredSpan);

/// Enters the span of a block that is starting at `depth`.
#[inline]
pub(crate) fn block(mode: Mode, depth: usize) -> Span {
    #[cfg(not(feature = "tracing"))]
    let _ = (mode, depth);
    Span(
        #[cfg(feature = "tracing")]
        tracing::debug_span!(
            "txmanager.block",
            mode = %mode,
            depth,
            outcome = Empty,
            error = Empty,
            conflict_table = Empty,
            conflict_pk = Empty,
        )
        .entered(),
    )
}

/// Enters the span of a retried block.
#[inline]
pub(crate) fn retry() -> Span {
    Span(
        #[cfg(feature = "tracing")]
        tracing::debug_span!("txmanager.retry", attempts = Empty, outcome = Empty).entered(),
    )
}

impl Span {
    /// Records how the block ended.
    #[inline]
    pub(crate) fn outcome(&self, outcome: &'static str) {
        #[cfg(feature = "tracing")]
        self.0.record("outcome", outcome);
        #[cfg(not(feature = "tracing"))]
        let _ = outcome;
    }

    /// Records how the block failed.
    #[inline]
    pub(crate) fn failed(&self, error: &crate::Error) {
        #[cfg(feature = "tracing")]
        {
            self.0.record("outcome", "failed");
            self.0.record("error", tracing::field::display(error));
        }
        #[cfg(not(feature = "tracing"))]
        let _ = error;
    }

    /// Records the number of runs of a retried block.
    #[inline]
    pub(crate) fn attempts(&self, attempts: u32) {
        #[cfg(feature = "tracing")]
        self.0.record("attempts", attempts);
        #[cfg(not(feature = "tracing"))]
        let _ = attempts;
    }
}

/// A block ended by a panic in its closure (recorded on the current span).
#[inline]
pub(crate) fn panicked() {
    #[cfg(feature = "tracing")]
    tracing::Span::current().record("outcome", "panicked");
}

/// A robust `on_commit` hook failed (returned `Err` or panicked); the hooks
/// after it still run.
#[inline]
pub(crate) fn hook_failed(error: &dyn std::fmt::Display) {
    #[cfg(feature = "tracing")]
    tracing::error!(error = %error, "on_commit hook failed; the later hooks still run");
    #[cfg(not(feature = "tracing"))]
    let _ = error;
}

/// A block's closure returned its own error, which wins, and ending the
/// block failed too (a rollback, or PostgreSQL's count of rows written
/// after a nested rollback, which leaves the enclosing block aborted).
#[cold]
pub(crate) fn cleanup_failed(error: &crate::Error) {
    #[cfg(feature = "tracing")]
    tracing::error!(error = %error, "ending the block after its error failed too; the block's own error is returned");
    #[cfg(not(feature = "tracing"))]
    let _ = error;
}

/// PostgreSQL's count of rows written could not tell whether a manual
/// block's reads wrote (`track_counts` off, or a relation's count fell):
/// the blocks that counted now count as having written.
#[cold]
pub(crate) fn rows_uncounted() {
    #[cfg(feature = "tracing")]
    tracing::warn!(
        "the server's row counts cannot tell whether a read wrote (track_counts is off, or a count \
         fell), so the manual block counts as having written: end it with commit() or rollback(), \
         or turn track_counts on"
    );
}

/// A savepoint was opened, released or rolled back.
#[inline]
pub(crate) fn savepoint(what: &'static str, depth: usize) {
    #[cfg(feature = "tracing")]
    tracing::trace!(depth, "savepoint {what}");
    #[cfg(not(feature = "tracing"))]
    let _ = (what, depth);
}

/// A transaction was rolled back.
#[inline]
pub(crate) fn rolled_back(depth: usize) {
    #[cfg(feature = "tracing")]
    tracing::debug!(depth, "transaction rolled back");
    #[cfg(not(feature = "tracing"))]
    let _ = depth;
}

/// A versioned write found another version: an event, and the table and key
/// on the enclosing block's span.
#[inline]
pub(crate) fn conflict(table: &str, pk: &crate::KeyValue, expected: i64, found: Option<i64>) {
    #[cfg(feature = "tracing")]
    {
        let span = tracing::Span::current();
        span.record("conflict_table", table);
        span.record("conflict_pk", tracing::field::display(pk));
        tracing::debug!(table, pk = %pk, expected, found, "version conflict");
    }
    #[cfg(not(feature = "tracing"))]
    let _ = (table, pk, expected, found);
}

/// A retried block failed (on a conflict, busy, a serialization failure, a
/// deadlock: `cause`) and runs again after `wait`.
#[inline]
pub(crate) fn retrying(attempt: u32, wait: std::time::Duration, cause: &'static str) {
    #[cfg(feature = "tracing")]
    tracing::info!(
        attempt,
        wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
        cause,
        "retrying"
    );
    #[cfg(not(feature = "tracing"))]
    let _ = (attempt, wait, cause);
}

/// A notice the PostgreSQL server sent (a warning, an info message).
#[cfg(feature = "postgres")]
#[inline]
pub(crate) fn server_notice(severity: &str, code: &str, message: &str) {
    #[cfg(feature = "tracing")]
    tracing::info!(severity, code, message, "PostgreSQL notice");
    #[cfg(not(feature = "tracing"))]
    let _ = (severity, code, message);
}
