//! Every macro misuse is a compile error pointing at the offending token,
//! and so is every reach for what the crate seals (`scope_*`, `binder_*`:
//! the engine behind a `Scope`, a backend parameter left unbounded):
//! one file per mistake in `tests/ui`, its message pinned in the `.stderr`
//! file beside it. One test binary, so the cases share one build.
//! Regenerate the messages with `TRYBUILD=overwrite cargo test --test compile_fail`.

#[test]
fn each_macro_misuse_or_reach_past_the_seal_is_a_compile_error_on_the_offending_token() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
}

/// With the `postgres` feature: a record whose field type only SQLite
/// converts cannot be used on PostgreSQL, and the error says which type
/// (the feature itself changes nothing for SQLite records: see
/// `tests/derive.rs`).
#[cfg(feature = "postgres")]
#[test]
fn a_record_with_a_sqlite_only_field_type_used_on_postgresql_is_a_compile_error_naming_the_type() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui-postgres/*.rs");
}
