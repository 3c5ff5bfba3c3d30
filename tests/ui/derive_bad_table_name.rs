use txmanager::Record;

#[derive(Record)]
#[record(table = "doc; DROP TABLE doc")]
struct Doc {
    #[record(primary_key)]
    id: Option<i64>,
}

fn main() {}
