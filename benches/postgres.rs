//! Paired ratios on PostgreSQL: each workload runs three ways on the same
//! server in the same process, in rotating order, round after round:
//! txmanager; hand-written `postgres` code as a typical user writes it
//! (`client.transaction()`, SQL text passed to `execute`/`query_one`); and
//! the *limit*, hand-written code with every statement prepared once. Ratios
//! are throughput ratios, txmanager ÷ the other side (higher is better);
//! the medians and quartiles go to docs/PERFORMANCE.md.
//!
//! ```sh
//! scripts/with-postgres.sh cargo bench --features postgres --bench postgres
//! ```
//!
//! Rounds: `PG_PAIRED_ROUNDS` (default 9); blocks per run: `PG_BLOCKS`
//! (default 2,000). Writes `target/perf/postgres.json`.

use std::hint::black_box;
use std::thread;
use std::time::{Duration, Instant};

use postgres::{Client, NoTls};
use txmanager::{
    Error, PgBlockOptions, PgIsolation, Postgres, Record, RetryPolicy, Retryable,
    TransactionManager,
};

const W2_ROWS: i64 = 1_000;
const W3_THREADS: usize = 4;

type Side = Box<dyn Fn(&str, i64) -> Duration>;

struct Case {
    workload: &'static str,
    variant: &'static str,
    sides: [Side; 3],
}

fn setup(url: &str, sql: &str) {
    let mut c = Client::connect(url, NoTls).expect("connect");
    c.batch_execute(sql).expect("set up the workload's table");
}

fn manager(url: &str, isolation: Option<PgIsolation>) -> TransactionManager<Postgres> {
    let mut tm = TransactionManager::<Postgres>::connect(url).expect("connect");
    if let Some(level) = isolation {
        tm.set_block_options(PgBlockOptions::default().with_isolation(level));
    }
    tm
}

fn client(url: &str) -> Client {
    Client::connect(url, NoTls).expect("connect")
}

fn time(run: impl FnOnce()) -> Duration {
    let start = Instant::now();
    run();
    start.elapsed()
}

const W1_TABLE: &str = "DROP TABLE IF EXISTS w1; CREATE TABLE w1 (id BIGSERIAL PRIMARY KEY, name TEXT NOT NULL, value BIGINT NOT NULL)";
const W1_INSERT: &str = "INSERT INTO w1 (name, value) VALUES ($1, $2)";

fn w1() -> Case {
    Case {
        workload: "W1_commit_on_success_insert",
        variant: "pg",
        sides: [
            Box::new(|url, n| {
                setup(url, W1_TABLE);
                let mut tm = manager(url, None);
                time(|| {
                    for i in 0..n {
                        tm.commit_on_success(|tx| tx.execute(W1_INSERT, &[&"row", &i]))
                            .expect("block");
                    }
                })
            }),
            Box::new(|url, n| {
                setup(url, W1_TABLE);
                let mut c = client(url);
                time(|| {
                    for i in 0..n {
                        let mut tx = c.transaction().expect("begin");
                        tx.execute(W1_INSERT, &[&"row", &i]).expect("insert");
                        tx.commit().expect("commit");
                    }
                })
            }),
            Box::new(|url, n| {
                setup(url, W1_TABLE);
                let mut c = client(url);
                let insert = c.prepare(W1_INSERT).expect("prepare");
                time(|| {
                    for i in 0..n {
                        let mut tx = c.transaction().expect("begin");
                        tx.execute(&insert, &[&"row", &i]).expect("insert");
                        tx.commit().expect("commit");
                    }
                })
            }),
        ],
    }
}

fn w2_table() -> String {
    format!(
        "DROP TABLE IF EXISTS w2; CREATE TABLE w2 (id BIGINT PRIMARY KEY, version BIGINT NOT NULL, value BIGINT NOT NULL);
         INSERT INTO w2 SELECT g, 1, 0 FROM generate_series(1, {W2_ROWS}) g"
    )
}
/// W2's row, as a record: txmanager's side loads it with `get` and writes it
/// with a checked `save`.
#[derive(Debug, Clone, Default, Record)]
#[record(table = "w2")]
struct W2Row {
    #[record(primary_key)]
    id: Option<i64>,
    #[record(version(auto_increment))]
    version: Option<i64>,
    value: i64,
}

// The hand-written sides run the SQL the record runs (its `get` and its
// checked `save` of an auto-increment version), with the same parameters.
const W2_GET: &str = "SELECT \"id\", \"version\", \"value\" FROM \"w2\" WHERE \"id\" = $1";
const W2_SAVE: &str = "UPDATE \"w2\" SET \"value\" = $1, \"version\" = $2::int8 WHERE \"id\" = $3 AND \"version\" = $4::int8";

