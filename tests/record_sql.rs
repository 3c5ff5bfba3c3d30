//! A record type's SQL names its table and columns bare, for speed, and
//! quotes only the names that are SQLite keywords. A record whose names are
//! all keywords must still save, load, detect conflicts and delete.

mod common;

use common::Db;
use txmanager::{Error, Record};

#[derive(Debug, Clone, Default, PartialEq, Record)]
pub struct Order {
    #[record(primary_key)]
    pub select: Option<i64>,
    #[record(version(auto_increment))]
    pub version: Option<i64>,
    pub group: String,
    pub limit: i64,
}

#[test]
fn a_record_named_with_keywords_saves_loads_and_detects_conflicts() {
    let db = Db::new();
    db.observer()
        .execute_batch(
            "CREATE TABLE \"order\" (\"select\" INTEGER PRIMARY KEY, version INTEGER NOT NULL,
                 \"group\" TEXT NOT NULL, \"limit\" INTEGER NOT NULL);",
        )
        .unwrap();
    let tm = db.manager();
    let mut order = Order {
        group: "books".to_owned(),
        limit: 3,
        ..Order::default()
    };
    order.save(&tm).unwrap();
    let key = order.select.expect("a key after insert");
    let mut stale = Order::get(&tm, key).unwrap();
    assert_eq!(stale, order);
    order.limit = 4;
    order.save(&tm).unwrap();
    stale.limit = 5;
    let err = stale.save(&tm).unwrap_err();
    assert!(
        matches!(err, Error::RecordModified { table: "order", .. }),
        "{err:?}"
    );
    let committed: (String, i64, i64) = db
        .observer()
        .query_row(
            "SELECT \"group\", \"limit\", version FROM \"order\" WHERE \"select\" = ?1",
            [key],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(committed, ("books".to_owned(), 4, 2));
    order.delete(&tm).unwrap();
    assert_eq!(Order::all(&tm).unwrap(), []);
}
