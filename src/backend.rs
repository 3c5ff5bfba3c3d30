//! The seam between the block engine and a database: the [`Backend`] trait.
//!
//! The engine in `block.rs` (frames, savepoints, dirty tracking, hooks, the
//! broken state) is written once, over this trait. Each backend module
//! (`sqlite.rs`, `pg.rs`) implements it with the few statements and
//! facts that differ between databases, plus its own statement API on
//! [`TransactionManager<B>`](crate::TransactionManager) and
//! [`Transaction<'_, B>`](crate::Transaction).

use std::fmt;

use crate::control::TransactionControl;
use crate::value::CommonValues;

pub(crate) mod sealed {
    /// The record side of a backend (see [`RecordStore`](crate::store::RecordStore)).
    pub trait Sealed {
        /// How this backend runs record statements and version triggers
        /// (`sqlite/records.rs`, `pg/records.rs`).
        type Records: crate::store::RecordStore<Self>;
    }
}

/// A database txmanager can run blocks on: [`Sqlite`](crate::Sqlite) (the
/// default) or, with the `postgres` feature, `Postgres`.
///
/// It appears as the type parameter of
/// [`TransactionManager<B>`](crate::TransactionManager) and
/// [`Transaction<'_, B>`](crate::Transaction), whose default is SQLite, so
/// SQLite code never names it. The trait is sealed, and it is all the API there
/// is: the engine's methods live on a private supertrait.
///
/// # Example
///
/// Code that runs a block on any backend:
///
/// ```
/// use txmanager::{Backend, Error, TransactionManager};
///
/// fn depth_inside<B: Backend>(tm: &mut TransactionManager<B>) -> Result<usize, Error> {
///     tm.commit_on_success(|tx| Ok::<_, Error>(tx.depth()))
/// }
///
/// # fn main() -> Result<(), Error> {
/// let mut tm = TransactionManager::open_in_memory()?;
/// assert_eq!(depth_inside(&mut tm)?, 1);
/// # Ok(())
/// # }
/// ```
///
/// The engine's statements are not API, on a concrete backend or through
/// the trait:
///
/// ```compile_fail
/// use txmanager::{Backend, Sqlite};
/// let _ = Sqlite::commit_sql();
/// ```
///
/// ```compile_fail
/// let _ = <txmanager::Sqlite as txmanager::Backend>::commit_sql();
/// ```
///
/// and neither is the connection type the manager owns:
///
/// ```compile_fail
/// let _: Option<<txmanager::Sqlite as txmanager::Backend>::Connection> = None;
/// ```
pub trait Backend:
    TransactionControl<BeginOptions = <Self as Backend>::BlockOptions>
    + sealed::Sealed
    + CommonValues
    + Sized
    + 'static
{
    /// How an outermost block begins: SQLite's [`BeginMode`](crate::BeginMode),
    /// PostgreSQL's `PgBlockOptions` (isolation level and access mode).
    type BlockOptions: Copy + Default + fmt::Debug + PartialEq + Send + Sync + 'static;
}
