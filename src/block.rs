//! The block engine: how a block in any mode is entered, how it ends (commit,
//! release, rollback), what happens on panic, and the bookkeeping behind it
//! (the frame stack, dirty tracking, `on_commit` hooks, the broken state).
//!
//! Everything here is [`Engine<B>`], written once for every backend over
//! the [`TransactionControl`] trait (the engine's side of a backend): a
//! [`TransactionManager`](crate::TransactionManager) owns one, and a
//! [`Transaction`](crate::Transaction) handle borrows it; their mode
//! methods reach [`Engine::run_block`] through `transaction::run_block`,
//! which hands the closure its handle. It imports
//! no backend module, nor the manager or the handle: each backend's
//! statement path (`impl Engine<Sqlite>` in `sqlite.rs`, `impl
//! Engine<Postgres>` in `pg.rs`) calls the hooks below (`ensure_open`,
//! `mark_dirty`, `check_transaction_state`, `statement_failed`).

use std::cell::{Cell, OnceCell};
use std::fmt;

use scopeguard::ScopeGuard;

use crate::control::TransactionControl;
use crate::error::{Breakage, DatabaseError};

use crate::conflict::ConflictHandler;
use crate::overrides::Override;
use crate::trace;
use crate::{Error, Mode, Step};

/// A hook queued by [`Transaction::on_commit`](crate::Transaction::on_commit).
pub(crate) type Hook = Box<dyn FnOnce() + Send + 'static>;

/// What a frame opened when it was entered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FrameScope {
    /// An autocommit block: no transaction, statements commit as they run.
    NoTransaction,
    /// The outermost transaction-mode block: `BEGIN` … `COMMIT`/`ROLLBACK`.
    Transaction,
    /// A nested block: `SAVEPOINT` … `RELEASE`/`ROLLBACK TO`. Its savepoint's
    /// depth is the frame's index in the stack.
    Savepoint,
}

/// One running block.
#[derive(Debug)]
pub(crate) struct Frame {
    pub(crate) mode: Mode,
    pub(crate) scope: FrameScope,
    /// A statement that is not read-only ran (or was prepared) since the
    /// block began or last committed or rolled back. A prepared statement
    /// borrows the handle, so it cannot outlive a commit, a rollback or a
    /// nested block: marking at prepare time misses nothing.
    dirty: Cell<bool>,
    /// A known read ran since the block began or last committed or rolled
    /// back, here or in a nested block released into this one. On
    /// PostgreSQL a read may write (a `SELECT` of a writing function), so a
    /// manual block that ends without known writes asks the server then
    /// whether the transaction kept rows it wrote since its count
    /// (`rows`, see `RowCounts`).
    read: Cell<bool>,
    /// The server's counts of rows the transaction wrote, as this block
    /// tracks them (PostgreSQL; never taken on SQLite).
    rows: RowCounts,
    /// Index in `hooks` where this frame's uncommitted hooks start.
    hooks_mark: usize,
    /// Whether the frame's transaction is open. Only an outermost manual
    /// block is ever closed while running: after `commit()` or `rollback()`
    /// it begins again lazily, at its next statement.
    open: Cell<bool>,
    /// A statement failed in this block while its transaction was open, on a
    /// backend where that aborts the transaction (PostgreSQL): the block can
    /// only roll back.
    failed: Cell<bool>,
    /// The block rolls back at its end even if its closure returns `Ok`
    /// (`set_rollback(true)`, or a test transaction).
    rollback: Cell<bool>,
    /// A test transaction: the mark above cannot be cleared.
    always_rollback: bool,
}

/// What a frame knows of the server's count of rows the transaction wrote
/// (`TransactionControl::rows_written`: inserted, updated and deleted, over every table;
/// it only grows within a transaction, and it counts the rows of savepoints
/// rolled back too). A clean manual block uses it to learn, at its end,
/// whether a read wrote a row it did not keep (see `Frame::read`): rows
/// written since `before_read`, less those that savepoints nested in it
/// rolled back since (`rolled_back_since_read`). To know the latter, a
/// savepoint opened while a block below has counted takes the count too
/// (`at_savepoint`), and so does its rollback (`Engine::count_rolled_back`).
/// Nothing here is counted unless a clean manual block read, so other
/// blocks pay nothing.
#[derive(Debug, Default)]
struct RowCounts {
    /// A clean manual block: the count just before the first known read
    /// that ran in it or in a block nested in it, since it began or last
    /// committed or rolled back. `None` until then, and again when the
    /// nested block that read rolled back (everything it read is undone).
    before_read: Cell<Option<i64>>,
    /// Of the rows written since `before_read`, how many savepoints nested
    /// in this block rolled back.
    rolled_back_since_read: Cell<i64>,
    /// A savepoint: the count when it was opened (or opened again by a
    /// manual `commit()`), taken only when a block below had counted then.
    /// `None` means no block below had: every count below was taken while
    /// the savepoint was open.
    at_savepoint: Cell<Option<i64>>,
    /// Of the rows written since `at_savepoint`, how many blocks nested in
    /// this one (or a manual `rollback()` of this one) rolled back already.
    rolled_back_inside: Cell<i64>,
}

impl RowCounts {
    fn rolled_back_inside_add(&self, rows: i64) {
        self.rolled_back_inside
            .set(self.rolled_back_inside.get() + rows);
    }
}

impl Frame {
    /// A clean manual block that counted (`RowCounts::before_read`): the
    /// only kind of block whose count can still change how it ends. A
    /// dirty block ends with `PendingCommitRollback` or a `commit()`
    /// whatever the count says, and only `reset_top_frame` makes it clean
    /// again (forgetting its count), so its count is moot: nothing is
    /// counted for it.
    fn counts_rows(&self) -> bool {
        self.rows.before_read.get().is_some() && !self.dirty.get()
    }

    /// A nested block released (or committed by a manual `commit()`) into
    /// `self`: what it wrote, read and rolled back is now the parent's.
    fn take_up(&self, released: &Frame) {
        self.dirty.set(self.dirty.get() || released.dirty.get());
        self.read.set(self.read.get() || released.read.get());
        self.rows
            .rolled_back_inside_add(released.rows.rolled_back_inside.get());
    }
}

#[cfg(all(test, feature = "postgres"))]
thread_local! {
    /// Tests only: the next count of rows written on this thread fails
    /// on the server (`Engine::count_rows_written`).
    pub(crate) static FAIL_NEXT_COUNT: Cell<bool> = const { Cell::new(false) };
}

/// The three statements that manage one nesting level's savepoint.
#[derive(Debug)]
pub(crate) struct SavepointSql {
    pub(crate) open: String,
    pub(crate) release: String,
    pub(crate) rollback_to: String,
}

