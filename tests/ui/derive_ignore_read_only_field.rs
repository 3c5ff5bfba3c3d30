use txmanager::Record;

#[derive(Record)]
#[record(ignore(created))]
struct Page {
    #[record(primary_key)]
    id: Option<i64>,
    #[record(version(conditional))]
    version: Option<i64>,
    title: String,
    #[record(read_only)]
    created: Option<String>,
}

fn main() {}
