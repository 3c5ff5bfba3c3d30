//! The block engine: how a block in any mode is entered, how it ends (commit,
//! release, rollback), what happens on panic, and the bookkeeping behind it
//! (the frame stack, dirty tracking, `on_commit` hooks, the broken state).
//!
//! Everything here is `impl TransactionManager`; the public face is the mode
//! methods on [`TransactionManager`] and [`Transaction`].

use std::cell::Cell;

use rusqlite::CachedStatement;
use scopeguard::ScopeGuard;

use crate::settings::BeginMode;
use crate::sqlite::{self, COMMIT, ROLLBACK};
use crate::{Error, Mode, Step, Transaction, TransactionManager};

/// A hook queued by [`Transaction::on_commit`].
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
    /// Index in `hooks` where this frame's uncommitted hooks start.
    hooks_mark: usize,
    /// Whether the frame's transaction is open. Only an outermost manual
    /// block is ever closed while running: after `commit()` or `rollback()`
    /// it begins again lazily, at its next statement.
    open: Cell<bool>,
}

/// What `commit()` and `rollback()` need to know about the manual block
/// they act on, read once at the start.
#[derive(Debug, Clone, Copy)]
struct ManualFrame {
    /// The frame's index, which is also its savepoint's depth.
    depth: usize,
    scope: FrameScope,
    dirty: bool,
    hooks_mark: usize,
    open: bool,
}

/// How a frame ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Commit (outermost) or release into the parent (nested).
    Keep,
    /// Roll back the frame's work.
    Discard,
}

