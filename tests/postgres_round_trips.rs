//! Round trips per block on PostgreSQL, counted on the wire: txmanager needs
//! no more of them than hand-written `postgres` code using
//! `client.transaction()` (issue 10's goal), for W1 (one insert per block),
//! W2 (a read and a versioned update per block) and W4 (an autocommit
//! insert). docs/PERFORMANCE.md reports these counts.
//!
//! The client talks to the server through a small proxy that counts what the
//! client sends and then waits for: each simple `Query` message, and each
//! `Sync` of the extended protocol (a prepare, or a bind + execute). A
//! `Sync` after nothing but `Close` messages (the client closing a dropped
//! statement, without waiting for the answer) is not a round trip.
#![cfg(feature = "postgres")]

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;

use common::pg::PgDb;
use postgres::{Client, Config, NoTls};
use txmanager::{Error, Postgres, TransactionManager};

/// Counts the round trips of every connection made through it.
struct RoundTripCounter {
    port: u16,
    round_trips: Arc<AtomicUsize>,
}

impl RoundTripCounter {
    /// A proxy to the server `db` uses, on a port of its own.
    fn new(db: &PgDb) -> RoundTripCounter {
        let server = server_address(db.config());
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let port = listener.local_addr().expect("the proxy's address").port();
        let round_trips = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&round_trips);
        thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                let Ok(server) = TcpStream::connect(&server) else {
                    return;
                };
                // Each message goes on at once: Nagle's algorithm would hold
                // small writes back for the peer's delayed ACK.
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                let (client_in, server_out) = (
                    client.try_clone().expect("clone the client socket"),
                    server.try_clone().expect("clone the server socket"),
                );
                let counter = Arc::clone(&counter);
                thread::spawn(move || forward_counting(client_in, server_out, &counter));
                thread::spawn(move || {
                    let (mut server, mut client) = (server, client);
                    let _ = std::io::copy(&mut server, &mut client);
                    let _ = client.shutdown(Shutdown::Both);
                });
            }
        });
        RoundTripCounter { port, round_trips }
    }

    /// A manager on a fresh client of `db`'s server, through the proxy.
    fn manager(&self, db: &PgDb) -> TransactionManager<Postgres> {
        TransactionManager::<Postgres>::from_client(
            self.config(db)
                .connect(NoTls)
                .expect("connect through the proxy"),
        )
        .expect("a fresh client")
    }

    /// `db`'s connection settings, through the proxy.
    fn config(&self, db: &PgDb) -> Config {
        let mut config = Config::new();
        config
            .host("127.0.0.1")
            .port(self.port)
            .user(db.config().get_user().expect("the test URL names a user"))
            .dbname(
                db.config()
                    .get_dbname()
                    .expect("the test URL names a database"),
            );
        if let Some(options) = db.config().get_options() {
            config.options(options);
        }
        if let Some(password) = db.config().get_password() {
            config.password(password);
        }
        config
    }

    /// The round trips `work` makes, per run, over `runs` runs.
    fn per_run(&self, runs: usize, mut work: impl FnMut()) -> f64 {
        let before = self.round_trips.load(Ordering::SeqCst);
        for _ in 0..runs {
            work();
        }
        let after = self.round_trips.load(Ordering::SeqCst);
        (after - before) as f64 / runs as f64
    }
}

/// The server's `host:port`, from the test URL (a TCP address: the proxy
/// forwards TCP).
fn server_address(config: &Config) -> String {
    let host = match config.get_hosts().first() {
        Some(postgres::config::Host::Tcp(host)) => host.clone(),
        other => panic!("the round-trip test needs a TCP server address, not {other:?}"),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!("{host}:{port}")
}

/// Copies the client's messages to the server, counting round trips. The
/// count goes up before the message is forwarded, so it is complete when
/// the client has its answer.
fn forward_counting(mut client: TcpStream, mut server: TcpStream, round_trips: &AtomicUsize) {
    // Untyped messages first: an SSL or GSS encryption request (answered
    // with one byte; the client then sends its startup message) and the
    // startup message.
    loop {
        let mut length = [0u8; 4];
        if client.read_exact(&mut length).is_err() {
            return;
        }
        let mut body = vec![0u8; (u32::from_be_bytes(length) as usize).saturating_sub(4)];
        if client.read_exact(&mut body).is_err()
            || server.write_all(&[&length[..], &body].concat()).is_err()
        {
            return;
        }
        let code = body
            .get(..4)
            .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]));
        if !matches!(code, Some(80_877_103 | 80_877_104)) {
            break;
        }
    }
    let mut waited_for = false;
    loop {
        let mut header = [0u8; 5];
        if client.read_exact(&mut header).is_err() {
            break;
        }
        let length = u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
        let mut body = vec![0u8; length.saturating_sub(4)];
        if client.read_exact(&mut body).is_err() {
            break;
        }
        match header[0] {
            b'Q' => {
                round_trips.fetch_add(1, Ordering::SeqCst);
            }
            b'S' => {
                if waited_for {
                    round_trips.fetch_add(1, Ordering::SeqCst);
                }
                waited_for = false;
            }
            b'C' => {}
            _ => waited_for = true,
        }
        if server.write_all(&[&header[..], &body].concat()).is_err() {
            break;
        }
    }
    let _ = server.shutdown(Shutdown::Both);
}

