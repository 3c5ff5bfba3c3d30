use txmanager::Record;

#[derive(Record)]
struct Doc {
    #[record(primary_key)]
    id: Option<i64>,
    #[record(version)]
    version: i32,
}

fn main() {}