/// Savepoint SQL by nesting depth, built by the backend the first time a
/// depth is reached and reused after that, so a nested block allocates
/// nothing once warm.
#[derive(Debug, Default)]
pub(crate) struct SavepointCache {
    by_depth: Vec<SavepointSql>,
}

impl SavepointCache {
    /// How many depths have their SQL built.
    #[inline]
    pub(crate) fn depths(&self) -> usize {
        self.by_depth.len()
    }

    /// Every savepoint statement built so far.
    pub(crate) fn texts(&self) -> impl Iterator<Item = &str> {
        self.by_depth
            .iter()
            .flat_map(|sql| [&*sql.open, &*sql.release, &*sql.rollback_to])
    }

    pub(crate) fn get<B: TransactionControl>(&mut self, depth: usize) -> &SavepointSql {
        while self.by_depth.len() <= depth {
            let (open, release, rollback_to) = B::savepoint_sql(self.by_depth.len());
            self.by_depth.push(SavepointSql {
                open,
                release,
                rollback_to,
            });
        }
        &self.by_depth[depth]
    }

    /// Replaces the `SAVEPOINT` statement of `depth`, so a test can make the
    /// server reject it.
    #[cfg(all(test, feature = "postgres"))]
    pub(crate) fn replace_open<B: TransactionControl>(&mut self, depth: usize, open: &str) {
        self.get::<B>(depth);
        open.clone_into(&mut self.by_depth[depth].open);
    }
}

/// What `commit()` and `rollback()` need to know about the manual block
/// they act on, read once at the start.
#[derive(Debug, Clone, Copy)]
struct ManualFrame {
    /// The frame's index, which is also its savepoint's depth.
    depth: usize,
    scope: FrameScope,
    hooks_mark: usize,
    open: bool,
    failed: bool,
    rollback: bool,
}

/// How a frame ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Commit (outermost) or release into the parent (nested).
    Keep,
    /// Roll back the frame's work.
    Discard,
}

/// The block engine: one connection and the state of the blocks running on
/// it. A [`TransactionManager`](crate::TransactionManager) owns one; a
/// [`Transaction`](crate::Transaction) handle borrows it for its block.
///
/// `pub` in this private module because the record seam's methods take
/// one (`store::RecordStore`'s, and the hidden
/// [`ClauseParams::query_all`](crate::ClauseParams)); it cannot be named
/// from outside the crate, no public item hands one out (`Scope`'s
/// accessors are on a crate-private trait), so those methods cannot be
/// called there, and it is hidden from the documentation. Its bound is on
/// the crate-private `TransactionControl`, hence `private_bounds` here and
/// on its `impl`s.
#[doc(hidden)]
#[allow(private_bounds)]
pub struct Engine<B: TransactionControl> {
    pub(crate) conn: B::Connection,
    /// The running blocks, outermost first.
    pub(crate) frames: Vec<Frame>,
    /// Hooks waiting for the outermost commit, in the order they were added.
    pub(crate) hooks: Vec<Hook>,
    /// Index of the frame that opened the transaction, if one is open.
    pub(crate) txn_root: Option<usize>,
    /// Set when the transaction ended behind our back; cleared when the
    /// outermost block ends.
    pub(crate) transaction_lost: Cell<bool>,
    /// Why the manager is broken, if a rollback failed.
    pub(crate) broken: OnceCell<Breakage>,
    pub(crate) block_options: B::BeginOptions,
    /// The options the running outermost block began with (a manual block
    /// begins again with it after a commit).
    pub(crate) active_options: B::BeginOptions,
    pub(crate) savepoints: SavepointCache,
    /// Whether the engine began a transaction it has not ended, for backends
    /// that cannot say so themselves (PostgreSQL).
    pub(crate) tracked_open: Cell<bool>,
    /// Set when the connection to the server was lost: the manager refuses
    /// all work, and only a new manager helps.
    pub(crate) connection_lost: Cell<bool>,
    /// Active `disable_concurrency` / `disable_version_increment` scopes.
    pub(crate) concurrency_overrides: Vec<Override>,
    /// Told of every version conflict before it is returned.
    pub(crate) conflict_handler: Option<ConflictHandler>,
    /// The database reported the transaction state the frames expect at
    /// the end of the last statement txmanager ran, and nothing but
    /// txmanager's own watched statements and control statements has run
    /// since: the checks before a statement, at a block's start and before
    /// its commit can skip asking again (see `block.rs`). Never set on a
    /// backend that cannot report the state (PostgreSQL).
    pub(crate) state_checked: Cell<bool>,
    /// SQL that txmanager does not watch may run until the top block ends:
    /// a statement was prepared for the caller, or the raw connection
    /// lent. While set, every check asks the database.
    pub(crate) unwatched_sql: Cell<bool>,
    /// Set while a record operation of several statements runs in a
    /// transaction the engine opened for it alone, outside any block's
    /// (`all_or_nothing`).
    pub(crate) internal_transaction: Cell<bool>,
}

impl<B: TransactionControl> fmt::Debug for Engine<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine")
            .field("depth", &self.frames.len())
            .field("broken", &self.broken)
            .finish_non_exhaustive()
    }
}

#[allow(private_bounds)] // see `Engine`
impl<B: TransactionControl> Engine<B> {
    /// An engine around a connection its backend has opened and configured.
    pub(crate) fn new(conn: B::Connection, options: B::BeginOptions) -> Self {
        Engine {
            conn,
            frames: Vec::new(),
            hooks: Vec::new(),
            txn_root: None,
            transaction_lost: Cell::new(false),
            broken: OnceCell::new(),
            block_options: options,
            active_options: options,
            savepoints: SavepointCache::default(),
            tracked_open: Cell::new(false),
            connection_lost: Cell::new(false),
            concurrency_overrides: Vec::new(),
            conflict_handler: None,
            state_checked: Cell::new(false),
            unwatched_sql: Cell::new(false),
            internal_transaction: Cell::new(false),
        }
    }

    /// Reports a conflict to the handler, if there is one.
    #[cold]
    pub(crate) fn report_conflict(&self, err: &Error) {
        if let (Some(handler), Some(conflict)) = (&self.conflict_handler, err.conflict()) {
            handler(&conflict);
        }
    }
}

