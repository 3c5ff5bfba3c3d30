//! Cost curves: how txmanager's cost grows as the work grows, each point
//! against hand-written rusqlite running the same SQL (its `Transaction` and
//! `Savepoint` API, statements from the prepared statement cache, as a
//! typical user writes it). Every point is measured the paired way: the two
//! sides alternate for a few rounds (`CURVE_ROUNDS`, default 9), each round
//! on a fresh database (or the same prepared file, for table size), and the
//! median throughput ratio (hand-written time ÷ txmanager time, higher is
//! better) is reported with its quartiles. Curves:
//!
//! - `columns`: a record of 2 → 64 integer columns, versioned save (get +
//!   save per block) and load (one `get`), in memory;
//! - `nesting`: a block nested 1 → 32 savepoints deep, writing one row;
//! - `statements`: 1 → 10,000 inserts per block (20,000 inserts in all);
//! - `table_size`: a versioned save on a table of 10³ → 10⁶ rows (WAL file);
//! - `threads`: 1 → 16 writer threads on one WAL file, each block through
//!   the retry helper (hand-written: a `BEGIN IMMEDIATE` retry loop):
//!   throughput, retries, p99 block latency, errors that reached the caller;
//! - `processes`: the same with 1 → 4 writer processes.
//!
//! `cargo bench --bench curves` runs them all (a few minutes);
//! `CURVE=nesting cargo bench --bench curves` runs one. Writes
//! `target/perf/curves.json` (merged with earlier runs of other curves) for
//! `scripts/perf_report.py`. Memory at 1 → 1,000 record types is in
//! `benches/memory.rs`.

mod common;

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use common::{CREATE_ROW, INSERT, Storage};
use txmanager::rusqlite::{self, Connection, ErrorCode, Savepoint};
use txmanager::{Error, Opener, Record, RetryPolicy, Transaction, TransactionManager};

#[derive(Debug, Clone, Default, Record)]
#[record(table = "wide_2")]
pub struct Wide2 {
    #[record(primary_key)]
    pub id: Option<i64>,
    #[record(version(auto_increment))]
    pub version: Option<i64>,
    pub c0: i64,
    pub c1: i64,
}

#[derive(Debug, Clone, Default, Record)]
#[record(table = "wide_4")]
pub struct Wide4 {
    #[record(primary_key)]
    pub id: Option<i64>,
    #[record(version(auto_increment))]
    pub version: Option<i64>,
    pub c0: i64,
    pub c1: i64,
    pub c2: i64,
    pub c3: i64,
}

#[derive(Debug, Clone, Default, Record)]
#[record(table = "wide_8")]
pub struct Wide8 {
    #[record(primary_key)]
    pub id: Option<i64>,
    #[record(version(auto_increment))]
    pub version: Option<i64>,
    pub c0: i64,
    pub c1: i64,
    pub c2: i64,
    pub c3: i64,
    pub c4: i64,
    pub c5: i64,
    pub c6: i64,
    pub c7: i64,
}

#[derive(Debug, Clone, Default, Record)]
#[record(table = "wide_16")]
pub struct Wide16 {
    #[record(primary_key)]
    pub id: Option<i64>,
    #[record(version(auto_increment))]
    pub version: Option<i64>,
    pub c0: i64,
    pub c1: i64,
    pub c2: i64,
    pub c3: i64,
    pub c4: i64,
    pub c5: i64,
    pub c6: i64,
    pub c7: i64,
    pub c8: i64,
    pub c9: i64,
    pub c10: i64,
    pub c11: i64,
    pub c12: i64,
    pub c13: i64,
    pub c14: i64,
    pub c15: i64,
}

#[derive(Debug, Clone, Default, Record)]
#[record(table = "wide_32")]
pub struct Wide32 {
    #[record(primary_key)]
    pub id: Option<i64>,
    #[record(version(auto_increment))]
    pub version: Option<i64>,
    pub c0: i64,
    pub c1: i64,
    pub c2: i64,
    pub c3: i64,
    pub c4: i64,
    pub c5: i64,
    pub c6: i64,
    pub c7: i64,
    pub c8: i64,
    pub c9: i64,
    pub c10: i64,
    pub c11: i64,
    pub c12: i64,
    pub c13: i64,
    pub c14: i64,
    pub c15: i64,
    pub c16: i64,
    pub c17: i64,
    pub c18: i64,
    pub c19: i64,
    pub c20: i64,
    pub c21: i64,
    pub c22: i64,
    pub c23: i64,
    pub c24: i64,
    pub c25: i64,
    pub c26: i64,
    pub c27: i64,
    pub c28: i64,
    pub c29: i64,
    pub c30: i64,
    pub c31: i64,
}

