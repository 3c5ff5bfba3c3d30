//! The guides, as pages of the API docs (they live in `docs/*.md` in the
//! repository, and read the same on GitHub and on docs.rs).
//!
//! | guide | what it covers |
//! |---|---|
//! | [`modes`] | what every mode does, at every nesting level, on every exit path |
//! | [`versioning`] | records, version kinds, the check, disabling it, django-concurrency's cookbook |
//! | [`reliability`] | the guarantees, every failure path, what the caller sees, how to recover |
//! | [`postgresql`] | the PostgreSQL backend: set-up, block options, what differs from SQLite, retries, CockroachDB and YugabyteDB |
//! | [`architecture`] | the modules, what each owns, and how a call flows through them |
//!
//! ```
//! // The guides are documentation only; this module exports nothing.
//! use txmanager::guide as _;
//! ```

#[doc = include_str!("../docs/modes.md")]
pub mod modes {}

#[doc = include_str!("../docs/versioning.md")]
pub mod versioning {}

#[doc = include_str!("../docs/reliability.md")]
pub mod reliability {}

#[doc = include_str!("../docs/postgresql.md")]
pub mod postgresql {}

#[doc = include_str!("../docs/ARCHITECTURE.md")]
pub mod architecture {}