#[allow(private_bounds)] // see `Engine`
impl<B: TransactionControl> Engine<B> {
    /// Runs `f` as a block in `mode`: the single code path behind every mode
    /// method, outermost or nested. `options` says how to `BEGIN` if this
    /// block opens the transaction (`None`: the manager's default);
    /// `always_rollback` makes it a test transaction. `f` gets the engine
    /// back: `transaction.rs` wraps it in the block's handle.
    #[inline(always)]
    pub(crate) fn run_block<T, E, F>(
        &mut self,
        mode: Mode,
        options: Option<B::BeginOptions>,
        always_rollback: bool,
        f: F,
    ) -> Result<T, E>
    where
        F: FnOnce(&mut Self) -> Result<T, E>,
        E: From<Error>,
    {
        let span = trace::block(mode, self.frames.len());
        self.enter(mode, options, always_rollback)
            .inspect_err(|err| span.failed(err))?;
        // From here on the frame is open; the guard rolls it back on every
        // exit that does not defuse it, a panic in `f` included.
        let mut guard = scopeguard::guard(self, |tm| tm.abandon());
        let result = f(&mut guard);
        let tm = ScopeGuard::into_inner(guard);
        match result {
            Ok(value) => {
                let hooks = tm.finish_ok().inspect_err(|err| span.failed(err))?;
                span.outcome("ok");
                run_hooks(hooks);
                Ok(value)
            }
            Err(err) => {
                // The caller's error wins; a failed rollback marks the
                // manager broken, and a failed count of the rows written
                // (PostgreSQL) poisons the enclosing block: both are told
                // to the trace, so that the enclosing block's bare
                // "transaction is aborted" can be traced to its cause.
                if let Err(dropped) = tm.finish(Outcome::Discard) {
                    trace::cleanup_failed(&dropped);
                }
                span.outcome("rolled_back");
                Err(err)
            }
        }
    }

    fn enter(
        &mut self,
        mode: Mode,
        options: Option<B::BeginOptions>,
        always_rollback: bool,
    ) -> Result<(), Error> {
        self.check_usable()?;
        let depth = self.frames.len();
        let rows = RowCounts::default();
        let scope = match (mode, self.txn_root.is_some()) {
            (Mode::Autocommit, true) => {
                let enclosing = self.frames.last().map_or(Mode::CommitOnSuccess, |f| f.mode);
                return Err(Error::AutocommitInTransaction { enclosing });
            }
            (Mode::Autocommit, false) => {
                self.roll_back_stray_transaction()?;
                FrameScope::NoTransaction
            }
            (_, false) => {
                self.roll_back_stray_transaction()?;
                self.active_options = options.unwrap_or(self.block_options);
                self.begin()?;
                self.txn_root = Some(depth);
                FrameScope::Transaction
            }
            (_, true) => {
                self.ensure_open()?;
                if depth >= self.savepoints.depths() {
                    B::savepoint_depth_reached(&self.conn, depth);
                }
                // Before the savepoint: the same count, and a failure to
                // take it leaves no savepoint behind.
                rows.at_savepoint.set(self.rows_written_if_counted(depth)?);
                let sql = &self.savepoints.get::<B>(depth).open;
                if let Err(source) = run_control::<B>(&self.conn, &self.state_checked, sql) {
                    // On PostgreSQL a failed SAVEPOINT aborts the enclosing
                    // transaction too: the enclosing block can only roll back.
                    self.poison_top_frame(&source);
                    return Err(Error::StepFailed {
                        step: Step::Savepoint,
                        source,
                    });
                }
                trace::savepoint("opened", depth);
                FrameScope::Savepoint
            }
        };
        self.frames.push(Frame {
            mode,
            scope,
            dirty: Cell::new(false),
            read: Cell::new(false),
            rows,
            hooks_mark: self.hooks.len(),
            open: Cell::new(scope != FrameScope::NoTransaction),
            failed: Cell::new(false),
            rollback: Cell::new(always_rollback),
            always_rollback,
        });
        // Statements prepared before are gone: this block's handle borrows
        // the enclosing one (or the manager) mutably.
        self.unwatched_sql.set(false);
        Ok(())
    }

    /// Ends the top frame after its closure returned `Ok`.
    fn finish_ok(&mut self) -> Result<Vec<Hook>, Error> {
        let Some(frame) = self.frames.last() else {
            return Err(self.lost_frame());
        };
        if frame.rollback.get() {
            // Marked to roll back (set_rollback(true), or a test
            // transaction): the closure's `Ok` is returned as it is, nothing
            // of the block is kept, and its hooks never run.
            return self.finish(Outcome::Discard);
        }
        if frame.failed.get() {
            // The database aborted this block's transaction (PostgreSQL), and
            // the closure swallowed the error: a COMMIT would "succeed" while
            // discarding everything, so roll back and say why.
            self.finish(Outcome::Discard)?;
            return Err(Error::BlockAborted);
        }
        if frame.mode == Mode::CommitManually
            && (frame.dirty.get()
                || frame.open.get() && frame.read.get() && self.wrote_since_read(frame))
        {
            self.finish(Outcome::Discard)?;
            return Err(Error::PendingCommitRollback);
        }
        // A clean manual block has nothing to keep: closing it with a
        // rollback releases its read lock and drops hooks it never committed.
        let outcome = if frame.mode == Mode::CommitManually {
            Outcome::Discard
        } else {
            Outcome::Keep
        };
        self.finish(outcome)
    }

    /// Whether the transaction wrote rows since the first known read of
    /// `frame`, a clean manual block (see `Frame::read`): one round trip,
    /// asked only when such a block ends after a known read. A write that
    /// dirty tracking missed (a `SELECT` of a writing function, `EXPLAIN
    /// ANALYZE` of a write) moves the count; a row lock (`SELECT … FOR
    /// UPDATE`) does not. If it cannot be asked, or the server cannot
    /// tell (`TransactionControl::rows_written`), the answer is yes.
    #[cold]
    fn wrote_since_read(&self, frame: &Frame) -> bool {
        let rows = &frame.rows;
        rows.before_read
            .get()
            .is_none_or(|before| match B::rows_written(&self.conn) {
                Ok(Some(now)) => now - before != rows.rolled_back_since_read.get(),
                Ok(None) => {
                    trace::rows_uncounted();
                    true
                }
                Err(_) => true,
            })
    }

    /// The transaction's rows written now, if a clean block among
    /// `frames[..below]` (the blocks below a savepoint about to open) has
    /// counted them (`Frame::counts_rows`): the savepoint must know where
    /// its rollback starts. `None`, and no round trip, otherwise, or
    /// when the top block was aborted (its savepoint fails with its own
    /// error; no count could run there).
    ///
    /// # Errors
    ///
    /// [`Error::Statement`] when the count fails.
    #[inline]
    fn rows_written_if_counted(&self, below: usize) -> Result<Option<i64>, Error> {
        let below = self.frames.get(..below).unwrap_or(&self.frames);
        let counted = below.iter().any(Frame::counts_rows);
        if !counted || self.frames.last().is_some_and(|f| f.failed.get()) {
            return Ok(None);
        }
        let rows = self.count_rows_written()?;
        if rows.is_none() {
            self.distrust_counts();
        }
        Ok(rows)
    }

