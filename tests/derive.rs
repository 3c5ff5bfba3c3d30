//! `#[derive(Record)]`: what each attribute does to the SQL and the rows,
//! checked against a second connection; keys of several types; generic and
//! private-field structs. The compile errors are in `compile_fail.rs`.

mod common;

use common::Db;
use txmanager::rusqlite::types::{FromSql, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use txmanager::{Error, KeyValue, Record, SqlValue, TransactionManager};

mod private {
    use txmanager::Record;

    /// Raw identifiers, renamed and private fields, a read-only and a
    /// skipped field.
    #[derive(Debug, Clone, Default, Record)]
    #[record(table = "item")]
    pub struct Item {
        #[record(primary_key, column = "item_id")]
        id: Option<i64>,
        #[record(version(auto_increment), column = "rev")]
        version: Option<i64>,
        r#type: String,
        #[record(column = "label")]
        name: String,
        #[record(read_only)]
        created: Option<String>,
        #[record(skip)]
        pub scratch: Vec<u8>,
    }

    impl Item {
        pub fn new(kind: &str, name: &str) -> Self {
            Item {
                r#type: kind.into(),
                name: name.into(),
                scratch: vec![1, 2, 3],
                ..Default::default()
            }
        }
        pub fn id(&self) -> Option<i64> {
            self.id
        }
        pub fn kind(&self) -> &str {
            &self.r#type
        }
        pub fn created(&self) -> Option<&str> {
            self.created.as_deref()
        }
        pub fn rename(&mut self, name: &str) {
            self.name = name.into();
        }
    }
}

use private::Item;

const ITEM: &str = "CREATE TABLE item (item_id INTEGER PRIMARY KEY, rev INTEGER NOT NULL,
     type TEXT NOT NULL, label TEXT NOT NULL, created TEXT NOT NULL DEFAULT 'by the database')";

