//! PostgreSQL fixtures: each test gets its own schema on the server named by
//! `TXMANAGER_PG_URL`, so tests run in parallel without seeing each other's
//! tables.
//!
//! With the `postgres` feature on and no URL, a PostgreSQL test fails with a
//! message that says how to get a server: it never passes without one.
#![allow(dead_code)]

use std::sync::atomic::{AtomicU32, Ordering};

use postgres::{Client, Config, NoTls};
use txmanager::{Postgres, TransactionManager};

/// How to get a server, for the failure message.
pub const HOW_TO_GET_A_SERVER: &str = "TXMANAGER_PG_URL is not set, so the PostgreSQL tests have no server. \
     Run them against a throwaway server with `scripts/with-postgres.sh cargo test --features postgres`, \
     or set TXMANAGER_PG_URL=postgresql://user@host:port/db to a database where you may create schemas";

/// The server's URL. Panics (failing the test) when it is not set.
pub fn server_url() -> String {
    match std::env::var("TXMANAGER_PG_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => panic!("{HOW_TO_GET_A_SERVER}"),
    }
}

/// A schema of its own on the test server, for one test.
pub struct PgDb {
    /// The schema's name.
    pub schema: String,
    config: Config,
}

impl PgDb {
    /// Creates a fresh schema with a `reporter` table (Django's doctest
    /// model), and `insert_reporter(id, first, last)`, a function that
    /// inserts one (`Statements::writing_read`).
    pub fn new() -> PgDb {
        let url = server_url();
        let mut config: Config = url
            .parse()
            .unwrap_or_else(|e| panic!("TXMANAGER_PG_URL={url:?} is not a PostgreSQL URL: {e}"));
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let schema = format!(
            "t_{}_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos())
        );
        let mut admin = config
            .connect(NoTls)
            .unwrap_or_else(|e| panic!("cannot connect to TXMANAGER_PG_URL={url:?}: {e}"));
        admin
            .batch_execute(&format!(
                "CREATE SCHEMA {schema};
                 CREATE TABLE {schema}.reporter (
                     id BIGSERIAL PRIMARY KEY,
                     first_name TEXT NOT NULL,
                     last_name TEXT NOT NULL,
                     email TEXT NOT NULL DEFAULT ''
                 );
                 CREATE FUNCTION {schema}.insert_reporter(new_id int8, new_first text, new_last text)
                     RETURNS void LANGUAGE sql
                     AS $$ INSERT INTO {schema}.reporter (id, first_name, last_name)
                           VALUES (new_id, new_first, new_last) $$;"
            ))
            .expect("create the test's schema");
        config.options(&format!("-c search_path={schema}"));
        PgDb { schema, config }
    }

    /// The connection settings for this test's schema.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// A manager on this test's schema.
    pub fn manager(&self) -> TransactionManager<Postgres> {
        TransactionManager::from_client(self.config.connect(NoTls).expect("connect manager"))
            .expect("the new client is outside any transaction")
    }

    /// Whether the manager's session is outside any transaction, as the
    /// server reports it to another session (`pg_stat_activity`).
    pub fn outside_transaction(&self, tm: &TransactionManager<Postgres>) -> bool {
        outside_transaction_seen_by(&mut self.observer(), tm)
    }

    /// A fresh, independent connection: what every other client sees.
    pub fn observer(&self) -> Client {
        self.config.connect(NoTls).expect("connect observer")
    }

    /// The reporters committed, "First Last", in id order.
    pub fn committed(&self) -> Vec<String> {
        committed_seen_by(&mut self.observer())
    }
}

/// [`PgDb::outside_transaction`], asked through an observer connection the
/// caller keeps (a test that asks often saves a connection each time).
pub fn outside_transaction_seen_by(
    observer: &mut Client,
    tm: &TransactionManager<Postgres>,
) -> bool {
    let Ok(row) = tm.query_one("SELECT pg_backend_pid()", &[]) else {
        return false; // an aborted transaction refuses even this
    };
    let pid: i32 = row.get(0);
    let state: Option<String> = observer
        .query_one("SELECT state FROM pg_stat_activity WHERE pid = $1", &[&pid])
        .expect("read the session's state")
        .get(0);
    state.as_deref() == Some("idle")
}

/// [`PgDb::committed`], read through an observer connection the caller keeps.
pub fn committed_seen_by(observer: &mut Client) -> Vec<String> {
    observer
        .query(
            "SELECT first_name || ' ' || last_name FROM reporter ORDER BY id",
            &[],
        )
        .expect("list reporters")
        .iter()
        .map(|r| r.get(0))
        .collect()
}
