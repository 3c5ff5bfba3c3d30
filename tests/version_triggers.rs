//! Trigger version fields on real schemas: trigger names that cannot
//! collide, same-name triggers with other text, `WITHOUT ROWID` tables,
//! tables with triggers of their own, and the list / drop / check helpers.
//! Each runs on a file (checked from a second connection) and on `:memory:`.

mod common;

use common::Db;
use txmanager::{
    Error, Record, TransactionManager, VersionKind, apply_concurrency_check,
    apply_concurrency_check_for, check_version_triggers, drop_version_triggers, version_triggers,
};

#[derive(Debug, Clone, Default, PartialEq, Record)]
pub struct Doc {
    #[record(primary_key)]
    pub id: Option<i64>,
    #[record(version(trigger))]
    pub version: Option<i64>,
    pub body: String,
}

/// Where the database lives, and how to read what is committed.
enum Place {
    File(Db),
    Memory,
}

impl Place {
    fn both() -> [Place; 2] {
        [Place::File(Db::new()), Place::Memory]
    }

    fn manager(&self) -> TransactionManager {
        match self {
            Place::File(db) => db.manager(),
            Place::Memory => TransactionManager::open_in_memory().unwrap(),
        }
    }

    /// Runs `sql` as another program would: a second connection for a
    /// file; for `:memory:`, the manager itself (outside any block).
    fn raw(&self, tm: &TransactionManager, sql: &str) {
        match self {
            Place::File(db) => db.observer().execute_batch(sql).unwrap(),
            Place::Memory => tm.execute_batch(sql).unwrap(),
        }
    }

    /// One integer, read as committed.
    fn read(&self, tm: &TransactionManager, sql: &str) -> i64 {
        assert!(tm.is_autocommit());
        match self {
            Place::File(db) => db.observer().query_row(sql, [], |r| r.get(0)).unwrap(),
            Place::Memory => tm.query_row(sql, [], |r| r.get(0)).unwrap(),
        }
    }
}

#[test]
fn tables_whose_names_once_collided_each_get_their_own_trigger() {
    for place in Place::both() {
        let mut tm = place.manager();
        tm.execute_batch(
            "CREATE TABLE a_b (id INTEGER PRIMARY KEY, c INTEGER NOT NULL DEFAULT 1, x TEXT);
             CREATE TABLE a (id INTEGER PRIMARY KEY, b_c INTEGER NOT NULL DEFAULT 1, x TEXT);
             INSERT INTO a_b (x) VALUES ('one'); INSERT INTO a (x) VALUES ('one');",
        )
        .unwrap();
        apply_concurrency_check(&mut tm, "a_b", "c", VersionKind::Trigger).unwrap();
        apply_concurrency_check(&mut tm, "a", "b_c", VersionKind::Trigger).unwrap();
        let names: Vec<String> = version_triggers(&tm)
            .unwrap()
            .iter()
            .map(|t| format!("{} {}.{}", t.name(), t.table(), t.column()))
            .collect();
        assert_eq!(
            names,
            [
                "txmanager_version_1_a_b_c a.b_c",
                "txmanager_version_3_a_b_c a_b.c"
            ]
        );
        place.raw(&tm, "UPDATE a_b SET x = 'two'; UPDATE a SET x = 'two'");
        assert_eq!(
            place.read(&tm, "SELECT c FROM a_b"),
            2,
            "a_b lost its bumps"
        );
        assert_eq!(place.read(&tm, "SELECT b_c FROM a"), 2, "a lost its bumps");
    }
}

#[test]
fn a_same_name_trigger_with_other_text_is_replaced_and_the_old_naming_scheme_is_upgraded() {
    for place in Place::both() {
        let mut tm = place.manager();
        tm.execute_batch(
            "CREATE TABLE doc (id INTEGER PRIMARY KEY, version INTEGER NOT NULL DEFAULT 1, body TEXT);
             INSERT INTO doc (body) VALUES ('one');
             -- our name, but someone else's text: bumps by 10
             CREATE TRIGGER txmanager_version_3_doc_version AFTER UPDATE ON doc FOR EACH ROW
             WHEN NEW.version IS OLD.version
             BEGIN UPDATE doc SET version = OLD.version + 10 WHERE rowid = NEW.rowid; END;
             -- exactly what older versions of txmanager created
             CREATE TRIGGER \"txmanager_version_doc_version\" AFTER UPDATE ON \"doc\" FOR EACH ROW \
             WHEN NEW.\"version\" IS OLD.\"version\" \
             BEGIN UPDATE \"doc\" SET \"version\" = OLD.\"version\" + 1 WHERE rowid = NEW.rowid; END;",
        )
        .unwrap();
        let err = check_version_triggers(&tm, &[Doc::meta()]).unwrap_err();
        assert!(
            matches!(&err, Error::MissingVersionTrigger { table, column, differs: true } if table == "doc" && column == "version"),
            "{err:?}"
        );
        assert!(err.to_string().contains("different text"), "{err}");

        apply_concurrency_check_for::<Doc, _>(&mut tm).unwrap();
        check_version_triggers(&tm, &[Doc::meta()]).unwrap();
        let triggers = version_triggers(&tm).unwrap();
        assert_eq!(triggers.len(), 1, "{triggers:?}");
        place.raw(&tm, "UPDATE doc SET body = 'two'");
        assert_eq!(
            place.read(&tm, "SELECT version FROM doc"),
            2,
            "one bump by one, not ten, not two"
        );
    }
}