#[test]
fn raw_renamed_read_only_and_skipped_fields_map_to_the_right_columns() {
    let db = Db::new();
    db.observer().execute_batch(ITEM).unwrap();
    let tm = db.manager();
    let mut item = Item::new("bolt", "M6");
    item.save(&tm).unwrap();
    assert_eq!(item.id(), Some(1));
    let row: (i64, i64, String, String, String) = db
        .observer()
        .query_row(
            "SELECT item_id, rev, type, label, created FROM item",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .unwrap();
    assert_eq!(
        row,
        (1, 1, "bolt".into(), "M6".into(), "by the database".into())
    );

    // The read-only column is never written, even when the field is set.
    db.observer()
        .execute("UPDATE item SET created = 'then'", [])
        .unwrap();
    item.rename("M8");
    item.save(&tm).unwrap();
    let loaded = Item::get(&tm, 1).unwrap();
    assert_eq!(loaded.kind(), "bolt");
    assert_eq!(loaded.created(), Some("then"), "read from the row");
    assert!(loaded.scratch.is_empty(), "skipped: defaulted on load");
    assert_eq!(loaded.version(), Some(2));
}

/// A text primary key.
#[derive(Debug, Clone, Default, PartialEq, Record)]
struct Account {
    #[record(primary_key)]
    username: Option<String>,
    #[record(version(auto_increment))]
    version: Option<i64>,
    balance: i64,
}

#[test]
fn a_text_primary_key_saves_loads_and_reports_conflicts_with_the_key() {
    let db = Db::new();
    db.observer()
        .execute_batch(
            "CREATE TABLE account (username TEXT PRIMARY KEY, version INTEGER NOT NULL, balance INTEGER NOT NULL)",
        )
        .unwrap();
    let tm1 = db.manager();
    let tm2 = db.manager();
    let mut ann = Account {
        username: Some("ann".into()),
        balance: 10,
        ..Default::default()
    };
    ann.save(&tm1).unwrap();
    let mut stale = Account::get(&tm2, "ann").unwrap();
    assert_eq!(stale, ann);
    ann.balance = 20;
    ann.save(&tm1).unwrap();
    stale.balance = 30;
    let err = stale.save(&tm2).unwrap_err();
    match &err {
        Error::RecordModified {
            table: "account",
            pk,
            expected: 1,
            found: Some(2),
        } => assert_eq!(*pk, "ann"),
        other => panic!("expected RecordModified, got {other:?}"),
    }
    assert!(
        err.to_string().starts_with(
            "record modified: account row 'ann' was loaded at version 1, but is now at version 2"
        ),
        "{err}"
    );
    let balance: i64 = db
        .observer()
        .query_row("SELECT balance FROM account", [], |r| r.get(0))
        .unwrap();
    assert_eq!(balance, 20, "the stale save wrote nothing");
    assert!(matches!(
        Account::get(&tm1, "bob"),
        Err(Error::RecordNotFound { pk: KeyValue::Text(ref k), .. }) if k == "bob"
    ));
    assert_eq!(Account::find(&tm1, "bob").unwrap(), None);
}

#[test]
fn a_text_key_with_a_default_is_refused_on_sqlite_before_anything_is_written() {
    // SQLite reports only the rowid of an insert, not a text key its
    // default made: the save is refused, where PostgreSQL reads the key
    // back (tests/pg_records.rs).
    let db = Db::new();
    db.observer()
        .execute_batch(
            "CREATE TABLE account (username TEXT PRIMARY KEY DEFAULT (lower(hex(randomblob(16)))), \
             version INTEGER NOT NULL, balance INTEGER NOT NULL)",
        )
        .unwrap();
    let tm = db.manager();
    let err = Account::default().save(&tm).unwrap_err();
    assert!(
        matches!(err, Error::MissingPrimaryKey { table: "account" }),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("set the key before saving"),
        "{err}"
    );
    let rows: i64 = db
        .observer()
        .query_row("SELECT count(*) FROM account", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, 0);
}

#[test]
fn a_text_key_loaded_under_a_nocase_collation_holds_the_key_the_row_stores() {
    let db = Db::new();
    db.observer()
        .execute_batch(
            "CREATE TABLE account (username TEXT PRIMARY KEY COLLATE NOCASE, version INTEGER NOT NULL, balance INTEGER NOT NULL);
             INSERT INTO account VALUES ('ann', 1, 10);",
        )
        .unwrap();
    let tm = db.manager();
    // The lookup matches 'ann' under NOCASE: the record holds the row's
    // key, not the caller's spelling (only integer keys are taken as given).
    let ann = Account::get(&tm, "ANN").unwrap();
    assert_eq!(ann.username.as_deref(), Some("ann"));
    let found = Account::find(&tm, "Ann").unwrap().unwrap();
    assert_eq!(found.username.as_deref(), Some("ann"));
}

#[test]
fn an_integer_key_loaded_by_get_holds_the_key_and_reads_every_other_column() {
    let db = Db::new();
    db.observer()
        .execute_batch(
            "CREATE TABLE item (item_id INTEGER PRIMARY KEY, rev INTEGER NOT NULL, type TEXT NOT NULL, label TEXT NOT NULL, created TEXT);
             INSERT INTO item VALUES (41, 1, 'a', 'first', NULL), (42, 3, 'b', 'second', 'today');",
        )
        .unwrap();
    let tm = db.manager();
    // The key column comes first and is skipped, so every later column
    // must land in its own field.
    let item = Item::get(&tm, 42).unwrap();
    assert_eq!(item.id(), Some(42));
    assert_eq!(Record::version(&item), Some(3));
    assert_eq!((item.kind(), item.created()), ("b", Some("today")));
    assert!(
        format!("{item:?}").contains(r#"name: "second""#),
        "{item:?}"
    );
    assert!(Item::find(&tm, 43).unwrap().is_none());
    let first = Item::get_version(&tm, 41, 1).unwrap();
    assert_eq!(
        (first.id(), first.kind(), first.created()),
        (Some(41), "a", None)
    );
}

/// An integer key on a column of `TEXT` affinity.
#[derive(Debug, Clone, Default, Record)]
#[record(table = "textcol")]
struct IntKeyOnText {
    #[record(primary_key)]
    id: Option<i64>,
    #[record(version(auto_increment))]
    version: Option<i64>,
    label: String,
}

/// The documented difference of `RecordValues::from_row_with_key`: `get`
/// and `find` take the integer key they were given, so they load `'7'`
/// from a `TEXT` key column that `WHERE id = 7` matches, while `all`
/// reads the key and refuses it. The test pins that nothing is lost on
/// the lenient path: the loaded record's save updates that very row,
/// version-checked, and inserts no second one.
#[test]
fn an_integer_key_on_a_text_column_loads_by_key_and_saves_back_to_the_same_row() {
    let db = Db::new();
    db.observer()
        .execute_batch(
            "CREATE TABLE textcol (id TEXT PRIMARY KEY, version INTEGER NOT NULL, label TEXT NOT NULL);
             INSERT INTO textcol VALUES ('7', 1, 'seven');",
        )
        .unwrap();
    let tm = db.manager();
    let mut found = IntKeyOnText::find(&tm, 7)
        .unwrap()
        .expect("WHERE id = 7 matches '7'");
    let mut stale = IntKeyOnText::get(&tm, 7).unwrap();
    assert_eq!(
        (found.id, found.version, found.label.as_str()),
        (Some(7), Some(1), "seven")
    );
    let Err(Error::Statement { sql, .. }) = IntKeyOnText::all(&tm) else {
        panic!("all() reads the key column, and '7' is no i64");
    };
    assert!(sql.contains("textcol"), "{sql}");

    found.label = "SEVEN".into();
    found.save(&tm).unwrap();
    let rows: Vec<(String, i64, String)> = db
        .observer()
        .prepare("SELECT id, version, label FROM textcol")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        rows,
        vec![("7".to_owned(), 2, "SEVEN".to_owned())],
        "updated in place"
    );

    stale.label = "lost?".into();
    let err = stale.save(&tm).unwrap_err();
    assert!(matches!(err, Error::RecordModified { .. }), "{err:?}");
    let label: String = db
        .observer()
        .query_row("SELECT label FROM textcol", [], |r| r.get(0))
        .unwrap();
    assert_eq!(label, "SEVEN", "the stale save changed nothing");
}

#[test]
fn a_text_key_left_empty_is_refused_before_anything_is_written() {
    let db = Db::new();
    db.observer()
        .execute_batch("CREATE TABLE account (username TEXT PRIMARY KEY, version INTEGER NOT NULL, balance INTEGER NOT NULL)")
        .unwrap();
    let tm = db.manager();
    let err = Account::default().save(&tm).unwrap_err();
    assert!(
        matches!(err, Error::MissingPrimaryKey { table: "account" }),
        "{err:?}"
    );
    let rows: i64 = db
        .observer()
        .query_row("SELECT count(*) FROM account", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, 0);
}

/// A key type of the user's own, stored as text.
#[derive(Debug, Clone, PartialEq)]
struct Sku(String);

impl ToSql for Sku {
    fn to_sql(&self) -> txmanager::rusqlite::Result<ToSqlOutput<'_>> {
        self.0.to_sql()
    }
}

