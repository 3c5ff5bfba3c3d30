//! The SQLite statement cache keeps the room the user asked for, however
//! deep blocks nest (review 3.9): txmanager only ever grows its own room.

mod common;

use rusqlite::StatementStatus;
use txmanager::{Error, Settings, Transaction, TransactionManager};

/// How many distinct statements the test caches: more than txmanager's own
/// growth alone would keep, fewer than the user asked for.
const STATEMENTS: usize = 90;
const ASKED_FOR: usize = 100;

/// Nests blocks `depth` deep, so txmanager grows the cache for its savepoints.
fn nest(tx: &mut Transaction<'_>, depth: usize) -> Result<(), Error> {
    if depth == 0 {
        return Ok(());
    }
    tx.commit_on_success(|inner| nest(inner, depth - 1))
}

/// Whether the first of `STATEMENTS` distinct cached statements is still
/// cached after all of them ran: a cached statement keeps its run count, a
/// statement prepared again starts from zero.
fn first_statement_still_cached(tm: &TransactionManager) -> bool {
    let conn = tm.connection();
    for n in 0..STATEMENTS {
        let mut statement = conn
            .prepare_cached(&format!("SELECT {n}"))
            .expect("prepare");
        statement.query_row([], |_| Ok(())).expect("run");
    }
    let first = conn.prepare_cached("SELECT 0").expect("prepare again");
    first.get_status(StatementStatus::Run) > 0
}

#[test]
fn deep_nesting_never_lowers_the_statement_cache_capacity_the_user_asked_for() {
    let db = common::Db::new();
    let settings = Settings::default().with_statement_cache_capacity(ASKED_FOR);
    let mut through_settings = db.manager_with(&settings);
    let mut through_the_manager = db.manager();
    through_the_manager.set_statement_cache_capacity(ASKED_FOR);
    for tm in [&mut through_settings, &mut through_the_manager] {
        tm.commit_on_success(|tx| nest(tx, 8)).expect("nest 8 deep");
        assert!(
            first_statement_still_cached(tm),
            "the cache was lowered below {ASKED_FOR} statements"
        );
    }
}

#[test]
fn the_default_cache_keeps_rusqlites_sixteen_statements() {
    let db = common::Db::new();
    let mut tm = db.manager();
    tm.commit_on_success(|tx| nest(tx, 8)).expect("nest 8 deep");
    assert!(
        !first_statement_still_cached(&tm),
        "a default cache holding {STATEMENTS} statements: the test above proves nothing"
    );
}