    /// One count of the rows the transaction wrote
    /// (`TransactionControl::rows_written`); `None` when the server cannot
    /// tell (`track_counts` off, or a count that fell): the caller then
    /// distrusts the counts (`distrust_counts`), as when one fails.
    #[cold]
    fn count_rows_written(&self) -> Result<Option<i64>, Error> {
        #[cfg(all(test, feature = "postgres"))]
        if FAIL_NEXT_COUNT.with(|fail| fail.replace(false)) {
            // A real server error in the count's place (as a cancel or a
            // timeout would give): it aborts the transaction the same way.
            if let Err(source) = B::run_control(&self.conn, "SELECT txmanager_count_refused()") {
                return Err(self.statement_failed(B::ROWS_WRITTEN_SQL, source));
            }
        }
        let rows = B::rows_written(&self.conn)
            .map_err(|source| self.statement_failed(B::ROWS_WRITTEN_SQL, source))?;
        if rows.is_none() {
            trace::rows_uncounted();
        }
        Ok(rows)
    }

    /// A count that the blocks that counted needed could not be taken, or
    /// the server could not tell it: they cannot tell any more what a
    /// rollback undid, so they count as dirty (none of them can end `Ok`
    /// on a write it did not keep), and count no more.
    #[cold]
    fn distrust_counts(&self) {
        for frame in self.frames.iter().filter(|f| f.counts_rows()) {
            frame.dirty.set(true);
        }
    }

    /// After a savepoint was rolled back (`rolled_back` is its frame's
    /// counts; the blocks below it are `frames[..below]`): what every
    /// block below that counted learns. A count taken while the savepoint
    /// was open belongs to reads the rollback undid: it is forgotten (the
    /// next read counts again). A count taken before it opened (at most
    /// `at_savepoint`) learns how many of its rows the savepoint rolled
    /// back now: the rows written since `at_savepoint`, less those rolled
    /// back inside it already. That costs one round trip, only when such a
    /// count exists. Returns the rows written since `at_savepoint` (all of
    /// them rolled back now) when it counted.
    ///
    /// # Errors
    ///
    /// [`Error::Statement`] when the count fails; the blocks that cannot
    /// tell any more are marked dirty, so none of them can end `Ok` on a
    /// write it did not keep.
    fn count_rolled_back(
        &self,
        rolled_back: &RowCounts,
        below: usize,
    ) -> Result<Option<i64>, Error> {
        let below = self.frames.get(..below).unwrap_or(&self.frames);
        let at_savepoint = rolled_back.at_savepoint.get();
        let mut counted_before = false;
        for frame in below.iter().filter(|f| f.counts_rows()) {
            match (frame.rows.before_read.get(), at_savepoint) {
                (Some(before), Some(at)) if before <= at => counted_before = true,
                _ => {
                    frame.rows.before_read.set(None);
                    frame.rows.rolled_back_since_read.set(0);
                }
            }
        }
        let Some(at_savepoint) = at_savepoint.filter(|_| counted_before) else {
            return Ok(None);
        };
        let Some(now) = self
            .count_rows_written()
            .inspect_err(|_| self.distrust_counts())?
        else {
            self.distrust_counts();
            return Ok(None);
        };
        let undone = now - at_savepoint - rolled_back.rolled_back_inside.get();
        for frame in below.iter().filter(|f| f.counts_rows()) {
            let since_read = &frame.rows.rolled_back_since_read;
            since_read.set(since_read.get() + undone);
        }
        Ok(Some(now - at_savepoint))
    }

    /// Called by the guard when a block's closure panics. Errors are not
    /// reported (we are unwinding) but a failed rollback still breaks the manager.
    fn abandon(&mut self) {
        trace::panicked();
        let _ = self.finish(Outcome::Discard);
    }

    /// Pops the top frame and commits, releases or rolls back its work.
    /// Returns the hooks to run when an outermost commit succeeded.
    fn finish(&mut self, outcome: Outcome) -> Result<Vec<Hook>, Error> {
        self.notice_lost_transaction();
        let Some(frame) = self.frames.pop() else {
            return Err(self.lost_frame());
        };
        // Whatever the block prepared borrowed its handle, which is gone.
        self.unwatched_sql.set(false);
        let depth = self.frames.len();
        match frame.scope {
            FrameScope::NoTransaction => self.roll_back_stray_transaction().map(|()| Vec::new()),
            FrameScope::Savepoint => self
                .finish_savepoint(&frame, depth, outcome)
                .map(|()| Vec::new()),
            FrameScope::Transaction => {
                self.txn_root = None;
                let result = self.finish_transaction(&frame, outcome);
                self.transaction_lost.set(false);
                result
            }
        }
    }

    fn finish_savepoint(
        &mut self,
        frame: &Frame,
        depth: usize,
        outcome: Outcome,
    ) -> Result<(), Error> {
        if let Err(err) = self.check_usable() {
            // No savepoint SQL may run now: with the transaction gone, a
            // SAVEPOINT statement would even open a new one.
            self.hooks.truncate(frame.hooks_mark);
            return Err(err);
        }
        if outcome == Outcome::Keep {
            let release = &self.savepoints.get::<B>(depth).release;
            match run_control::<B>(&self.conn, &self.state_checked, release) {
                Ok(()) => {
                    trace::savepoint("released", depth);
                    if let Some(parent) = self.frames.last() {
                        parent.take_up(frame);
                    }
                    return Ok(());
                }
                Err(source) => {
                    let _ = self.roll_back_savepoint(depth);
                    self.hooks.truncate(frame.hooks_mark);
                    return Err(Error::StepFailed {
                        step: Step::ReleaseSavepoint,
                        source,
                    });
                }
            }
        }
        self.hooks.truncate(frame.hooks_mark);
        self.roll_back_savepoint(depth)?;
        if let Some(undone) = self.count_rolled_back(&frame.rows, depth)?
            && let Some(parent) = self.frames.last()
        {
            parent.rows.rolled_back_inside_add(undone);
        }
        Ok(())
    }

