use txmanager::Record;

#[derive(Record)]
struct Doc {
    #[record(primary_key)]
    id: i64,
}

fn main() {}
