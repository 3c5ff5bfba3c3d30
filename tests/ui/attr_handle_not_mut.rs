use txmanager::{commit_on_success, Error, Transaction};

#[commit_on_success]
fn shared(tx: &Transaction<'_>) -> Result<(), Error> {
    tx.execute("SELECT 1", []).map(drop)
}

fn main() {}