/// The workloads' table: an item with a version, as W2 updates it.
fn create_item(db: &PgDb) {
    db.observer()
        .batch_execute(&format!(
            "CREATE TABLE {}.item (id BIGINT PRIMARY KEY, title TEXT NOT NULL, version BIGINT NOT NULL);
             INSERT INTO {0}.item VALUES (1, 'first', 1)",
            db.schema
        ))
        .expect("create the item table");
}

const INSERT: &str = "INSERT INTO reporter (first_name, last_name) VALUES ($1, $2)";
const GET: &str = "SELECT title, version FROM item WHERE id = $1";
const UPDATE: &str =
    "UPDATE item SET title = $1, version = version + 1 WHERE id = $2 AND version = $3";

/// Each workload, as txmanager runs it and as hand-written code does, with
/// the round trips per block each needs once warm.
#[test]
fn txmanager_needs_no_more_round_trips_per_block_than_hand_written_postgres_code() {
    let db = PgDb::new();
    create_item(&db);
    let counter = RoundTripCounter::new(&db);
    let mut tm = counter.manager(&db);
    let mut client: Client = counter
        .config(&db)
        .connect(NoTls)
        .expect("connect through the proxy");

    let runs = 10;
    // Warm: txmanager prepares each statement once per connection.
    tm_w1(&mut tm);
    tm_w2(&mut tm);
    tm.execute(INSERT, &[&"W4", &"warm"]).expect("W4");

    let txm = [
        counter.per_run(runs, || tm_w1(&mut tm)),
        counter.per_run(runs, || tm_w2(&mut tm)),
        counter.per_run(runs, || {
            tm.execute(INSERT, &[&"W4", &"txmanager"]).expect("W4");
        }),
    ];
    let hand = [
        counter.per_run(runs, || {
            let mut t = client.transaction().expect("BEGIN");
            t.execute(INSERT, &[&"W1", &"by hand"]).expect("W1 insert");
            t.commit().expect("W1 commit");
        }),
        counter.per_run(runs, || {
            let mut t = client.transaction().expect("BEGIN");
            let row = t.query_one(GET, &[&1i64]).expect("W2 get");
            let version: i64 = row.get(1);
            let n = t
                .execute(UPDATE, &[&"by hand", &1i64, &version])
                .expect("W2 update");
            assert_eq!(n, 1, "no conflict: one writer");
            t.commit().expect("W2 commit");
        }),
        counter.per_run(runs, || {
            client.execute(INSERT, &[&"W4", &"by hand"]).expect("W4");
        }),
    ];
    for (i, name) in ["W1", "W2", "W4"].iter().enumerate() {
        assert!(
            txm[i] <= hand[i],
            "{name}: txmanager {} round trips per block, hand-written {}",
            txm[i],
            hand[i]
        );
    }
    // The counts docs/PERFORMANCE.md reports: BEGIN, each statement, COMMIT
    // (its guard travels in the same round trip) for txmanager; hand-written
    // code prepares each statement text again (one more round trip each).
    assert_eq!(txm, [3.0, 4.0, 1.0], "txmanager W1, W2, W4");
    assert_eq!(hand, [4.0, 6.0, 2.0], "hand-written W1, W2, W4");
}

/// W1: one insert per block.
fn tm_w1(tm: &mut TransactionManager<Postgres>) {
    tm.commit_on_success(|tx| tx.execute(INSERT, &[&"W1", &"txmanager"]).map(drop))
        .expect("W1");
}

/// W2: read an item and update it under its version, in one block.
fn tm_w2(tm: &mut TransactionManager<Postgres>) {
    tm.commit_on_success(|tx| {
        let row = tx.query_one(GET, &[&1i64])?;
        let version: i64 = row.get(1);
        let n = tx.execute(UPDATE, &[&"txmanager", &1i64, &version])?;
        assert_eq!(n, 1, "no conflict: one writer");
        Ok::<_, Error>(())
    })
    .expect("W2");
}