#[derive(Debug, Clone, Default, Record)]
#[record(table = "wide_64")]
pub struct Wide64 {
    #[record(primary_key)]
    pub id: Option<i64>,
    #[record(version(auto_increment))]
    pub version: Option<i64>,
    pub c0: i64,
    pub c1: i64,
    pub c2: i64,
    pub c3: i64,
    pub c4: i64,
    pub c5: i64,
    pub c6: i64,
    pub c7: i64,
    pub c8: i64,
    pub c9: i64,
    pub c10: i64,
    pub c11: i64,
    pub c12: i64,
    pub c13: i64,
    pub c14: i64,
    pub c15: i64,
    pub c16: i64,
    pub c17: i64,
    pub c18: i64,
    pub c19: i64,
    pub c20: i64,
    pub c21: i64,
    pub c22: i64,
    pub c23: i64,
    pub c24: i64,
    pub c25: i64,
    pub c26: i64,
    pub c27: i64,
    pub c28: i64,
    pub c29: i64,
    pub c30: i64,
    pub c31: i64,
    pub c32: i64,
    pub c33: i64,
    pub c34: i64,
    pub c35: i64,
    pub c36: i64,
    pub c37: i64,
    pub c38: i64,
    pub c39: i64,
    pub c40: i64,
    pub c41: i64,
    pub c42: i64,
    pub c43: i64,
    pub c44: i64,
    pub c45: i64,
    pub c46: i64,
    pub c47: i64,
    pub c48: i64,
    pub c49: i64,
    pub c50: i64,
    pub c51: i64,
    pub c52: i64,
    pub c53: i64,
    pub c54: i64,
    pub c55: i64,
    pub c56: i64,
    pub c57: i64,
    pub c58: i64,
    pub c59: i64,
    pub c60: i64,
    pub c61: i64,
    pub c62: i64,
    pub c63: i64,
}

/// Instruction-count mode (`count <curve> <x> <txmanager|rusqlite>`, run by
/// `scripts/count_curves.sh` under callgrind): run only that side of that
/// point, once, and exit. Callgrind collects inside `timed` only, so the
/// setup of the fresh database is not counted.
static COUNT: std::sync::OnceLock<(String, u64, bool)> = std::sync::OnceLock::new();

/// In count mode, whether the point `(curve, x)` is not the one to count
/// (so its setup can be skipped too).
fn skipped(curve: &str, x: u64) -> bool {
    COUNT
        .get()
        .is_some_and(|(c, cx, _)| !(c == curve && *cx == x))
}

/// One measured point of a curve.
struct Point {
    curve: String,
    x: u64,
    /// Median, first and third quartile of the throughput ratio.
    ratio: (f64, f64, f64),
    /// Median time per operation, microseconds: txmanager, hand-written.
    micros: (f64, f64),
    /// Extra facts (writers: retries, p99, errors), as JSON members.
    extra: String,
}

fn quartiles(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    let q = |p: f64| v[(p * (v.len() - 1) as f64).round() as usize];
    (q(0.25), q(0.5), q(0.75))
}

