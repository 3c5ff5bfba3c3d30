//! Peak memory of W1 and W2 (one fresh database, 20,000 blocks), txmanager
//! beside hand-written rusqlite: the Rust heap, counted by a global
//! allocator, and SQLite's own allocations, from `sqlite3_memory_highwater`.
//! Prints a table and writes `target/perf/memory.json` for
//! `scripts/perf_report.py`.
//!
//! Then memory as the number of record types grows (1 → 1,000): each count
//! runs in a child process of its own, so that its peak RSS (`VmHWM`) is its
//! own, and reports the heap txmanager keeps per type (each type's SQL,
//! built on first use and kept for the life of the process), written to
//! `target/perf/memory_types.json`.
//!
//! `cargo bench --bench memory`

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{CREATE_ITEM, CREATE_ROW, Storage};
use txmanager::rusqlite::{Connection, ffi};
use txmanager::{
    Binder, Record, RecordMeta, RowReader, TransactionManager, ValueError, VersionField,
};

struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts bytes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = CURRENT.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) };
        CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                let now = CURRENT.fetch_add(new_size - layout.size(), Ordering::Relaxed) + new_size
                    - layout.size();
                PEAK.fetch_max(now, Ordering::Relaxed);
            } else {
                CURRENT.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const BLOCKS: i64 = 20_000;

/// A workload: its name, its schema, one block through txmanager, one by hand.
type Workload<'a> = (
    &'static str,
    &'a str,
    fn(&mut TransactionManager, i64),
    fn(&mut Connection, i64),
);

/// Peak bytes above the starting point while `run` runs: (Rust heap, SQLite).
fn peak(run: impl FnOnce()) -> (usize, usize) {
    let heap_base = CURRENT.load(Ordering::Relaxed);
    PEAK.store(heap_base, Ordering::Relaxed);
    // SAFETY: plain C calls with no pointers; resetting the high-water mark
    // makes it the current usage.
    let sqlite_base = unsafe {
        ffi::sqlite3_memory_highwater(1);
        ffi::sqlite3_memory_used()
    };
    run();
    let heap = PEAK.load(Ordering::Relaxed) - heap_base;
    // SAFETY: as above.
    let sqlite = unsafe { ffi::sqlite3_memory_highwater(0) } - sqlite_base;
    (heap, usize::try_from(sqlite).unwrap_or(0))
}

// ---------- memory at 1 → 1,000 record types ----------

/// Record type counts measured.
const TYPE_COUNTS: [usize; 4] = [1, 10, 100, 1_000];

thread_local! {
    /// The record type `AnyType` stands for right now.
    static TYPE: Cell<Option<&'static RecordMeta>> = const { Cell::new(None) };
}

/// One Rust type standing for many record types: `meta()` returns the
/// declaration selected in `TYPE`. Each declaration is a `RecordMeta` of its
/// own, with its own table and its own SQL cache, exactly what a program
/// with that many record types holds (the declarations themselves are
/// leaked before measuring starts; in a real program they are statics).
#[derive(Debug, Default)]
struct AnyType {
    id: Option<i64>,
    version: Option<i64>,
    a: i64,
    b: String,
}