impl FromSql for Sku {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        String::column_result(value).map(Sku)
    }
}

// No `postgres` impls: the `postgres` feature changes nothing for a
// SQLite-only type (this file is compiled with every feature on in CI).

/// A generic struct with a custom key type.
#[derive(Debug, Clone, Record)]
#[record(table = "stock")]
struct Stock<T> {
    #[record(primary_key)]
    sku: Option<Sku>,
    #[record(version(integer))]
    version: Option<i64>,
    quantity: T,
}

fn assert_bindable<T: SqlValue<txmanager::Sqlite> + ?Sized>(_: &T) {}

#[test]
fn a_generic_struct_with_a_custom_key_type_round_trips() {
    let tm = TransactionManager::open_in_memory().unwrap();
    tm.execute(
        "CREATE TABLE stock (sku TEXT PRIMARY KEY, version INTEGER NOT NULL, quantity)",
        [],
    )
    .unwrap();
    let mut bolts = Stock {
        sku: Some(Sku("B-6".into())),
        version: None,
        quantity: 5_i64,
    };
    bolts.save(&tm).unwrap();
    let mut loaded = Stock::<i64>::get(&tm, Sku("B-6".into())).unwrap();
    assert_eq!(loaded.quantity, 5);
    let mut floats = Stock::<f64>::get(&tm, Sku("B-6".into())).unwrap();
    assert_eq!(floats.quantity, 5.0);
    loaded.quantity = 4;
    loaded.save(&tm).unwrap();
    floats.quantity = 1.5;
    let err = floats.save(&tm).unwrap_err();
    assert!(
        matches!(&err, Error::RecordModified { pk, .. } if *pk == "B-6"),
        "{err:?}"
    );
    assert_bindable(&Sku("x".into()));
}

