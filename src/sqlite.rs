//! Everything SQLite-specific that txmanager says to the database: `BEGIN`
//! variants, savepoint SQL, the `PRAGMA`s applied at open, and identifier
//! quoting. Other modules ask this one for SQL text instead of writing their
//! own, so that a second backend has one module to mirror.

use rusqlite::Connection;

use crate::settings::{Settings, Synchronous, TransactionBehavior};

pub(crate) const COMMIT: &str = "COMMIT";
pub(crate) const ROLLBACK: &str = "ROLLBACK";

/// The `BEGIN` statement for a behavior.
pub(crate) fn begin(behavior: TransactionBehavior) -> &'static str {
    match behavior {
        TransactionBehavior::Deferred => "BEGIN DEFERRED",
        TransactionBehavior::Immediate => "BEGIN IMMEDIATE",
        TransactionBehavior::Exclusive => "BEGIN EXCLUSIVE",
    }
}

/// Applies `settings` to a freshly opened connection. `is_file` is false for
/// in-memory databases, where WAL and `synchronous` do not apply.
pub(crate) fn configure(
    conn: &Connection,
    settings: &Settings,
    is_file: bool,
) -> rusqlite::Result<()> {
    conn.busy_timeout(settings.busy_timeout())?;
    conn.pragma_update(
        None,
        "foreign_keys",
        if settings.foreign_keys() { "ON" } else { "OFF" },
    )?;
    if is_file {
        if settings.wal() {
            // journal_mode answers with the mode now in force; WAL can be
            // refused (e.g. on some network file systems), which is not an error.
            conn.pragma_update_and_check(None, "journal_mode", "WAL", |_| Ok(()))?;
        }
        let level = match settings.synchronous() {
            Synchronous::Off => "OFF",
            Synchronous::Normal => "NORMAL",
            Synchronous::Full => "FULL",
        };
        conn.pragma_update(None, "synchronous", level)?;
    }
    Ok(())
}

/// The three statements that manage one nesting level's savepoint.
#[derive(Debug)]
pub(crate) struct SavepointSql {
    pub(crate) open: String,
    pub(crate) release: String,
    pub(crate) rollback_to: String,
}

/// Savepoint SQL by nesting depth, built the first time a depth is reached
/// and reused after that, so a nested block allocates nothing once warm.
#[derive(Debug, Default)]
pub(crate) struct SavepointCache {
    by_depth: Vec<SavepointSql>,
}

impl SavepointCache {
    pub(crate) fn get(&mut self, depth: usize) -> &SavepointSql {
        while self.by_depth.len() <= depth {
            let name = quote_identifier(&format!("txmanager_sp_{}", self.by_depth.len()));
            self.by_depth.push(SavepointSql {
                open: format!("SAVEPOINT {name}"),
                release: format!("RELEASE SAVEPOINT {name}"),
                rollback_to: format!("ROLLBACK TO SAVEPOINT {name}"),
            });
        }
        &self.by_depth[depth]
    }
}

/// Quotes an identifier for SQLite: wraps it in double quotes and doubles any
/// double quote inside it.
pub(crate) fn quote_identifier(name: &str) -> String {
    let mut quoted = String::with_capacity(name.len() + 2);
    quoted.push('"');
    for c in name.chars() {
        if c == '"' {
            quoted.push('"');
        }
        quoted.push(c);
    }
    quoted.push('"');
    quoted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_identifier_doubles_embedded_quotes() {
        assert_eq!(quote_identifier("plain"), "\"plain\"");
        assert_eq!(quote_identifier("a\"b"), "\"a\"\"b\"");
    }

    #[test]
    fn savepoint_sql_is_built_per_depth_and_reused() {
        let mut cache = SavepointCache::default();
        assert_eq!(cache.get(2).open, "SAVEPOINT \"txmanager_sp_2\"");
        assert_eq!(
            cache.get(0).rollback_to,
            "ROLLBACK TO SAVEPOINT \"txmanager_sp_0\""
        );
        let before = cache.get(1).release.as_ptr();
        assert_eq!(cache.get(1).release.as_ptr(), before);
    }
}
