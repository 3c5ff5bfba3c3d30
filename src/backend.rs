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
/// SQLite code never names it. The trait is sealed, and its one item for
/// users is [`BlockOptions`](Backend::BlockOptions). What else a `B:
/// Backend` bound reaches in users' code (a supertrait's items resolve
/// through it without any import) is this, and none of it is API:
/// - the engine's side (`control::TransactionControl`: the connection,
///   the control statements) is a crate-private trait, so its functions,
///   constants and associated types can be neither named nor called
///   outside the crate, on a concrete backend or through the bound (E0624,
///   "associated function `commit_sql` is private"; examples below);
/// - the record side (`store::RecordBackend`) shows the type name
///   `B::Records`, a marker that nothing outside the crate can construct
///   or call a method of (its methods' trait cannot be named, and they take
///   an engine no public item hands out);
/// - the value seam (`value::ValueSeam` and the per-type conversions
///   behind [`SqlValue`](crate::SqlValue)) shows its associated types and
///   conversion functions, which only bind to a statement or read from a
///   row that a [`Binder`](crate::Binder) or [`RowReader`](crate::RowReader)
///   holds privately, or convert a value the caller already has: nothing
///   there reaches a connection or a running block.
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
///
/// and code generic over the backend cannot reach them through the bound
/// either (E0624: "associated function `commit_sql` is private"):
///
/// ```compile_fail,E0624
/// fn commit<B: txmanager::Backend>() -> &'static str {
///     B::commit_sql()
/// }
/// ```
///
/// ```compile_fail,E0624
/// fn savepoint<B: txmanager::Backend>() -> (String, String, String) {
///     B::savepoint_sql(3)
/// }
/// ```
///
/// ```compile_fail,E0624
/// fn begin<B: txmanager::Backend>(options: B::BlockOptions) -> &'static str {
///     B::begin_sql(options)
/// }
/// ```
///
/// ```compile_fail,E0624
/// fn aborts<B: txmanager::Backend>() -> bool {
///     B::ERROR_ABORTS_TRANSACTION
/// }
/// ```
///
/// ```compile_fail,E0624
/// fn connection<B: txmanager::Backend>() -> Option<B::Connection> {
///     None
/// }
/// ```
// `TransactionControl` is crate-private on purpose: a `pub` supertrait's
// items resolve through `B: Backend` in users' code (see `control.rs`).
#[allow(private_bounds)]
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
