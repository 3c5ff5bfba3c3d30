//! The optional features: `serde` (conflicts as 409 bodies, records where
//! the user derives it) and `r2d2` (pools of managers from an Opener).
//! Each test runs when its feature is on (CI runs with --all-features).
#![allow(unused_imports)]

mod common;

use common::Db;
use txmanager::{Error, Opener, Record, TransactionManager, VersionField};

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize, Record)]
pub struct Page {
    #[record(primary_key)]
    pub id: Option<i64>,
    #[record(version(auto_increment))]
    pub version: Option<i64>,
    pub title: String,
}

fn page_table(tm: &TransactionManager) -> Result<(), Error> {
    tm.execute(
        "CREATE TABLE page (id INTEGER PRIMARY KEY, version INTEGER, title TEXT NOT NULL)",
        [],
    )
    .map(drop)
}

#[test]
fn a_record_that_derives_serde_round_trips_through_json_with_its_key_and_version()
-> Result<(), Box<dyn std::error::Error>> {
    let tm = TransactionManager::open_in_memory()?;
    page_table(&tm)?;
    let mut page = Page {
        title: "Home".into(),
        ..Default::default()
    };
    page.save(&tm)?;
    let json = serde_json::to_string(&page)?;
    assert_eq!(json, r#"{"id":1,"version":1,"title":"Home"}"#);
    let back: Page = serde_json::from_str(&json)?;
    assert_eq!(back, page);
    Ok(())
}

#[cfg(feature = "serde")]
#[test]
fn a_stale_save_gives_a_conflict_that_serializes_as_a_409_body()
-> Result<(), Box<dyn std::error::Error>> {
    let db = Db::new();
    let (alice, bob) = (db.manager(), db.manager());
    page_table(&alice)?;
    Page {
        title: "Home".into(),
        ..Default::default()
    }
    .save(&alice)?;
    let mut a = Page::get(&alice, 1)?;
    let mut b = Page::get(&bob, 1)?;
    a.title = "Home page".into();
    a.save(&alice)?;
    b.title = "Start".into();
    let err = b.save(&bob).expect_err("a stale save must fail");
    let conflict = err.conflict().expect("a version conflict");
    let json = serde_json::to_value(&conflict)?;
    assert_eq!(
        json,
        serde_json::json!({"table": "page", "pk": 1, "expected": 1, "found": 2})
    );
    let back: txmanager::Conflict = serde_json::from_value(json)?;
    assert_eq!(back, conflict);
    assert_eq!(
        serde_json::to_value(txmanager::Mode::CommitOnSuccess)?,
        "commit_on_success"
    );
    Ok(())
}

#[cfg(feature = "r2d2")]
#[test]
fn a_pool_opens_managers_with_the_openers_settings_and_init_hook()
-> Result<(), Box<dyn std::error::Error>> {
    use std::time::Duration;
    let db = Db::new();
    let opener = Opener::new(&db.path)
        .with_settings(
            txmanager::Settings::default().with_busy_timeout(Duration::from_millis(1234)),
        )
        .with_init(|conn| conn.pragma_update(None, "cache_size", -777));
    let pool = r2d2::Pool::builder().max_size(2).build(opener)?;
    let first = pool.get()?;
    let second = pool.get()?;
    for tm in [&first, &second] {
        let timeout: i64 = tm.query_row("PRAGMA busy_timeout", [], |r| r.get(0))?;
        let cache: i64 = tm.query_row("PRAGMA cache_size", [], |r| r.get(0))?;
        let journal: String = tm.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
        assert_eq!((timeout, cache, journal.as_str()), (1234, -777, "wal"));
    }
    Ok(())
}

#[cfg(feature = "r2d2")]
#[test]
fn pooled_managers_commit_from_many_threads_and_come_back_outside_a_transaction()
-> Result<(), Box<dyn std::error::Error>> {
    let db = Db::new();
    let pool = r2d2::Pool::builder()
        .max_size(2)
        .build(Opener::new(&db.path))?;
    std::thread::scope(|s| {
        for n in 0..6 {
            let pool = pool.clone();
            s.spawn(move || {
                let mut tm = pool.get().expect("a pooled manager");
                let failed = tm.commit_on_success(|tx| {
                    tx.execute(common::INSERT, ("Writer", n.to_string()))?;
                    if n % 2 == 1 {
                        return Err(Error::PendingCommitRollback); // any error: roll back
                    }
                    Ok(())
                });
                assert_eq!(failed.is_err(), n % 2 == 1);
            });
        }
    });
    let mut committed = db.committed(); // threads commit in any order
    committed.sort();
    assert_eq!(committed, ["Writer 0", "Writer 2", "Writer 4"]);
    let state = pool.state();
    assert_eq!(state.connections, 2);
    for _ in 0..2 {
        assert!(pool.get()?.is_autocommit());
    }
    Ok(())
}