impl Record for AnyType {
    type Key = i64;
    fn meta() -> &'static RecordMeta {
        TYPE.with(Cell::get).expect("a record type is selected")
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

impl txmanager::RecordValues for AnyType {
    fn bind_columns(
        &self,
        values: &mut Binder<'_, '_, txmanager::Sqlite>,
    ) -> Result<(), ValueError> {
        values.bind(&self.a)?;
        values.bind(&self.b)
    }
    fn from_row(row: &mut RowReader<'_, '_, txmanager::Sqlite>) -> Result<Self, ValueError> {
        Ok(AnyType {
            id: row.read()?,
            version: row.read()?,
            a: row.read()?,
            b: row.read()?,
        })
    }
}

/// Peak resident set size of this process so far, in KiB.
fn peak_rss_kib() -> usize {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// In a child process: `types` tables, one record type each; every type
/// inserts, loads and saves one record. Prints the heap kept afterwards,
/// SQLite's memory, and the peak RSS.
fn types_child(types: usize, ours: bool) {
    let schema: String = (0..types)
        .map(|k| format!("CREATE TABLE t{k} (id INTEGER PRIMARY KEY, version INTEGER NOT NULL, a INTEGER NOT NULL, b TEXT NOT NULL);"))
        .collect();
    let metas: Vec<&'static RecordMeta> = (0..types)
        .map(|k| {
            let table: &'static str = Box::leak(format!("t{k}").into_boxed_str());
            &*Box::leak(Box::new(RecordMeta::new(
                table,
                "id",
                &["a", "b"],
                Some(VersionField::auto_increment()),
            )))
        })
        .collect();
    let (heap_base, sqlite_base);
    if ours {
        let tm = common::manager(Storage::Memory, &schema);
        heap_base = CURRENT.load(Ordering::Relaxed);
        // SAFETY: a plain C call with no pointers.
        sqlite_base = unsafe { ffi::sqlite3_memory_used() };
        for meta in &metas {
            TYPE.with(|t| t.set(Some(meta)));
            let mut record = AnyType {
                b: "x".to_owned(),
                ..AnyType::default()
            };
            record.save(&tm.db).expect("insert");
            let mut loaded = AnyType::get(&tm.db, record.id.expect("key")).expect("load");
            loaded.a += 1;
            loaded.save(&tm.db).expect("save");
        }
        drop(tm);
    } else {
        let raw = common::raw(Storage::Memory, &schema);
        heap_base = CURRENT.load(Ordering::Relaxed);
        // SAFETY: as above.
        sqlite_base = unsafe { ffi::sqlite3_memory_used() };
        for k in 0..types {
            // The same SQL txmanager runs, as a hand-written program has it.
            let conn = &raw.db;
            conn.prepare_cached(&format!(
                "INSERT INTO t{k} (a, b, version) VALUES (?1, ?2, ?3)"
            ))
            .and_then(|mut s| s.execute((0, "x", 1)))
            .expect("insert");
            let id = conn.last_insert_rowid();
            let (version, a): (i64, i64) = conn
                .prepare_cached(&format!("SELECT id, version, a, b FROM t{k} WHERE id = ?1"))
                .and_then(|mut s| s.query_row([id], |r| Ok((r.get(1)?, r.get(2)?))))
                .expect("load");
            conn.prepare_cached(&format!(
                "UPDATE t{k} SET a = ?1, b = ?2, version = ?3 WHERE id = ?4 AND version = ?5"
            ))
            .and_then(|mut s| s.execute((a + 1, "x", version + 1, id, version)))
            .expect("save");
        }
        drop(raw);
    }
    let kept = CURRENT.load(Ordering::Relaxed).saturating_sub(heap_base);
    // SAFETY: as above.
    let sqlite = unsafe { ffi::sqlite3_memory_used() } - sqlite_base;
    println!("{kept} {sqlite} {}", peak_rss_kib());
}

/// Runs every type count both ways in child processes; prints a table and
/// writes `target/perf/memory_types.json`.
fn record_types() {
    let exe = std::env::current_exe().expect("bench executable");
    let run = |types: usize, side: &str| -> [i64; 3] {
        let out = std::process::Command::new(&exe)
            .args(["types-child", &types.to_string(), side])
            .output()
            .expect("child process");
        let text = String::from_utf8_lossy(&out.stdout);
        let mut values = text.split_whitespace().map(|v| v.parse().unwrap_or(0));
        [(); 3].map(|()| values.next().unwrap_or(0))
    };
    println!();
    println!(
        "| record types | heap kept after use, txmanager / by hand | per type | peak RSS, txmanager / by hand |"
    );
    println!("|---|---|---|---|");
    let mut json = Vec::new();
    for types in TYPE_COUNTS {
        let [ours_heap, ours_sqlite, ours_rss] = run(types, "txmanager");
        let [raw_heap, raw_sqlite, raw_rss] = run(types, "rusqlite");
        let per_type = (ours_heap - raw_heap) as f64 / types as f64;
        println!(
            "| {types} | {ours_heap} B / {raw_heap} B | {per_type:.0} B | {ours_rss} KiB / {raw_rss} KiB |"
        );
        json.push(format!(
            "{{\"types\":{types},\"txmanager_heap\":{ours_heap},\"rusqlite_heap\":{raw_heap},\"txmanager_sqlite\":{ours_sqlite},\"rusqlite_sqlite\":{raw_sqlite},\"txmanager_rss_kib\":{ours_rss},\"rusqlite_rss_kib\":{raw_rss}}}"
        ));
    }
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/perf");
    std::fs::create_dir_all(&out).expect("target/perf");
    std::fs::write(
        out.join("memory_types.json"),
        format!("[{}]\n", json.join(",\n")),
    )
    .expect("memory_types.json");
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("types-child") {
        types_child(args[2].parse().expect("type count"), args[3] == "txmanager");
        return;
    }
    let item_schema = format!("{CREATE_ITEM}; {}", common::item_rows());
    let mut rows = Vec::new();
    for storage in [Storage::Memory, Storage::Wal] {
        let workloads: [Workload<'_>; 2] = [
            (
                "W1",
                CREATE_ROW,
                common::txm_insert_block,
                common::raw_insert_block,
            ),
            (
                "W2",
                &item_schema,
                common::txm_save_block,
                common::raw_save_block,
            ),
        ];
        for (workload, schema, ours, theirs) in workloads {
            let mut tm = common::manager(storage, schema);
            let txm = peak(|| (0..BLOCKS).for_each(|i| ours(&mut tm.db, i)));
            drop(tm);
            let mut raw = common::raw(storage, schema);
            let rus = peak(|| (0..BLOCKS).for_each(|i| theirs(&mut raw.db, i)));
            drop(raw);
            rows.push((workload, storage, txm, rus));
        }
    }

    println!(
        "| workload | storage | txmanager heap + SQLite | rusqlite heap + SQLite | difference |"
    );
    println!("|---|---|---|---|---|");
    let mut json = Vec::new();
    for (workload, storage, (th, ts), (rh, rs)) in &rows {
        let (t, r) = (th + ts, rh + rs);
        let diff = t as i64 - r as i64;
        println!(
            "| {workload} | {storage} | {th} B + {ts} B = {:.1} KiB | {rh} B + {rs} B = {:.1} KiB | {:+.1} KiB |",
            t as f64 / 1024.0,
            r as f64 / 1024.0,
            diff as f64 / 1024.0
        );
        json.push(format!(
            "{{\"workload\":\"{workload}\",\"storage\":\"{storage}\",\"txmanager_heap\":{th},\"txmanager_sqlite\":{ts},\"rusqlite_heap\":{rh},\"rusqlite_sqlite\":{rs}}}"
        ));
        assert!(
            diff.unsigned_abs() < 1024 * 1024,
            "{workload}/{storage}: more than 1 MiB apart"
        );
    }
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/perf");
    std::fs::create_dir_all(&out).expect("target/perf");
    std::fs::write(out.join("memory.json"), format!("[{}]\n", json.join(",\n")))
        .expect("memory.json");
    record_types();
}