    /// `ROLLBACK TO` then `RELEASE`, as rusqlite's `Savepoint` does; a
    /// failure breaks the manager, since the savepoint's work may remain.
    fn roll_back_savepoint(&mut self, depth: usize) -> Result<(), Error> {
        trace::savepoint("rolled back", depth);
        let sql = self.savepoints.get::<B>(depth);
        let checked = &self.state_checked;
        let result = run_control::<B>(&self.conn, checked, &sql.rollback_to)
            .map_err(|source| (Step::RollbackToSavepoint, source))
            .and_then(|()| {
                run_control::<B>(&self.conn, checked, &sql.release)
                    .map_err(|source| (Step::ReleaseSavepoint, source))
            });
        result.map_err(|(step, source)| self.break_on(step, source))
    }

    fn finish_transaction(&mut self, frame: &Frame, outcome: Outcome) -> Result<Vec<Hook>, Error> {
        if let Err(err) = self.check_usable() {
            self.hooks.truncate(frame.hooks_mark);
            let _ = self.roll_back_if_open();
            return Err(err);
        }
        if outcome == Outcome::Discard || !frame.open.get() {
            trace::rolled_back(self.frames.len());
            self.hooks.truncate(frame.hooks_mark);
            return self.roll_back_if_open().map(|()| Vec::new());
        }
        match self.run_commit() {
            Ok(()) => Ok(self.take_hooks(frame.hooks_mark)),
            Err(source) => {
                self.hooks.truncate(frame.hooks_mark);
                Err(self.commit_failed(source))
            }
        }
    }

    /// `COMMIT`. Afterwards no transaction is open: it committed, or the
    /// database rolled it back (PostgreSQL), or it is still open and
    /// `commit_failed` rolls it back (SQLite, where the backend says so).
    fn run_commit(&self) -> Result<(), DatabaseError> {
        let result = B::commit(&self.conn);
        self.tracked_open.set(false);
        if result.is_err() {
            self.state_checked.set(false);
        }
        result
    }

    /// The error for a failed `COMMIT`, after rolling back what is left. A
    /// lost connection, or PostgreSQL's 40003, leaves the outcome unknown:
    /// the manager is broken and the error says so, so that no retry runs
    /// the work twice.
    fn commit_failed(&self, source: DatabaseError) -> Error {
        if source.is_connection_lost() || source.sqlstate() == Some("40003") {
            self.break_with(
                format!(
                    "the outcome of a COMMIT is unknown ({}); check what was committed",
                    source.summary()
                ),
                &source,
            );
            return Error::CommitOutcomeUnknown { source };
        }
        // A failed rollback wins: its error says the manager is broken, which
        // `CommitFailed` ("rolled back") would not.
        match self.roll_back_if_open() {
            Ok(()) => Error::CommitFailed { source },
            Err(rollback_failed) => rollback_failed,
        }
    }

    /// Whether a transaction is open: what the database says if it can say,
    /// else what the engine itself began and has not ended.
    #[inline]
    fn transaction_open(&self) -> bool {
        B::in_transaction(&self.conn).unwrap_or_else(|| self.tracked_open.get())
    }

    /// Rolls back the open transaction, if one is open: the one rollback
    /// of a whole transaction that every path uses. If it fails the
    /// connection may still be inside the transaction, so the manager is
    /// broken until `reset()` and the error is `StepFailed { Rollback }`.
    pub(crate) fn roll_back_if_open(&self) -> Result<(), Error> {
        if !self.transaction_open() {
            return Ok(());
        }
        run_control::<B>(&self.conn, &self.state_checked, B::rollback_sql())
            .map(|()| self.tracked_open.set(false))
            .map_err(|source| self.break_on(Step::Rollback, source))
    }

    /// Runs `f`, a record operation of several statements that writes and
    /// then reads (a trigger-kind save: the write, then the version the
    /// trigger set; `save_and_reload`), so that it commits whole or not at
    /// all. Inside a block's transaction `f` just runs there. Outside one
    /// (on the manager, or in an autocommit block) it runs in a transaction
    /// of its own: `BEGIN` with the default block options, `COMMIT` when
    /// `f` returns `Ok`; a rollback when it returns `Err` or panics (its
    /// error wins), and when the `COMMIT` fails (as a block's). Operations
    /// of one statement never come here: they keep their cost.
    ///
    /// A statement the server no longer knows (PostgreSQL after `DISCARD
    /// ALL` or DDL: the backend's `is_stale_statement`) fails the first
    /// run, which is rolled back; the statement is then prepared afresh,
    /// and `f` runs once more in a new transaction, as a single statement
    /// outside a block is re-prepared and run again.
    pub(crate) fn all_or_nothing<T>(&self, f: impl Fn() -> Result<T, Error>) -> Result<T, Error> {
        if self.txn_root.is_some() || self.internal_transaction.get() {
            return f();
        }
        match self.all_or_nothing_once(&f) {
            Err(err)
                if err.database_error().is_some_and(B::is_stale_statement)
                    && self.check_usable().is_ok() =>
            {
                self.all_or_nothing_once(&f)
            }
            result => result,
        }
    }

    /// One run of `all_or_nothing`'s transaction.
    fn all_or_nothing_once<T>(&self, f: &impl Fn() -> Result<T, Error>) -> Result<T, Error> {
        self.check_usable()?;
        self.roll_back_stray_transaction()?;
        // The default options, not the manager's: the statements run as
        // they would have in autocommit mode (a read-write transaction at
        // the server's default isolation; SQLite's `BEGIN IMMEDIATE`, the
        // write lock first), only together.
        self.begin_with(B::BeginOptions::default())?;
        self.internal_transaction.set(true);
        // Rolls back on every exit that does not defuse it: an error (which
        // wins over a failed rollback, and that marks the manager broken),
        // and a panic in `f` (a record's binding code, a conflict handler).
        let guard = scopeguard::guard(self, |tm| {
            let _ = tm.end_internal_transaction();
        });
        let value = f().and_then(|value| guard.check_usable().map(|()| value))?;
        let tm = ScopeGuard::into_inner(guard);
        tm.internal_transaction.set(false);
        tm.run_commit()
            .map(|()| value)
            .map_err(|source| tm.commit_failed(source))
    }

    /// Rolls back the transaction of `all_or_nothing`, if it is still
    /// open, and forgets it.
    fn end_internal_transaction(&self) -> Result<(), Error> {
        self.internal_transaction.set(false);
        self.transaction_lost.set(false);
        self.roll_back_if_open()
    }

