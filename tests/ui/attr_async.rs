use txmanager::{commit_on_success, Error, Transaction};

#[commit_on_success]
async fn later(tx: &mut Transaction<'_>) -> Result<(), Error> {
    tx.execute("SELECT 1", [])?;
    Ok(())
}

fn main() {}
