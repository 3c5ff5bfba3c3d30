//! Peak memory of W1 and W2 (one fresh database, 20,000 blocks), txmanager
//! beside hand-written rusqlite: the Rust heap, counted by a global
//! allocator, and SQLite's own allocations, from `sqlite3_memory_highwater`.
//! Prints a table and writes `target/perf/memory.json` for
//! `scripts/perf_report.py`.
//!
//! `cargo bench --bench memory`

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{CREATE_ITEM, CREATE_ROW, Storage};
use txmanager::TransactionManager;
use txmanager::rusqlite::{Connection, ffi};

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

fn main() {
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
}
