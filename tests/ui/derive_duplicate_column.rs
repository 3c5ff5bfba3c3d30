use txmanager::Record;

#[derive(Record)]
struct Doc {
    #[record(primary_key)]
    id: Option<i64>,
    title: String,
    #[record(column = "title")]
    heading: String,
}

fn main() {}
