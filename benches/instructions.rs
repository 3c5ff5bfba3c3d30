//! Instruction counts, for `scripts/count_instructions.sh`: runs one
//! workload once (20,000 blocks on a fresh in-memory database), txmanager or
//! hand-written rusqlite, so that `valgrind --tool=callgrind` can count its
//! instructions. Counts are repeatable where wall-clock time on a shared
//! machine is not. Without a workload argument (as under `cargo bench`) it
//! does nothing.

mod common;

use common::{CREATE_ITEM, CREATE_ROW, Storage};

const BLOCKS: i64 = 20_000;

fn main() {
    let which = std::env::args().nth(1).unwrap_or_default();
    let item_schema = format!("{CREATE_ITEM}; {}", common::item_rows());
    match which.as_str() {
        // Setup only, to subtract from the workloads below.
        "setup-w1" => drop(common::raw(Storage::Memory, CREATE_ROW)),
        "setup-w2" => drop(common::raw(Storage::Memory, &item_schema)),
        "w1-txmanager" => {
            let mut f = common::manager(Storage::Memory, CREATE_ROW);
            (0..BLOCKS).for_each(|i| common::txm_insert_block(&mut f.db, i));
        }
        "w1-rusqlite" => {
            let mut f = common::raw(Storage::Memory, CREATE_ROW);
            (0..BLOCKS).for_each(|i| common::raw_insert_block(&mut f.db, i));
        }
        "w2-txmanager" => {
            let mut f = common::manager(Storage::Memory, &item_schema);
            (0..BLOCKS).for_each(|i| common::txm_save_block(&mut f.db, i));
        }
        "w2-rusqlite" => {
            let mut f = common::raw(Storage::Memory, &item_schema);
            (0..BLOCKS).for_each(|i| common::raw_save_block(&mut f.db, i));
        }
        _ => {}
    }
}