    /// `commit()` of a manual block.
    pub(crate) fn manual_commit(&mut self) -> Result<(), Error> {
        let ManualFrame {
            depth,
            scope,
            hooks_mark,
            open,
            failed,
            rollback,
        } = self.manual_frame("commit")?;
        if rollback {
            return Err(Error::RollbackMarkRefused {
                operation: "commit()",
                reason: "this block is marked to roll back; clear the mark with \
                         set_rollback(false) first, or let the block roll back",
            });
        }
        if failed {
            // The database aborted the work since the last commit: commit()
            // cannot keep it, so roll it back and say so, never `Ok`.
            self.manual_rollback()?;
            return Err(Error::BlockAborted);
        }
        match scope {
            FrameScope::Transaction if open => match self.run_commit() {
                Ok(()) => {
                    self.reset_top_frame(false);
                    run_hooks(self.take_hooks(hooks_mark));
                    Ok(())
                }
                Err(source) => {
                    self.hooks.truncate(hooks_mark);
                    self.reset_top_frame(false);
                    Err(self.commit_failed(source))
                }
            },
            FrameScope::Savepoint => {
                // A savepoint anew: its rollback starts at this count.
                // Taken before the RELEASE (which writes no rows, so the
                // number is the same), so that a failure to take it
                // releases nothing: `commit()` returns its error, and the
                // block (poisoned by it) can only roll back.
                let at_savepoint = self.rows_written_if_counted(depth)?;
                let sql = self.savepoints.get::<B>(depth);
                let checked = &self.state_checked;
                run_control::<B>(&self.conn, checked, &sql.release)
                    .map_err(|source| (Step::ReleaseSavepoint, source))
                    .and_then(|()| {
                        run_control::<B>(&self.conn, checked, &sql.open)
                            .map_err(|source| (Step::Savepoint, source))
                    })
                    .map_err(|(step, source)| self.break_on(step, source))?;
                if let (Some(parent), Some(top)) = (
                    depth.checked_sub(1).and_then(|i| self.frames.get(i)),
                    self.frames.last(),
                ) {
                    parent.take_up(top);
                }
                self.reset_top_frame(true);
                if let Some(top) = self.frames.last_mut() {
                    top.hooks_mark = self.hooks.len();
                    top.rows.at_savepoint.set(at_savepoint);
                    top.rows.rolled_back_inside.set(0);
                }
                Ok(())
            }
            // Nothing written since the last commit, so no transaction is
            // open: still a commit point for the hooks queued since then.
            FrameScope::Transaction => {
                run_hooks(self.take_hooks(hooks_mark));
                Ok(())
            }
            FrameScope::NoTransaction => Ok(()),
        }
    }

    /// `rollback()` of a manual block.
    pub(crate) fn manual_rollback(&mut self) -> Result<(), Error> {
        let ManualFrame {
            depth,
            scope,
            hooks_mark,
            open,
            ..
        } = self.manual_frame("rollback")?;
        self.hooks.truncate(hooks_mark);
        match scope {
            FrameScope::Transaction if open => {
                self.reset_top_frame(false);
                self.roll_back_if_open()
            }
            FrameScope::Savepoint => {
                let sql = &self.savepoints.get::<B>(depth).rollback_to;
                run_control::<B>(&self.conn, &self.state_checked, sql)
                    .map_err(|source| self.break_on(Step::RollbackToSavepoint, source))?;
                self.reset_top_frame(true);
                // The savepoint stays, and everything written in it so far
                // is undone.
                if let Some(top) = self.frames.last()
                    && let Some(undone) = self.count_rolled_back(&top.rows, depth)?
                {
                    top.rows.rolled_back_inside.set(undone);
                }
                Ok(())
            }
            FrameScope::Transaction | FrameScope::NoTransaction => Ok(()),
        }
    }

    /// The top frame's facts, if it is a manual block that may commit.
    fn manual_frame(&self, operation: &'static str) -> Result<ManualFrame, Error> {
        let Some(frame) = self.frames.last() else {
            return Err(self.lost_frame());
        };
        if frame.mode != Mode::CommitManually {
            return Err(Error::NotInManualMode {
                operation,
                mode: frame.mode,
            });
        }
        self.check_usable()?;
        if frame.open.get() && !self.state_trusted() && !self.transaction_open() {
            self.transaction_lost.set(true);
            return Err(Error::TransactionClosedUnderneath { statement: None });
        }
        Ok(ManualFrame {
            depth: self.frames.len() - 1,
            scope: frame.scope,
            hooks_mark: frame.hooks_mark,
            open: frame.open.get(),
            failed: frame.failed.get(),
            rollback: frame.rollback.get(),
        })
    }

    /// After a manual commit or rollback: clean, and open or not.
    fn reset_top_frame(&self, open: bool) {
        if let Some(top) = self.frames.last() {
            top.dirty.set(false);
            top.read.set(false);
            top.rows.before_read.set(None);
            top.rows.rolled_back_since_read.set(0);
            top.open.set(open);
            top.failed.set(false);
        }
    }

    /// `set_rollback()`: marks the top block to roll back at its end, or
    /// clears the mark.
    pub(crate) fn set_rollback_mark(&self, rollback: bool) -> Result<(), Error> {
        let Some(frame) = self.frames.last() else {
            return Err(self.lost_frame());
        };
        if frame.scope == FrameScope::NoTransaction {
            return Err(Error::RollbackMarkRefused {
                operation: if rollback {
                    "set_rollback(true)"
                } else {
                    "set_rollback(false)"
                },
                reason: "an autocommit block has no transaction to roll back; \
                         use commit_on_success",
            });
        }
        if frame.always_rollback && !rollback {
            return Err(Error::RollbackMarkRefused {
                operation: "set_rollback(false)",
                reason: "a test transaction always rolls back",
            });
        }
        frame.rollback.set(rollback);
        Ok(())
    }

    /// Whether the top block is marked to roll back at its end.
    pub(crate) fn top_rollback_marked(&self) -> bool {
        self.frames.last().is_some_and(|f| f.rollback.get())
    }

    /// Queues `hook` to run after the outermost commit, or runs it now when no
    /// transaction is open.
    pub(crate) fn queue_hook(&mut self, hook: Hook) {
        if self.txn_root.is_some() {
            self.hooks.push(hook);
        } else {
            hook();
        }
    }

    fn take_hooks(&mut self, from: usize) -> Vec<Hook> {
        if self.hooks.len() <= from {
            Vec::new()
        } else if from == 0 {
            std::mem::take(&mut self.hooks)
        } else {
            self.hooks.split_off(from)
        }
    }

    /// Before a statement of either backend: refuses work on a broken
    /// manager, and begins a lazily closed manual block.
    #[inline]
    pub(crate) fn before_statement(&self) -> Result<(), Error> {
        self.check_usable()?;
        self.ensure_open()
    }