/// Alternates the two sides for `rounds` rounds (plus one warm-up), and
/// summarises. Each side returns its elapsed time; `ops` is the number of
/// operations one run does.
fn paired(
    curve: &str,
    x: u64,
    rounds: usize,
    ops: u64,
    mut ours: impl FnMut() -> Duration,
    mut theirs: impl FnMut() -> Duration,
) -> Point {
    if let Some((c, cx, side)) = COUNT.get() {
        if c == curve && *cx == x {
            if *side {
                ours();
            } else {
                theirs();
            }
            std::process::exit(0);
        }
        return Point {
            curve: curve.to_owned(),
            x,
            ratio: (0.0, 0.0, 0.0),
            micros: (0.0, 0.0),
            extra: String::new(),
        };
    }
    ours();
    theirs();
    let (mut ratios, mut t_ours, mut t_theirs) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        let (a, b) = if round % 2 == 0 {
            let a = ours();
            (a, theirs())
        } else {
            let b = theirs();
            (ours(), b)
        };
        ratios.push(b.as_secs_f64() / a.as_secs_f64());
        t_ours.push(a.as_secs_f64() * 1e6 / ops as f64);
        t_theirs.push(b.as_secs_f64() * 1e6 / ops as f64);
    }
    let point = Point {
        curve: curve.to_owned(),
        x,
        ratio: quartiles(ratios),
        micros: (quartiles(t_ours).1, quartiles(t_theirs).1),
        extra: String::new(),
    };
    report(&point);
    point
}

fn report(p: &Point) {
    let (p25, median, p75) = p.ratio;
    println!(
        "{:<14} {:>8}  ratio {median:.3} ({p25:.3}–{p75:.3})  txmanager {:.2} µs  rusqlite {:.2} µs  {}",
        p.curve, p.x, p.micros.0, p.micros.1, p.extra
    );
}

/// Times `run` on `db`. Never inlined: `scripts/count_curves.sh` tells
/// callgrind to count instructions inside this function only.
#[inline(never)]
fn timed<D>(mut db: D, run: impl FnOnce(&mut D)) -> Duration {
    let start = Instant::now();
    run(&mut db);
    let elapsed = start.elapsed();
    black_box(&db);
    elapsed
}

// ---------- columns: 2 → 64 ----------

const WIDE_ROWS: i64 = 1_000;
const WIDE_OPS: i64 = 5_000;

/// The table and its rows for a record of `n` integer columns.
fn wide_schema(n: usize) -> String {
    let cols: Vec<String> = (0..n).map(|i| format!("c{i} INTEGER NOT NULL")).collect();
    let zeros = vec!["0"; n].join(", ");
    let names: Vec<String> = (0..n).map(|i| format!("c{i}")).collect();
    format!(
        "CREATE TABLE wide_{n} (id INTEGER PRIMARY KEY, version INTEGER NOT NULL, {});
         WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {WIDE_ROWS})
         INSERT INTO wide_{n} (id, version, {}) SELECT i, 1, {zeros} FROM s;",
        cols.join(", "),
        names.join(", ")
    )
}

/// The hand-written SQL txmanager runs for the same record.
fn wide_sql(n: usize) -> (String, String) {
    let names: Vec<String> = (0..n).map(|i| format!("c{i}")).collect();
    let sets: Vec<String> = (0..n).map(|i| format!("c{i} = ?{}", i + 1)).collect();
    (
        format!(
            "SELECT id, version, {} FROM wide_{n} WHERE id = ?1",
            names.join(", ")
        ),
        format!(
            "UPDATE wide_{n} SET {}, version = ?{} WHERE id = ?{} AND version = ?{}",
            sets.join(", "),
            n + 1,
            n + 2,
            n + 3
        ),
    )
}

/// Reads the row as a hand-written loader would: every column into a value.
fn raw_load(
    conn: &Connection,
    select: &str,
    n: usize,
    id: i64,
) -> rusqlite::Result<(i64, [i64; 64])> {
    conn.prepare_cached(select)?.query_row([id], |r| {
        let mut values = [0_i64; 64];
        for (i, v) in values.iter_mut().enumerate().take(n) {
            *v = r.get(2 + i)?;
        }
        Ok((r.get(1)?, values))
    })
}

fn raw_wide_save(
    conn: &mut Connection,
    sql: &(String, String),
    n: usize,
    id: i64,
) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let (version, mut values) = raw_load(&tx, &sql.0, n, id)?;
    values[0] += 1;
    let mut update = tx.prepare_cached(&sql.1)?;
    for (i, v) in values.iter().enumerate().take(n) {
        update.raw_bind_parameter(i + 1, v)?;
    }
    update.raw_bind_parameter(n + 1, version + 1)?;
    update.raw_bind_parameter(n + 2, id)?;
    update.raw_bind_parameter(n + 3, version)?;
    if update.raw_execute()? != 1 {
        return Err(rusqlite::Error::QueryReturnedNoRows);
    }
    drop(update);
    tx.commit()
}

