//! Records with nothing but a key, and the targets of the disable scopes:
//! a type means that type (not every type on its table), and a target
//! naming an unsaved record is refused instead of matching nothing. Each
//! runs on a file (checked from a second connection) and on `:memory:`.

mod common;

use common::Db;
use txmanager::{
    ConcurrencyTarget, Error, Record, TransactionManager, disable_concurrency,
    disable_version_increment,
};

/// Nothing but a key.
#[derive(Debug, Clone, Default, PartialEq, Record)]
pub struct Ticket {
    #[record(primary_key)]
    pub id: Option<i64>,
}

/// A key and a version, no data.
#[derive(Debug, Clone, Default, PartialEq, Record)]
pub struct Marker {
    #[record(primary_key)]
    pub id: Option<i64>,
    #[record(version(auto_increment))]
    pub version: Option<i64>,
}

/// The full model.
#[derive(Debug, Clone, Default, PartialEq, Record)]
pub struct Article {
    #[record(primary_key)]
    pub id: Option<i64>,
    #[record(version(auto_increment))]
    pub version: Option<i64>,
    pub title: String,
    pub body: String,
}

/// A narrow "proxy" view of the same table.
#[derive(Debug, Clone, Default, PartialEq, Record)]
#[record(table = "article")]
pub struct ArticleTitle {
    #[record(primary_key)]
    pub id: Option<i64>,
    #[record(version(auto_increment))]
    pub version: Option<i64>,
    pub title: String,
}

const SCHEMA: &str = "CREATE TABLE ticket (id INTEGER PRIMARY KEY);
     CREATE TABLE marker (id INTEGER PRIMARY KEY, version INTEGER);
     CREATE TABLE article (id INTEGER PRIMARY KEY, version INTEGER, title TEXT, body TEXT);";

enum Place {
    File(Db),
    Memory,
}

impl Place {
    fn both() -> [Place; 2] {
        [Place::File(Db::new()), Place::Memory]
    }

    fn manager(&self) -> TransactionManager {
        let tm = match self {
            Place::File(db) => db.manager(),
            Place::Memory => TransactionManager::open_in_memory().unwrap(),
        };
        tm.execute_batch(SCHEMA).unwrap();
        tm
    }

    /// One integer, as committed.
    fn read(&self, tm: &TransactionManager, sql: &str) -> i64 {
        assert!(tm.is_autocommit());
        match self {
            Place::File(db) => db.observer().query_row(sql, [], |r| r.get(0)).unwrap(),
            Place::Memory => tm.query_row(sql, [], |r| r.get(0)).unwrap(),
        }
    }
}

#[test]
fn a_record_with_no_data_columns_is_inserted_updated_and_deleted() {
    for place in Place::both() {
        let mut tm = place.manager();
        let (mut a, mut b) = (Ticket::default(), Ticket::default());
        tm.commit_on_success(|tx| {
            a.save(tx)?;
            b.save(tx)?;
            a.save(tx) // an update with nothing to set
        })
        .unwrap();
        assert_eq!((a.id, b.id), (Some(1), Some(2)));
        assert_eq!(place.read(&tm, "SELECT count(*) FROM ticket"), 2);

        let mut m = Marker::default();
        m.save(&tm).unwrap();
        m.save(&tm).unwrap();
        assert_eq!(m.version, Some(2));
        assert_eq!(
            place.read(&tm, "SELECT version FROM marker WHERE id = 1"),
            2
        );
        let mut stale = Marker::get(&tm, 1).unwrap();
        m.save(&tm).unwrap();
        assert!(matches!(stale.save(&tm), Err(Error::RecordModified { .. })));

        b.delete(&tm).unwrap();
        assert_eq!(place.read(&tm, "SELECT count(*) FROM ticket"), 1);
    }
}

/// Saves a stale copy of each type of article 1, inside the guard.
fn stale_saves(
    tm: &mut TransactionManager,
    target: ConcurrencyTarget,
) -> (Result<(), Error>, Result<(), Error>) {
    let mut full = Article::get(&*tm, 1).unwrap();
    let mut title = ArticleTitle::get(&*tm, 1).unwrap();
    tm.execute("UPDATE article SET version = version + 1 WHERE id = 1", [])
        .unwrap();
    let guard = disable_concurrency(tm, target);
    full.body = "full".into();
    title.title = "title".into();
    (full.save(&*guard), title.save(&*guard))
}

#[test]
fn two_record_types_on_one_table_are_disabled_independently() {
    for place in Place::both() {
        let mut tm = place.manager();
        Article {
            title: "t".into(),
            body: "b".into(),
            ..Article::default()
        }
        .save(&tm)
        .unwrap();

        let (full, title) = stale_saves(&mut tm, ConcurrencyTarget::of::<ArticleTitle>());
        assert!(
            matches!(full, Err(Error::RecordModified { .. })),
            "the full model is still checked: {full:?}"
        );
        title.unwrap();

        let (full, title) = stale_saves(&mut tm, ConcurrencyTarget::of::<Article>());
        full.unwrap();
        assert!(
            matches!(title, Err(Error::RecordModified { .. })),
            "the proxy is still checked: {title:?}"
        );

        let row = ConcurrencyTarget::record(&Article::get(&tm, 1).unwrap()).unwrap();
        let (full, title) = stale_saves(&mut tm, row);
        full.unwrap();
        assert!(
            matches!(title, Err(Error::RecordModified { .. })),
            "{title:?}"
        );
        assert_eq!(
            place.read(&tm, "SELECT count(*) FROM article WHERE body = 'full'"),
            1
        );
    }
}

#[test]
fn a_target_naming_an_unsaved_record_is_refused_and_names_the_table() {
    let err = ConcurrencyTarget::record(&Article::default()).unwrap_err();
    assert!(
        matches!(err, Error::RecordNotSaved { table: "article" }),
        "{err:?}"
    );
    assert!(err.to_string().contains("article"), "{err}");
    for place in Place::both() {
        let mut tm = place.manager();
        let mut a = Article::default();
        a.save(&tm).unwrap();
        // Once saved, it can be targeted; the increment scope holds it still.
        let target = ConcurrencyTarget::record(&a).unwrap();
        let guard = disable_version_increment(&mut tm, target);
        a.title = "kept at version 1".into();
        a.save(&*guard).unwrap();
        drop(guard);
        assert_eq!(
            place.read(&tm, "SELECT version FROM article WHERE id = 1"),
            1
        );
    }
}
