use txmanager::{commit_on_success, Transaction};

#[commit_on_success]
fn fire_and_forget(tx: &mut Transaction<'_>) {
    let _ = tx.execute("SELECT 1", []);
}

fn main() {}
