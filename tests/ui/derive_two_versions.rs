use txmanager::Record;

#[derive(Record)]
struct Doc {
    #[record(primary_key)]
    id: Option<i64>,
    #[record(version)]
    version: Option<i64>,
    #[record(version(trigger))]
    revision: Option<i64>,
}

fn main() {}
