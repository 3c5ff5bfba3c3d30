use txmanager::Record;

#[derive(Record)]
struct Doc(Option<i64>, String);

fn main() {}
