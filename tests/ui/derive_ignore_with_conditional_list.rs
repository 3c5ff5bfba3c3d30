use txmanager::Record;

#[derive(Record)]
#[record(ignore(views))]
struct Page {
    #[record(primary_key)]
    id: Option<i64>,
    #[record(version(conditional(title, views)))]
    version: Option<i64>,
    title: String,
    views: i64,
}

fn main() {}