fn w2() -> Case {
    Case {
        workload: "W2_versioned_save",
        variant: "pg",
        sides: [
            Box::new(|url, n| {
                setup(url, &w2_table());
                let mut tm = manager(url, None);
                time(|| {
                    for i in 0..n {
                        let id = i % W2_ROWS + 1;
                        tm.commit_on_success(|tx| {
                            let mut row = W2Row::get(tx, id)?;
                            row.value += 1;
                            row.save(tx)
                        })
                        .expect("block");
                    }
                })
            }),
            Box::new(|url, n| {
                setup(url, &w2_table());
                let mut c = client(url);
                time(|| {
                    for i in 0..n {
                        let id = i % W2_ROWS + 1;
                        let mut tx = c.transaction().expect("begin");
                        let row = tx.query_one(W2_GET, &[&id]).expect("get");
                        let (v, x): (i64, i64) = (row.get(1), row.get(2));
                        let changed = tx
                            .execute(W2_SAVE, &[&(x + 1), &(v + 1), &id, &v])
                            .expect("save");
                        assert_eq!(changed, 1);
                        tx.commit().expect("commit");
                    }
                })
            }),
            Box::new(|url, n| {
                setup(url, &w2_table());
                let mut c = client(url);
                let (get, save) = (
                    c.prepare(W2_GET).expect("prepare"),
                    c.prepare(W2_SAVE).expect("prepare"),
                );
                time(|| {
                    for i in 0..n {
                        let id = i % W2_ROWS + 1;
                        let mut tx = c.transaction().expect("begin");
                        let row = tx.query_one(&get, &[&id]).expect("get");
                        let (v, x): (i64, i64) = (row.get(1), row.get(2));
                        let changed = tx
                            .execute(&save, &[&(x + 1), &(v + 1), &id, &v])
                            .expect("save");
                        assert_eq!(changed, 1);
                        tx.commit().expect("commit");
                    }
                })
            }),
        ],
    }
}

const W3_TABLE: &str = "DROP TABLE IF EXISTS w3; CREATE TABLE w3 (id BIGINT PRIMARY KEY, version BIGINT NOT NULL, value BIGINT NOT NULL); INSERT INTO w3 VALUES (1, 1, 0)";
const W3_GET: &str = "SELECT version, value FROM w3 WHERE id = 1";
const W3_SAVE: &str = "UPDATE w3 SET version = $1, value = $2 WHERE id = 1 AND version = $3";

/// The increment's error: the database's, or a version conflict.
#[derive(Debug)]
enum Increment {
    Db(Error),
    Conflict,
}

impl From<Error> for Increment {
    fn from(e: Error) -> Self {
        Increment::Db(e)
    }
}

impl Retryable for Increment {
    fn is_retryable(&self) -> bool {
        matches!(self, Increment::Db(e) if e.is_retryable())
    }
    fn is_conflict(&self) -> bool {
        matches!(self, Increment::Conflict)
    }
}

/// Whether a hand-written attempt should run again: a conflict (0 rows),
/// a serialization failure or a deadlock.
fn hand_retryable(e: &postgres::Error) -> bool {
    e.code()
        .is_some_and(|c| matches!(c.code(), "40001" | "40P01"))
}

fn w3_total(url: &str) -> i64 {
    client(url)
        .query_one("SELECT value FROM w3 WHERE id = 1", &[])
        .expect("total")
        .get(0)
}

/// `n` optimistic increments in all, split over the threads, each retried.
fn w3(variant: &'static str, isolation: PgIsolation) -> Case {
    let level = match isolation {
        PgIsolation::Serializable => "SERIALIZABLE",
        _ => "READ COMMITTED",
    };
    let begin: &'static str = Box::leak(format!("BEGIN ISOLATION LEVEL {level}").into_boxed_str());
    let threads = move |url: &str, n: i64, work: fn(String, i64, &'static str, PgIsolation)| {
        setup(url, W3_TABLE);
        let per = n / W3_THREADS as i64;
        let elapsed = time(|| {
            let handles: Vec<_> = (0..W3_THREADS)
                .map(|_| {
                    let url = url.to_owned();
                    thread::spawn(move || work(url, per, begin, isolation))
                })
                .collect();
            handles.into_iter().for_each(|h| h.join().expect("writer"));
        });
        assert_eq!(w3_total(url), per * W3_THREADS as i64, "lost updates");
        elapsed
    };
    let ours: fn(String, i64, &'static str, PgIsolation) = |url, per, _, isolation| {
        let mut tm = manager(&url, Some(isolation));
        let policy = RetryPolicy::new(1_000)
            .with_backoff(Duration::from_micros(100), Duration::from_millis(5))
            .with_conflict_retries(true);
        for _ in 0..per {
            tm.commit_on_success_with_retry(&policy, |tx| {
                let row = tx.query_one(W3_GET, &[])?;
                let (v, x): (i64, i64) = (row.get(0), row.get(1));
                if tx.execute(W3_SAVE, &[&(v + 1), &(x + 1), &v])? == 0 {
                    return Err(Increment::Conflict);
                }
                Ok(())
            })
            .expect("increment");
        }
    };
    let theirs: fn(String, i64, &'static str, PgIsolation) = |url, per, begin, _| {
        let mut c = client(&url);
        let mut wait = Duration::from_micros(100);
        let mut done = 0;
        while done < per {
            // The typical hand-written retry loop: BEGIN … COMMIT, and on a
            // conflict or 40001 roll back, sleep, try again.
            c.batch_execute(begin).expect("begin");
            let result = c.query_one(W3_GET, &[]).and_then(|row| {
                let (v, x): (i64, i64) = (row.get(0), row.get(1));
                c.execute(W3_SAVE, &[&(v + 1), &(x + 1), &v])
            });
            match result.and_then(|changed| c.batch_execute("COMMIT").map(|()| changed)) {
                Ok(1) => {
                    done += 1;
                    wait = Duration::from_micros(100);
                    continue;
                }
                Ok(_) => {}
                Err(e) if hand_retryable(&e) => {}
                Err(e) => panic!("{e}"),
            }
            let _ = c.batch_execute("ROLLBACK");
            thread::sleep(wait);
            wait = (wait * 2).min(Duration::from_millis(5));
        }
    };
    Case {
        workload: "W3_contention",
        variant,
        sides: [
            Box::new(move |url, n| threads(url, n, ours)),
            Box::new(move |url, n| threads(url, n, theirs)),
            // The hand-written loop already reuses its connection's
            // statements as much as a retry loop can: it is the limit too.
            Box::new(move |url, n| threads(url, n, theirs)),
        ],
    }
}

