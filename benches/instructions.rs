//! Instruction counts, for `scripts/count_instructions.sh`: runs one
//! workload once (20,000 blocks on a fresh in-memory database), txmanager or
//! hand-written rusqlite, so that `valgrind --tool=callgrind` can count its
//! instructions. Counts are repeatable where wall-clock time on a shared
//! machine is not. Without a workload argument (as under `cargo bench`) it
//! does nothing.

mod common;

use common::{CREATE_ITEM, CREATE_ROW, Storage};
use txmanager::rusqlite::Connection;

const BLOCKS: i64 = 20_000;

/// Runs `block` `BLOCKS` times on a hand-written connection.
fn by_hand(mut fresh: common::Fresh<Connection>, block: fn(&mut Connection, i64)) {
    (0..BLOCKS).for_each(|i| block(&mut fresh.db, i));
}

fn main() {
    let which = std::env::args().nth(1).unwrap_or_default();
    let item_schema = format!("{CREATE_ITEM}; {}", common::item_rows());
    let rows = || common::raw(Storage::Memory, CREATE_ROW);
    let items = || common::raw(Storage::Memory, &item_schema);
    match which.as_str() {
        // Setup only, to subtract from the workloads below.
        "setup-w1" | "setup-w5" => drop(rows()),
        "setup-w2" => drop(items()),
        "w1-txmanager" => {
            let mut f = common::manager(Storage::Memory, CREATE_ROW);
            (0..BLOCKS).for_each(|i| common::txm_insert_block(&mut f.db, i));
        }
        "w1-rusqlite" => by_hand(rows(), common::raw_insert_block),
        "w1-limit" => by_hand(rows(), common::limit_insert_block),
        "w2-txmanager" => {
            let mut f = common::manager(Storage::Memory, &item_schema);
            (0..BLOCKS).for_each(|i| common::txm_save_block(&mut f.db, i));
        }
        "w2-rusqlite" => by_hand(items(), common::raw_save_block),
        "w2-limit" => by_hand(items(), common::limit_save_block),
        "w5-txmanager" => {
            let mut f = common::manager(Storage::Memory, CREATE_ROW);
            (0..BLOCKS).for_each(|i| common::txm_nested_block(&mut f.db, i));
        }
        "w5-rusqlite" => by_hand(rows(), common::raw_nested_block),
        "w5-limit" => by_hand(rows(), common::limit_nested_block),
        _ => {}
    }
}
