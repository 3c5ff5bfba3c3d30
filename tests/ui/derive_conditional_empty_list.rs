use txmanager::Record;

#[derive(Record)]
struct Page {
    #[record(primary_key)]
    id: Option<i64>,
    #[record(version(conditional()))]
    version: Option<i64>,
    title: String,
}

fn main() {}