fn columns_point<R: Record<Key = i64> + txmanager::RecordValues>(
    n: usize,
    rounds: usize,
    bump: fn(&mut R),
) -> [Point; 2] {
    let schema = wide_schema(n);
    let sql = wide_sql(n);
    let id = |i: i64| 1 + (i * 7919) % WIDE_ROWS;
    let save = paired(
        "columns_save",
        n as u64,
        rounds,
        WIDE_OPS as u64,
        || {
            timed(common::manager(Storage::Memory, &schema), |f| {
                for i in 0..WIDE_OPS {
                    f.db.commit_on_success(|tx| {
                        let mut r = R::get(tx, id(i))?;
                        bump(&mut r);
                        r.save(tx)
                    })
                    .unwrap();
                }
            })
        },
        || {
            timed(common::raw(Storage::Memory, &schema), |f| {
                for i in 0..WIDE_OPS {
                    raw_wide_save(&mut f.db, &sql, n, id(i)).unwrap();
                }
            })
        },
    );
    let load = paired(
        "columns_load",
        n as u64,
        rounds,
        WIDE_OPS as u64,
        || {
            timed(common::manager(Storage::Memory, &schema), |f| {
                for i in 0..WIDE_OPS {
                    black_box(R::get(&f.db, id(i)).unwrap());
                }
            })
        },
        || {
            timed(common::raw(Storage::Memory, &schema), |f| {
                for i in 0..WIDE_OPS {
                    black_box(raw_load(&f.db, &sql.0, n, id(i)).unwrap());
                }
            })
        },
    );
    [save, load]
}

fn columns(rounds: usize) -> Vec<Point> {
    [
        columns_point::<Wide2>(2, rounds, |w| w.c0 += 1),
        columns_point::<Wide4>(4, rounds, |w| w.c0 += 1),
        columns_point::<Wide8>(8, rounds, |w| w.c0 += 1),
        columns_point::<Wide16>(16, rounds, |w| w.c0 += 1),
        columns_point::<Wide32>(32, rounds, |w| w.c0 += 1),
        columns_point::<Wide64>(64, rounds, |w| w.c0 += 1),
    ]
    .into_iter()
    .flatten()
    .collect()
}

// ---------- nesting: 1 → 32 savepoints ----------

const NEST_BLOCKS: i64 = 2_000;

fn nest(tx: &mut Transaction<'_>, depth: usize, i: i64) -> Result<(), Error> {
    if depth == 0 {
        return tx.execute(INSERT, [i]).map(drop);
    }
    tx.commit_on_success(|inner| nest(inner, depth - 1, i))
}

fn raw_nest(sp: &mut Savepoint<'_>, depth: usize, i: i64) -> rusqlite::Result<()> {
    if depth == 0 {
        return sp.prepare_cached(INSERT)?.execute([i]).map(drop);
    }
    let mut inner = sp.savepoint()?;
    raw_nest(&mut inner, depth - 1, i)?;
    inner.commit()
}

fn nesting(rounds: usize) -> Vec<Point> {
    [1, 2, 4, 8, 16, 32]
        .into_iter()
        .map(|depth: usize| {
            paired(
                "nesting",
                depth as u64,
                rounds,
                NEST_BLOCKS as u64,
                || {
                    timed(common::manager(Storage::Memory, CREATE_ROW), |f| {
                        for i in 0..NEST_BLOCKS {
                            f.db.commit_on_success(|tx| nest(tx, depth, i)).unwrap();
                        }
                    })
                },
                || {
                    timed(common::raw(Storage::Memory, CREATE_ROW), |f| {
                        for i in 0..NEST_BLOCKS {
                            let mut tx = f
                                .db
                                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                                .unwrap();
                            let mut sp = tx.savepoint().unwrap();
                            raw_nest(&mut sp, depth - 1, i).unwrap();
                            sp.commit().unwrap();
                            tx.commit().unwrap();
                        }
                    })
                },
            )
        })
        .collect()
}

// ---------- statements per block: 1 → 10,000 ----------

const INSERTS: i64 = 20_000;