    /// After a statement of either backend failed: a failure that aborts the
    /// transaction (PostgreSQL) poisons the innermost block, and a lost
    /// connection breaks the manager; the error carries the SQL.
    #[inline]
    pub(crate) fn statement_failed(&self, sql: &str, source: impl Into<DatabaseError>) -> Error {
        let source = source.into();
        if source.is_connection_lost() {
            self.connection_lost.set(true);
        } else {
            self.poison_top_frame(&source);
        }
        Error::statement(sql, source)
    }

    /// After `source` failed a statement (the user's or a control statement)
    /// inside the open transaction: on a backend where the server's errors
    /// abort the transaction (PostgreSQL), the innermost block can only roll
    /// back.
    #[inline]
    fn poison_top_frame(&self, source: &DatabaseError) {
        if B::ERROR_ABORTS_TRANSACTION
            && source.is_from_server()
            && self.block_transaction_open()
            && let Some(top) = self.frames.last()
        {
            top.failed.set(true);
        }
    }

    #[inline]
    pub(crate) fn mark_dirty(&self) {
        if let Some(top) = self.frames.last() {
            top.dirty.set(true);
        }
    }

    /// A known read is about to run in the top block (see `Frame::read`).
    /// Only PostgreSQL needs it: SQLite's dirty tracking is exact. Every
    /// clean manual block on the stack that has not counted the rows its
    /// transaction wrote yet counts them now, before the read runs (one
    /// round trip; none when no such block runs, so a read in a
    /// `commit_on_success` block costs nothing more).
    ///
    /// # Errors
    ///
    /// [`Error::Statement`] when the count fails (the read does not run).
    #[cfg(feature = "postgres")]
    #[inline]
    pub(crate) fn mark_read(&self) -> Result<(), Error> {
        let Some(top) = self.frames.last() else {
            return Ok(());
        };
        top.read.set(true);
        let uncounted = |f: &Frame| {
            f.mode == Mode::CommitManually && !f.dirty.get() && f.rows.before_read.get().is_none()
        };
        // In a block the server aborted, the read fails with its own SQL
        // (25P02), and the block can only roll back: nothing to count.
        if !top.failed.get() && self.frames.iter().any(uncounted) {
            let rows = self.count_rows_written()?;
            for frame in self.frames.iter().filter(|f| uncounted(f)) {
                // A count the server cannot tell: the block cannot know
                // whether its reads write, so it counts as having written.
                frame.dirty.set(frame.dirty.get() || rows.is_none());
                frame.rows.before_read.set(rows);
                frame.rows.rolled_back_since_read.set(0);
            }
        }
        Ok(())
    }

    /// Whether there is a block whose dirtiness a statement could change:
    /// the top block, and it is still clean.
    #[inline]
    pub(crate) fn top_is_clean(&self) -> bool {
        self.frames.last().is_some_and(|f| !f.dirty.get())
    }

    /// SQL that txmanager does not watch may run from now until the top
    /// block ends (a statement prepared for the caller, the raw connection
    /// lent): until then every check asks the database again.
    #[inline]
    pub(crate) fn expect_unwatched_sql(&self) {
        self.unwatched_sql.set(true);
        self.state_checked.set(false);
    }

    /// Whether the top block has uncommitted writes.
    pub(crate) fn top_is_dirty(&self) -> bool {
        self.frames.last().is_some_and(|f| f.dirty.get())
    }

    /// Refuses work on a broken manager or in a block whose transaction was
    /// ended behind our back.
    #[inline]
    pub(crate) fn check_usable(&self) -> Result<(), Error> {
        if self.connection_lost.get() {
            return Err(Error::Broken {
                reason: "the connection to the database was lost; nothing since the last \
                         commit was committed; open a new manager"
                    .to_owned(),
                source: None,
            });
        }
        if let Some(breakage) = self.broken.get() {
            return Err(breakage.error());
        }
        if self.transaction_lost.get() {
            return Err(Error::TransactionClosedUnderneath { statement: None });
        }
        Ok(())
    }

    /// Before every statement and savepoint inside a block: begins the
    /// outermost manual block again after its `commit()` or `rollback()`, at
    /// its first statement since; and refuses to run when the block's
    /// transaction already ended behind our back (a prepared statement the
    /// user ran that SQLite made end it: `INSERT OR ROLLBACK`, `ON CONFLICT
    /// ROLLBACK`, `RAISE(ROLLBACK)`, `SQLITE_FULL`), since the statement
    /// would otherwise run in autocommit mode and commit at once. The check
    /// is one call into SQLite (`sqlite3_get_autocommit`), none on PostgreSQL.
    #[inline]
    pub(crate) fn ensure_open(&self) -> Result<(), Error> {
        let Some(root) = self.txn_root.and_then(|i| self.frames.get(i)) else {
            return Ok(());
        };
        if !root.open.get() {
            self.begin()?;
            root.open.set(true);
        } else if !self.state_trusted() && B::in_transaction(&self.conn) == Some(false) {
            self.transaction_lost.set(true);
            return Err(Error::TransactionClosedUnderneath { statement: None });
        }
        Ok(())
    }

    fn begin(&self) -> Result<(), Error> {
        self.begin_with(self.active_options)
    }

    fn begin_with(&self, options: B::BeginOptions) -> Result<(), Error> {
        match run_control::<B>(&self.conn, &self.state_checked, B::begin_sql(options)) {
            Ok(()) => {
                self.tracked_open.set(true);
                if B::begin_found_transaction_open(&self.conn) {
                    // A transaction opened outside txmanager (a `BEGIN` that
                    // slipped past the control checks): the block would run
                    // inside it and commit its work too. Roll it back, and
                    // refuse the block, as for a stray transaction on SQLite.
                    self.roll_back_if_open()?;
                    return Err(Error::TransactionOpenedUnderneath { statement: None });
                }
                Ok(())
            }
            Err(source) => {
                if source.is_connection_lost() {
                    self.connection_lost.set(true);
                }
                Err(Error::StepFailed {
                    step: Step::Begin,
                    source,
                })
            }
        }
    }

    /// Whether the answer of the last check (`check_transaction_state`) can
    /// stand in for asking the database now. Debug builds ask anyway and
    /// assert that the two agree, so every test checks the invariant the
    /// shortcut rests on: no SQL ran unwatched since that check.
    #[inline(always)]
    fn state_trusted(&self) -> bool {
        let trusted = self.state_checked.get();
        debug_assert!(
            !trusted
                || B::in_transaction(&self.conn)
                    .is_none_or(|open| open == self.expects_open_transaction()),
            "txmanager bug: the transaction state trusted since the last check is not the database's"
        );
        debug_assert!(!(trusted && self.unwatched_sql.get()));
        trusted
    }

    #[inline]
    pub(crate) fn expects_open_transaction(&self) -> bool {
        self.block_transaction_open() || self.internal_transaction.get()
    }