impl TransactionManager {
    /// Runs `f` as a block in `mode`: the single code path behind every mode
    /// method, outermost or nested.
    pub(crate) fn run_block<T, E, F>(&mut self, mode: Mode, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut Transaction<'_>) -> Result<T, E>,
        E: From<Error>,
    {
        self.run_block_with(mode, None, f)
    }

    /// [`run_block`](Self::run_block), with the `BEGIN` behavior to use if
    /// this block opens the transaction (`None`: the manager's default).
    pub(crate) fn run_block_with<T, E, F>(
        &mut self,
        mode: Mode,
        behavior: Option<BeginMode>,
        f: F,
    ) -> Result<T, E>
    where
        F: FnOnce(&mut Transaction<'_>) -> Result<T, E>,
        E: From<Error>,
    {
        self.enter(mode, behavior)?;
        // From here on the frame is open; the guard rolls it back on every
        // exit that does not defuse it, a panic in `f` included.
        let mut guard = scopeguard::guard(self, |tm| tm.abandon());
        let result = f(&mut Transaction::new(&mut guard));
        let tm = ScopeGuard::into_inner(guard);
        match result {
            Ok(value) => {
                let hooks = tm.finish_ok()?;
                run_hooks(hooks);
                Ok(value)
            }
            Err(err) => {
                // The caller's error wins; a failed rollback marks the manager broken.
                let _ = tm.finish(Outcome::Discard);
                Err(err)
            }
        }
    }

    fn enter(&mut self, mode: Mode, behavior: Option<BeginMode>) -> Result<(), Error> {
        self.check_usable()?;
        let depth = self.frames.len();
        let scope = match (mode, self.txn_root.is_some()) {
            (Mode::Autocommit, true) => {
                let enclosing = self.frames.last().map_or(Mode::CommitOnSuccess, |f| f.mode);
                return Err(Error::AutocommitInTransaction { enclosing });
            }
            (Mode::Autocommit, false) => FrameScope::NoTransaction,
            (_, false) => {
                if !self.conn.is_autocommit() {
                    // Someone opened a transaction behind our back (a raw
                    // BEGIN whose rollback failed): refuse to build on it.
                    return Err(Error::TransactionOpenedUnderneath { statement: None });
                }
                self.active_behavior = behavior.unwrap_or(self.behavior);
                self.begin()?;
                self.txn_root = Some(depth);
                FrameScope::Transaction
            }
            (_, true) => {
                self.ensure_open()?;
                let sql = &self.savepoints.get(depth).open;
                sqlite::run_control(&self.conn, sql).map_err(|source| Error::StepFailed {
                    step: Step::Savepoint,
                    source,
                })?;
                FrameScope::Savepoint
            }
        };
        self.frames.push(Frame {
            mode,
            scope,
            dirty: Cell::new(false),
            hooks_mark: self.hooks.len(),
            open: Cell::new(scope != FrameScope::NoTransaction),
        });
        Ok(())
    }

    /// Ends the top frame after its closure returned `Ok`.
    fn finish_ok(&mut self) -> Result<Vec<Hook>, Error> {
        let Some(frame) = self.frames.last() else {
            return Err(self.lost_frame());
        };
        if frame.mode == Mode::CommitManually && frame.dirty.get() {
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

    /// Called by the guard when a block's closure panics. Errors are not
    /// reported (we are unwinding) but a failed rollback still breaks the manager.
    fn abandon(&mut self) {
        let _ = self.finish(Outcome::Discard);
    }

    /// Pops the top frame and commits, releases or rolls back its work.
    /// Returns the hooks to run when an outermost commit succeeded.
    fn finish(&mut self, outcome: Outcome) -> Result<Vec<Hook>, Error> {
        self.notice_lost_transaction();
        let Some(frame) = self.frames.pop() else {
            return Err(self.lost_frame());
        };
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
            let release = &self.savepoints.get(depth).release;
            match sqlite::run_control(&self.conn, release) {
                Ok(()) => {
                    if let Some(parent) = self.frames.last() {
                        parent.dirty.set(parent.dirty.get() || frame.dirty.get());
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
        self.roll_back_savepoint(depth)
    }

    /// `ROLLBACK TO` then `RELEASE`, as rusqlite's `Savepoint` does; a
    /// failure breaks the manager, since the savepoint's work may remain.
    fn roll_back_savepoint(&mut self, depth: usize) -> Result<(), Error> {
        let sql = self.savepoints.get(depth);
        let result = sqlite::run_control(&self.conn, &sql.rollback_to)
            .map_err(|source| (Step::RollbackToSavepoint, source))
            .and_then(|()| {
                sqlite::run_control(&self.conn, &sql.release)
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
            self.hooks.truncate(frame.hooks_mark);
            return self.roll_back_if_open().map(|()| Vec::new());
        }
        match sqlite::run_control(&self.conn, COMMIT) {
            Ok(()) => Ok(self.take_hooks(frame.hooks_mark)),
            Err(source) => {
                self.hooks.truncate(frame.hooks_mark);
                let _ = self.roll_back_if_open();
                Err(Error::CommitFailed { source })
            }
        }
    }

    fn roll_back_if_open(&mut self) -> Result<(), Error> {
        if self.conn.is_autocommit() {
            return Ok(());
        }
        sqlite::run_control(&self.conn, ROLLBACK)
            .map_err(|source| self.break_on(Step::Rollback, source))
    }

    /// `commit()` of a manual block.
    pub(crate) fn manual_commit(&mut self) -> Result<(), Error> {
        let ManualFrame {
            depth,
            scope,
            dirty,
            hooks_mark,
            open,
        } = self.manual_frame("commit")?;
        match scope {
            FrameScope::Transaction if open => match sqlite::run_control(&self.conn, COMMIT) {
                Ok(()) => {
                    self.reset_top_frame(false);
                    run_hooks(self.take_hooks(hooks_mark));
                    Ok(())
                }
                Err(source) => {
                    self.hooks.truncate(hooks_mark);
                    self.reset_top_frame(false);
                    let _ = self.roll_back_if_open();
                    Err(Error::CommitFailed { source })
                }
            },
            FrameScope::Savepoint => {
                let sql = self.savepoints.get(depth);
                sqlite::run_control(&self.conn, &sql.release)
                    .map_err(|source| (Step::ReleaseSavepoint, source))
                    .and_then(|()| {
                        sqlite::run_control(&self.conn, &sql.open)
                            .map_err(|source| (Step::Savepoint, source))
                    })
                    .map_err(|(step, source)| self.break_on(step, source))?;
                if let Some(parent) = depth.checked_sub(1).and_then(|i| self.frames.get(i)) {
                    parent.dirty.set(parent.dirty.get() || dirty);
                }
                self.reset_top_frame(true);
                if let Some(top) = self.frames.last_mut() {
                    top.hooks_mark = self.hooks.len();
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
                let sql = &self.savepoints.get(depth).rollback_to;
                sqlite::run_control(&self.conn, sql)
                    .map_err(|source| self.break_on(Step::RollbackToSavepoint, source))?;
                self.reset_top_frame(true);
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
        if frame.open.get() && self.conn.is_autocommit() {
            self.transaction_lost.set(true);
            return Err(Error::TransactionClosedUnderneath { statement: None });
        }
        Ok(ManualFrame {
            depth: self.frames.len() - 1,
            scope: frame.scope,
            dirty: frame.dirty.get(),
            hooks_mark: frame.hooks_mark,
            open: frame.open.get(),
        })
    }

    /// After a manual commit or rollback: clean, and open or not.
    fn reset_top_frame(&self, open: bool) {
        if let Some(top) = self.frames.last() {
            top.dirty.set(false);
            top.open.set(open);
        }
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

    /// Runs one statement for a handle or the manager, keeping the books:
    /// refuses work on a broken manager, begins a lazily closed manual
    /// block, marks the block dirty after a write, and checks afterwards
    /// that the statement did not open or close a transaction behind our back.
    pub(crate) fn run_statement<R>(
        &self,
        sql: &str,
        op: impl FnOnce(&mut CachedStatement<'_>) -> rusqlite::Result<R>,
    ) -> Result<R, Error> {
        self.check_usable()?;
        self.ensure_open()?;
        let result = self.conn.prepare_cached(sql).and_then(|mut stmt| {
            let readonly = stmt.readonly();
            op(&mut stmt).map(|value| (value, readonly))
        });
        let state = self.check_transaction_state(sql);
        let (value, readonly) = result.map_err(|source| Error::statement(sql, source))?;
        state?;
        if !readonly {
            self.mark_dirty();
        }
        Ok(value)
    }

    /// Prepares a statement for a handle or the manager. A statement that is
    /// not read-only marks the block dirty now, since txmanager cannot see
    /// when it runs.
    pub(crate) fn prepare_statement(&self, sql: &str) -> Result<CachedStatement<'_>, Error> {
        self.check_usable()?;
        self.ensure_open()?;
        let stmt = self
            .conn
            .prepare_cached(sql)
            .map_err(|source| Error::statement(sql, source))?;
        if !stmt.readonly() {
            self.mark_dirty();
        }
        Ok(stmt)
    }

    /// Runs a batch of statements; marks the block dirty, since a batch's
    /// statements cannot be inspected one by one.
    pub(crate) fn run_batch(&self, sql: &str) -> Result<(), Error> {
        self.check_usable()?;
        self.ensure_open()?;
        let result = self.conn.execute_batch(sql);
        let state = self.check_transaction_state(sql);
        result.map_err(|source| Error::statement(sql, source))?;
        state?;
        self.mark_dirty();
        Ok(())
    }

    #[inline]
    fn mark_dirty(&self) {
        if let Some(top) = self.frames.last() {
            top.dirty.set(true);
        }
    }

    /// Whether the top block has uncommitted writes.
    pub(crate) fn top_is_dirty(&self) -> bool {
        self.frames.last().is_some_and(|f| f.dirty.get())
    }

    /// Refuses work on a broken manager or in a block whose transaction was
    /// ended behind our back.
    #[inline]
    fn check_usable(&self) -> Result<(), Error> {
        if let Some(reason) = &self.broken {
            return Err(Error::Broken {
                reason: reason.clone(),
            });
        }
        if self.transaction_lost.get() {
            return Err(Error::TransactionClosedUnderneath { statement: None });
        }
        Ok(())
    }

    /// Begins the outermost manual block again after its `commit()` or
    /// `rollback()`, at its first statement since.
    #[inline]
    fn ensure_open(&self) -> Result<(), Error> {
        let Some(root) = self.txn_root.and_then(|i| self.frames.get(i)) else {
            return Ok(());
        };
        if !root.open.get() {
            self.begin()?;
            root.open.set(true);
        }
        Ok(())
    }

    fn begin(&self) -> Result<(), Error> {
        sqlite::run_control(&self.conn, sqlite::begin(self.active_behavior)).map_err(|source| {
            Error::StepFailed {
                step: Step::Begin,
                source,
            }
        })
    }

    #[inline]
    fn expects_open_transaction(&self) -> bool {
        self.txn_root
            .and_then(|i| self.frames.get(i))
            .is_some_and(|root| root.open.get())
    }

    /// Asks SQLite whether a transaction is open, and compares with what the
    /// frames say. A transaction that vanished marks the block lost; one that
    /// appeared in autocommit mode is rolled back at once.
    #[inline]
    fn check_transaction_state(&self, sql: &str) -> Result<(), Error> {
        let expected = self.expects_open_transaction();
        let open = !self.conn.is_autocommit();
        if open == expected {
            return Ok(());
        }
        if expected {
            self.transaction_lost.set(true);
            return Err(Error::TransactionClosedUnderneath {
                statement: Some(sql.to_owned()),
            });
        }
        // If this rollback fails the connection stays in a transaction, and
        // the next block refuses to start on it (see `enter`).
        let _ = sqlite::run_control(&self.conn, ROLLBACK);
        Err(Error::TransactionOpenedUnderneath {
            statement: Some(sql.to_owned()),
        })
    }

    /// At the end of a block, notices a transaction that ended behind our
    /// back through a statement txmanager did not run itself.
    #[inline]
    fn notice_lost_transaction(&self) {
        if self.expects_open_transaction() && self.conn.is_autocommit() {
            self.transaction_lost.set(true);
        }
    }

    /// At the end of an autocommit block: a transaction left open by a raw
    /// `BEGIN` in a prepared statement is rolled back and reported.
    fn roll_back_stray_transaction(&mut self) -> Result<(), Error> {
        if self.conn.is_autocommit() {
            return Ok(());
        }
        self.roll_back_if_open()?;
        Err(Error::TransactionOpenedUnderneath { statement: None })
    }

    /// Marks the manager broken after a failed rollback step and returns the
    /// error for that step. The first breakage's reason is kept.
    fn break_on(&mut self, step: Step, source: rusqlite::Error) -> Error {
        if self.broken.is_none() {
            self.broken = Some(format!("{step} failed: {source}"));
        }
        Error::StepFailed { step, source }
    }

    /// The error for a frame stack that does not match the running blocks.
    /// Cannot happen through the public API; reported rather than panicking.
    fn lost_frame(&self) -> Error {
        Error::Broken {
            reason: "internal error: no running block matches this handle".to_owned(),
        }
    }
}

/// Runs hooks in order. A panicking hook propagates its panic; the hooks after
/// it are dropped without running. The manager's state is already settled.
fn run_hooks(hooks: Vec<Hook>) {
    for hook in hooks {
        hook();
    }
}
