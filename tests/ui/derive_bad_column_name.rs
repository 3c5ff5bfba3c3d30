use txmanager::Record;

#[derive(Record)]
struct Doc {
    #[record(primary_key)]
    id: Option<i64>,
    #[record(column = "sqlite_master")]
    body: String,
}

fn main() {}
