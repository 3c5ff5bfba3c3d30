use txmanager::Record;

#[derive(Record)]
#[record(increment = false)]
struct Tag {
    #[record(primary_key)]
    id: Option<i64>,
    label: String,
}

fn main() {}