fn statements(rounds: usize) -> Vec<Point> {
    [1, 10, 100, 1_000, 10_000]
        .into_iter()
        .map(|per_block: i64| {
            paired(
                "statements",
                per_block as u64,
                rounds,
                INSERTS as u64,
                || {
                    timed(common::manager(Storage::Memory, CREATE_ROW), |f| {
                        for b in 0..INSERTS / per_block {
                            f.db.commit_on_success(|tx| {
                                for i in 0..per_block {
                                    tx.execute(INSERT, [b * per_block + i])?;
                                }
                                Ok::<_, Error>(())
                            })
                            .unwrap();
                        }
                    })
                },
                || {
                    timed(common::raw(Storage::Memory, CREATE_ROW), |f| {
                        for b in 0..INSERTS / per_block {
                            let tx = f
                                .db
                                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                                .unwrap();
                            for i in 0..per_block {
                                tx.prepare_cached(INSERT)
                                    .unwrap()
                                    .execute([b * per_block + i])
                                    .unwrap();
                            }
                            tx.commit().unwrap();
                        }
                    })
                },
            )
        })
        .collect()
}

// ---------- table size: 10³ → 10⁶ rows ----------

const SIZE_SAVES: i64 = 10_000;

fn table_size(rounds: usize) -> Vec<Point> {
    [1_000, 10_000, 100_000, 1_000_000]
        .into_iter()
        .filter(|&rows| !skipped("table_size", rows as u64))
        .map(|rows: i64| {
            let dir = common::bench_dir();
            let path = dir.path().join("size.db");
            drop(common::raw_at(
                &path,
                &format!(
                    "{}; WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {rows})
                     INSERT INTO item (id, version, name, qty) SELECT i, 1, 'item ' || i, 0 FROM s;",
                    common::CREATE_ITEM
                ),
            ));
            // Spread the saves over the whole table.
            let id = move |i: i64| 1 + (i * 2_654_435_761) % rows;
            let path2 = path.clone();
            let point = paired(
                "table_size",
                rows as u64,
                rounds,
                SIZE_SAVES as u64,
                || {
                    timed(TransactionManager::open(&path).unwrap(), |tm| {
                        for i in 0..SIZE_SAVES {
                            tm.commit_on_success(|tx| {
                                let mut item = common::Item::get(tx, id(i))?;
                                item.qty += 1;
                                item.save(tx)
                            })
                            .unwrap();
                        }
                    })
                },
                || {
                    timed(common::raw_at(&path2, ""), |conn| {
                        for i in 0..SIZE_SAVES {
                            let tx = conn
                                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                                .unwrap();
                            common::raw_versioned_increment(&tx, id(i)).unwrap();
                            tx.commit().unwrap();
                        }
                    })
                },
            );
            drop(dir);
            point
        })
        .collect()
}

// ---------- writers: threads and processes ----------

/// Blocks per run, shared by all writers.
const WRITER_BLOCKS: usize = 4_000;

/// What one writer saw.
#[derive(Default)]
struct WriterStats {
    latencies_us: Vec<u64>,
    retries: u64,
    errors: u64,
}

impl WriterStats {
    fn merge(&mut self, other: WriterStats) {
        self.latencies_us.extend(other.latencies_us);
        self.retries += other.retries;
        self.errors += other.errors;
    }

    fn p99_ms(&mut self) -> f64 {
        self.latencies_us.sort_unstable();
        let i = (self.latencies_us.len() * 99)
            .div_ceil(100)
            .saturating_sub(1);
        self.latencies_us.get(i).copied().unwrap_or(0) as f64 / 1000.0
    }

    /// One line for a child process to print and its parent to parse.
    fn encode(&self) -> String {
        let lat: Vec<String> = self.latencies_us.iter().map(u64::to_string).collect();
        format!("{} {} {}", self.retries, self.errors, lat.join(","))
    }

    fn decode(line: &str) -> WriterStats {
        let mut parts = line.trim().splitn(3, ' ');
        let mut next = || parts.next().unwrap_or("");
        let retries = next().parse().unwrap_or(0);
        let errors = next().parse().unwrap_or(0);
        let latencies_us = next().split(',').filter_map(|v| v.parse().ok()).collect();
        WriterStats {
            latencies_us,
            retries,
            errors,
        }
    }
}

