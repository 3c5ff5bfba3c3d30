use txmanager::Record;

#[derive(Record)]
#[record(check = false)]
#[record(check = true)]
struct Page {
    #[record(primary_key)]
    id: Option<i64>,
    #[record(version)]
    version: Option<i64>,
    title: String,
}

fn main() {}
