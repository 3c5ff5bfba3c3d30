//! The PostgreSQL test harness itself: a server is there, and each test's
//! schema is its own.
#![cfg(feature = "postgres")]

mod common;

use common::pg::PgDb;

#[test]
fn each_test_gets_its_own_schema_on_the_server() {
    let a = PgDb::new();
    let b = PgDb::new();
    assert_ne!(a.schema, b.schema);
    a.observer()
        .execute(
            "INSERT INTO reporter (first_name, last_name) VALUES ('Alice', 'Smith')",
            &[],
        )
        .unwrap();
    assert_eq!(a.committed(), ["Alice Smith"]);
    assert!(b.committed().is_empty(), "b sees a's rows");
}