/// A file where every writer has its own row (so writers contend for the
/// write lock, not for a row), `writers` rows in all.
fn writers_file(writers: usize) -> (tempfile::TempDir, PathBuf) {
    let dir = common::bench_dir();
    let path = dir.path().join("writers.db");
    drop(common::raw_at(
        &path,
        &format!(
            "{}; WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {writers})
             INSERT INTO item (id, version, name, qty) SELECT i, 1, 'writer ' || i, 0 FROM s;",
            common::CREATE_ITEM
        ),
    ));
    (dir, path)
}

/// One writer: `blocks` versioned increments of row `row`. txmanager goes
/// through `commit_on_success_with_retry` with the default policy;
/// hand-written code retries `SQLITE_BUSY` in a `BEGIN IMMEDIATE` loop.
fn writer(path: &Path, ours: bool, row: i64, blocks: usize) -> WriterStats {
    let mut stats = WriterStats::default();
    if ours {
        let mut tm = Opener::new(path).open().unwrap();
        let policy = RetryPolicy::default();
        for _ in 0..blocks {
            let start = Instant::now();
            match tm.commit_on_success_with_retry(&policy, |tx| {
                let mut item = common::Item::get(tx, row)?;
                item.qty += 1;
                item.save(tx)
            }) {
                Ok(done) => stats.retries += u64::from(done.attempts - 1),
                Err(_) => stats.errors += 1,
            }
            stats.latencies_us.push(start.elapsed().as_micros() as u64);
        }
    } else {
        let mut conn = common::raw_at(path, "");
        for _ in 0..blocks {
            let start = Instant::now();
            loop {
                let attempt = conn
                    .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                    .and_then(|tx| {
                        common::raw_versioned_increment(&tx, row)?;
                        tx.commit()
                    });
                match attempt {
                    Ok(()) => break,
                    Err(e) if e.sqlite_error_code() == Some(ErrorCode::DatabaseBusy) => {
                        stats.retries += 1
                    }
                    Err(_) => {
                        stats.errors += 1;
                        break;
                    }
                }
            }
            stats.latencies_us.push(start.elapsed().as_micros() as u64);
        }
    }
    stats
}

/// Runs `writers` writers as threads or as child processes; checks that
/// every increment landed.
fn run_writers(writers: usize, ours: bool, processes: bool) -> (Duration, WriterStats) {
    let (_dir, path) = writers_file(writers);
    let per_writer = WRITER_BLOCKS / writers;
    let start = Instant::now();
    let mut stats = WriterStats::default();
    if processes {
        let exe = std::env::current_exe().expect("bench executable");
        let children: Vec<_> = (0..writers)
            .map(|w| {
                Command::new(&exe)
                    .args([
                        "writer-process",
                        path.to_str().expect("utf-8 path"),
                        if ours { "txmanager" } else { "rusqlite" },
                    ])
                    .arg((w + 1).to_string())
                    .arg(per_writer.to_string())
                    .output_async()
            })
            .collect();
        for child in children {
            let out = child.wait_with_output().expect("writer process");
            stats.merge(WriterStats::decode(&String::from_utf8_lossy(&out.stdout)));
        }
    } else {
        thread::scope(|s| {
            let handles: Vec<_> = (0..writers)
                .map(|w| {
                    let path = &path;
                    s.spawn(move || writer(path, ours, w as i64 + 1, per_writer))
                })
                .collect();
            for h in handles {
                stats.merge(h.join().expect("writer thread"));
            }
        });
    }
    let elapsed = start.elapsed();
    let total: i64 = Connection::open(&path)
        .unwrap()
        .query_row("SELECT sum(qty) FROM item", [], |r| r.get(0))
        .unwrap();
    assert_eq!(
        total as u64 + stats.errors,
        (per_writer * writers) as u64,
        "lost updates"
    );
    (elapsed, stats)
}

trait SpawnPiped {
    fn output_async(&mut self) -> std::process::Child;
}

impl SpawnPiped for Command {
    fn output_async(&mut self) -> std::process::Child {
        self.stdout(std::process::Stdio::piped())
            .spawn()
            .expect("spawn writer process")
    }
}

