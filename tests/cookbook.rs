//! django-concurrency's cookbook, recipe by recipe (the doctests of
//! docs/versioning.md's "Cookbook"), on a real database file, with managers
//! for the writers and a separate connection checking what was committed.

mod common;

use common::Db;
use txmanager::testing::ConcurrencyTest;
use txmanager::{
    ConcurrencyTarget, Error, Record, Transaction, apply_concurrency_check_for, concurrency_check,
    disable_concurrency, with_concurrency_disabled,
};

/// One row of `table` as another connection sees it: (version, name).
fn committed(db: &Db, table: &str, version: &str, id: i64) -> Option<(i64, String)> {
    let sql = format!("SELECT {version}, name FROM {table} WHERE id = ?1");
    db.observer()
        .query_row(&sql, [id], |r| Ok((r.get(0)?, r.get(1)?)))
        .ok()
}

#[derive(Debug, Clone, Default, Record)]
struct Product {
    #[record(primary_key)]
    id: Option<i64>,
    #[record(version)]
    version: Option<i64>,
    name: String,
}

fn products(db: &Db) {
    db.observer()
        .execute(
            "CREATE TABLE product (id INTEGER PRIMARY KEY, version INTEGER NOT NULL, name TEXT)",
            [],
        )
        .unwrap();
}

#[test]
fn an_import_with_concurrency_disabled_on_one_manager_overwrites_while_other_managers_still_check()
{
    let db = Db::new();
    products(&db);
    let mut importer = db.manager();
    let other = db.manager();
    let mut current = Product {
        name: "old".into(),
        ..Default::default()
    };
    current.save(&other).unwrap();
    current.save(&other).unwrap();
    let stored_version = current.version.unwrap();
    let exported = vec![Product {
        id: Some(1),
        version: Some(1),
        name: "imported".into(),
    }];

    with_concurrency_disabled(&mut importer, ConcurrencyTarget::of::<Product>(), |tm| {
        tm.commit_on_success(|tx| {
            for mut product in exported.clone() {
                product.save(tx)?;
            }
            Ok::<_, Error>(())
        })
    })
    .unwrap();
    let (version, name) = committed(&db, "product", "version", 1).unwrap();
    assert_eq!(name, "imported");
    assert!(version > stored_version, "the import moved the version on");

    // The other manager never stopped checking, and the importer checks
    // again after the closure.
    let mut stale = exported[0].clone();
    assert!(matches!(
        stale.save(&other),
        Err(Error::RecordModified { expected: 1, .. })
    ));
    assert!(matches!(
        stale.save(&importer),
        Err(Error::RecordModified { expected: 1, .. })
    ));
    assert_eq!(committed(&db, "product", "version", 1).unwrap().0, version);
}

#[derive(Debug, Clone, Default, Record)]
struct ConcurrentModel {
    #[record(primary_key)]
    id: Option<i64>,
    #[record(version)]
    version: Option<i64>,
    name: String,
}

#[test]
fn two_copies_of_a_new_versioned_model_the_second_save_raises_record_modified() {
    let db = Db::new();
    db.observer()
        .execute(
            "CREATE TABLE concurrent_model (id INTEGER PRIMARY KEY, version INTEGER NOT NULL, name TEXT)",
            [],
        )
        .unwrap();
    let (tm_a, tm_b) = (db.manager(), db.manager());
    ConcurrentModel {
        name: "x".into(),
        ..Default::default()
    }
    .save(&tm_a)
    .unwrap();
    let mut a = ConcurrentModel::get(&tm_a, 1).unwrap();
    let mut b = ConcurrentModel::get(&tm_b, 1).unwrap();
    a.name = "a".into();
    b.name = "b".into();
    a.save(&tm_a).unwrap();
    let loaded = b.version.unwrap();
    let err = b.save(&tm_b).unwrap_err();
    assert!(
        matches!(&err, Error::RecordModified { table: "concurrent_model", expected, found, .. }
            if *expected == loaded && *found == a.version),
        "{err:?}"
    );
    assert_eq!(
        committed(&db, "concurrent_model", "version", 1),
        Some((a.version.unwrap(), "a".into())),
        "a's save is what the file holds"
    );
    assert_eq!(b.version, Some(loaded), "b is left as it was");
}