const W4_TABLE: &str = W1_TABLE;

fn w4() -> Case {
    Case {
        workload: "W4_autocommit_insert",
        variant: "pg",
        sides: [
            Box::new(|url, n| {
                setup(url, W4_TABLE);
                let tm = manager(url, None);
                time(|| {
                    for i in 0..n {
                        tm.execute(W1_INSERT, &[&"row", &i]).expect("insert");
                    }
                })
            }),
            Box::new(|url, n| {
                setup(url, W4_TABLE);
                let mut c = client(url);
                time(|| {
                    for i in 0..n {
                        c.execute(W1_INSERT, &[&"row", &i]).expect("insert");
                    }
                })
            }),
            Box::new(|url, n| {
                setup(url, W4_TABLE);
                let mut c = client(url);
                let insert = c.prepare(W1_INSERT).expect("prepare");
                time(|| {
                    for i in 0..n {
                        c.execute(&insert, &[&"row", &i]).expect("insert");
                    }
                })
            }),
        ],
    }
}

fn quartiles(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    let q = |q: f64| v[(q * (v.len() - 1) as f64).round() as usize];
    (q(0.25), q(0.5), q(0.75))
}

fn main() {
    // Under `cargo test --benches` (or any filter argument) run nothing.
    if std::env::args().skip(1).any(|a| !a.starts_with("--bench")) {
        return;
    }
    let Ok(url) = std::env::var("TXMANAGER_PG_URL") else {
        eprintln!(
            "TXMANAGER_PG_URL is not set: run `scripts/with-postgres.sh cargo bench --features postgres --bench postgres`"
        );
        std::process::exit(2);
    };
    let env = |name: &str, default: i64| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let rounds = env("PG_PAIRED_ROUNDS", 9) as usize;
    let blocks = env("PG_BLOCKS", 2_000);
    let cases = [
        w1(),
        w2(),
        w3("read_committed_4_threads", PgIsolation::ReadCommitted),
        w3("serializable_4_threads", PgIsolation::Serializable),
        w4(),
    ];
    const ORDERS: [[usize; 3]; 6] = [
        [0, 1, 2],
        [1, 2, 0],
        [2, 0, 1],
        [2, 1, 0],
        [1, 0, 2],
        [0, 2, 1],
    ];
    println!(
        "| workload | variant | ÷ typical hand-written: median | quartiles | ÷ prepared hand-written: median | quartiles | txmanager µs/block | rounds |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let mut json = Vec::new();
    for case in &cases {
        for side in &case.sides {
            black_box(side(&url, blocks / 10)); // warm-up
        }
        let (mut typical, mut limit, mut ours_us) = (Vec::new(), Vec::new(), Vec::new());
        for r in 0..rounds {
            let mut t = [0.0; 3];
            for s in ORDERS[r % 6] {
                t[s] = case.sides[s](&url, blocks).as_secs_f64();
            }
            typical.push(t[1] / t[0]);
            limit.push(t[2] / t[0]);
            ours_us.push(t[0] * 1e6 / blocks as f64);
        }
        let (p25, median, p75) = quartiles(typical);
        let (l25, lmedian, l75) = quartiles(limit);
        let (_, us, _) = quartiles(ours_us);
        println!(
            "| {} | {} | {median:.3} | {p25:.3}–{p75:.3} | {lmedian:.3} | {l25:.3}–{l75:.3} | {us:.0} | {rounds} |",
            case.workload, case.variant
        );
        json.push(format!(
            "{{\"workload\":\"{}\",\"variant\":\"{}\",\"median\":{median},\"p25\":{p25},\"p75\":{p75},\"limit_median\":{lmedian},\"limit_p25\":{l25},\"limit_p75\":{l75},\"us_per_block\":{us},\"rounds\":{rounds}}}",
            case.workload, case.variant
        ));
    }
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/perf");
    std::fs::create_dir_all(&out).expect("target/perf");
    std::fs::write(
        out.join("postgres.json"),
        format!("[{}]\n", json.join(",\n")),
    )
    .expect("postgres.json");
}
