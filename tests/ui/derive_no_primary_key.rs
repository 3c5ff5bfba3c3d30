use txmanager::Record;

#[derive(Record)]
struct Doc {
    id: Option<i64>,
    body: String,
}

fn main() {}
