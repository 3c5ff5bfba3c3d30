use txmanager::{commit_on_success, Error};

#[commit_on_success]
fn no_handle(x: i64) -> Result<i64, Error> {
    Ok(x)
}

fn main() {}
