use txmanager::{commit_manually, Error, RetryPolicy, Transaction};

#[commit_manually(retry = RetryPolicy::default())]
fn manual(tx: &mut Transaction<'_>) -> Result<(), Error> {
    tx.commit()
}

fn main() {}
