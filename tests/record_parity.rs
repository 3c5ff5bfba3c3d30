//! One body of record and versioning tests for both backends: saves,
//! inserts, updates and deletes of every version kind, stale writes,
//! disable scopes, version triggers, bad names, the per-type settings and
//! the conflict handler, each written once as a
//! generic function over a [`Harness`] and instantiated for SQLite (always)
//! and PostgreSQL (with the `postgres` feature; it fails without a server).
//! The same `#[derive(Record)]` declarations serve both.
//!
//! Where the backends must differ, the test says so (and docs/postgresql.md
//! explains why): only the tables' DDL differs here (`BIGSERIAL` keys and
//! `BIGINT` versions on PostgreSQL, where an `i64` binds as BIGINT).

mod common;

use std::sync::{Arc, Mutex};

use txmanager::{
    Backend, ConcurrencyTarget, Conflict, Error, Record, TransactionManager, VersionKind,
    apply_concurrency_check, apply_concurrency_check_for, check_version_triggers,
    concurrency_check, disable_concurrency, disable_version_increment, drop_version_triggers,
    has_changed, version_triggers,
};

/// A test's own database on one backend, and a second connection to check
/// what really committed.
trait Harness {
    type B: Backend;
    /// The column type of an auto-assigned integer primary key.
    const SERIAL_KEY: &'static str;
    /// Whether an `INTEGER` column holds any `i64` (SQLite's does;
    /// PostgreSQL's is 32 bits).
    const INTEGER_HOLDS_I64: bool;
    /// Whether the database reads back a key of any type its default
    /// assigned (PostgreSQL's `RETURNING`), not only an integer rowid.
    const ASSIGNS_ANY_KEY: bool;
    /// DDL: an `AFTER UPDATE OF label` trigger on `page` that updates the
    /// row it fired for (`touched = touched + 1`), as an `updated_at`
    /// trigger does.
    const TOUCH_PAGE_TRIGGER: &'static str;
    /// DDL: a trigger on `ledger` that, when a row's label is written as
    /// 'spoil', sets its version and label to NULL (which no `i64` or
    /// `String` reads), after the write that fired it.
    const SPOIL_LEDGER_TRIGGER: &'static str;
    fn new() -> Self;
    fn manager(&self) -> TransactionManager<Self::B>;
    /// Runs SQL through a second connection (DDL, raw writes by "another
    /// program").
    fn raw(&self, sql: &str);
    /// One integer (or NULL) read through a second connection.
    fn scalar(&self, sql: &str) -> Option<i64>;
    /// Whether the manager's connection is outside any transaction, asked
    /// of the database.
    fn outside_transaction(&self, tm: &TransactionManager<Self::B>) -> bool;
}

struct SqliteDb(common::Db);

impl Harness for SqliteDb {
    type B = txmanager::Sqlite;
    const SERIAL_KEY: &'static str = "INTEGER PRIMARY KEY";
    const INTEGER_HOLDS_I64: bool = true;
    const ASSIGNS_ANY_KEY: bool = false;
    const TOUCH_PAGE_TRIGGER: &'static str = "CREATE TRIGGER page_touch AFTER UPDATE OF label ON page \
         BEGIN UPDATE page SET touched = touched + 1 WHERE id = NEW.id; END";
    const SPOIL_LEDGER_TRIGGER: &'static str = "CREATE TRIGGER ledger_spoil_insert AFTER INSERT ON ledger \
         WHEN NEW.label = 'spoil' \
         BEGIN UPDATE ledger SET version = NULL, label = NULL WHERE id = NEW.id; END; \
         CREATE TRIGGER ledger_spoil_update AFTER UPDATE OF label ON ledger \
         WHEN NEW.label = 'spoil' \
         BEGIN UPDATE ledger SET version = NULL, label = NULL WHERE id = NEW.id; END";
    fn new() -> Self {
        SqliteDb(common::Db::new())
    }
    fn manager(&self) -> TransactionManager {
        self.0.manager()
    }
    fn raw(&self, sql: &str) {
        self.0.observer().execute_batch(sql).expect(sql);
    }
    fn scalar(&self, sql: &str) -> Option<i64> {
        self.0
            .observer()
            .query_row(sql, [], |r| r.get(0))
            .expect(sql)
    }
    fn outside_transaction(&self, tm: &TransactionManager) -> bool {
        tm.is_autocommit()
    }
}

#[cfg(feature = "postgres")]
mod pg {
    use super::*;
    use txmanager::Postgres;

    pub(crate) struct PgHarness(pub(crate) common::pg::PgDb);

    impl Harness for PgHarness {
        type B = Postgres;
        const SERIAL_KEY: &'static str = "BIGSERIAL PRIMARY KEY";
        const INTEGER_HOLDS_I64: bool = false;
        const ASSIGNS_ANY_KEY: bool = true;
        const TOUCH_PAGE_TRIGGER: &'static str = "CREATE FUNCTION page_touch() RETURNS trigger \
             LANGUAGE plpgsql AS $$ BEGIN \
             UPDATE page SET touched = touched + 1 WHERE id = NEW.id; RETURN NULL; END $$; \
             CREATE TRIGGER page_touch AFTER UPDATE OF label ON page \
             FOR EACH ROW EXECUTE FUNCTION page_touch()";
        const SPOIL_LEDGER_TRIGGER: &'static str = "CREATE FUNCTION ledger_spoil() RETURNS trigger \
             LANGUAGE plpgsql AS $$ BEGIN \
             UPDATE ledger SET version = NULL, label = NULL WHERE id = NEW.id; RETURN NULL; END $$; \
             CREATE TRIGGER ledger_spoil AFTER INSERT OR UPDATE OF label ON ledger \
             FOR EACH ROW WHEN (NEW.label = 'spoil') EXECUTE FUNCTION ledger_spoil()";
        fn new() -> Self {
            PgHarness(common::pg::PgDb::new())
        }
        fn manager(&self) -> TransactionManager<Postgres> {
            self.0.manager()
        }
        fn raw(&self, sql: &str) {
            self.0.observer().batch_execute(sql).expect(sql);
        }
        fn scalar(&self, sql: &str) -> Option<i64> {
            self.0.observer().query_one(sql, &[]).expect(sql).get(0)
        }
        fn outside_transaction(&self, tm: &TransactionManager<Postgres>) -> bool {
            self.0.outside_transaction(tm)
        }
    }
}

/// Instantiates each generic test for every backend.
macro_rules! for_each_backend {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[test] fn $name() { super::$name::<super::SqliteDb>() })*
        }
        #[cfg(feature = "postgres")]
        mod postgres {
            $(#[test] fn $name() { super::$name::<super::pg::PgHarness>() })*
        }
    };
}

