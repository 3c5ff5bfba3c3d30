//! Records on PostgreSQL only: what has no SQLite counterpart. How a stale
//! optimistic save behaves at each isolation level (docs/postgresql.md), the
//! trigger kind's long names and hand-edited functions, values that do not
//! fit their column, and `select_where`'s `$n` parameters. Everything both
//! backends share is in `tests/record_parity.rs`.
#![cfg(feature = "postgres")]

mod common;

use common::pg::PgDb;
use txmanager::{
    DatabaseError, Error, PgBlockOptions, PgIsolation, Postgres, Record, RetryPolicy, Retryable,
    TransactionManager, VersionKind, apply_concurrency_check, apply_concurrency_check_for,
    check_version_triggers, drop_version_triggers, version_triggers,
};

#[derive(Debug, Clone, Default, Record)]
struct Tag {
    #[record(primary_key)]
    id: Option<i64>,
    #[record(version(auto_increment))]
    version: Option<i64>,
    label: String,
}

/// A schema with a `tag` table holding tag 1 at version 1.
fn with_tag() -> (PgDb, TransactionManager<Postgres>) {
    let db = PgDb::new();
    db.observer()
        .batch_execute(
            "CREATE TABLE tag (id BIGSERIAL PRIMARY KEY, version BIGINT NOT NULL, label TEXT NOT NULL);
             INSERT INTO tag (version, label) VALUES (1, 'a');",
        )
        .unwrap();
    let tm = db.manager();
    (db, tm)
}

/// Loads tag 1 inside a block at `level`, lets another connection save a
/// new version of it, then saves the stale copy in the same block.
fn stale_save_at(level: PgIsolation) -> (PgDb, Result<(), Error>) {
    let (db, mut tm) = with_tag();
    let other = db.manager();
    let options = PgBlockOptions::default().with_isolation(level);
    let result = tm.commit_on_success_with(options, |tx| {
        let mut mine = Tag::get(tx, 1)?; // the snapshot is taken here
        let mut theirs = Tag::get(&other, 1)?;
        theirs.label = "theirs".into();
        theirs.save(&other)?; // committed at once (autocommit)
        mine.label = "mine".into();
        mine.save(tx)
    });
    (db, result)
}

fn committed_label(db: &PgDb) -> String {
    db.observer()
        .query_one("SELECT label FROM tag WHERE id = 1", &[])
        .unwrap()
        .get(0)
}

#[test]
fn at_read_committed_a_stale_save_is_record_modified_and_the_block_goes_on() {
    let (db, mut tm) = with_tag();
    let other = db.manager();
    let options = PgBlockOptions::default().with_isolation(PgIsolation::ReadCommitted);
    tm.commit_on_success_with(options, |tx| {
        let mut mine = Tag::get(tx, 1)?;
        let mut theirs = Tag::get(&other, 1)?;
        theirs.save(&other)?;
        mine.label = "mine".into();
        let err = mine.save(tx).unwrap_err();
        assert!(
            matches!(
                &err,
                Error::RecordModified { table: "tag", pk, expected: 1, found: Some(2) } if *pk == 1
            ),
            "{err:?}"
        );
        // No statement failed on the server: the block is not aborted.
        mine.reload(tx)?;
        mine.label = "mine, reapplied".into();
        mine.save(tx)
    })
    .unwrap();
    assert_eq!(committed_label(&db), "mine, reapplied");
}

#[test]
fn at_repeatable_read_a_stale_save_fails_with_40001_which_is_retryable() {
    let (db, result) = stale_save_at(PgIsolation::RepeatableRead);
    let err = result.unwrap_err();
    assert_eq!(err.sqlstate(), Some("40001"), "{err:?}");
    assert!(err.is_retryable(), "{err:?}");
    assert!(matches!(err, Error::Statement { ref sql, .. } if sql.starts_with("UPDATE \"tag\"")));
    assert_eq!(
        committed_label(&db),
        "theirs",
        "nothing of the block committed"
    );
}

#[test]
fn at_serializable_a_stale_save_fails_with_40001_which_is_retryable() {
    let (db, result) = stale_save_at(PgIsolation::Serializable);
    let err = result.unwrap_err();
    assert_eq!(err.sqlstate(), Some("40001"), "{err:?}");
    assert!(err.is_retryable());
    assert_eq!(committed_label(&db), "theirs");
}

