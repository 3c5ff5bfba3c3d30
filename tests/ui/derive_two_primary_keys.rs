use txmanager::Record;

#[derive(Record)]
struct Pair {
    #[record(primary_key)]
    id: Option<i64>,
    #[record(primary_key)]
    other_id: Option<i64>,
}

fn main() {}
