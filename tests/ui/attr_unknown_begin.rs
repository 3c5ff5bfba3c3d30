use txmanager::{commit_on_success, Error, Transaction};

#[commit_on_success(begin = eager)]
fn eager(tx: &mut Transaction<'_>) -> Result<(), Error> {
    tx.execute("SELECT 1", []).map(drop)
}

fn main() {}
