use txmanager::Record;

#[derive(Record)]
#[record(check = false)]
struct Tag {
    #[record(primary_key)]
    id: Option<i64>,
    label: String,
}

fn main() {}
