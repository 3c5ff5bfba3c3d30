use txmanager::Record;

#[derive(Record)]
#[record(increment = false)]
struct Page {
    #[record(primary_key)]
    id: Option<i64>,
    #[record(version(trigger))]
    version: Option<i64>,
    title: String,
}

fn main() {}