for_each_backend!(
    every_version_kind_inserts_updates_and_deletes,
    a_stale_save_of_every_kind_is_record_modified_and_writes_nothing,
    a_stale_delete_is_record_modified_and_deletes_nothing,
    saving_a_deleted_row_is_a_conflict_that_says_it_is_gone,
    the_trigger_kind_bumps_on_raw_updates_but_not_when_the_update_sets_the_version,
    conditional_versions_move_only_when_a_watched_column_changes,
    disable_concurrency_overwrites_and_re_inserts_a_deleted_row,
    disable_version_increment_checks_but_keeps_the_version,
    get_find_all_reload_and_a_text_key,
    saves_join_the_block_and_roll_back_with_it,
    concurrency_check_and_has_changed_read_the_row,
    apply_concurrency_check_adds_the_column_once_and_is_idempotent,
    version_triggers_are_installed_listed_checked_and_dropped,
    bad_names_are_refused_before_anything_runs,
    save_fields_writes_only_the_named_columns_and_checks_the_version,
    get_version_loads_only_that_version_and_save_and_reload_reads_back,
    every_version_kind_works_on_an_integer_version_column,
    a_tables_own_after_trigger_that_updates_the_row_causes_no_false_conflict,
    a_records_own_binding_code_may_use_the_manager,
    a_save_whose_read_back_fails_outside_a_block_commits_nothing,
    per_type_settings_change_the_check_and_the_bump,
    the_conflict_handler_is_told_of_each_conflict_and_the_error_is_still_returned,
);

#[derive(Debug, Clone, Default, Record)]
struct Tag {
    #[record(primary_key)]
    id: Option<i64>,
    #[record(version(auto_increment))]
    version: Option<i64>,
    label: String,
}

#[derive(Debug, Clone, Default, Record)]
#[record(table = "stamp")]
struct Stamp {
    #[record(primary_key)]
    id: Option<i64>,
    #[record(version(integer))]
    version: Option<i64>,
    label: String,
}

#[derive(Debug, Clone, Default, Record)]
#[record(table = "page")]
struct Page {
    #[record(primary_key)]
    id: Option<i64>,
    #[record(version(trigger))]
    version: Option<i64>,
    label: String,
}

#[derive(Debug, Clone, Default, Record)]
#[record(table = "article")]
struct Article {
    #[record(primary_key)]
    id: Option<i64>,
    #[record(version(conditional(label)))]
    version: Option<i64>,
    label: String,
    views: i64,
}

/// A text primary key and no version.
#[derive(Debug, Clone, Default, Record)]
#[record(table = "code")]
struct Code {
    #[record(primary_key)]
    code: Option<String>,
    meaning: String,
}

/// What the stale-write tests need of each versioned record type.
trait Labeled: Record<Key = i64> + Clone + Default {
    fn label(&self) -> &str;
    fn set_label(&mut self, label: &str);
}

macro_rules! labeled {
    ($($ty:ty),*) => {$(
        impl Labeled for $ty {
            fn label(&self) -> &str {
                &self.label
            }
            fn set_label(&mut self, label: &str) {
                self.label = label.to_owned();
            }
        }
    )*};
}
labeled!(Tag, Stamp, Page, Article);

/// The test's tables, and the version trigger of `page`.
fn setup<H: Harness>() -> (H, TransactionManager<H::B>) {
    setup_with_versions::<H>("BIGINT")
}

/// [`setup`], with version columns of type `version_type`.
fn setup_with_versions<H: Harness>(version_type: &str) -> (H, TransactionManager<H::B>) {
    let db = H::new();
    let key = H::SERIAL_KEY;
    for table in ["tag", "stamp", "page"] {
        db.raw(&format!(
            "CREATE TABLE {table} (id {key}, version {version_type} NOT NULL, label TEXT NOT NULL)"
        ));
    }
    db.raw(&format!(
        "CREATE TABLE article (id {key}, version {version_type} NOT NULL, label TEXT NOT NULL, views BIGINT NOT NULL)"
    ));
    db.raw("CREATE TABLE code (code TEXT PRIMARY KEY, meaning TEXT NOT NULL)");
    let mut tm = db.manager();
    apply_concurrency_check_for::<Page, _>(&mut tm).expect("create the version trigger");
    (db, tm)
}

fn every_version_kind_inserts_updates_and_deletes<H: Harness>() {
    let (db, tm) = setup::<H>();
    fn round_trip<H: Harness, R: Labeled + txmanager::RecordValues<H::B>>(
        db: &H,
        tm: &TransactionManager<H::B>,
    ) -> Vec<i64> {
        let table = R::meta().table();
        let mut r = R::default();
        r.set_label("a");
        r.save(tm).unwrap();
        assert_eq!(r.primary_key(), Some(&1), "{table}: the key assigned");
        let mut versions = vec![r.version().expect("a version after insert")];
        for label in ["b", "c"] {
            r.set_label(label);
            r.save(tm).unwrap();
            versions.push(r.version().unwrap());
            assert_eq!(
                db.scalar(&format!("SELECT version FROM {table} WHERE id = 1")),
                r.version(),
                "{table}: the in-memory version is the committed one"
            );
        }
        assert_eq!(R::get(tm, 1).unwrap().label(), "c");
        r.delete(tm).unwrap();
        assert_eq!((r.primary_key(), r.version()), (None, None));
        assert_eq!(db.scalar(&format!("SELECT count(*) FROM {table}")), Some(0));
        versions
    }
    assert_eq!(round_trip::<H, Tag>(&db, &tm), [1, 2, 3]);
    assert_eq!(round_trip::<H, Page>(&db, &tm), [1, 2, 3]);
    assert_eq!(round_trip::<H, Article>(&db, &tm), [1, 2, 3]);
    let stamps = round_trip::<H, Stamp>(&db, &tm);
    assert!(stamps[0] > 1_000_000_000_000_000, "a µs clock: {stamps:?}");
    assert!(stamps.windows(2).all(|w| w[1] > w[0]), "{stamps:?}");
}

fn a_stale_save_of_every_kind_is_record_modified_and_writes_nothing<H: Harness>() {
    let (_db, tm) = setup::<H>();
    fn stale<H: Harness, R: Labeled + txmanager::RecordValues<H::B>>(
        tm: &TransactionManager<H::B>,
    ) {
        let table = R::meta().table();
        let mut first = R::default();
        first.set_label("first");
        first.save(tm).unwrap();
        let mut stale = R::get(tm, 1).unwrap();
        first.set_label("second");
        first.save(tm).unwrap();
        let now = first.version().unwrap();
        let loaded_at = stale.version().unwrap();
        stale.set_label("lost?");
        let err = stale.save(tm).unwrap_err();
        match &err {
            Error::RecordModified {
                table: t,
                pk,
                expected,
                found,
            } => {
                assert_eq!(*t, table);
                assert_eq!(*pk, 1);
                assert_eq!(*expected, loaded_at);
                assert_eq!(*found, Some(now));
            }
            other => panic!("{table}: {other:?}"),
        }
        assert!(err.to_string().contains(table), "{err}");
        assert_eq!(stale.version(), Some(loaded_at), "the record is unchanged");
        assert_eq!(R::get(tm, 1).unwrap().label(), "second", "{table}");
    }
    stale::<H, Tag>(&tm);
    stale::<H, Stamp>(&tm);
    stale::<H, Page>(&tm);
    stale::<H, Article>(&tm);
}