    /// Whether a block's transaction is open (not the internal one of
    /// `all_or_nothing`).
    #[inline]
    fn block_transaction_open(&self) -> bool {
        self.txn_root
            .and_then(|i| self.frames.get(i))
            .is_some_and(|root| root.open.get())
    }

    /// Asks SQLite whether a transaction is open, and compares with what the
    /// frames say. A transaction that vanished marks the block lost; one that
    /// appeared in autocommit mode is rolled back at once.
    /// The one question asked after every statement (one call to
    /// `sqlite3_get_autocommit` on SQLite): when the answer matches, the
    /// checks before the next statement, at the next block's start and
    /// before a commit trust it, until SQL txmanager does not watch may run.
    #[inline(always)]
    pub(crate) fn check_transaction_state(&self, sql: &str) -> Result<(), Error> {
        let Some(open) = B::in_transaction(&self.conn) else {
            // The database cannot say (PostgreSQL): its backend refuses
            // transaction control before it runs instead.
            return Ok(());
        };
        let expected = self.expects_open_transaction();
        if open == expected {
            self.state_checked.set(!self.unwatched_sql.get());
            return Ok(());
        }
        self.transaction_state_changed(expected, sql)
    }

    /// The rare half of `check_transaction_state`: the transaction vanished
    /// or appeared under a statement.
    #[cold]
    #[inline(never)]
    fn transaction_state_changed(&self, expected: bool, sql: &str) -> Result<(), Error> {
        self.state_checked.set(false);
        if expected {
            self.transaction_lost.set(true);
            return Err(Error::TransactionClosedUnderneath {
                statement: Some(sql.to_owned()),
            });
        }
        self.roll_back_if_open()?;
        Err(Error::TransactionOpenedUnderneath {
            statement: Some(sql.to_owned()),
        })
    }

    /// At the end of a block, notices a transaction that ended behind our
    /// back through a statement txmanager did not run itself.
    #[inline]
    fn notice_lost_transaction(&self) {
        if !self.state_trusted() && self.expects_open_transaction() && !self.transaction_open() {
            self.transaction_lost.set(true);
        }
    }

    /// When a block starts outside any transaction, and when an autocommit
    /// block ends: a transaction that txmanager did not open (left by a
    /// statement compiled before the gate, or by the raw connection) is
    /// rolled back and reported, so the next block starts clean. If that
    /// rollback fails, the manager is broken until `reset()`.
    #[inline]
    fn roll_back_stray_transaction(&self) -> Result<(), Error> {
        // Called only where the frames expect no transaction: a checked
        // state is that.
        if self.state_trusted() || !self.transaction_open() {
            return Ok(());
        }
        self.roll_back_stray_transaction_now()
    }

    /// The rare half of `roll_back_stray_transaction`, kept out of line so
    /// the common check inlines into every block's entry.
    #[cold]
    #[inline(never)]
    fn roll_back_stray_transaction_now(&self) -> Result<(), Error> {
        self.roll_back_if_open()?;
        Err(Error::TransactionOpenedUnderneath { statement: None })
    }

    /// `reset()`: forgets every block and pending hook, rolls back whatever
    /// transaction is still open, and accepts work again. A lost connection
    /// cannot be reset.
    pub(crate) fn reset_engine(&mut self) -> Result<(), Error> {
        if self.connection_lost.get() {
            return self.check_usable();
        }
        self.frames.clear();
        self.hooks.clear();
        self.txn_root = None;
        self.transaction_lost.set(false);
        self.state_checked.set(false);
        self.unwatched_sql.set(false);
        // A backend that cannot say whether a transaction is open
        // (PostgreSQL) rolls back whatever the engine believes: if it
        // believed wrong, the connection holds no transaction after a reset
        // all the same (a `ROLLBACK` outside one is only a warning). One
        // `ROLLBACK` either way, never two.
        if B::in_transaction(&self.conn).is_none() {
            self.tracked_open.set(true);
        }
        self.roll_back_if_open()
    }

    /// Marks the manager broken after a failed rollback step and returns the
    /// error for that step. The first breakage's reason is kept.
    fn break_on(&self, step: Step, source: DatabaseError) -> Error {
        self.break_with(format!("{step} failed: {}", source.summary()), &source);
        Error::StepFailed { step, source }
    }

    /// Marks the manager broken for `reason`, unless it already is: the
    /// first breakage's reason is kept until `reset()`.
    pub(crate) fn break_with(&self, reason: String, source: &DatabaseError) {
        if self.broken.get().is_none() {
            let _ = self.broken.set(Breakage::new(reason, Some(source.clone())));
        }
    }

    /// The error for a frame stack that does not match the running blocks.
    /// Cannot happen through the public API; reported rather than panicking.
    fn lost_frame(&self) -> Error {
        Error::Broken {
            reason: "internal error: no running block matches this handle".to_owned(),
            source: None,
        }
    }
}

/// Runs one of the engine's control statements. A failed one may have left
/// the transaction in any state, so the next check asks the database again.
#[inline]
fn run_control<B: TransactionControl>(
    conn: &B::Connection,
    state_checked: &Cell<bool>,
    sql: &str,
) -> Result<(), DatabaseError> {
    B::run_control(conn, sql).inspect_err(|_| state_checked.set(false))
}

/// Runs hooks in order. A panicking hook propagates its panic; the hooks after
/// it are dropped without running. The manager's state is already settled.
/// A robust hook (see [`robust_hook`]) catches its own failure.
#[inline(always)]
fn run_hooks(hooks: Vec<Hook>) {
    // Most blocks queue no hooks: skip building an iterator over nothing,
    // and the drop glue of an empty vector too (W1: 14 instructions per
    // block). An empty vector that owns no allocation has nothing to free.
    if hooks.is_empty() {
        if hooks.capacity() == 0 {
            std::mem::forget(hooks);
        }
        return;
    }
    for hook in hooks {
        hook();
    }
}

/// Wraps a robust `on_commit` hook: its `Err` or panic is reported through
/// [`trace::hook_failed`] and stops nothing, so the hooks after it still run.
pub(crate) fn robust_hook<H, E>(hook: H) -> Hook
where
    H: FnOnce() -> Result<(), E> + Send + 'static,
    E: std::fmt::Display,
{
    Box::new(
        move || match std::panic::catch_unwind(std::panic::AssertUnwindSafe(hook)) {
            Ok(Ok(())) => {}
            Ok(Err(err)) => trace::hook_failed(&err),
            Err(payload) => {
                let message = payload
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic without a message".to_owned());
                trace::hook_failed(&format_args!("panicked: {message}"));
            }
        },
    )
}