#[derive(Debug, Clone, Default, Record)]
#[record(table = "auth_user")]
struct User {
    #[record(primary_key)]
    id: Option<i64>,
    #[record(version)]
    version: Option<i64>,
    name: String,
}

#[test]
fn versioning_added_to_an_existing_table_starts_rows_at_one_and_catches_the_second_save() {
    let db = Db::new();
    db.observer()
        .execute_batch(
            "CREATE TABLE auth_user (id INTEGER PRIMARY KEY, name TEXT);
             INSERT INTO auth_user (name) VALUES ('ann'), ('bob');",
        )
        .unwrap();
    let mut tm = db.manager();
    // Before: the type cannot even load the rows (no version column).
    assert!(matches!(User::get(&tm, 1), Err(Error::Statement { .. })));
    apply_concurrency_check_for::<User, _>(&mut tm).unwrap();
    apply_concurrency_check_for::<User, _>(&mut tm).unwrap();
    assert_eq!(
        committed(&db, "auth_user", "version", 2),
        Some((1, "bob".into()))
    );
    let other = db.manager();
    let mut a = User::get(&tm, 1).unwrap();
    let mut b = User::get(&other, 1).unwrap();
    a.save(&tm).unwrap();
    assert!(matches!(
        b.save(&other),
        Err(Error::RecordModified {
            table: "auth_user",
            expected: 1,
            ..
        })
    ));
}

#[derive(Debug, Clone, Default, Record)]
#[record(table = "security")]
struct ModelWithCustomSave {
    #[record(primary_key)]
    id: Option<i64>,
    #[record(version(integer, manual), column = "cm_version_id")]
    version: Option<i64>,
    name: String,
}

impl ModelWithCustomSave {
    /// The cookbook's custom save: check, log, save.
    fn custom_save(&mut self, tx: &Transaction<'_>) -> Result<(), Error> {
        concurrency_check(tx, self)?;
        tx.execute("INSERT INTO save_log (name) VALUES (?1)", [&self.name])?;
        self.save(tx)
    }
}

#[test]
fn a_manual_version_is_checked_by_the_custom_save_and_a_conflict_rolls_its_block_back() {
    let db = Db::new();
    db.observer()
        .execute_batch(
            "CREATE TABLE security (id INTEGER PRIMARY KEY, cm_version_id INTEGER NOT NULL, name TEXT);
             CREATE TABLE save_log (name TEXT);",
        )
        .unwrap();
    let mut tm = db.manager();
    let mut a = ModelWithCustomSave {
        name: "a".into(),
        ..Default::default()
    };
    tm.commit_on_success(|tx| a.custom_save(tx)).unwrap();
    let mut b = a.clone();
    a.name = "a2".into();
    tm.commit_on_success(|tx| a.custom_save(tx)).unwrap();
    b.name = "b".into();
    let err = tm.commit_on_success(|tx| b.custom_save(tx)).unwrap_err();
    assert!(
        matches!(err, Error::RecordModified { table: "security", found, .. } if found == a.version),
        "{err:?}"
    );
    let logged: i64 = db
        .observer()
        .query_row("SELECT count(*) FROM save_log", [], |r| r.get(0))
        .unwrap();
    assert_eq!(logged, 2, "the refused save logged nothing");
    assert_eq!(
        committed(&db, "security", "cm_version_id", 1),
        Some((a.version.unwrap(), "a2".into()))
    );
    // The version lives in cm_version_id, and a plain save does not check.
    b.save(&tm).unwrap();
    assert_eq!(
        committed(&db, "security", "cm_version_id", 1).unwrap().1,
        "b"
    );
}

#[derive(Debug, Clone, Default, Record)]
struct TestModel0 {
    #[record(primary_key)]
    id: Option<i64>,
    #[record(version)]
    version: Option<i64>,
    username: String,
}