#[test]
fn at_repeatable_read_a_version_committed_before_the_snapshot_is_record_modified() {
    let (db, mut tm) = with_tag();
    let mut stale = Tag::get(&tm, 1).unwrap();
    let mut fresh = stale.clone();
    fresh.save(&db.manager()).unwrap();
    let options = PgBlockOptions::default().with_isolation(PgIsolation::RepeatableRead);
    let err = tm
        .commit_on_success_with(options, |tx| stale.save(tx))
        .unwrap_err();
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
}

#[test]
fn the_retry_helper_reruns_a_serializable_block_whose_save_failed_with_40001() {
    let (db, mut tm) = with_tag();
    let other = db.manager();
    tm.set_block_options(PgBlockOptions::default().with_isolation(PgIsolation::Serializable));
    let mut attempt = 0;
    let done = tm
        .commit_on_success_with_retry(&RetryPolicy::new(3), |tx| {
            attempt += 1;
            let mut mine = Tag::get(tx, 1)?;
            if attempt == 1 {
                Tag::get(&other, 1)?.save(&other)?; // a concurrent writer, once
            }
            mine.label = "mine".into();
            mine.save(tx)
        })
        .unwrap();
    assert_eq!(done.attempts, 2);
    assert_eq!(committed_label(&db), "mine");
    assert_eq!(Tag::get(&tm, 1).unwrap().version, Some(3));
}

#[derive(Debug, Clone, Default, Record)]
#[record(table = "a_table_whose_name_is_long_enough_to_push_the_trigger_name_past")]
struct Long {
    #[record(primary_key)]
    id: Option<i64>,
    #[record(version(trigger))]
    revision: Option<i64>,
    body: String,
}

