use txmanager::Record;

#[derive(Record)]
struct Article {
    #[record(primary_key)]
    id: Option<i64>,
    #[record(version(conditional(title, body)))]
    version: Option<i64>,
    title: String,
}

fn main() {}