/// A nested block's extra round trips for the row counts of a manual block
/// that read (docs/postgresql.md, "Dirty tracking"): one as its savepoint
/// opens, one more if it rolls back, and none in a `commit_on_success`
/// block, whose reads count nothing.
#[test]
fn a_nested_block_costs_round_trips_for_row_counts_only_inside_a_manual_block_that_read() {
    let db = PgDb::new();
    create_item(&db);
    let counter = RoundTripCounter::new(&db);
    let mut tm = counter.manager(&db);
    let nested = |tx: &mut txmanager::Transaction<'_, Postgres>, keep: bool| {
        let result = tx.commit_on_success(|inner| {
            inner.execute(INSERT, &[&"nested", &"row"])?;
            if keep {
                Ok(())
            } else {
                Err(Error::PendingCommitRollback) // any error
            }
        });
        assert_eq!(result.is_ok(), keep);
    };
    let mut per_block = |manual: bool, keep: bool| {
        let block = |tm: &mut TransactionManager<Postgres>| {
            let body = |tx: &mut txmanager::Transaction<'_, Postgres>| {
                tx.query_one(GET, &[&1i64])?;
                nested(tx, keep);
                if manual {
                    tx.rollback()?;
                }
                Ok::<_, Error>(())
            };
            if manual {
                tm.commit_manually(body).expect("manual block");
            } else {
                tm.commit_on_success(body).expect("commit_on_success block");
            }
        };
        block(&mut tm); // warm: statements prepared once per connection
        counter.per_run(5, || block(&mut tm))
    };
    let manual = [per_block(true, true), per_block(true, false)];
    let on_success = [per_block(false, true), per_block(false, false)];
    // commit_on_success: BEGIN, the read, SAVEPOINT, insert, RELEASE (or
    // ROLLBACK TO and RELEASE), COMMIT.
    assert_eq!(
        on_success,
        [6.0, 7.0],
        "commit_on_success: released, rolled back"
    );
    // The manual block counts before its read (its rollback() ends it, so
    // no count at its end), then as the savepoint opens, and after it
    // rolled back: one and two more for the nested block.
    let extra = [manual[0] - on_success[0], manual[1] - on_success[1]];
    assert_eq!(
        extra,
        [2.0, 3.0],
        "manual over commit_on_success: released, rolled back"
    );
}

/// A manual block that reads, then writes (the usual shape: look
/// something up, then change it), then runs five nested blocks and
/// commits. Its first read costs one count of the rows written (it is
/// clean then); once it wrote, its count is moot (it ends with
/// `commit()` or `PendingCommitRollback` whatever the count says), so its
/// nested blocks cost what they cost in a block that wrote first: no
/// count at their savepoints or their rollbacks.
#[test]
fn a_manual_block_that_wrote_pays_no_count_at_its_nested_blocks() {
    let db = PgDb::new();
    let counter = RoundTripCounter::new(&db);
    let mut tm = counter.manager(&db);
    let read = "SELECT count(*) FROM reporter";
    let block = |tm: &mut TransactionManager<Postgres>, read_first: bool, roll_back: bool| {
        tm.commit_manually(|tx| {
            if read_first {
                tx.query(read, &[])?;
            }
            tx.execute(INSERT, &[&"a", &"b"])?;
            if !read_first {
                tx.query(read, &[])?;
            }
            for _ in 0..5 {
                let nested = tx.commit_on_success(|inner| {
                    inner.execute(INSERT, &[&"c", &"d"])?;
                    if roll_back {
                        Err(Error::PendingCommitRollback) // any error
                    } else {
                        Ok(())
                    }
                });
                assert_eq!(nested.is_err(), roll_back, "{nested:?}");
            }
            tx.commit()
        })
        .expect("the block commits");
    };
    // Warm: each statement is prepared once per connection.
    block(&mut tm, true, false);
    block(&mut tm, true, true);
    let runs = 3;
    let mut per_block = Vec::new();
    for roll_back in [false, true] {
        for read_first in [false, true] {
            per_block.push(counter.per_run(runs, || block(&mut tm, read_first, roll_back)));
        }
    }
    // BEGIN, the insert, the read, five nested blocks (SAVEPOINT, insert,
    // RELEASE; or SAVEPOINT, insert, ROLLBACK TO, RELEASE), COMMIT; and
    // one count before a first read.
    assert_eq!(
        per_block,
        [19.0, 20.0, 24.0, 25.0],
        "released: write first, read first; rolled back: write first, read first"
    );
}
