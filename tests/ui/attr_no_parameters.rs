use txmanager::{commit_manually, Error};

#[commit_manually]
fn nothing() -> Result<(), Error> {
    Ok(())
}

fn main() {}
