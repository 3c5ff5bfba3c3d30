use txmanager::Record;

#[derive(Record)]
#[record(version_required = false)]
struct Tag {
    #[record(primary_key)]
    id: Option<i64>,
    label: String,
}

fn main() {}
