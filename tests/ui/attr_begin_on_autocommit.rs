use txmanager::{autocommit, Error, Transaction};

#[autocommit(begin = immediate)]
fn auto(tx: &mut Transaction<'_>) -> Result<(), Error> {
    tx.execute("SELECT 1", []).map(drop)
}

fn main() {}
