// A record whose field type only SQLite converts (PostgreSQL has no
// unsigned integers) compiles, and works on SQLite; loading it from
// PostgreSQL does not compile, and the error names the field type.
use txmanager::{Error, Postgres, Record, TransactionManager};

#[derive(Debug, Clone, Default, Record)]
struct Counter {
    #[record(primary_key)]
    id: Option<i64>,
    hits: u16,
}

fn load(tm: &TransactionManager<Postgres>) -> Result<Counter, Error> {
    Counter::get(tm, 1)
}

fn main() {}