/// The same table, declared without the check: what the mixin must catch.
#[derive(Debug, Clone, Default, Record)]
#[record(table = "test_model0", check = false)]
struct UncheckedModel0 {
    #[record(primary_key)]
    id: Option<i64>,
    #[record(version)]
    version: Option<i64>,
    username: String,
}

#[test]
fn the_concurrency_test_mixin_passes_a_checked_model_fails_an_unchecked_one_and_leaves_nothing() {
    let db = Db::new();
    db.observer()
        .execute(
            "CREATE TABLE test_model0 (id INTEGER PRIMARY KEY, version INTEGER NOT NULL, username TEXT)",
            [],
        )
        .unwrap();
    let mut tm = db.manager();
    ConcurrencyTest::new(|| TestModel0 {
        username: "test".into(),
        ..Default::default()
    })
    .run(&mut tm)
    .unwrap();
    let failure = ConcurrencyTest::new(|| UncheckedModel0 {
        username: "test".into(),
        ..Default::default()
    })
    .run(&mut tm)
    .unwrap_err();
    assert_eq!(
        failure.check(),
        "two copies of one record conflict",
        "{failure:?}"
    );
    let rows: i64 = db
        .observer()
        .query_row("SELECT count(*) FROM test_model0", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, 0, "it rolled everything back");
    assert!(tm.is_autocommit());
}

#[derive(Debug, Clone, Default, Record)]
struct Article {
    #[record(primary_key)]
    id: Option<i64>,
    #[record(version(auto_increment))]
    version: Option<i64>,
    name: String,
}

/// django-reversion's `recover_view` under `@disable_concurrency()`.
fn recover_view(
    tm: &mut txmanager::TransactionManager,
    revision: &mut Article,
) -> Result<(), Error> {
    with_concurrency_disabled(tm, ConcurrencyTarget::all(), |tm| {
        tm.commit_on_success(|tx| revision.save(tx))
    })
}

#[test]
fn a_deleted_record_recovered_from_a_revision_is_reinserted_under_its_key_with_concurrency_disabled()
 {
    let db = Db::new();
    db.observer()
        .execute(
            "CREATE TABLE article (id INTEGER PRIMARY KEY, version INTEGER NOT NULL, name TEXT)",
            [],
        )
        .unwrap();
    let mut tm = db.manager();
    for name in ["first", "second"] {
        Article {
            name: name.into(),
            ..Default::default()
        }
        .save(&tm)
        .unwrap();
    }
    let mut second = Article::get(&tm, 2).unwrap();
    let mut revision = second.clone();
    second.delete(&tm).unwrap();
    assert_eq!(committed(&db, "article", "version", 2), None);

    // Checked: the row is gone, so this is a conflict, and nothing is written.
    let err = revision.save(&tm).unwrap_err();
    assert!(
        matches!(err, Error::RecordModified { found: None, ref pk, .. } if *pk == 2),
        "{err:?}"
    );
    assert_eq!(committed(&db, "article", "version", 2), None);

    // The context-manager form, for that record only.
    {
        let guard = disable_concurrency(&mut tm, ConcurrencyTarget::record(&revision).unwrap());
        revision.save(&*guard).unwrap();
    }
    assert_eq!(
        committed(&db, "article", "version", 2),
        Some((2, "second".into())),
        "re-inserted under its key, past the version it was saved at"
    );

    // The decorator form, around a view.
    let mut first = Article::get(&tm, 1).unwrap();
    let mut old_first = first.clone();
    first.delete(&tm).unwrap();
    old_first.name = "first, recovered".into();
    recover_view(&mut tm, &mut old_first).unwrap();
    assert_eq!(
        committed(&db, "article", "version", 1),
        Some((2, "first, recovered".into()))
    );
    // Outside the view, checks are back.
    old_first.version = Some(1);
    assert!(matches!(
        old_first.save(&tm),
        Err(Error::RecordModified { .. })
    ));
}