#[test]
fn a_without_rowid_table_is_versioned_by_its_primary_key() {
    for place in Place::both() {
        let mut tm = place.manager();
        tm.execute_batch(
            "CREATE TABLE doc (id INTEGER PRIMARY KEY, version INTEGER NOT NULL DEFAULT 1, body TEXT) WITHOUT ROWID;
             CREATE TABLE pair (a TEXT, b TEXT, version INTEGER NOT NULL DEFAULT 1, x TEXT,
                                PRIMARY KEY (b, a)) WITHOUT ROWID;
             INSERT INTO pair (a, b, x) VALUES ('1', '2', 'one'), ('2', '1', 'one');",
        )
        .unwrap();
        apply_concurrency_check_for::<Doc, _>(&mut tm).unwrap();
        apply_concurrency_check(&mut tm, "pair", "version", VersionKind::Trigger).unwrap();

        let mut doc = Doc {
            id: Some(7), // WITHOUT ROWID: the key is the application's
            body: "draft".into(),
            ..Doc::default()
        };
        doc.save(&tm).unwrap();
        doc.body = "second".into();
        doc.save(&tm).unwrap();
        assert_eq!(doc.version, Some(2));
        assert_eq!(place.read(&tm, "SELECT version FROM doc WHERE id = 7"), 2);

        place.raw(&tm, "UPDATE doc SET body = 'elsewhere' WHERE id = 7");
        doc.body = "mine".into();
        let err = doc.save(&tm).unwrap_err();
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

        place.raw(&tm, "UPDATE pair SET x = 'two' WHERE a = '1' AND b = '2'");
        assert_eq!(
            place.read(&tm, "SELECT CAST(group_concat(version, '') AS INTEGER) FROM (SELECT version FROM pair ORDER BY a)"),
            21,
            "only the updated row is bumped"
        );
    }
}

#[test]
fn a_table_with_triggers_of_its_own_gives_no_spurious_conflicts() {
    for place in Place::both() {
        let mut tm = place.manager();
        tm.execute_batch(
            "CREATE TABLE doc (id INTEGER PRIMARY KEY, version INTEGER NOT NULL DEFAULT 1,
                               body TEXT, touched INTEGER NOT NULL DEFAULT 0);
             CREATE TRIGGER doc_touched_on_update AFTER UPDATE OF body ON doc FOR EACH ROW
             BEGIN UPDATE doc SET touched = touched + 1 WHERE id = NEW.id; END;
             CREATE TRIGGER doc_touched_on_insert AFTER INSERT ON doc FOR EACH ROW
             BEGIN UPDATE doc SET touched = 100 WHERE id = NEW.id; END;",
        )
        .unwrap();
        apply_concurrency_check_for::<Doc, _>(&mut tm).unwrap();
        let mut doc = Doc {
            body: "draft".into(),
            ..Doc::default()
        };
        doc.save(&tm).unwrap();
        for body in ["second", "third", "fourth"] {
            doc.body = body.into();
            doc.save(&tm)
                .unwrap_or_else(|e| panic!("{}: spurious conflict: {e}", body));
            assert_eq!(
                doc.version,
                Some(place.read(&tm, "SELECT version FROM doc")),
                "the record holds the version its save produced"
            );
        }
        assert_eq!(place.read(&tm, "SELECT touched FROM doc"), 103);
    }
}

#[test]
fn dropping_the_version_triggers_removes_exactly_them_and_check_then_names_the_table() {
    for place in Place::both() {
        let mut tm = place.manager();
        tm.execute_batch(
            "CREATE TABLE doc (id INTEGER PRIMARY KEY, version INTEGER, body TEXT);
             CREATE TABLE other (id INTEGER PRIMARY KEY, x TEXT);
             CREATE TRIGGER mine AFTER UPDATE ON other BEGIN SELECT 1; END;",
        )
        .unwrap();
        apply_concurrency_check_for::<Doc, _>(&mut tm).unwrap();
        apply_concurrency_check(&mut tm, "other", "version", VersionKind::Trigger).unwrap();
        let dropped: Vec<String> = drop_version_triggers(&mut tm)
            .unwrap()
            .iter()
            .map(|t| t.table().to_owned())
            .collect();
        assert_eq!(dropped, ["doc", "other"]);
        assert!(version_triggers(&tm).unwrap().is_empty());
        assert_eq!(
            place.read(
                &tm,
                "SELECT count(*) FROM sqlite_schema WHERE type = 'trigger'"
            ),
            1,
            "the table's own trigger stays"
        );
        let err = check_version_triggers(&tm, &[Doc::meta()]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "table doc has no version trigger for version column version; call \
             apply_concurrency_check_for (or apply_concurrency_check with VersionKind::Trigger) \
             at start-up to create it"
        );
    }
}
