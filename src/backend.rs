//! A database as the rest of the crate and its users see it: the
//! [`Backend`] trait.
//!
//! `Backend` is the sum of two private supertraits and the block options:
//! `control::TransactionControl`, the engine's side (the connection and
//! the control statements, over which the engine in `block.rs` is written
//! once), and `store::RecordBackend`, the record side (which `RecordStore`
//! runs record statements). It is defined above both, so neither the
//! engine nor the record seam imports it, and the module graph stays a
//! tree. Each backend module (`sqlite.rs`, `pg.rs`) implements all three
//! with the few statements and facts that differ between databases, plus
//! its own statement API on
//! [`TransactionManager<B>`](crate::TransactionManager) and
//! [`Transaction<'_, B>`](crate::Transaction).

use std::fmt;

use crate::control::TransactionControl;
use crate::store::RecordBackend;
use crate::value::CommonValues;

/// A database txmanager can run blocks on: [`Sqlite`](crate::Sqlite) (the
/// default) or, with the `postgres` feature, `Postgres`.
///
/// It appears as the type parameter of
/// [`TransactionManager<B>`](crate::TransactionManager) and
/// [`Transaction<'_, B>`](crate::Transaction), whose default is SQLite, so
/// SQLite code never names it. The trait is sealed, and it is all the API there
/// is: the engine's methods and the record statements live on private
/// supertraits.
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
///
/// nor the type that runs its record statements:
///
/// ```compile_fail
/// let _: Option<<txmanager::Sqlite as txmanager::Backend>::Records> = None;
/// ```
pub trait Backend:
    TransactionControl<BeginOptions = <Self as Backend>::BlockOptions>
    + RecordBackend
    + CommonValues
    + Sized
    + 'static
{
    /// How an outermost block begins: SQLite's [`BeginMode`](crate::BeginMode),
    /// PostgreSQL's `PgBlockOptions` (isolation level and access mode).
    type BlockOptions: Copy + Default + fmt::Debug + PartialEq + Send + Sync + 'static;
}
