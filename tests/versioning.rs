//! Optimistic concurrency: conflicts between managers on one file, each
//! version kind, the disable scopes, adding versioning to existing tables,
//! manual checks, the testing helper, and many threads.

mod common;

use std::panic::{self, AssertUnwindSafe};
use std::thread;

use common::Db;
use txmanager::testing::ConcurrencyTest;
use txmanager::{
    Binder, ConcurrencyTarget, Error, KeyValue, Record, RecordMeta, RowReader, TransactionManager,
    ValueError, VersionField, VersionKind, apply_concurrency_check, apply_concurrency_check_for,
    concurrency_check, disable_concurrency, disable_version_increment, has_changed,
    with_concurrency_disabled,
};

/// Django's doctest model, with an auto-increment version.
#[derive(Debug, Clone, Default, PartialEq, Record)]
#[record(table = "vreporter")]
pub struct Reporter {
    #[record(primary_key)]
    pub id: Option<i64>,
    #[record(version(auto_increment))]
    pub version: Option<i64>,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
}

#[derive(Debug, Clone, Default, PartialEq, Record)]
pub struct Counter {
    #[record(primary_key)]
    pub id: Option<i64>,
    #[record(version(integer))]
    pub version: Option<i64>,
    pub value: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Record)]
pub struct Note {
    #[record(primary_key)]
    pub id: Option<i64>,
    #[record(version(trigger))]
    pub version: Option<i64>,
    pub body: String,
}

#[derive(Debug, Clone, Default, PartialEq, Record)]
pub struct Article {
    #[record(primary_key)]
    pub id: Option<i64>,
    #[record(version(conditional(title)))]
    pub version: Option<i64>,
    pub title: String,
    pub views: i64,
}

/// The cookbook's AbstractModelWithCustomSave: checked by hand.
#[derive(Debug, Clone, Default, PartialEq, Record)]
pub struct Security {
    #[record(primary_key)]
    pub id: Option<i64>,
    #[record(version(integer, manual), column = "cm_version_id")]
    pub version: Option<i64>,
    pub name: String,
}

#[derive(Debug, Clone, Default, PartialEq, Record)]
pub struct Tag {
    #[record(primary_key)]
    pub id: Option<i64>,
    pub label: String,
}

fn schema(db: &Db) {
    db.observer()
        .execute_batch(
            "CREATE TABLE vreporter (id INTEGER PRIMARY KEY, version INTEGER NOT NULL,
                 first_name TEXT NOT NULL, last_name TEXT NOT NULL, email TEXT NOT NULL);
             CREATE TABLE counter (id INTEGER PRIMARY KEY, version INTEGER NOT NULL, value INTEGER NOT NULL);
             CREATE TABLE note (id INTEGER PRIMARY KEY, version INTEGER NOT NULL DEFAULT 1, body TEXT NOT NULL);
             CREATE TABLE article (id INTEGER PRIMARY KEY, version INTEGER NOT NULL,
                 title TEXT NOT NULL, views INTEGER NOT NULL);
             CREATE TABLE security (id INTEGER PRIMARY KEY, cm_version_id INTEGER NOT NULL, name TEXT NOT NULL);
             CREATE TABLE tag (id INTEGER PRIMARY KEY, label TEXT NOT NULL);",
        )
        .expect("schema");
}

fn setup() -> (Db, TransactionManager, TransactionManager) {
    let db = Db::new();
    schema(&db);
    let (a, b) = (db.manager(), db.manager());
    (db, a, b)
}

fn alice() -> Reporter {
    Reporter {
        first_name: "Alice".into(),
        last_name: "Smith".into(),
        ..Default::default()
    }
}