fn writers(curve: &str, counts: &[usize], rounds: usize, processes: bool) -> Vec<Point> {
    counts
        .iter()
        .map(|&n| {
            let (mut ours, mut theirs) = (WriterStats::default(), WriterStats::default());
            let mut point = paired(
                curve,
                n as u64,
                rounds,
                WRITER_BLOCKS as u64,
                || {
                    let (t, s) = run_writers(n, true, processes);
                    ours.merge(s);
                    t
                },
                || {
                    let (t, s) = run_writers(n, false, processes);
                    theirs.merge(s);
                    t
                },
            );
            let runs = (rounds + 1) as f64;
            point.extra = format!(
                "\"blocks_per_s\":[{:.0},{:.0}],\"retries_per_run\":[{:.1},{:.1}],\"p99_ms\":[{:.3},{:.3}],\"errors\":[{},{}]",
                1e6 / point.micros.0,
                1e6 / point.micros.1,
                ours.retries as f64 / runs,
                theirs.retries as f64 / runs,
                ours.p99_ms(),
                theirs.p99_ms(),
                ours.errors,
                theirs.errors
            );
            report(&point);
            point
        })
        .collect()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("writer-process") {
        let stats = writer(
            Path::new(&args[2]),
            args[3] == "txmanager",
            args[4].parse().expect("row"),
            args[5].parse().expect("blocks"),
        );
        println!("{}", stats.encode());
        return;
    }
    if args.get(1).map(String::as_str) == Some("count") {
        let point = (
            args[2].clone(),
            args[3].parse().expect("x"),
            args[4] == "txmanager",
        );
        let curve = point.0.clone();
        COUNT.set(point).expect("set once");
        match curve.as_str() {
            "columns_save" | "columns_load" => drop(columns(1)),
            "nesting" => drop(nesting(1)),
            "statements" => drop(statements(1)),
            "table_size" => drop(table_size(1)),
            other => panic!("no instruction count for {other}"),
        }
        panic!("no such point");
    }
    // Under `cargo test --benches` (or any filter argument) run nothing.
    if args.iter().skip(1).any(|a| !a.starts_with("--bench")) {
        return;
    }
    let rounds: usize = std::env::var("CURVE_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(9);
    let only = std::env::var("CURVE").unwrap_or_default();
    let wanted = |name: &str| only.is_empty() || only == name;
    let mut points = Vec::new();
    if wanted("columns") {
        points.extend(columns(rounds));
    }
    if wanted("nesting") {
        points.extend(nesting(rounds));
    }
    if wanted("statements") {
        points.extend(statements(rounds));
    }
    if wanted("table_size") {
        points.extend(table_size(rounds));
    }
    if wanted("threads") {
        points.extend(writers("threads", &[1, 2, 4, 8, 16], rounds, false));
    }
    if wanted("processes") {
        points.extend(writers("processes", &[1, 2, 4], rounds, true));
    }
    save(&points);
}

/// Writes the points to `target/perf/curves.json`, keeping earlier points of
/// curves this run did not measure.
fn save(points: &[Point]) {
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/perf");
    std::fs::create_dir_all(&out).expect("target/perf");
    let file = out.join("curves.json");
    let measured: Vec<&str> = points.iter().map(|p| p.curve.as_str()).collect();
    let mut lines: Vec<String> = std::fs::read_to_string(&file)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.starts_with('{'))
        .filter(|l| {
            !measured
                .iter()
                .any(|c| l.contains(&format!("\"curve\":\"{c}\"")))
        })
        .map(|l| l.trim_end_matches(',').to_owned())
        .collect();
    for p in points {
        let (p25, median, p75) = p.ratio;
        let extra = if p.extra.is_empty() {
            String::new()
        } else {
            format!(",{}", p.extra)
        };
        lines.push(format!(
            "{{\"curve\":\"{}\",\"x\":{},\"median\":{median},\"p25\":{p25},\"p75\":{p75},\"txmanager_us\":{},\"rusqlite_us\":{}{extra}}}",
            p.curve, p.x, p.micros.0, p.micros.1
        ));
    }
    std::fs::write(&file, format!("[\n{}\n]\n", lines.join(",\n"))).expect("curves.json");
}