#[test]
fn a_trigger_name_past_63_bytes_is_hashed_and_still_listed_checked_and_dropped() {
    let db = PgDb::new();
    let table = Long::meta().table();
    db.observer()
        .batch_execute(&format!(
            "CREATE TABLE {table} (id BIGSERIAL PRIMARY KEY, body TEXT NOT NULL)"
        ))
        .unwrap();
    let mut tm = db.manager();
    apply_concurrency_check_for::<Long, _>(&mut tm).unwrap();
    check_version_triggers(&tm, &[Long::meta()]).unwrap();
    let found = version_triggers(&tm).unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!((found[0].table(), found[0].column()), (table, "revision"));
    assert!(found[0].name().len() <= 63, "{}", found[0].name());
    assert!(found[0].name().starts_with("txmanager_version_h"));

    let mut long = Long {
        body: "a".into(),
        ..Default::default()
    };
    long.save(&tm).unwrap();
    long.body = "b".into();
    long.save(&tm).unwrap();
    assert_eq!(
        long.revision,
        Some(2),
        "RETURNING shows the BEFORE trigger's bump"
    );
    assert_eq!(drop_version_triggers(&mut tm).unwrap().len(), 1);
    let functions: i64 = db
        .observer()
        .query_one(
            "SELECT count(*) FROM pg_proc WHERE proname LIKE 'txmanager\\_version\\_%' \
             AND pronamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema())",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(functions, 0, "the functions are dropped with the triggers");
}

#[test]
fn a_hand_edited_trigger_function_differs_and_applying_again_restores_it() {
    let (db, mut tm) = with_tag();
    apply_concurrency_check(&mut tm, "tag", "version", VersionKind::Trigger).unwrap();
    #[derive(Debug, Clone, Default, Record)]
    #[record(table = "tag")]
    struct TriggerTag {
        #[record(primary_key)]
        id: Option<i64>,
        #[record(version(trigger))]
        version: Option<i64>,
        label: String,
    }
    check_version_triggers(&tm, &[TriggerTag::meta()]).unwrap();
    db.observer()
        .batch_execute(
            "CREATE OR REPLACE FUNCTION txmanager_version_3_tag_version() RETURNS trigger \
             LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$",
        )
        .unwrap();
    let err = check_version_triggers(&tm, &[TriggerTag::meta()]).unwrap_err();
    assert!(
        matches!(err, Error::MissingVersionTrigger { differs: true, .. }),
        "{err:?}"
    );
    apply_concurrency_check(&mut tm, "tag", "version", VersionKind::Trigger).unwrap();
    check_version_triggers(&tm, &[TriggerTag::meta()]).unwrap();
}

#[derive(Debug, Clone, Default, Record)]
#[record(table = "tag")]
struct NarrowTag {
    #[record(primary_key)]
    id: Option<i64>,
    #[record(version(auto_increment))]
    version: Option<i64>,
    label: i32, // the column is TEXT
}

#[test]
fn a_column_that_does_not_read_as_its_field_fails_with_postgresqls_own_error_naming_the_select() {
    let (_db, tm) = with_tag();
    let err = NarrowTag::get(&tm, 1).unwrap_err(); // its label is TEXT 'a'
    match &err {
        Error::Statement {
            sql,
            source: DatabaseError::Postgres(source),
        } => {
            assert!(sql.starts_with("SELECT"), "{sql}");
            assert!(
                source.to_string().contains("deserializing column"),
                "{source}"
            );
        }
        other => panic!("the client's own read error, naming the SELECT, not {other:?}"),
    }
}

#[test]
fn a_value_that_does_not_fit_its_column_fails_in_the_client_and_leaves_the_block_usable() {
    let (db, mut tm) = with_tag();
    tm.commit_on_success(|tx| {
        let err = NarrowTag {
            label: 7,
            ..Default::default()
        }
        .save(tx)
        .unwrap_err();
        assert!(matches!(err, Error::Statement { .. }), "{err:?}");
        assert_eq!(err.sqlstate(), None, "refused before it reached the server");
        assert!(err.to_string().contains("INSERT INTO \"tag\""), "{err}");
        Tag {
            label: "b".into(),
            ..Default::default()
        }
        .save(tx)
    })
    .unwrap();
    let n: i64 = db
        .observer()
        .query_one("SELECT count(*) FROM tag", &[])
        .unwrap()
        .get(0);
    assert_eq!(n, 2);
}

#[test]
fn select_where_takes_dollar_parameters_as_an_array_or_a_slice() {
    let (_db, tm) = with_tag();
    for label in ["alpha", "beta", "alps"] {
        Tag {
            label: label.into(),
            ..Default::default()
        }
        .save(&tm)
        .unwrap();
    }
    let al = Tag::select_where(&tm, "label LIKE $1 ORDER BY label", ["al%"]).unwrap();
    let labels: Vec<&str> = al.iter().map(|t| t.label.as_str()).collect();
    assert_eq!(labels, ["alpha", "alps"]);
    let params: &[&(dyn postgres::types::ToSql + Sync)] = &[&"a%", &1_i64];
    let found = Tag::select_where(&tm, "label LIKE $1 AND id > $2 ORDER BY id", params).unwrap();
    let labels: Vec<&str> = found.iter().map(|t| t.label.as_str()).collect();
    assert_eq!(labels, ["alpha", "alps"]);
}

/// A record whose text key the server assigns.
#[derive(Debug, Clone, Default, Record)]
struct Note {
    #[record(primary_key)]
    id: Option<String>,
    #[record(version(auto_increment))]
    version: Option<i64>,
    body: String,
}

#[test]
fn a_text_key_the_server_assigns_is_read_back_with_returning() {
    let db = PgDb::new();
    db.observer()
        .batch_execute(
            "CREATE TABLE note (id TEXT PRIMARY KEY DEFAULT gen_random_uuid()::text, \
             version BIGINT NOT NULL, body TEXT NOT NULL)",
        )
        .unwrap();
    let tm = db.manager();
    let mut note = Note {
        body: "first".into(),
        ..Default::default()
    };
    note.save(&tm).unwrap();
    let id = note.id.clone().expect("the key the server assigned");
    assert_eq!(id.len(), 36, "a uuid, as text: {id}");
    let row = db
        .observer()
        .query_one("SELECT body, version FROM note WHERE id = $1", &[&id])
        .unwrap();
    assert_eq!(
        (row.get::<_, String>(0), row.get::<_, i64>(1)),
        ("first".to_owned(), 1)
    );

    // The assigned key is the record's own from now on: the next save is a
    // checked update of that row, not a second insert.
    note.body = "second".into();
    note.save(&tm).unwrap();
    assert_eq!(note.version, Some(2));
    assert_eq!(Note::get(&tm, &id).unwrap().body, "second");
    let rows: i64 = db
        .observer()
        .query_one("SELECT count(*) FROM note", &[])
        .unwrap()
        .get(0);
    assert_eq!(rows, 1);
}

#[test]
fn a_record_type_used_on_both_backends_keeps_each_backends_sql() {
    /// Used by this test only, so SQLite is surely the first backend it
    /// meets (the static slot) and PostgreSQL the second (its cache).
    #[derive(Debug, Clone, Default, Record)]
    #[record(table = "shared")]
    struct Shared {
        #[record(primary_key)]
        id: Option<i64>,
        #[record(version(auto_increment))]
        version: Option<i64>,
        label: String,
    }
    let db = PgDb::new();
    db.observer()
        .batch_execute(
            "CREATE TABLE shared (id BIGSERIAL PRIMARY KEY, version BIGINT NOT NULL, label TEXT NOT NULL)",
        )
        .unwrap();
    let pg = db.manager();
    let sqlite = TransactionManager::open_in_memory().unwrap();
    sqlite
        .execute(
            "CREATE TABLE shared (id INTEGER PRIMARY KEY, version INTEGER NOT NULL, label TEXT NOT NULL)",
            [],
        )
        .unwrap();
    for round in 0..2 {
        for label in ["a", "b"] {
            let mut on_sqlite = Shared {
                label: format!("{label}{round}"),
                ..Default::default()
            };
            on_sqlite.save(&sqlite).unwrap();
            on_sqlite.save_fields(&sqlite, &["label"]).unwrap();
            let mut on_pg = Shared {
                label: format!("{label}{round}"),
                ..Default::default()
            };
            on_pg.save(&pg).unwrap();
            on_pg.save_fields(&pg, &["label"]).unwrap();
        }
    }
    let on_pg: i64 = db
        .observer()
        .query_one("SELECT count(*) FROM shared", &[])
        .unwrap()
        .get(0);
    let on_sqlite: i64 = sqlite
        .query_row("SELECT count(*) FROM shared", [], |r| r.get(0))
        .unwrap();
    assert_eq!((on_sqlite, on_pg), (4, 4));
}

/// A record whose key is a `String`, on a table whose key column is `uuid`.
#[derive(Debug, Clone, Default, Record)]
#[record(table = "ticket")]
struct Ticket {
    #[record(primary_key)]
    id: Option<String>,
    title: String,
}

/// A `uuid` key column needs a `uuid::Uuid` key (the `postgres` crate's
/// `with-uuid-1` feature) or a text column: with a `String` key every load
/// and save fails before the server runs anything, or (an assigned key)
/// before the row is kept, and the error names both types.
#[test]
fn a_uuid_key_column_read_into_a_string_key_is_refused_naming_both_types() {
    let db = PgDb::new();
    let key = "6f1c1a36-5b7e-4d8e-9a52-3f1de8a0c9b1";
    db.observer()
        .batch_execute(&format!(
            "CREATE TABLE ticket (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), title TEXT NOT NULL);
             INSERT INTO ticket VALUES ('{key}', 'existing');"
        ))
        .unwrap();
    let mut tm = db.manager();
    let mut assigned = Ticket {
        id: None,
        title: "assigned".into(),
    };
    let mut chosen = Ticket {
        id: Some("0b9d7a4e-1111-4c3b-8d2e-5a6b7c8d9e0f".into()),
        title: "chosen".into(),
    };
    let results: Vec<(&str, Result<(), Error>)> = vec![
        ("get", Ticket::get(&tm, key).map(drop)),
        ("find", Ticket::find(&tm, key).map(drop)),
        ("all", Ticket::all(&tm).map(drop)),
        ("save with the key assigned", assigned.save(&tm)),
        ("save with a key", chosen.save(&tm)),
    ];
    for (path, result) in &results {
        let Err(err) = result else {
            panic!("{path}: {result:?}");
        };
        // The error and its sources, as a report would print them.
        let mut chain = err.to_string();
        let mut source = std::error::Error::source(err);
        while let Some(cause) = source {
            chain.push_str(&format!(": {cause}"));
            source = cause.source();
        }
        assert!(
            chain.contains("uuid") && chain.contains("String"),
            "{path}: names neither type: {chain}"
        );
    }
    assert!(
        matches!(&results[3].1, Err(Error::AssignedKeyType { column_type, .. }) if column_type == "uuid"),
        "{:?}",
        results[3].1
    );
    assert_eq!(assigned.id, None);
    // Nothing was written, and a load's failure aborted no block.
    let rows: i64 = db
        .observer()
        .query_one("SELECT count(*) FROM ticket", &[])
        .unwrap()
        .get(0);
    assert_eq!(rows, 1);
    tm.commit_on_success(|tx| {
        assert!(Ticket::find(tx, key).is_err());
        tx.execute("INSERT INTO ticket (title) VALUES ('after')", &[])
    })
    .unwrap();
}
