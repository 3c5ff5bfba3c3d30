use txmanager::Record;

#[derive(Record)]
struct Doc {
    #[record(primary_key)]
    id: Option<i64>,
    #[record(version(timestamp))]
    version: Option<i64>,
}

fn main() {}
