//! django-concurrency's remaining features: version not required, per-type
//! settings (`ConcurrencyMeta`), saving chosen fields, `get_version`,
//! refetch, the conflict handler, and optional lookups. Managers on a real
//! file; a separate connection checks what was really written.

mod common;

use std::sync::{Arc, Mutex};

use common::Db;
use txmanager::{Conflict, Error, Opener, OptionalExtension, Record, concurrency_check};

fn schema(db: &Db) {
    db.observer()
        .execute_batch(
            "CREATE TABLE page (id INTEGER PRIMARY KEY, version INTEGER NOT NULL,
                 title TEXT NOT NULL, views INTEGER NOT NULL,
                 created TEXT NOT NULL DEFAULT 'by default');",
        )
        .expect("schema");
}

/// The page row as another connection sees it: (version, title, views).
fn row(db: &Db) -> (i64, String, i64) {
    db.observer()
        .query_row("SELECT version, title, views FROM page", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .expect("one page row")
}

fn pages(db: &Db) -> i64 {
    db.observer()
        .query_row("SELECT count(*) FROM page", [], |r| r.get(0))
        .expect("count pages")
}

/// Strict (the default): a record needs its version to be saved over a row.
#[derive(Debug, Clone, Default, Record)]
struct Page {
    #[record(primary_key)]
    id: Option<i64>,
    #[record(version(auto_increment))]
    version: Option<i64>,
    title: String,
    views: i64,
}

/// `CONCURRENCY_VERSION_FIELD_REQUIRED = False`.
#[derive(Debug, Clone, Default, Record)]
#[record(table = "page", version_required = false)]
struct LoosePage {
    #[record(primary_key)]
    id: Option<i64>,
    #[record(version(auto_increment))]
    version: Option<i64>,
    title: String,
    views: i64,
}

fn first_page(db: &Db) {
    Page {
        title: "Home".into(),
        ..Default::default()
    }
    .save(&db.manager())
    .expect("first page");
}

#[test]
fn a_strict_type_takes_a_record_without_a_version_for_a_new_row_and_never_overwrites() {
    let db = Db::new();
    schema(&db);
    first_page(&db);
    let tm = db.manager();
    // A form posted without a version: taken for a new row, whose key is
    // already used, so the INSERT fails and nothing is overwritten.
    let mut posted = Page {
        id: Some(1),
        title: "Posted".into(),
        ..Default::default()
    };
    let err = posted.save(&tm).unwrap_err();
    assert!(
        matches!(&err, Error::Statement { sql, .. } if sql.starts_with("INSERT")),
        "the insert refused it: {err:?}"
    );
    assert_eq!(
        err.sqlite_error_code(),
        Some(txmanager::rusqlite::ErrorCode::ConstraintViolation)
    );
    assert_eq!(row(&db), (1, "Home".into(), 0));
    assert_eq!(
        posted.version, None,
        "a failed save leaves the record alone"
    );
}

#[test]
fn a_type_that_does_not_require_a_version_saves_over_its_row_and_bumps_the_row_version() {
    let db = Db::new();
    schema(&db);
    first_page(&db);
    db.observer()
        .execute("UPDATE page SET version = 7", [])
        .unwrap();
    let tm = db.manager();
    let mut posted = LoosePage {
        id: Some(1),
        title: "Posted".into(),
        ..Default::default()
    };
    posted.save(&tm).unwrap();
    assert_eq!(
        row(&db),
        (8, "Posted".into(), 0),
        "saved over, unchecked, the version moved on from the row's"
    );
    assert_eq!(posted.version, Some(8));

    // A record that does carry a version is still checked.
    let mut stale = LoosePage::get(&tm, 1).unwrap();
    stale.version = Some(3);
    stale.title = "Stale".into();
    let err = stale.save(&tm).unwrap_err();
    assert!(
        matches!(
            err,
            Error::RecordModified {
                expected: 3,
                found: Some(8),
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(row(&db), (8, "Posted".into(), 0));

    // No row under that key: inserted, at the initial version.
    let mut new = LoosePage {
        id: Some(5),
        title: "New".into(),
        ..Default::default()
    };
    new.save(&tm).unwrap();
    assert_eq!(new.version, Some(1));
    assert_eq!(pages(&db), 2);
}

/// `ConcurrencyMeta.enabled = False`: never checked, still bumped.
#[derive(Debug, Clone, Default, Record)]
#[record(table = "page", check = false)]
struct UncheckedPage {
    #[record(primary_key)]
    id: Option<i64>,
    #[record(version(auto_increment))]
    version: Option<i64>,
    title: String,
    views: i64,
}

/// Checked, never bumped.
#[derive(Debug, Clone, Default, Record)]
#[record(table = "page", increment = false)]
struct FrozenPage {
    #[record(primary_key)]
    id: Option<i64>,
    #[record(version(auto_increment))]
    version: Option<i64>,
    title: String,
    views: i64,
}

#[test]
fn a_type_declared_check_false_overwrites_stale_copies_and_still_moves_the_version() {
    let db = Db::new();
    schema(&db);
    let tm1 = db.manager();
    let tm2 = db.manager();
    let mut a = UncheckedPage {
        title: "a".into(),
        ..Default::default()
    };
    a.save(&tm1).unwrap();
    let mut stale = UncheckedPage::get(&tm2, 1).unwrap();
    a.save(&tm1).unwrap();
    stale.title = "stale wins".into();
    stale.save(&tm2).unwrap();
    assert_eq!(row(&db), (3, "stale wins".into(), 0), "unchecked, bumped");
    assert_eq!(stale.version, Some(3));
    // concurrency_check agrees with the declaration.
    concurrency_check(&tm1, &a).unwrap();
    // A strict type on the same table is still checked.
    let mut strict = Page::get(&tm1, 1).unwrap();
    strict.version = Some(1);
    assert!(matches!(
        strict.save(&tm1),
        Err(Error::RecordModified {
            expected: 1,
            found: Some(3),
            ..
        })
    ));
    // And deletes are not checked either.
    a.delete(&tm1).unwrap();
    assert_eq!(pages(&db), 0);
}

#[test]
fn a_type_declared_increment_false_is_checked_but_leaves_the_version_alone() {
    let db = Db::new();
    schema(&db);
    first_page(&db);
    let tm1 = db.manager();
    let tm2 = db.manager();
    let mut fresh = FrozenPage::get(&tm1, 1).unwrap();
    let mut other = FrozenPage::get(&tm2, 1).unwrap();
    fresh.views = 1;
    fresh.save(&tm1).unwrap();
    assert_eq!(row(&db), (1, "Home".into(), 1), "written, not bumped");
    assert_eq!(fresh.version, Some(1));
    // Another copy is not made stale by it...
    other.views = 2;
    other.save(&tm2).unwrap();
    assert_eq!(row(&db), (1, "Home".into(), 2));
    // ...but a real change of version is still caught.
    db.observer()
        .execute("UPDATE page SET version = 4", [])
        .unwrap();
    fresh.views = 3;
    assert!(matches!(
        fresh.save(&tm1),
        Err(Error::RecordModified {
            expected: 1,
            found: Some(4),
            ..
        })
    ));
    assert_eq!(row(&db), (4, "Home".into(), 2));
}

/// A conditional version watching every saved field but `views`.
#[derive(Debug, Clone, Default, Record)]
#[record(table = "page", ignore(views))]
struct Article {
    #[record(primary_key)]
    id: Option<i64>,
    #[record(version(conditional))]
    version: Option<i64>,
    title: String,
    views: i64,
}

#[test]
fn an_ignored_field_never_bumps_a_conditional_version_that_watches_every_other_field() {
    let db = Db::new();
    schema(&db);
    let tm = db.manager();
    let mut a = Article {
        title: "Home".into(),
        ..Default::default()
    };
    a.save(&tm).unwrap();
    let mut reader = Article::get(&db.manager(), 1).unwrap();
    a.views = 10;
    a.save(&tm).unwrap();
    assert_eq!(row(&db), (1, "Home".into(), 10), "views: no bump");
    a.title = "Start".into();
    a.save(&tm).unwrap();
    assert_eq!(row(&db), (2, "Start".into(), 10), "title: watched, bumped");
    assert_eq!(a.version, Some(2));
    // The check always runs: a copy from before is stale now.
    reader.views = 11;
    assert!(matches!(
        reader.save(&tm),
        Err(Error::RecordModified {
            expected: 1,
            found: Some(2),
            ..
        })
    ));
}

#[test]
fn saving_chosen_fields_writes_only_them_and_bumps_the_version_so_older_copies_conflict() {
    let db = Db::new();
    schema(&db);
    first_page(&db);
    let tm1 = db.manager();
    let tm2 = db.manager();
    let mut page = Page::get(&tm1, 1).unwrap();
    let mut stale = Page::get(&tm2, 1).unwrap();

    page.title = "Start".into();
    page.views = 99;
    page.save_fields(&tm1, &["title"]).unwrap();
    assert_eq!(row(&db), (2, "Start".into(), 0), "views not written");
    assert_eq!(page.version, Some(2));

    stale.views = 5;
    let err = stale.save_fields(&tm2, &["views"]).unwrap_err();
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
    assert_eq!(
        row(&db),
        (2, "Start".into(), 0),
        "the stale write wrote nothing"
    );
    assert_eq!(
        stale.version,
        Some(1),
        "a failed save leaves the record alone"
    );

    // Both fields, in any order and repeated: one UPDATE.
    page.views = 7;
    page.save_fields(&tm1, &["views", "title", "views"])
        .unwrap();
    assert_eq!(row(&db), (3, "Start".into(), 7));
    // Nothing named: nothing saved, nothing bumped.
    page.save_fields(&tm1, &[]).unwrap();
    assert_eq!(row(&db), (3, "Start".into(), 7));
}

#[test]
fn saving_chosen_fields_names_the_step_that_refused_it() {
    let db = Db::new();
    schema(&db);
    first_page(&db);
    let tm = db.manager();
    let mut page = Page::get(&tm, 1).unwrap();
    page.title = "Start".into();

    // A name that is not a saved column (here: the version), before any SQL.
    let err = page.save_fields(&tm, &["title", "version"]).unwrap_err();
    assert!(
        matches!(&err, Error::InvalidIdentifier { what: "update field", name, .. } if name == "version"),
        "{err:?}"
    );
    // Never saved: no key.
    let err = Page::default().save_fields(&tm, &["title"]).unwrap_err();
    assert!(
        matches!(err, Error::RecordNotSaved { table: "page" }),
        "{err:?}"
    );
    // A key but no version, strict type: nothing to check against.
    let mut posted = Page {
        id: Some(1),
        title: "Posted".into(),
        ..Default::default()
    };
    let err = posted.save_fields(&tm, &["title"]).unwrap_err();
    assert!(
        matches!(&err, Error::VersionMissing { table: "page", pk } if *pk == 1),
        "{err:?}"
    );
    // The row is gone: a conflict, found None.
    db.observer().execute("DELETE FROM page", []).unwrap();
    let err = page.save_fields(&tm, &["title"]).unwrap_err();
    assert!(
        matches!(
            err,
            Error::RecordModified {
                expected: 1,
                found: None,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(pages(&db), 0, "nothing was re-inserted");
    // Unchecked (a type that does not require a version): not found.
    let mut loose = LoosePage {
        id: Some(1),
        title: "Posted".into(),
        ..Default::default()
    };
    let err = loose.save_fields(&tm, &["title"]).unwrap_err();
    assert!(
        matches!(&err, Error::RecordNotFound { table: "page", pk } if *pk == 1),
        "{err:?}"
    );
    assert_eq!(pages(&db), 0);
}

#[test]
fn saving_chosen_fields_of_a_type_that_does_not_require_a_version_writes_them_unchecked() {
    let db = Db::new();
    schema(&db);
    first_page(&db);
    let tm = db.manager();
    let mut posted = LoosePage {
        id: Some(1),
        views: 3,
        ..Default::default()
    };
    posted.save_fields(&tm, &["views"]).unwrap();
    assert_eq!(
        row(&db),
        (2, "Home".into(), 3),
        "title kept, version bumped"
    );
    assert_eq!(posted.version, Some(2));
}

#[test]
fn saving_chosen_fields_bumps_a_conditional_version_only_when_a_written_watched_field_changed() {
    let db = Db::new();
    schema(&db);
    let tm = db.manager();
    let mut a = Article {
        title: "Home".into(),
        ..Default::default()
    };
    a.save(&tm).unwrap();
    a.title = "Start".into();
    a.views = 10;
    a.save_fields(&tm, &["views"]).unwrap();
    assert_eq!(
        row(&db),
        (1, "Home".into(), 10),
        "views is ignored, title not written: no bump"
    );
    a.save_fields(&tm, &["title"]).unwrap();
    assert_eq!(row(&db), (2, "Start".into(), 10));
    assert_eq!(a.version, Some(2));
    a.save_fields(&tm, &["title"]).unwrap();
    assert_eq!(row(&db), (2, "Start".into(), 10), "no change: no bump");
}

#[test]
fn saving_chosen_fields_of_an_increment_false_type_never_bumps() {
    let db = Db::new();
    schema(&db);
    first_page(&db);
    let tm = db.manager();
    let mut page = FrozenPage::get(&tm, 1).unwrap();
    page.title = "Start".into();
    page.save_fields(&tm, &["title"]).unwrap();
    assert_eq!(row(&db), (1, "Start".into(), 0));
    assert_eq!(page.version, Some(1));
}

/// A type without a version: chosen fields are written as they are.
#[derive(Debug, Clone, Default, Record)]
#[record(table = "reporter")]
struct Reporter {
    #[record(primary_key)]
    id: Option<i64>,
    first_name: String,
    last_name: String,
}

#[test]
fn saving_chosen_fields_of_an_unversioned_type_writes_them_or_says_the_row_is_missing() {
    let db = Db::new();
    let tm = db.manager();
    let mut ann = Reporter {
        first_name: "Ann".into(),
        last_name: "Lee".into(),
        ..Default::default()
    };
    ann.save(&tm).unwrap();
    ann.first_name = "Anne".into();
    ann.last_name = "not saved".into();
    ann.save_fields(&tm, &["first_name"]).unwrap();
    assert_eq!(db.committed(), ["Anne Lee"]);
    let mut ghost = Reporter {
        id: Some(9),
        ..Default::default()
    };
    let err = ghost.save_fields(&tm, &["first_name"]).unwrap_err();
    assert!(
        matches!(&err, Error::RecordNotFound { table: "reporter", pk } if *pk == 9),
        "{err:?}"
    );
    assert_eq!(db.committed(), ["Anne Lee"]);
}

#[test]
fn get_version_loads_the_record_only_at_the_version_asked_for() {
    let db = Db::new();
    schema(&db);
    first_page(&db);
    let tm = db.manager();
    db.observer()
        .execute("UPDATE page SET title = 'Edited', version = 2", [])
        .unwrap();
    let page = Page::get_version(&tm, 1, 2).unwrap();
    assert_eq!((page.title.as_str(), page.version), ("Edited", Some(2)));
    let err = Page::get_version(&tm, 1, 1).unwrap_err();
    assert!(
        matches!(
            &err,
            Error::RecordModified {
                table: "page",
                pk,
                expected: 1,
                found: Some(2),
            } if *pk == 1
        ),
        "{err:?}"
    );
    let err = Page::get_version(&tm, 7, 1).unwrap_err();
    assert!(
        matches!(
            err,
            Error::RecordModified {
                expected: 1,
                found: None,
                ..
            }
        ),
        "a missing row: {err:?}"
    );
    // Even a type that never checks its saves checks here.
    assert!(matches!(
        UncheckedPage::get_version(&tm, 1, 1),
        Err(Error::RecordModified { .. })
    ));
    let err = Reporter::get_version(&tm, 1, 1).unwrap_err();
    assert!(
        matches!(&err, Error::NotVersioned { table } if table == "reporter"),
        "{err:?}"
    );
}

/// A page whose `slug` a trigger fills in, `created` a default, and `shout`
/// a generated column: none of them saved by txmanager.
#[derive(Debug, Clone, Default, Record)]
#[record(table = "page")]
struct FilledPage {
    #[record(primary_key)]
    id: Option<i64>,
    #[record(version(auto_increment))]
    version: Option<i64>,
    title: String,
    views: i64,
    #[record(read_only)]
    created: Option<String>,
    #[record(read_only)]
    slug: Option<String>,
    #[record(read_only)]
    shout: Option<String>,
}

#[test]
fn save_and_reload_reads_back_defaults_trigger_and_generated_columns() {
    let db = Db::new();
    schema(&db);
    db.observer()
        .execute_batch(
            "ALTER TABLE page ADD COLUMN slug TEXT;
             ALTER TABLE page ADD COLUMN shout TEXT GENERATED ALWAYS AS (upper(title)) VIRTUAL;
             CREATE TRIGGER page_slug AFTER UPDATE OF title ON page BEGIN
                 UPDATE page SET slug = lower(NEW.title) WHERE id = NEW.id;
             END;",
        )
        .unwrap();
    let mut tm = db.manager();
    let mut page = FilledPage {
        title: "Home".into(),
        ..Default::default()
    };
    page.save(&tm).unwrap();
    assert_eq!(page.created, None, "a plain save does not read back");
    page.title = "Start".into();
    tm.commit_on_success(|tx| page.save_and_reload(tx)).unwrap();
    assert_eq!(page.created.as_deref(), Some("by default"));
    assert_eq!(page.slug.as_deref(), Some("start"));
    assert_eq!(page.shout.as_deref(), Some("START"));
    assert_eq!(page.version, Some(2));
    assert_eq!(row(&db), (2, "Start".into(), 0));

    // A conflict stops it before the read: nothing written, record as it was.
    let mut stale = page.clone();
    stale.version = Some(1);
    stale.title = "Stale".into();
    let err = stale.save_and_reload(&tm).unwrap_err();
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
    assert_eq!(stale.title, "Stale");
    assert_eq!(row(&db), (2, "Start".into(), 0));
}

/// A handler that keeps what it is shown.
fn recorder() -> (
    Arc<Mutex<Vec<Conflict>>>,
    impl Fn(&Conflict) + Send + Sync + 'static,
) {
    let seen: Arc<Mutex<Vec<Conflict>>> = Arc::default();
    let log = Arc::clone(&seen);
    (seen, move |c: &Conflict| {
        log.lock().unwrap().push(c.clone())
    })
}

#[test]
fn the_conflict_handler_sees_every_conflict_of_its_manager_and_the_error_is_still_returned() {
    let db = Db::new();
    schema(&db);
    first_page(&db);
    let mut tm = db.manager();
    let (seen, handler) = recorder();
    tm.set_conflict_handler(handler);

    let mut page = Page::get(&tm, 1).unwrap();
    let mut stale = page.clone();
    page.save(&tm).unwrap();
    page.save_fields(&tm, &["title"]).unwrap();
    concurrency_check(&tm, &page).unwrap();
    Page::get_version(&tm, 1, 3).unwrap();
    assert!(seen.lock().unwrap().is_empty(), "no conflict, no call");

    stale.title = "Stale".into();
    let in_block = tm.commit_on_success(|tx| {
        tx.execute("UPDATE page SET views = 42", [])?;
        stale.save(tx)
    });
    assert!(matches!(in_block, Err(Error::RecordModified { .. })));
    assert_eq!(row(&db), (3, "Home".into(), 0), "the block rolled back");
    assert!(stale.save_fields(&tm, &["title"]).is_err());
    assert!(concurrency_check(&tm, &stale).is_err());
    assert!(Page::get_version(&tm, 1, 1).is_err());
    assert!(stale.delete(&tm).is_err());
    assert_eq!(pages(&db), 1, "the stale delete deleted nothing");
    {
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 5, "{seen:?}");
        let expected = Conflict {
            table: "page".into(),
            pk: 1.into(),
            expected: 1,
            found: Some(3),
        };
        assert!(seen.iter().all(|c| *c == expected), "{seen:?}");
    }

    // Another manager on the same file has no handler.
    let other = db.manager();
    assert!(stale.save(&other).is_err());
    // A cleared handler is told nothing more.
    tm.clear_conflict_handler();
    assert!(stale.save(&tm).is_err());
    assert_eq!(seen.lock().unwrap().len(), 5);
}

#[test]
fn an_opener_gives_its_conflict_handler_to_every_manager_it_opens_on_any_thread() {
    let db = Db::new();
    schema(&db);
    first_page(&db);
    let (seen, handler) = recorder();
    let opener = Opener::new(&db.path).with_conflict_handler(handler);
    let stale = Page::get(&opener.open().unwrap(), 1).unwrap();
    // One fresh save first, so every stale copy after it conflicts.
    Page::get(&db.manager(), 1)
        .unwrap()
        .save(&db.manager())
        .unwrap();
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let opener = opener.clone();
            let mut stale = stale.clone();
            std::thread::spawn(move || {
                let tm = opener.open().unwrap();
                stale.save(&tm).unwrap_err()
            })
        })
        .collect();
    for worker in workers {
        let err = worker.join().unwrap();
        assert!(
            matches!(err, Error::RecordModified { found: Some(2), .. }),
            "{err:?}"
        );
    }
    assert_eq!(seen.lock().unwrap().len(), 2);
    assert_eq!(row(&db), (2, "Home".into(), 0));
}

#[test]
fn optional_lookups_answer_none_for_a_missing_row_and_keep_every_other_error() {
    let db = Db::new();
    schema(&db);
    first_page(&db);
    let tm = db.manager();
    // find: Ok(None); get: an error that .optional() turns into None.
    assert!(Page::find(&tm, 2).unwrap().is_none());
    assert_eq!(
        Page::find(&tm, 1).unwrap().map(|p| p.title),
        Some("Home".into())
    );
    assert!(matches!(
        Page::get(&tm, 2),
        Err(Error::RecordNotFound { .. })
    ));
    assert!(Page::get(&tm, 2).optional().unwrap().is_none());
    assert_eq!(
        Page::get(&tm, 1).optional().unwrap().map(|p| p.version),
        Some(Some(1))
    );
    // A row another connection deleted: reload says so, optionally.
    let mut page = Page::get(&tm, 1).unwrap();
    db.observer().execute("DELETE FROM page", []).unwrap();
    assert_eq!(page.reload(&tm).optional().unwrap(), None);
    // query_row with no row, through the manager and a handle.
    let none: Option<i64> = tm
        .query_row("SELECT views FROM page", [], |r| r.get(0))
        .optional()
        .unwrap();
    assert_eq!(none, None);
    let mut tm = tm;
    let in_block = tm
        .commit_on_success(|tx| {
            tx.query_row("SELECT views FROM page", [], |r| r.get::<_, i64>(0))
                .optional()
        })
        .unwrap();
    assert_eq!(in_block, None);
    // Your own rusqlite call's `?` in a closure returning txmanager's error.
    let own: Result<i64, Error> = Err(txmanager::rusqlite::Error::QueryReturnedNoRows.into());
    assert_eq!(own.optional().unwrap(), None);
    // Other errors stay errors: bad SQL, a conflict.
    let err = tm
        .query_row("SELECT no_such_column FROM page", [], |r| {
            r.get::<_, i64>(0)
        })
        .optional()
        .unwrap_err();
    assert!(matches!(err, Error::Statement { .. }), "{err:?}");
    Page {
        title: "again".into(),
        ..Default::default()
    }
    .save(&tm)
    .unwrap();
    let err = Page::get_version(&tm, 1, 9).optional().unwrap_err();
    assert!(matches!(err, Error::RecordModified { .. }), "{err:?}");
}
