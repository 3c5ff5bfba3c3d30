use txmanager::Record;

#[derive(Record)]
#[record(ignore(views))]
struct Page {
    #[record(primary_key)]
    id: Option<i64>,
    #[record(version(auto_increment))]
    version: Option<i64>,
    views: i64,
}

fn main() {}
