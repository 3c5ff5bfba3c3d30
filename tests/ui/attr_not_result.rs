use txmanager::{autocommit, Transaction};

#[autocommit]
fn count(tx: &mut Transaction<'_>) -> i64 {
    tx.query_row("SELECT 1", [], |r| r.get(0)).unwrap_or(0)
}

fn main() {}