fn a_stale_delete_is_record_modified_and_deletes_nothing<H: Harness>() {
    let (db, tm) = setup::<H>();
    let mut tag = Tag {
        label: "a".into(),
        ..Default::default()
    };
    tag.save(&tm).unwrap();
    let mut stale = tag.clone();
    tag.save(&tm).unwrap();
    let err = stale.delete(&tm).unwrap_err();
    assert!(
        matches!(
            err,
            Error::RecordModified {
                table: "tag",
                expected: 1,
                found: Some(2),
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(db.scalar("SELECT count(*) FROM tag"), Some(1));
    assert_eq!(stale.id, Some(1), "the record keeps its key");
}

fn saving_a_deleted_row_is_a_conflict_that_says_it_is_gone<H: Harness>() {
    let (db, tm) = setup::<H>();
    let mut tag = Tag {
        label: "a".into(),
        ..Default::default()
    };
    tag.save(&tm).unwrap();
    let mut copy = tag.clone();
    tag.delete(&tm).unwrap();
    let err = copy.save(&tm).unwrap_err();
    assert!(
        matches!(err, Error::RecordModified { found: None, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("deleted"), "{err}");
    assert_eq!(db.scalar("SELECT count(*) FROM tag"), Some(0));
}

fn the_trigger_kind_bumps_on_raw_updates_but_not_when_the_update_sets_the_version<H: Harness>() {
    let (db, tm) = setup::<H>();
    let mut page = Page {
        label: "a".into(),
        ..Default::default()
    };
    page.save(&tm).unwrap();
    // Another program's raw UPDATE: the trigger bumps the version.
    db.raw("UPDATE page SET label = 'raw' WHERE id = 1");
    assert_eq!(db.scalar("SELECT version FROM page WHERE id = 1"), Some(2));
    assert!(has_changed(&tm, &page).unwrap());
    let err = page.save(&tm).unwrap_err();
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
    // An UPDATE that sets the version itself is left alone.
    db.raw("UPDATE page SET label = 'set', version = 10 WHERE id = 1");
    assert_eq!(db.scalar("SELECT version FROM page WHERE id = 1"), Some(10));
    page.reload(&tm).unwrap();
    page.label = "saved".into();
    page.save(&tm).unwrap();
    assert_eq!(page.version, Some(11), "the save's own bump, read back");
    assert_eq!(db.scalar("SELECT version FROM page WHERE id = 1"), Some(11));
}

fn conditional_versions_move_only_when_a_watched_column_changes<H: Harness>() {
    let (db, tm) = setup::<H>();
    let mut a = Article {
        label: "title".into(),
        ..Default::default()
    };
    a.save(&tm).unwrap();
    a.views = 10;
    a.save(&tm).unwrap();
    assert_eq!(a.version, Some(1), "views is not watched");
    a.label = "new title".into();
    a.save(&tm).unwrap();
    assert_eq!(a.version, Some(2));
    assert_eq!(db.scalar("SELECT version FROM article"), Some(2));
    assert_eq!(db.scalar("SELECT views FROM article"), Some(10));
    // The check always runs, even when nothing watched changed.
    let mut stale = a.clone();
    a.label = "newer".into();
    a.save(&tm).unwrap();
    stale.views = 11;
    assert!(matches!(
        stale.save(&tm),
        Err(Error::RecordModified {
            expected: 2,
            found: Some(3),
            ..
        })
    ));
}

fn disable_concurrency_overwrites_and_re_inserts_a_deleted_row<H: Harness>() {
    let (db, mut tm) = setup::<H>();
    let mut tag = Tag {
        label: "a".into(),
        ..Default::default()
    };
    tag.save(&tm).unwrap();
    let mut stale = tag.clone();
    tag.label = "b".into();
    tag.save(&tm).unwrap();
    {
        let guard = disable_concurrency(&mut tm, ConcurrencyTarget::of::<Tag>());
        stale.label = "forced".into();
        stale.save(&*guard).unwrap();
    }
    assert_eq!(stale.version, Some(3), "the version still moves on");
    assert_eq!(db.scalar("SELECT version FROM tag"), Some(3));
    // The check is back once the guard is gone.
    assert!(tag.save(&tm).is_err());
    // A deleted row comes back under its key.
    let mut keep = stale.clone();
    stale.delete(&tm).unwrap();
    let target = ConcurrencyTarget::record(&keep).unwrap();
    keep.save(&*disable_concurrency(&mut tm, target)).unwrap();
    assert_eq!(Tag::get(&tm, 1).unwrap().label, "forced");
    assert_eq!(db.scalar("SELECT count(*) FROM tag"), Some(1));
}

fn disable_version_increment_checks_but_keeps_the_version<H: Harness>() {
    let (db, mut tm) = setup::<H>();
    let mut tag = Tag {
        label: "a".into(),
        ..Default::default()
    };
    tag.save(&tm).unwrap();
    let mut other = tag.clone();
    {
        let guard = disable_version_increment(&mut tm, ConcurrencyTarget::of::<Tag>());
        tag.label = "b".into();
        tag.save(&*guard).unwrap();
        assert_eq!(tag.version, Some(1));
        // Still checked: a stale copy fails.
        tm_save_stale(&*guard);
    }
    assert_eq!(db.scalar("SELECT version FROM tag"), Some(1));
    other.label = "c".into();
    other.save(&tm).unwrap();
    assert_eq!(other.version, Some(2), "bumped once the scope ends");

    fn tm_save_stale<B: Backend>(tm: &TransactionManager<B>) {
        let mut stale = Tag {
            id: Some(1),
            version: Some(0),
            label: "stale".into(),
        };
        assert!(matches!(
            stale.save(tm),
            Err(Error::RecordModified { expected: 0, .. })
        ));
    }
}

fn get_find_all_reload_and_a_text_key<H: Harness>() {
    let (db, tm) = setup::<H>();
    for label in ["x", "y"] {
        Tag {
            label: label.into(),
            ..Default::default()
        }
        .save(&tm)
        .unwrap();
    }
    let labels: Vec<String> = Tag::all(&tm)
        .unwrap()
        .into_iter()
        .map(|t| t.label)
        .collect();
    assert_eq!(labels, ["x", "y"]);
    assert!(Tag::find(&tm, 3).unwrap().is_none());
    assert!(matches!(
        Tag::get(&tm, 3),
        Err(Error::RecordNotFound { table: "tag", ref pk }) if *pk == 3
    ));
    let mut x = Tag::get(&tm, 1).unwrap();
    db.raw("UPDATE tag SET label = 'x2', version = version + 1 WHERE id = 1");
    x.reload(&tm).unwrap();
    assert_eq!((x.label.as_str(), x.version), ("x2", Some(2)));

    let mut code = Code {
        code: Some("E42".into()),
        meaning: "answer".into(),
    };
    code.save(&tm).unwrap();
    code.meaning = "the answer".into();
    code.save(&tm).unwrap();
    assert_eq!(Code::get(&tm, "E42").unwrap().meaning, "the answer");
    assert_eq!(db.scalar("SELECT count(*) FROM code"), Some(1));
    // A text key left empty: SQLite can assign only an integer key (a
    // rowid), so it refuses before writing; PostgreSQL sends the insert and
    // would read back a key the column's default assigned, but `code` has
    // none, so the server refuses the NULL key. Nothing is written on either.
    let err = Code::default().save(&tm).unwrap_err();
    if H::ASSIGNS_ANY_KEY {
        assert!(matches!(err, Error::Statement { .. }), "{err:?}");
    } else {
        assert!(
            matches!(err, Error::MissingPrimaryKey { table: "code" }),
            "{err:?}"
        );
    }
    assert_eq!(db.scalar("SELECT count(*) FROM code"), Some(1));
}

fn saves_join_the_block_and_roll_back_with_it<H: Harness>() {
    let (db, mut tm) = setup::<H>();
    let result: Result<(), Error> = tm.commit_on_success(|tx| {
        let mut tag = Tag {
            label: "a".into(),
            ..Default::default()
        };
        tag.save(tx)?;
        tag.label = "b".into();
        tag.save(tx)?;
        assert_eq!(db.scalar("SELECT count(*) FROM tag"), Some(0), "not yet");
        Err(Error::PendingCommitRollback) // any error
    });
    assert!(result.is_err());
    assert_eq!(db.scalar("SELECT count(*) FROM tag"), Some(0));
    tm.commit_on_success(|tx| {
        Tag {
            label: "kept".into(),
            ..Default::default()
        }
        .save(tx)
    })
    .unwrap();
    assert_eq!(db.scalar("SELECT count(*) FROM tag"), Some(1));
}

fn concurrency_check_and_has_changed_read_the_row<H: Harness>() {
    let (db, tm) = setup::<H>();
    let mut tag = Tag {
        label: "a".into(),
        ..Default::default()
    };
    tag.save(&tm).unwrap();
    concurrency_check(&tm, &tag).unwrap();
    assert!(!has_changed(&tm, &tag).unwrap());
    db.raw("UPDATE tag SET version = 5");
    assert!(has_changed(&tm, &tag).unwrap());
    assert!(matches!(
        concurrency_check(&tm, &tag),
        Err(Error::RecordModified {
            expected: 1,
            found: Some(5),
            ..
        })
    ));
    assert!(matches!(
        has_changed(&tm, &Code::default()),
        Err(Error::NotVersioned { .. })
    ));
}

fn apply_concurrency_check_adds_the_column_once_and_is_idempotent<H: Harness>() {
    let (db, mut tm) = setup::<H>();
    db.raw(&format!(
        "CREATE TABLE auth_user (id {}, username TEXT NOT NULL); INSERT INTO auth_user (username) VALUES ('ann')",
        H::SERIAL_KEY
    ));
    for _ in 0..2 {
        apply_concurrency_check(&mut tm, "auth_user", "version", VersionKind::AutoIncrement)
            .unwrap();
    }
    assert_eq!(db.scalar("SELECT version FROM auth_user"), Some(1));
    assert!(matches!(
        apply_concurrency_check(&mut tm, "no_such_table", "version", VersionKind::Integer),
        Err(Error::NoSuchTable { .. })
    ));
    // The new column is an ordinary version from now on.
    #[derive(Debug, Clone, Default, Record)]
    #[record(table = "auth_user")]
    struct User {
        #[record(primary_key)]
        id: Option<i64>,
        #[record(version(auto_increment))]
        version: Option<i64>,
        username: String,
    }
    let mut ann = User::get(&tm, 1).unwrap();
    ann.username = "anne".into();
    ann.save(&tm).unwrap();
    assert_eq!(ann.version, Some(2));
}

fn version_triggers_are_installed_listed_checked_and_dropped<H: Harness>() {
    let (db, mut tm) = setup::<H>();
    check_version_triggers(&tm, &[Page::meta(), Tag::meta()]).unwrap();
    apply_concurrency_check(&mut tm, "tag", "version", VersionKind::Trigger).unwrap();
    let found = version_triggers(&tm).unwrap();
    let listed: Vec<(&str, &str)> = found.iter().map(|t| (t.table(), t.column())).collect();
    // In name order; the name says the table's length.
    assert_eq!(listed, [("tag", "version"), ("page", "version")]);
    assert_eq!(found[1].name(), "txmanager_version_4_page_version");
    // Applying it again changes nothing.
    apply_concurrency_check_for::<Page, _>(&mut tm).unwrap();
    assert_eq!(version_triggers(&tm).unwrap().len(), 2);

    let dropped = drop_version_triggers(&mut tm).unwrap();
    assert_eq!(dropped.len(), 2);
    assert!(version_triggers(&tm).unwrap().is_empty());
    let err = check_version_triggers(&tm, &[Page::meta()]).unwrap_err();
    assert!(
        matches!(&err, Error::MissingVersionTrigger { table, column, differs: false } if table == "page" && column == "version"),
        "{err:?}"
    );
    // Without the trigger, raw updates go unnoticed.
    db.raw("INSERT INTO page (label, version) VALUES ('a', 1); UPDATE page SET label = 'b'");
    assert_eq!(db.scalar("SELECT version FROM page"), Some(1));
    apply_concurrency_check_for::<Page, _>(&mut tm).unwrap();
    check_version_triggers(&tm, &[Page::meta()]).unwrap();
    db.raw("UPDATE page SET label = 'c'");
    assert_eq!(db.scalar("SELECT version FROM page"), Some(2));
}

fn bad_names_are_refused_before_anything_runs<H: Harness>() {
    let (db, mut tm) = setup::<H>();
    let err = apply_concurrency_check(
        &mut tm,
        "tag; DROP TABLE tag",
        "version",
        VersionKind::Integer,
    )
    .unwrap_err();
    assert!(
        matches!(err, Error::InvalidIdentifier { what: "table", .. }),
        "{err:?}"
    );
    let err = apply_concurrency_check(&mut tm, "tag", "v\"x", VersionKind::Trigger).unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidIdentifier {
                what: "version column",
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        db.scalar("SELECT count(*) FROM tag"),
        Some(0),
        "tag is there"
    );
    assert!(version_triggers(&tm).unwrap().len() == 1, "only page's");

    // The derive refuses such a name at compile time; a hand-written
    // description is checked on first use.
    #[derive(Debug, Default)]
    struct Bad {
        id: Option<i64>,
        version: Option<i64>,
    }
    impl Record for Bad {
        type Key = i64;
        fn meta() -> &'static txmanager::RecordMeta {
            static META: txmanager::RecordMeta = txmanager::RecordMeta::new(
                "tag",
                "id",
                &[],
                Some(txmanager::VersionField::auto_increment().column("1version")),
            );
            &META
        }
        fn primary_key(&self) -> Option<&i64> {
            self.id.as_ref()
        }
        fn set_primary_key(&mut self, pk: Option<i64>) {
            self.id = pk;
        }
        fn version(&self) -> Option<i64> {
            self.version
        }
        fn set_version(&mut self, version: Option<i64>) {
            self.version = version;
        }
    }

    impl<B: Backend> txmanager::RecordValues<B> for Bad {
        fn bind_columns(
            &self,
            _: &mut txmanager::Binder<'_, '_, B>,
        ) -> Result<(), txmanager::ValueError> {
            Ok(())
        }
        fn from_row(
            row: &mut txmanager::RowReader<'_, '_, B>,
        ) -> Result<Self, txmanager::ValueError> {
            Ok(Bad {
                id: row.read()?,
                version: row.read()?,
            })
        }
    }
    let err = Bad::default().save(&tm).unwrap_err();
    assert!(
        matches!(err, Error::InvalidIdentifier { what: "version column", ref name, .. } if name == "1version"),
        "{err:?}"
    );
    assert_eq!(db.scalar("SELECT count(*) FROM tag"), Some(0));
}

fn save_fields_writes_only_the_named_columns_and_checks_the_version<H: Harness>() {
    let (db, tm) = setup::<H>();
    let mut a = Article {
        label: "title".into(),
        views: 1,
        ..Default::default()
    };
    a.save(&tm).unwrap();
    // Someone else changes the label by hand (the version stays).
    db.raw("UPDATE article SET label = 'theirs' WHERE id = 1");
    a.views = 2;
    a.label = "mine, not saved".into();
    a.save_fields(&tm, &["views"]).unwrap();
    assert_eq!(db.scalar("SELECT views FROM article"), Some(2));
    assert_eq!(
        Article::get(&tm, 1).unwrap().label,
        "theirs",
        "label not written"
    );
    assert_eq!(a.version, Some(1), "views is not watched");

    let mut tag = Tag {
        label: "a".into(),
        ..Default::default()
    };
    tag.save(&tm).unwrap();
    let mut stale = tag.clone();
    tag.label = "b".into();
    tag.save_fields(&tm, &["label"]).unwrap();
    assert_eq!(tag.version, Some(2));
    stale.label = "c".into();
    assert!(matches!(
        stale.save_fields(&tm, &["label"]),
        Err(Error::RecordModified {
            expected: 1,
            found: Some(2),
            ..
        })
    ));
    assert_eq!(Tag::get(&tm, 1).unwrap().label, "b");
}

fn get_version_loads_only_that_version_and_save_and_reload_reads_back<H: Harness>() {
    let (db, tm) = setup::<H>();
    let mut page = Page {
        label: "a".into(),
        ..Default::default()
    };
    page.save(&tm).unwrap();
    assert_eq!(Page::get_version(&tm, 1, 1).unwrap().label, "a");
    db.raw("UPDATE page SET label = 'raw' WHERE id = 1"); // the trigger bumps
    assert!(matches!(
        Page::get_version(&tm, 1, 1),
        Err(Error::RecordModified {
            expected: 1,
            found: Some(2),
            ..
        })
    ));
    page.reload(&tm).unwrap();
    page.label = "b".into();
    page.save_and_reload(&tm).unwrap();
    assert_eq!((page.label.as_str(), page.version), ("b", Some(3)));
}

/// A table migrated from Django keeps its `IntegerField` version column:
/// every kind reads its versions back (they are read as `int8`), through
/// the insert, the checked and the unchecked update, `get`, `reload`,
/// `concurrency_check` and a stale save's conflict. The `integer` kind's
/// microsecond versions do not fit PostgreSQL's 32-bit `INTEGER`: there its
/// save fails and writes nothing.
fn every_version_kind_works_on_an_integer_version_column<H: Harness>() {
    let (db, mut tm) = setup_with_versions::<H>("INTEGER");
    fn kind<H: Harness, R: Labeled + txmanager::RecordValues<H::B>>(
        db: &H,
        tm: &mut TransactionManager<H::B>,
    ) {
        let table = R::meta().table();
        let mut r = R::default();
        r.set_label("a");
        r.save(&*tm)
            .unwrap_or_else(|e| panic!("{table}: insert: {e}"));
        assert_eq!(r.version(), Some(1), "{table}");
        r.set_label("b");
        r.save(&*tm)
            .unwrap_or_else(|e| panic!("{table}: update: {e}"));
        assert_eq!(r.version(), Some(2), "{table}");
        let mut loaded = R::get(&*tm, 1).unwrap();
        assert_eq!(
            (loaded.version(), loaded.label()),
            (Some(2), "b"),
            "{table}"
        );
        concurrency_check(&*tm, &r).unwrap_or_else(|e| panic!("{table}: check: {e}"));
        r.set_label("c");
        r.save(&*tm).unwrap();
        loaded.set_label("stale");
        let err = loaded.save(&*tm).unwrap_err();
        assert!(
            matches!(
                err,
                Error::RecordModified {
                    expected: 2,
                    found: Some(3),
                    ..
                }
            ),
            "{table}: {err:?}"
        );
        loaded.reload(&*tm).unwrap();
        assert_eq!(loaded.version(), Some(3), "{table}");
        {
            let guard = disable_concurrency(&mut *tm, ConcurrencyTarget::of::<R>());
            r.set_label("forced");
            r.save(&*guard)
                .unwrap_or_else(|e| panic!("{table}: unchecked update: {e}"));
        }
        assert_eq!(r.version(), Some(4), "{table}");
        assert_eq!(
            db.scalar(&format!(
                "SELECT CAST(version AS BIGINT) FROM {table} WHERE id = 1"
            )),
            Some(4),
            "{table}"
        );
        r.delete(&*tm).unwrap();
        assert_eq!(db.scalar(&format!("SELECT count(*) FROM {table}")), Some(0));
    }
    kind::<H, Tag>(&db, &mut tm);
    kind::<H, Page>(&db, &mut tm);
    kind::<H, Article>(&db, &mut tm);
    let mut stamp = Stamp {
        label: "a".into(),
        ..Default::default()
    };
    if H::INTEGER_HOLDS_I64 {
        stamp.save(&tm).unwrap();
        let first = stamp.version.unwrap();
        stamp.label = "b".into();
        stamp.save(&tm).unwrap();
        assert!(stamp.version.unwrap() > first);
        assert_eq!(Stamp::get(&tm, 1).unwrap().version, stamp.version);
    } else {
        // PostgreSQL differs: a microsecond version is out of INTEGER's range.
        let err = stamp.save(&tm).unwrap_err();
        assert!(err.to_string().contains("out of range"), "{err}");
        assert_eq!(stamp.version, None, "the record is unchanged");
        assert_eq!(db.scalar("SELECT count(*) FROM stamp"), Some(0));
    }
}

/// A table's own `AFTER UPDATE` trigger that updates the row fires the
/// version trigger a second time, after `RETURNING` was computed: the save
/// reads the version back, so the record holds what the row holds and its
/// next save is not a conflict with itself.
fn a_tables_own_after_trigger_that_updates_the_row_causes_no_false_conflict<H: Harness>() {
    let (db, tm) = setup::<H>();
    db.raw("ALTER TABLE page ADD COLUMN touched BIGINT NOT NULL DEFAULT 0");
    db.raw(H::TOUCH_PAGE_TRIGGER);
    let mut page = Page {
        label: "a".into(),
        ..Default::default()
    };
    page.save(&tm).unwrap();
    assert_eq!(page.version, Some(1));
    page.label = "b".into();
    page.save(&tm).unwrap();
    let committed = db.scalar("SELECT version FROM page WHERE id = 1");
    // PostgreSQL: 3 (the nested UPDATE fires the BEFORE version trigger
    // again, after RETURNING showed 2); SQLite: 2.
    assert!(committed >= Some(2), "{committed:?}");
    assert_eq!(
        page.version, committed,
        "the record holds the row's version"
    );
    page.label = "c".into();
    page.save(&tm)
        .unwrap_or_else(|e| panic!("the next save is no conflict: {e}"));
    let committed = db.scalar("SELECT version FROM page WHERE id = 1");
    assert_eq!(page.version, committed);
    assert_eq!(db.scalar("SELECT touched FROM page WHERE id = 1"), Some(2));
    assert_eq!(Page::get(&tm, 1).unwrap().version, committed);
}

/// A hand-written record's `bind_columns` is user code: it may format the
/// manager and run statements through it while its own statement is being
/// prepared. Nothing of the connection is borrowed while it runs.
fn a_records_own_binding_code_may_use_the_manager<H: Harness>() {
    use std::rc::Rc;
    let (db, tm) = setup::<H>();
    let tm = Rc::new(tm);
    #[derive(Debug)]
    struct Audited<B: Backend> {
        id: Option<i64>,
        version: Option<i64>,
        label: String,
        tm: Rc<TransactionManager<B>>,
    }
    impl<B: Backend> Record for Audited<B> {
        type Key = i64;
        fn meta() -> &'static txmanager::RecordMeta {
            static META: txmanager::RecordMeta = txmanager::RecordMeta::new(
                "tag",
                "id",
                &["label"],
                Some(txmanager::VersionField::auto_increment()),
            );
            &META
        }
        fn primary_key(&self) -> Option<&i64> {
            self.id.as_ref()
        }
        fn set_primary_key(&mut self, pk: Option<i64>) {
            self.id = pk;
        }
        fn version(&self) -> Option<i64> {
            self.version
        }
        fn set_version(&mut self, version: Option<i64>) {
            self.version = version;
        }
    }

    impl<B: Backend> txmanager::RecordValues<B> for Audited<B> {
        fn bind_columns(
            &self,
            values: &mut txmanager::Binder<'_, '_, B>,
        ) -> Result<(), txmanager::ValueError> {
            // Re-entering the manager: `Debug`, then a statement of its own.
            let shown = format!("{:?}", self.tm);
            assert!(!shown.is_empty());
            let tags = Tag::all(&*self.tm).expect("a statement from bind_columns");
            let label = format!("{} after {} tags", self.label, tags.len());
            values.bind(&label)
        }
        fn from_row(
            _: &mut txmanager::RowReader<'_, '_, B>,
        ) -> Result<Self, txmanager::ValueError> {
            unreachable!("only saved in this test")
        }
    }
    let mut audited = Audited {
        id: None,
        version: None,
        label: "audited".into(),
        tm: Rc::clone(&tm),
    };
    audited.save(&*tm).unwrap();
    audited.save(&*tm).unwrap();
    assert_eq!(audited.version, Some(2));
    assert_eq!(Tag::get(&*tm, 1).unwrap().label, "audited after 1 tags");
    assert_eq!(db.scalar("SELECT count(*) FROM tag"), Some(1));
}

/// A trigger-versioned record of `ledger`: its save is the write, then the
/// read of the version.
#[derive(Debug, Clone, Default, Record)]
#[record(table = "ledger")]
struct Ledger {
    #[record(primary_key)]
    id: Option<i64>,
    #[record(version(trigger))]
    version: Option<i64>,
    label: String,
}

/// The same table, versioned in the row: its save is one statement, and
/// `save_and_reload` adds the read of the row.
#[derive(Debug, Clone, Default, Record)]
#[record(table = "ledger")]
struct LedgerEntry {
    #[record(primary_key)]
    id: Option<i64>,
    #[record(version(auto_increment))]
    version: Option<i64>,
    label: String,
}

/// Outside a block, a save that reads back after its write (the trigger
/// kind's version, `save_and_reload`'s row) runs in a transaction of its
/// own: when the read fails after the write succeeded, nothing is
/// committed and the record keeps its key and version, so a retry neither
/// inserts a second row nor meets a conflict with its own write.
fn a_save_whose_read_back_fails_outside_a_block_commits_nothing<H: Harness>() {
    let db = H::new();
    db.raw(&format!(
        "CREATE TABLE ledger (id {}, version BIGINT, label TEXT)",
        H::SERIAL_KEY
    ));
    // Created first, so that on SQLite it fires after the version trigger.
    db.raw(H::SPOIL_LEDGER_TRIGGER);
    let mut tm = db.manager();
    apply_concurrency_check_for::<Ledger, _>(&mut tm).expect("create the version trigger");
    let rows = || db.scalar("SELECT count(*) FROM ledger");
    // The statement that failed is the read-back (`read`: the columns it
    // reads, by id), after the write succeeded; not the write itself.
    let refused = |tm: &TransactionManager<H::B>, err: Error, what: &str, read: &str| {
        let Error::Statement { sql, .. } = &err else {
            panic!("{what}: the read-back's error, not {err:?}");
        };
        // The SQL of either backend, without its quoting and casts.
        let sql = sql
            .replace('"', "")
            .replace("::int8", "")
            .replace("?1", "$1");
        assert_eq!(
            sql,
            format!("SELECT {read} FROM ledger WHERE id = $1"),
            "{what}: the read-back failed, not another statement ({err:?})"
        );
        assert!(db.outside_transaction(tm), "{what}: left in a transaction");
    };
    let version = "version";

    // An insert: the key the database assigned is not lost.
    let mut spoilt = Ledger {
        label: "spoil".into(),
        ..Default::default()
    };
    refused(
        &tm,
        spoilt.save(&tm).unwrap_err(),
        "insert on the manager",
        version,
    );
    assert_eq!((spoilt.id, spoilt.version), (None, None));
    assert_eq!(rows(), Some(0), "the insert was rolled back");
    let err = tm.autocommit(|tx| spoilt.save(tx)).unwrap_err();
    refused(&tm, err, "insert in an autocommit block", version);
    assert_eq!((spoilt.id, spoilt.version, rows()), (None, None, Some(0)));

    // An update, and a `save_fields`: the version is not moved past.
    let mut ledger = Ledger {
        label: "kept".into(),
        ..Default::default()
    };
    ledger.save(&tm).unwrap();
    let id = ledger.id.expect("a key");
    assert_eq!(ledger.version, Some(1));
    ledger.label = "spoil".into();
    refused(&tm, ledger.save(&tm).unwrap_err(), "update", version);
    refused(
        &tm,
        ledger.save_fields(&tm, &["label"]).unwrap_err(),
        "save_fields",
        version,
    );
    assert_eq!(ledger.version, Some(1), "the record keeps its version");
    assert_eq!(
        db.scalar(&format!(
            "SELECT count(*) FROM ledger WHERE id = {id} AND version = 1 AND label = 'kept'"
        )),
        Some(1),
        "the row is as it was"
    );
    ledger.label = "next".into();
    ledger
        .save(&tm)
        .unwrap_or_else(|e| panic!("the next save is no conflict with a rolled-back one: {e}"));
    assert_eq!(ledger.version, Some(2));

    // `save_and_reload` of a type whose save is one statement: the reload
    // reads a NULL label.
    let mut entry = LedgerEntry {
        label: "spoil".into(),
        ..Default::default()
    };
    refused(
        &tm,
        entry.save_and_reload(&tm).unwrap_err(),
        "save_and_reload",
        "id, version, label",
    );
    assert_eq!(
        (entry.id, entry.version, entry.label.as_str()),
        (None, None, "spoil")
    );
    assert_eq!(rows(), Some(1), "only the ledger saved above");
    // Inside a block the block decides: here, it commits both.
    let mut entry = LedgerEntry {
        label: "fine".into(),
        ..Default::default()
    };
    tm.commit_on_success(|tx| entry.save_and_reload(tx))
        .unwrap();
    assert_eq!((entry.version, rows()), (Some(1), Some(2)));
}

/// A record with a 32-bit key, on a table whose keys the database assigns.
#[derive(Debug, Clone, Default, Record)]
#[record(table = "narrow")]
struct Narrow {
    #[record(primary_key)]
    id: Option<i32>,
    #[record(version(auto_increment))]
    version: Option<i64>,
    label: String,
}

/// A record with a text key, on the same table.
#[cfg(feature = "postgres")]
#[derive(Debug, Clone, Default, Record)]
#[record(table = "narrow")]
struct TextKeyed {
    #[record(primary_key)]
    id: Option<String>,
    label: String,
}

fn assert_assigned_key_refused(err: &Error, key_type: &str, what: &str) {
    match err {
        Error::AssignedKeyType {
            table,
            column,
            key_type: found,
            ..
        } => assert_eq!(
            (*table, *column, *found),
            ("narrow", "id", key_type),
            "{what}"
        ),
        other => panic!("{what}: the key conversion's error, not {other:?}"),
    }
}

/// SQLite: a rowid past an `i32` key's range is known only after the
/// insert; the insert runs in a transaction of its own and is rolled back,
/// so a retry cannot insert the row twice.
#[test]
fn an_insert_whose_rowid_does_not_fit_the_key_type_commits_nothing() {
    let db = SqliteDb::new();
    db.raw("CREATE TABLE narrow (id INTEGER PRIMARY KEY, version INTEGER, label TEXT)");
    db.raw("INSERT INTO narrow (id, version, label) VALUES (2147483647, 1, 'last i32')");
    let mut tm = db.manager();
    let rows = || db.scalar("SELECT count(*) FROM narrow");
    let mut record = Narrow {
        label: "past".into(),
        ..Default::default()
    };
    let err = record.save(&tm).unwrap_err();
    assert_assigned_key_refused(&err, "i32", "on the manager");
    assert!(err.to_string().contains("the rowid 2147483648"), "{err}");
    assert_eq!((record.id, record.version, rows()), (None, None, Some(1)));
    assert!(db.outside_transaction(&tm));
    let err = tm.commit_on_success(|tx| record.save(tx)).unwrap_err();
    assert_assigned_key_refused(&err, "i32", "in a block that returns the error");
    assert_eq!((record.id, rows()), (None, Some(1)));
    // A rowid that fits is read as before.
    db.raw("DELETE FROM narrow");
    record.save(&tm).unwrap();
    assert_eq!(
        (record.id, record.version, rows()),
        (Some(1), Some(1), Some(1))
    );
}

/// PostgreSQL: the key column's type is checked against the key type
/// before the insert runs, so nothing is written.
#[cfg(feature = "postgres")]
#[test]
fn an_insert_whose_key_column_type_is_not_the_key_type_writes_nothing() {
    let db = pg::PgHarness::new();
    db.raw("CREATE TABLE narrow (id BIGSERIAL PRIMARY KEY, version BIGINT, label TEXT)");
    let tm = db.manager();
    let rows = || db.scalar("SELECT count(*) FROM narrow");
    let mut narrow = Narrow {
        label: "int4 key".into(),
        ..Default::default()
    };
    let err = narrow.save(&tm).unwrap_err();
    assert_assigned_key_refused(&err, "i32", "an i32 key on BIGSERIAL");
    assert!(err.to_string().contains("int8"), "{err}");
    let mut text = TextKeyed {
        label: "text key".into(),
        ..Default::default()
    };
    let err = text.save(&tm).unwrap_err();
    assert_assigned_key_refused(&err, "alloc::string::String", "a String key on BIGSERIAL");
    assert_eq!((narrow.id, text.id.clone(), rows()), (None, None, Some(0)));
    assert!(db.outside_transaction(&tm));
}

/// After `DISCARD ALL` / `DEALLOCATE ALL` (a pooler's reset), a save in a
/// transaction of its own outside a block is prepared again and run once
/// more, as a single statement outside a block is: the first run was
/// rolled back whole.
#[cfg(feature = "postgres")]
#[test]
fn a_save_in_its_own_transaction_survives_deallocate_all() {
    let db = pg::PgHarness::new();
    db.raw("CREATE TABLE ledger (id BIGSERIAL PRIMARY KEY, version BIGINT, label TEXT)");
    let mut tm = db.manager();
    apply_concurrency_check_for::<Ledger, _>(&mut tm).expect("create the version trigger");
    let mut ledger = Ledger {
        label: "first".into(),
        ..Default::default()
    };
    ledger
        .save(&tm)
        .expect("the first save prepares its statements");
    for (n, reset) in ["DEALLOCATE ALL", "DISCARD ALL"].into_iter().enumerate() {
        tm.execute_batch(reset).unwrap();
        ledger.label = format!("after {reset}");
        ledger
            .save(&tm)
            .unwrap_or_else(|e| panic!("a save after {reset}: {e}"));
        assert_eq!(ledger.version, Some(n as i64 + 2), "{reset}");
        tm.execute_batch(reset).unwrap();
        let mut other = Ledger {
            label: format!("inserted after {reset}"),
            ..Default::default()
        };
        other
            .save(&tm)
            .unwrap_or_else(|e| panic!("an insert after {reset}: {e}"));
        assert!(db.outside_transaction(&tm), "{reset}");
    }
    assert_eq!(
        db.scalar("SELECT count(*) FROM ledger WHERE label LIKE '%after%'"),
        Some(3),
        "the two inserts and the updated row, each once"
    );
    assert_eq!(
        db.scalar("SELECT version FROM ledger WHERE label = 'after DISCARD ALL'"),
        Some(3)
    );
}

/// `check = false`: never checked, still bumped.
#[derive(Debug, Clone, Default, Record)]
#[record(table = "setting", check = false)]
struct Unchecked {
    #[record(primary_key)]
    id: Option<i64>,
    #[record(version(auto_increment))]
    version: Option<i64>,
    label: String,
    views: i64,
}

/// `increment = false`: checked, never bumped.
#[derive(Debug, Clone, Default, Record)]
#[record(table = "setting", increment = false)]
struct Frozen {
    #[record(primary_key)]
    id: Option<i64>,
    #[record(version(auto_increment))]
    version: Option<i64>,
    label: String,
    views: i64,
}

/// `version_required = false`: a record without a version saves over its row.
#[derive(Debug, Clone, Default, Record)]
#[record(table = "setting", version_required = false)]
struct Loose {
    #[record(primary_key)]
    id: Option<i64>,
    #[record(version(auto_increment))]
    version: Option<i64>,
    label: String,
    views: i64,
}

/// A conditional version watching every saved field but `views`.
#[derive(Debug, Clone, Default, Record)]
#[record(table = "setting", ignore(views))]
struct Watched {
    #[record(primary_key)]
    id: Option<i64>,
    #[record(version(conditional))]
    version: Option<i64>,
    label: String,
    views: i64,
}

/// django-concurrency's per-type settings change each backend's SQL alike:
/// `check = false` lets a stale copy through and still moves the version
/// on from the row's; `increment = false` checks and keeps the version;
/// `version_required = false` saves a record without a version over its
/// row; an ignored field never bumps a conditional version. Full saves and
/// `save_fields` both.
fn per_type_settings_change_the_check_and_the_bump<H: Harness>() {
    let (db, tm) = setup::<H>();
    db.raw(&format!(
        "CREATE TABLE setting (id {}, version BIGINT NOT NULL, label TEXT NOT NULL, views BIGINT NOT NULL)",
        H::SERIAL_KEY
    ));
    let version = || db.scalar("SELECT version FROM setting WHERE id = 1");

    let mut a = Unchecked {
        label: "a".into(),
        ..Default::default()
    };
    a.save(&tm).unwrap();
    let mut stale = Unchecked::get(&tm, 1).unwrap();
    a.save(&tm).unwrap();
    stale.label = "stale wins".into();
    stale.save(&tm).unwrap();
    assert_eq!(
        (stale.version, version()),
        (Some(3), Some(3)),
        "unchecked, bumped"
    );
    stale.version = Some(1);
    stale.save_fields(&tm, &["label"]).unwrap();
    assert_eq!(version(), Some(4), "save_fields: unchecked, bumped");

    let mut frozen = Frozen::get(&tm, 1).unwrap();
    frozen.label = "frozen".into();
    frozen.save(&tm).unwrap();
    frozen.save_fields(&tm, &["label"]).unwrap();
    assert_eq!(
        (frozen.version, version()),
        (Some(4), Some(4)),
        "checked, not bumped"
    );
    frozen.version = Some(3);
    let err = frozen.save(&tm).unwrap_err();
    assert!(
        matches!(
            err,
            Error::RecordModified {
                expected: 3,
                found: Some(4),
                ..
            }
        ),
        "{err:?}"
    );

    let mut posted = Loose {
        id: Some(1),
        label: "posted".into(),
        ..Default::default()
    };
    posted.save(&tm).unwrap();
    assert_eq!(
        (posted.version, version()),
        (Some(5), Some(5)),
        "saved over, unchecked"
    );
    let mut new = Loose {
        id: Some(7),
        label: "new".into(),
        ..Default::default()
    };
    new.save(&tm).unwrap();
    assert_eq!(new.version, Some(1), "no row under that key: inserted");

    let mut w = Watched::get(&tm, 1).unwrap();
    let mut reader = w.clone();
    w.views = 10;
    w.save(&tm).unwrap();
    assert_eq!(version(), Some(5), "views is ignored: no bump");
    w.label = "watched".into();
    w.save(&tm).unwrap();
    assert_eq!(
        (w.version, version()),
        (Some(6), Some(6)),
        "label is watched: bumped"
    );
    reader.views = 11;
    let err = reader.save(&tm).unwrap_err();
    assert!(
        matches!(
            err,
            Error::RecordModified {
                expected: 5,
                found: Some(6),
                ..
            }
        ),
        "the check always runs: {err:?}"
    );
    assert_eq!(
        db.scalar("SELECT views FROM setting WHERE id = 1"),
        Some(10)
    );
}

/// The per-manager conflict handler is told of each conflict, on either
/// backend (a stale save in a block, a stale `save_fields`, a stale
/// delete), with the table, key and both versions; the error is still
/// returned, and nothing stale is written.
fn the_conflict_handler_is_told_of_each_conflict_and_the_error_is_still_returned<H: Harness>() {
    let (db, mut tm) = setup::<H>();
    let seen: Arc<Mutex<Vec<Conflict>>> = Arc::default();
    let log = Arc::clone(&seen);
    tm.set_conflict_handler(move |c: &Conflict| log.lock().unwrap().push(c.clone()));
    let mut tag = Tag {
        label: "a".into(),
        ..Default::default()
    };
    tag.save(&tm).unwrap();
    let mut stale = tag.clone();
    tag.save(&tm).unwrap();
    assert!(seen.lock().unwrap().is_empty(), "no conflict, no call");

    stale.label = "stale".into();
    let in_block = tm.commit_on_success(|tx| stale.save(tx));
    assert!(
        matches!(in_block, Err(Error::RecordModified { .. })),
        "{in_block:?}"
    );
    assert!(stale.save_fields(&tm, &["label"]).is_err());
    assert!(stale.delete(&tm).is_err());
    assert_eq!(
        db.scalar("SELECT count(*) FROM tag WHERE label = 'a'"),
        Some(1)
    );
    let expected = Conflict {
        table: "tag".into(),
        pk: 1.into(),
        expected: 1,
        found: Some(2),
    };
    assert_eq!(*seen.lock().unwrap(), vec![expected; 3]);
}