/// A record whose field types only SQLite converts: `u16` (PostgreSQL has
/// no unsigned types) and the key type above, which implements only
/// rusqlite's traits.
#[derive(Debug, Clone, Default, Record)]
struct Bin {
    #[record(primary_key)]
    sku: Option<Sku>,
    #[record(version(auto_increment))]
    version: Option<i64>,
    slots: u16,
}

#[test]
fn a_record_with_sqlite_only_field_types_works_on_sqlite_with_every_feature_on() {
    // Features are additive: with `postgres` on (CI runs this file with
    // --all-features), a record PostgreSQL cannot hold still compiles and
    // works on SQLite (using it on PostgreSQL is the compile error pinned
    // in tests/ui-postgres).
    let db = Db::new();
    db.observer()
        .execute_batch(
            "CREATE TABLE bin (sku TEXT PRIMARY KEY, version INTEGER NOT NULL, slots INTEGER NOT NULL)",
        )
        .unwrap();
    let tm = db.manager();
    let mut bin = Bin {
        sku: Some(Sku("A-1".into())),
        slots: u16::MAX,
        ..Default::default()
    };
    bin.save(&tm).unwrap();
    let mut stale = Bin::get(&tm, Sku("A-1".into())).unwrap();
    assert_eq!((stale.slots, stale.version), (u16::MAX, Some(1)));
    bin.slots = 7;
    bin.save(&tm).unwrap();
    stale.slots = 8;
    assert!(matches!(
        stale.save(&tm),
        Err(Error::RecordModified {
            expected: 1,
            found: Some(2),
            ..
        })
    ));
    let slots: i64 = db
        .observer()
        .query_row("SELECT slots FROM bin", [], |r| r.get(0))
        .unwrap();
    assert_eq!(slots, 7);
}

/// Keys from rowids: an integer key left `None` is assigned by the database.
#[derive(Debug, Clone, Default, Record)]
struct Note {
    #[record(primary_key)]
    id: Option<i64>,
    body: String,
}

#[test]
fn an_integer_key_left_empty_is_assigned_by_the_database() {
    let tm = TransactionManager::open_in_memory().unwrap();
    tm.execute("CREATE TABLE note (id INTEGER PRIMARY KEY, body TEXT)", [])
        .unwrap();
    let mut a = Note {
        body: "a".into(),
        ..Default::default()
    };
    a.save(&tm).unwrap();
    let mut b = Note {
        id: Some(10),
        body: "b".into(),
    };
    b.save(&tm).unwrap();
    let mut c = Note {
        body: "c".into(),
        ..Default::default()
    };
    c.save(&tm).unwrap();
    assert_eq!((a.id, b.id, c.id), (Some(1), Some(10), Some(11)));
}