/// What is committed for a reporter row, read through an independent connection.
fn committed_reporter(db: &Db, id: i64) -> Option<(i64, String)> {
    db.observer()
        .query_row(
            "SELECT version, last_name FROM vreporter WHERE id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .ok()
}

// ---------- conflicts between two managers ----------

#[test]
fn a_stale_update_from_a_second_manager_fails_instead_of_overwriting() {
    let (db, tm1, tm2) = setup();
    let mut r = alice();
    r.save(&tm1).unwrap();
    let mut a = Reporter::get(&tm1, 1).unwrap();
    let mut b = Reporter::get(&tm2, 1).unwrap();
    a.last_name = "Jones".into();
    a.save(&tm1).unwrap();
    b.last_name = "Doe".into();
    let err = b.save(&tm2).unwrap_err();
    match err {
        Error::RecordModified {
            table,
            pk,
            expected,
            found,
        } => {
            assert_eq!(
                (table, pk, expected, found),
                ("vreporter", 1.into(), 1, Some(2))
            );
        }
        other => panic!("expected RecordModified, got {other:?}"),
    }
    assert_eq!(b.version, Some(1), "the in-memory version is unchanged");
    assert_eq!(
        committed_reporter(&db, 1),
        Some((2, "Jones".into())),
        "the first save survives"
    );
}

#[test]
fn a_stale_delete_from_a_second_manager_fails_and_deletes_nothing() {
    let (db, tm1, tm2) = setup();
    alice().save(&tm1).unwrap();
    let mut a = Reporter::get(&tm1, 1).unwrap();
    let mut b = Reporter::get(&tm2, 1).unwrap();
    a.last_name = "Jones".into();
    a.save(&tm1).unwrap();
    let err = b.delete(&tm2).unwrap_err();
    assert!(
        matches!(
            err,
            Error::RecordModified {
                expected: 1,
                found: Some(2),
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(b.id, Some(1), "a failed delete keeps the key");
    assert_eq!(committed_reporter(&db, 1), Some((2, "Jones".into())));
}

#[test]
fn saving_a_record_whose_row_was_deleted_is_a_conflict_with_no_version_found() {
    let (db, tm1, tm2) = setup();
    alice().save(&tm1).unwrap();
    let mut a = Reporter::get(&tm1, 1).unwrap();
    let mut b = Reporter::get(&tm2, 1).unwrap();
    a.delete(&tm1).unwrap();
    assert_eq!((a.id, a.version), (None, None));
    let err = b.save(&tm2).unwrap_err();
    assert!(
        matches!(err, Error::RecordModified { found: None, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("has since been deleted"), "{err}");
    assert_eq!(committed_reporter(&db, 1), None, "nothing was re-inserted");
}

#[test]
fn a_conflict_inside_commit_on_success_rolls_the_whole_block_back() {
    let (db, mut tm1, tm2) = setup();
    alice().save(&tm1).unwrap();
    let mut stale = Reporter::get(&tm1, 1).unwrap();
    let mut fresh = Reporter::get(&tm2, 1).unwrap();
    fresh.email = "fresh@example.com".into();
    fresh.save(&tm2).unwrap();

    let err = tm1
        .commit_on_success(|tx| {
            Reporter {
                first_name: "Ben".into(),
                last_name: "Jones".into(),
                ..Default::default()
            }
            .save(tx)?;
            stale.last_name = "Overwritten".into();
            stale.save(tx)
        })
        .unwrap_err();
    assert!(matches!(err, Error::RecordModified { .. }));
    assert_eq!(
        committed_reporter(&db, 2),
        None,
        "Ben's insert was rolled back with the block"
    );
    assert_eq!(committed_reporter(&db, 1), Some((2, "Smith".into())));
    assert!(tm1.is_autocommit());
}

#[test]
fn records_work_in_all_three_modes() {
    let (db, mut tm, _) = setup();
    tm.autocommit(|tx| alice().save(tx)).unwrap();
    tm.commit_on_success(|tx| {
        let mut r = Reporter::get(tx, 1)?;
        r.last_name = "Jones".into();
        r.save(tx)
    })
    .unwrap();
    tm.commit_manually(|tx| {
        let mut r = Reporter::get(tx, 1)?;
        r.last_name = "Doe".into();
        r.save(tx)?;
        tx.commit()
    })
    .unwrap();
    let err = tm
        .commit_manually(|tx| {
            let mut r = Reporter::get(tx, 1)?;
            r.last_name = "Forgotten".into();
            r.save(tx) // no commit
        })
        .unwrap_err();
    assert!(matches!(err, Error::PendingCommitRollback));
    assert_eq!(committed_reporter(&db, 1), Some((3, "Doe".into())));
}

// ---------- the record layer ----------

#[test]
fn get_all_and_select_where_load_records_and_report_what_is_missing() {
    let (_db, tm, _) = setup();
    for (first, last) in [("Alice", "Smith"), ("Ben", "Jones"), ("Carol", "Doe")] {
        Reporter {
            first_name: first.into(),
            last_name: last.into(),
            ..Default::default()
        }
        .save(&tm)
        .unwrap();
    }
    let names: Vec<String> = Reporter::all(&tm)
        .unwrap()
        .into_iter()
        .map(|r| r.first_name)
        .collect();
    assert_eq!(names, ["Alice", "Ben", "Carol"]);
    let found =
        Reporter::select_where(&tm, "last_name = ?1 OR first_name = ?2", ("Doe", "Ben")).unwrap();
    assert_eq!(found.len(), 2);
    assert!(matches!(
        Reporter::get(&tm, 99),
        Err(Error::RecordNotFound {
            table: "vreporter",
            pk: KeyValue::Integer(99)
        })
    ));
    let err = Reporter::select_where(&tm, "no_such_column = 1", []).unwrap_err();
    assert!(matches!(err, Error::Statement { .. }), "{err:?}");
}

#[test]
fn an_unversioned_record_updates_or_inserts_like_django() {
    let (db, tm, _) = setup();
    let mut tag = Tag {
        id: Some(5),
        label: "urgent".into(),
    };
    tag.save(&tm).unwrap(); // no row 5 yet: inserted under its key
    tag.label = "later".into();
    tag.save(&tm).unwrap(); // updated
    let label: String = db
        .observer()
        .query_row("SELECT label FROM tag WHERE id = 5", [], |r| r.get(0))
        .unwrap();
    assert_eq!(label, "later");
    assert_eq!(tag.version(), None);
    assert!(matches!(
        has_changed(&tm, &tag),
        Err(Error::NotVersioned { .. })
    ));
    let mut unsaved = Tag::default();
    assert!(matches!(
        unsaved.delete(&tm),
        Err(Error::RecordNotSaved { table: "tag" })
    ));
}

#[test]
fn version_helpers_tell_whether_a_row_changed_and_reload_it() {
    let (_db, tm1, tm2) = setup();
    let mut mine = alice();
    assert_eq!(mine.version(), None);
    mine.save(&tm1).unwrap();
    assert_eq!(mine.version(), Some(1));
    assert!(!has_changed(&tm1, &mine).unwrap());
    let mut theirs = Reporter::get(&tm2, 1).unwrap();
    theirs.last_name = "Jones".into();
    theirs.save(&tm2).unwrap();
    assert!(has_changed(&tm1, &mine).unwrap());
    mine.reload(&tm1).unwrap();
    assert_eq!((mine.version, mine.last_name.as_str()), (Some(2), "Jones"));
    mine.last_name = "Doe".into();
    mine.save(&tm1).unwrap(); // reloaded, so no conflict
    theirs.delete(&tm2).unwrap_err();
}

// ---------- version kinds ----------

#[test]
fn an_insert_sets_the_initial_version_of_each_kind() {
    let (_db, tm, _) = setup();
    let mut r = alice();
    r.save(&tm).unwrap();
    assert_eq!(r.version, Some(1));
    let mut n = Note {
        body: "x".into(),
        ..Default::default()
    };
    n.save(&tm).unwrap();
    assert_eq!(n.version, Some(1));
    let mut a = Article {
        title: "t".into(),
        ..Default::default()
    };
    a.save(&tm).unwrap();
    assert_eq!(a.version, Some(1));
    let before = now_micros();
    let mut c = Counter::default();
    c.save(&tm).unwrap();
    let v = c.version.unwrap();
    assert!(
        v >= before && v <= now_micros(),
        "integer versions are a microsecond clock: {v}"
    );
}

fn now_micros() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_micros(),
    )
    .unwrap()
}

#[test]
fn integer_versions_follow_the_clock_with_a_plus_one_floor() {
    let (db, tm, _) = setup();
    let mut c = Counter::default();
    c.save(&tm).unwrap();
    let first = c.version.unwrap();
    c.value = 1;
    c.save(&tm).unwrap();
    assert!(c.version.unwrap() > first);
    // A version from the future (another machine's clock): the floor wins.
    let future = now_micros() + 3_600_000_000;
    db.observer()
        .execute("UPDATE counter SET version = ?1", [future])
        .unwrap();
    c.reload(&tm).unwrap();
    c.save(&tm).unwrap();
    assert_eq!(c.version, Some(future + 1));
}

#[test]
fn auto_increment_versions_add_one_per_save() {
    let (_db, tm, _) = setup();
    let mut r = alice();
    for expected in 1..=4 {
        r.save(&tm).unwrap();
        assert_eq!(r.version, Some(expected));
    }
}

#[test]
fn a_trigger_version_is_bumped_by_raw_sql_from_another_connection() {
    let (db, mut tm, _) = setup();
    apply_concurrency_check_for::<Note, _>(&mut tm).unwrap();
    let mut note = Note {
        body: "draft".into(),
        ..Default::default()
    };
    note.save(&tm).unwrap();
    note.body = "second".into();
    note.save(&tm).unwrap();
    let in_db: i64 = db
        .observer()
        .query_row("SELECT version FROM note WHERE id = 1", [], |r| r.get(0))
        .unwrap();
    assert_eq!(
        note.version,
        Some(in_db),
        "our idea of the version matches the trigger's"
    );
    assert_eq!(in_db, 2);

    // Another program writes with plain SQL; the trigger bumps the version.
    db.observer()
        .execute("UPDATE note SET body = 'edited elsewhere' WHERE id = 1", [])
        .unwrap();
    note.body = "mine".into();
    let err = note.save(&tm).unwrap_err();
    assert!(
        matches!(
            err,
            Error::RecordModified {
                expected: 2,
                found: Some(3),
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn the_version_trigger_is_created_once_however_often_it_is_applied() {
    let (db, mut tm, _) = setup();
    for _ in 0..3 {
        apply_concurrency_check(&mut tm, "note", "version", VersionKind::Trigger).unwrap();
    }
    let (count, sql): (i64, String) = db
        .observer()
        .query_row(
            "SELECT count(*), max(sql) FROM sqlite_schema WHERE type = 'trigger' AND tbl_name = 'note'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(count, 1);
    assert!(
        sql.contains("\"txmanager_version_4_note_version\""),
        "names are quoted: {sql}"
    );
}

#[test]
fn a_conditional_version_moves_only_when_a_tracked_field_changes_but_is_always_checked() {
    let (_db, tm1, tm2) = setup();
    let mut a = Article {
        title: "draft".into(),
        ..Default::default()
    };
    a.save(&tm1).unwrap();
    a.views = 10; // untracked
    a.save(&tm1).unwrap();
    assert_eq!(a.version, Some(1), "an untracked change does not bump");
    a.title = "final".into(); // tracked
    a.save(&tm1).unwrap();
    assert_eq!(a.version, Some(2));

    let mut stale = Article::get(&tm2, 1).unwrap();
    a.title = "final, really".into();
    a.save(&tm1).unwrap();
    stale.views = 11; // only an untracked change, but the copy is stale
    let err = stale.save(&tm2).unwrap_err();
    assert!(
        matches!(
            err,
            Error::RecordModified {
                expected: 2,
                found: Some(3),
                ..
            }
        ),
        "{err:?}"
    );
}

// ---------- disable scopes ----------

#[test]
fn disable_concurrency_for_everything_lets_stale_saves_through_on_that_manager_only() {
    let (db, mut tm1, tm2) = setup();
    alice().save(&tm1).unwrap();
    let mut stale1 = Reporter::get(&tm1, 1).unwrap();
    let mut stale2 = Reporter::get(&tm2, 1).unwrap();
    let mut fresh = Reporter::get(&tm1, 1).unwrap();
    fresh.save(&tm1).unwrap();
    {
        let guard = disable_concurrency(&mut tm1, ConcurrencyTarget::all());
        stale1.last_name = "Imported".into();
        stale1.save(&guard).unwrap();
        // The other manager (as another thread would) still checks.
        assert!(matches!(
            stale2.save(&tm2),
            Err(Error::RecordModified { .. })
        ));
    }
    assert_eq!(
        committed_reporter(&db, 1),
        Some((3, "Imported".into())),
        "versions move on"
    );
    let mut stale3 = fresh.clone();
    assert!(
        stale3.save(&tm1).is_err(),
        "checks are back once the guard is gone"
    );
}

#[test]
fn disable_concurrency_for_one_type_or_one_record_leaves_the_rest_checked() {
    let (_db, mut tm, _) = setup();
    let mut r1 = alice();
    r1.save(&tm).unwrap();
    let mut r2 = alice();
    r2.save(&tm).unwrap();
    let mut c = Counter::default();
    c.save(&tm).unwrap();
    let (mut s1, mut s2, mut sc) = (r1.clone(), r2.clone(), c.clone());
    r1.save(&tm).unwrap();
    r2.save(&tm).unwrap();
    c.save(&tm).unwrap();

    let target = ConcurrencyTarget::record(&s1).unwrap();
    with_concurrency_disabled(&mut tm, target, |tm| {
        s1.save(tm).unwrap();
        assert!(
            s2.save(tm).is_err(),
            "another record of the same type is checked"
        );
    });
    with_concurrency_disabled(&mut tm, ConcurrencyTarget::of::<Reporter>(), |tm| {
        s2.save(tm).unwrap();
        assert!(sc.save(tm).is_err(), "another type is checked");
    });
}

#[test]
fn disable_scopes_nest_and_are_restored_on_panic() {
    let (_db, mut tm, _) = setup();
    let mut r = alice();
    r.save(&tm).unwrap();
    let stale = r.clone();
    r.save(&tm).unwrap();

    {
        let mut outer = disable_concurrency(&mut tm, ConcurrencyTarget::of::<Reporter>());
        {
            let inner = disable_concurrency(&mut *outer, ConcurrencyTarget::all());
            stale.clone().save(&inner).unwrap();
        }
        stale.clone().save(&outer).unwrap(); // the outer scope is still active
    }
    let caught = panic::catch_unwind(AssertUnwindSafe(|| {
        let _guard = disable_concurrency(&mut tm, ConcurrencyTarget::all());
        panic!("while disabled");
    }));
    assert!(caught.is_err());
    let err = stale.clone().save(&tm).unwrap_err();
    assert!(
        matches!(err, Error::RecordModified { .. }),
        "checks are back after the panic"
    );
}

#[test]
fn disable_scopes_work_through_a_transaction_handle() {
    let (db, mut tm, _) = setup();
    let mut r = alice();
    r.save(&tm).unwrap();
    let mut stale = r.clone();
    r.save(&tm).unwrap();
    tm.commit_on_success(|tx| {
        let target = ConcurrencyTarget::record(&stale).unwrap();
        stale.last_name = "Forced".into();
        stale.save(&disable_concurrency(tx, target))?;
        Ok::<_, Error>(())
    })
    .unwrap();
    assert_eq!(
        committed_reporter(&db, 1).map(|(_, n)| n).as_deref(),
        Some("Forced")
    );
}

#[test]
fn check_without_bump_still_rejects_stale_saves_and_keeps_the_version() {
    let (db, mut tm1, tm2) = setup();
    alice().save(&tm1).unwrap();
    let mut mine = Reporter::get(&tm1, 1).unwrap();
    let mut other = Reporter::get(&tm2, 1).unwrap();
    {
        let guard = disable_version_increment(&mut tm1, ConcurrencyTarget::record(&mine).unwrap());
        mine.email = "seen@example.com".into();
        mine.save(&guard).unwrap();
        assert_eq!(mine.version, Some(1));
        // The other copy is still at version 1 and so still valid.
        other.last_name = "Jones".into();
        other.save(&tm2).unwrap();
        let err = mine.save(&guard).unwrap_err();
        assert!(
            matches!(err, Error::RecordModified { .. }),
            "the check still runs: {err:?}"
        );
    }
    assert_eq!(committed_reporter(&db, 1), Some((2, "Jones".into())));
    // The scope is over: the next save bumps again (the django-concurrency bug
    // left the instance's checks off for good).
    mine.reload(&tm1).unwrap();
    mine.save(&tm1).unwrap();
    assert_eq!(mine.version, Some(3));
}

#[test]
fn a_deleted_record_is_recovered_by_saving_it_with_concurrency_disabled() {
    let (db, mut tm, _) = setup();
    let mut r = alice();
    r.save(&tm).unwrap();
    let mut revision = r.clone();
    r.delete(&tm).unwrap();
    assert!(revision.save(&tm).is_err());
    let target = ConcurrencyTarget::record(&revision).unwrap();
    revision
        .save(&disable_concurrency(&mut tm, target))
        .unwrap();
    assert_eq!(
        revision.id,
        Some(1),
        "re-inserted under the same primary key"
    );
    assert_eq!(committed_reporter(&db, 1), Some((2, "Smith".into())));
}

// ---------- adding versioning; manual checks ----------

#[derive(Debug, Clone, Default, Record)]
#[record(table = "auth_user")]
pub struct LegacyUser {
    #[record(primary_key)]
    pub id: Option<i64>,
    #[record(version(integer))]
    pub version: Option<i64>,
    pub username: String,
}

#[test]
fn apply_concurrency_check_versions_an_existing_table_with_rows() {
    let (db, mut tm, tm2) = setup();
    db.observer()
        .execute_batch(
            "CREATE TABLE auth_user (id INTEGER PRIMARY KEY, username TEXT NOT NULL);
             INSERT INTO auth_user (username) VALUES ('ann'), ('bob');",
        )
        .unwrap();
    let err = LegacyUser::get(&tm, 1).unwrap_err();
    assert!(
        matches!(err, Error::Statement { .. }),
        "no version column yet: {err:?}"
    );

    apply_concurrency_check_for::<LegacyUser, _>(&mut tm).unwrap();
    apply_concurrency_check_for::<LegacyUser, _>(&mut tm).unwrap(); // idempotent
    let mut ann = LegacyUser::get(&tm, 1).unwrap();
    assert_eq!(ann.version, Some(1), "existing rows start at version 1");
    let mut ann_elsewhere = LegacyUser::get(&tm2, 1).unwrap();
    ann.username = "anne".into();
    ann.save(&tm).unwrap();
    assert!(matches!(
        ann_elsewhere.save(&tm2),
        Err(Error::RecordModified { .. })
    ));
}

fn schema_sql(db: &Db) -> Vec<String> {
    let conn = db.observer();
    let mut stmt = conn
        .prepare("SELECT sql FROM sqlite_schema WHERE sql IS NOT NULL ORDER BY name")
        .unwrap();
    stmt.query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[test]
fn apply_concurrency_check_rejects_bad_names_and_changes_nothing() {
    let (db, mut tm, _) = setup();
    let before = schema_sql(&db);
    let cases = [
        ("tag; DROP TABLE tag", "version", "table"),
        ("tag", "version INTEGER; DROP TABLE tag", "version column"),
        ("tag", "", "version column"),
        ("sqlite_master", "version", "table"),
        ("1tag", "version", "table"),
        ("tag\"", "version", "table"),
    ];
    for (table, column, what) in cases {
        let err =
            apply_concurrency_check(&mut tm, table, column, VersionKind::Trigger).unwrap_err();
        assert!(
            matches!(&err, Error::InvalidIdentifier { what: w, .. } if *w == what),
            "{table:?}/{column:?}: {err:?}"
        );
    }
    let err = apply_concurrency_check(&mut tm, "no_such_table", "version", VersionKind::Integer)
        .unwrap_err();
    assert!(matches!(err, Error::NoSuchTable { .. }), "{err:?}");
    assert_eq!(schema_sql(&db), before, "nothing changed");
    assert!(tm.is_autocommit());
}

/// A hand-written implementation with names the derive would refuse at
/// compile time: txmanager still refuses them at run time.
#[derive(Debug, Clone, Default)]
pub struct HandWritten {
    pub id: Option<i64>,
    pub version: Option<i64>,
    pub label: String,
}

macro_rules! hand_written {
    ($name:ident, $meta:expr) => {
        #[derive(Debug, Clone, Default)]
        pub struct $name(HandWritten);

        impl Record for $name {
            type Key = i64;
            fn meta() -> &'static RecordMeta {
                static META: RecordMeta = $meta;
                &META
            }
            fn primary_key(&self) -> Option<&i64> {
                self.0.id.as_ref()
            }
            fn set_primary_key(&mut self, pk: Option<i64>) {
                self.0.id = pk;
            }
            fn version(&self) -> Option<i64> {
                self.0.version
            }
            fn set_version(&mut self, version: Option<i64>) {
                self.0.version = version;
            }
        }

        impl txmanager::RecordValues for $name {
            fn bind_columns(
                &self,
                values: &mut Binder<'_, '_, txmanager::Sqlite>,
            ) -> Result<(), ValueError> {
                values.bind(&self.0.label)
            }
            fn from_row(
                row: &mut RowReader<'_, '_, txmanager::Sqlite>,
            ) -> Result<Self, ValueError> {
                Ok($name(HandWritten {
                    id: row.read()?,
                    version: row.read()?,
                    label: row.read()?,
                }))
            }
        }
    };
}

hand_written!(
    Injected,
    RecordMeta::new("tag\"; DROP TABLE tag; --", "id", &["label"], None)
);
hand_written!(
    BadConditional,
    RecordMeta::new(
        "article",
        "id",
        &["label"],
        Some(VersionField::conditional(&["no_such_field"]))
    )
);

#[test]
fn a_record_declaration_with_a_bad_name_is_refused_before_any_sql_runs() {
    let (db, tm, _) = setup();
    let before = schema_sql(&db);
    let err = Injected(HandWritten {
        label: "x".into(),
        ..Default::default()
    })
    .save(&tm)
    .unwrap_err();
    assert!(
        matches!(err, Error::InvalidIdentifier { what: "table", .. }),
        "{err:?}"
    );
    assert!(matches!(
        Injected::all(&tm),
        Err(Error::InvalidIdentifier { .. })
    ));
    let err = BadConditional::all(&tm).unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidIdentifier {
                what: "conditional version field",
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(schema_sql(&db), before);
}

#[test]
fn a_manual_version_is_bumped_but_checked_only_by_concurrency_check() {
    let (db, mut tm1, mut tm2) = setup();
    let mut s = Security {
        name: "first".into(),
        ..Default::default()
    };
    s.save(&tm1).unwrap();
    let mut stale = Security::get(&tm2, 1).unwrap();
    let v1 = s.version.unwrap();
    s.name = "second".into();
    s.save(&tm1).unwrap();
    assert!(s.version.unwrap() > v1, "saves still bump the version");
    let stored: i64 = db
        .observer()
        .query_row("SELECT cm_version_id FROM security WHERE id = 1", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(Some(stored), s.version, "kept in the db_column");

    // The cookbook's custom save: concurrency_check, then save.
    let custom_save = |tm: &mut TransactionManager, record: &mut Security| {
        tm.commit_on_success(|tx| {
            concurrency_check(tx, record)?;
            record.save(tx)
        })
    };
    stale.name = "stale".into();
    let err = custom_save(&mut tm2, &mut stale).unwrap_err();
    assert!(
        matches!(
            err,
            Error::RecordModified {
                table: "security",
                ..
            }
        ),
        "{err:?}"
    );
    custom_save(&mut tm1, &mut s).unwrap();
    // Without the manual check, a stale save is not stopped: that is what manual means.
    stale.save(&tm2).unwrap();
}

// ---------- the testing helper, on our own types ----------

#[test]
fn the_concurrency_test_helper_passes_for_every_version_kind() {
    let (_db, mut tm, _) = setup();
    apply_concurrency_check_for::<Note, _>(&mut tm).unwrap();
    ConcurrencyTest::new(alice).assert(&mut tm);
    ConcurrencyTest::new(Counter::default).assert(&mut tm);
    ConcurrencyTest::new(|| Note {
        body: "b".into(),
        ..Default::default()
    })
    .assert(&mut tm);
    ConcurrencyTest::new(|| Article {
        title: "t".into(),
        ..Default::default()
    })
    .with_change(|a: &mut Article| a.title.push('!'))
    .assert(&mut tm);
    assert!(
        Reporter::all(&tm).unwrap().is_empty(),
        "the helper leaves nothing behind"
    );
}

#[test]
fn the_concurrency_test_helper_reports_which_check_a_broken_type_fails() {
    let (_db, mut tm, _) = setup();
    let unversioned = ConcurrencyTest::new(Tag::default).run(&mut tm).unwrap_err();
    assert_eq!(unversioned.check(), "a save gives a new record a version");
    let manual = ConcurrencyTest::new(Security::default)
        .run(&mut tm)
        .unwrap_err();
    assert_eq!(manual.check(), "two copies of one record conflict");
    let no_change = ConcurrencyTest::new(Article::default)
        .run(&mut tm)
        .unwrap_err();
    assert_eq!(no_change.check(), "a save bumps the version", "{no_change}");
}

// ---------- many threads ----------

#[test]
fn eight_threads_incrementing_one_counter_with_retries_lose_no_update() {
    const THREADS: usize = 8;
    const INCREMENTS: i64 = 200;
    let db = Db::new();
    schema(&db);
    Counter::default().save(&db.manager()).unwrap();

    let retries: usize = thread::scope(|s| {
        let workers: Vec<_> = (0..THREADS)
            .map(|_| {
                let path = &db.path;
                s.spawn(move || {
                    let tm = TransactionManager::open(path).unwrap();
                    let mut retries = 0;
                    for _ in 0..INCREMENTS {
                        loop {
                            // Optimistic: read without a lock, write with a check.
                            let mut c = Counter::get(&tm, 1).unwrap();
                            c.value += 1;
                            match c.save(&tm) {
                                Ok(()) => break,
                                Err(Error::RecordModified { .. }) => retries += 1,
                                Err(other) => panic!("unexpected error: {other}"),
                            }
                        }
                    }
                    retries
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).sum()
    });
    let total: i64 = db
        .observer()
        .query_row("SELECT value FROM counter WHERE id = 1", [], |r| r.get(0))
        .unwrap();
    assert_eq!(
        total,
        THREADS as i64 * INCREMENTS,
        "no update may be lost ({retries} retries)"
    );
}

#[test]
fn a_disable_scope_on_one_thread_leaves_other_threads_checking() {
    use std::sync::Barrier;
    let db = Db::new();
    schema(&db);
    alice().save(&db.manager()).unwrap();
    let (disabled, checked) = (Barrier::new(2), Barrier::new(2));
    thread::scope(|s| {
        s.spawn(|| {
            let mut tm = db.manager();
            let _guard = disable_concurrency(&mut tm, ConcurrencyTarget::all());
            disabled.wait(); // the other thread saves while this scope is active
            checked.wait();
        });
        s.spawn(|| {
            let tm = db.manager();
            let mut stale = Reporter::get(&tm, 1).unwrap();
            let mut fresh = stale.clone();
            fresh.save(&tm).unwrap();
            disabled.wait();
            let err = stale.save(&tm).unwrap_err();
            assert!(matches!(err, Error::RecordModified { .. }), "{err:?}");
            checked.wait();
        });
    });
}
