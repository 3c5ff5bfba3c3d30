use txmanager::Record;

#[derive(Record)]
#[record(tabel = "page")]
struct Page {
    #[record(primary_key)]
    id: Option<i64>,
}

fn main() {}
