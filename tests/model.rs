//! Property test: random programs of nested blocks in all three modes, with
//! writes, reads, writing reads (a `SELECT` of a function that inserts, on
//! PostgreSQL: only the server's row counts see that write, alone or handed
//! up from a nested block), commits, rollbacks, hooks, returned errors and panics,
//! statements that fail, raw transaction-control statements (alone or
//! inside a batch after a write) and multi-statement batches that write and
//! then fail, run against a real database and, in lockstep, against a simple
//! reference model of what must be committed. After every program the database (read through a second
//! connection, or through the manager for SQLite's `:memory:`) must equal the
//! model, the hooks that ran must be the model's, and the connection must be
//! outside any transaction.
//!
//! One body of code runs on both backends (`for_each_backend!`): SQLite
//! always, PostgreSQL with the `postgres` feature (it fails without a
//! server). Where PostgreSQL's rules differ, [`Rules`] names the rule, the
//! model code says which backend does what and why, and docs/postgresql.md
//! lists the difference.

mod common;

use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, Mutex, Once};

use common::backends::{Harness, SqliteDb, Statements, for_each_backend};
use proptest::prelude::*;
use txmanager::{Backend, Error, Mode, Scope, Step, Transaction, TransactionManager};

for_each_backend!(every_program_commits_exactly_what_the_model_says);

#[derive(Debug, Clone, Copy, PartialEq)]
enum End {
    Ok,
    Err,
    Panic,
}

#[derive(Debug, Clone)]
enum Op {
    Insert,
    /// An insert through a query (`Statements::writing_read`): on
    /// PostgreSQL a `SELECT` of a writing function, which dirty tracking
    /// takes for a read, so only the server's row counts tell a manual
    /// block that it holds a write. The model: a write like `Insert`.
    WritingRead,
    /// A read (`SELECT count(*)`).
    Read,
    /// A statement the database rejects (no such table).
    FailingStatement,
    /// A query for one row that finds none: an error of the client alone,
    /// which aborts nothing on either backend.
    MissingRow,
    /// A transaction-control statement: `RAW_CONTROL` and the backend's
    /// `MORE_CONTROL`, indexed modulo their length; with `after_write`,
    /// inside a batch that inserts first and would insert again after it.
    RawControl {
        statement: usize,
        after_write: bool,
    },
    /// A batch that inserts, then fails.
    FailingBatch,
    Hook,
    Commit,
    Rollback,
    Block {
        mode: Mode,
        end: End,
        body: Vec<Op>,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let leaf = prop_oneof![
        3 => Just(Op::Insert),
        1 => Just(Op::WritingRead),
        // A writing read in a nested block: released or committed into
        // the block around it, which then holds the write; or left
        // uncommitted in a manual one. On PostgreSQL only the server's row
        // counts see these writes.
        2 => prop_oneof![
            Just(vec![Op::WritingRead]).prop_map(|body| Op::Block { mode: Mode::CommitOnSuccess, end: End::Ok, body }),
            Just(vec![Op::WritingRead, Op::Commit]).prop_map(|body| Op::Block { mode: Mode::CommitManually, end: End::Ok, body }),
            Just(vec![Op::WritingRead]).prop_map(|body| Op::Block { mode: Mode::CommitManually, end: End::Ok, body }),
            // A clean manual block whose count is taken inside a nested
            // block that wrote one row and then rolled back (the count
            // belongs to the rollback and must be forgotten), then a
            // writing read of one row, which it keeps (review 4, finding 6).
            Just(vec![
                Op::Block { mode: Mode::CommitOnSuccess, end: End::Err, body: vec![Op::Insert, Op::Read] },
                Op::WritingRead,
            ])
            .prop_map(|body| Op::Block { mode: Mode::CommitManually, end: End::Ok, body }),
        ],
        1 => Just(Op::Read),
        1 => Just(Op::FailingStatement),
        1 => Just(Op::MissingRow),
        1 => (0..32usize, any::<bool>())
            .prop_map(|(statement, after_write)| Op::RawControl { statement, after_write }),
        1 => Just(Op::FailingBatch),
        1 => Just(Op::Hook),
        1 => Just(Op::Commit),
        1 => Just(Op::Rollback),
    ];
    leaf.prop_recursive(4, 40, 5, |inner| {
        prop_oneof![
            3 => inner.clone(),
            2 => (
                prop_oneof![Just(Mode::Autocommit), Just(Mode::CommitOnSuccess), Just(Mode::CommitManually)],
                prop_oneof![3 => Just(End::Ok), 1 => Just(End::Err), 1 => Just(End::Panic)],
                prop::collection::vec(inner, 0..5),
            )
                .prop_map(|(mode, end, body)| Op::Block { mode, end, body }),
        ]
    })
}

/// Raw transaction control: every one is refused before it runs, on both
/// backends.
const RAW_CONTROL: &[&str] = &[
    "COMMIT",
    "END",
    "ROLLBACK",
    "BEGIN",
    "BEGIN IMMEDIATE",
    "SAVEPOINT mine",
    "RELEASE txm_1",
    "ROLLBACK TO txm_1",
    "RELEASE txm_2",
    "COMMIT; BEGIN",
    "ROLLBACK; BEGIN",
    "commit",
    "/* a comment */ COMMIT",
    "-- a comment\nROLLBACK",
];

/// The model's rows are reporters whose id is the model's value, so the
/// committed listing ("First Last", in id order) reads back as values.
const FIRST_NAME: &str = "model";

fn insert_sql(v: i64) -> String {
    format!("INSERT INTO reporter (id, first_name, last_name) VALUES ({v}, '{FIRST_NAME}', '{v}')")
}

/// The rules where the backends differ, as the model encodes them: each is
/// `false` on SQLite and `true` on PostgreSQL (docs/postgresql.md, "What
/// PostgreSQL does differently").
#[derive(Debug, Clone, Copy)]
struct Rules {
    /// A statement that fails inside a transaction aborts it: PostgreSQL
    /// rejects every later statement (25P02) and the innermost block can only
    /// roll back. SQLite's transaction stays usable after a failed statement.
    error_aborts_transaction: bool,
    /// A multi-statement batch sent outside any transaction runs as one
    /// implicit transaction, so a failing statement rolls back the ones
    /// before it (PostgreSQL's simple-query protocol). SQLite runs a batch
    /// statement by statement, each committing at once, and stops at the
    /// first error with the earlier ones kept.
    failed_batch_outside_transaction_keeps_nothing: bool,
    /// A batch holding transaction control is refused before any of it runs
    /// (PostgreSQL: txmanager scans the whole text first). SQLite's
    /// authorizer refuses the control statement when it is prepared, after
    /// the statements before it in the batch ran.
    control_refused_before_batch_runs: bool,
}

/// What the model needs of a backend beyond the shared harness.
trait ModelBackend: Harness {
    const RULES: Rules;
    /// Cases per run; `PROPTEST_CASES` overrides it.
    const CASES: u32;
    /// Transaction control that only this backend's SQL has, refused like
    /// `RAW_CONTROL`.
    const MORE_CONTROL: &'static [&'static str];
    /// What every program of a run shares.
    type Shared;
    /// One program's database.
    type Db;
    fn shared() -> Self::Shared;
    /// A database with an empty `reporter` table, and a manager on it;
    /// `variant` picks `:memory:` over a file on SQLite (PostgreSQL has one
    /// kind of database).
    fn open(shared: &Self::Shared, variant: bool) -> (Self::Db, TransactionManager<Self::B>);
    /// The reporters committed, "First Last", in id order.
    fn committed_in(
        shared: &Self::Shared,
        db: &Self::Db,
        tm: &TransactionManager<Self::B>,
    ) -> Vec<String>;
    /// Whether the manager's connection is outside any transaction, asked of
    /// the database.
    fn outside_any_transaction(
        shared: &Self::Shared,
        db: &Self::Db,
        tm: &TransactionManager<Self::B>,
    ) -> bool;
}

impl ModelBackend for SqliteDb {
    const RULES: Rules = Rules {
        error_aborts_transaction: false,
        failed_batch_outside_transaction_keeps_nothing: false,
        control_refused_before_batch_runs: false,
    };
    const CASES: u32 = 1000;
    const MORE_CONTROL: &'static [&'static str] = &[];
    type Shared = ();
    /// A fresh file or `:memory:` database for each program.
    type Db = common::Place;
    fn shared() {}
    fn open(_: &(), variant: bool) -> (common::Place, TransactionManager) {
        let place = if variant {
            common::Place::Memory
        } else {
            common::Place::File(common::Db::new())
        };
        let tm = place.manager();
        (place, tm)
    }
    fn committed_in(_: &(), db: &common::Place, tm: &TransactionManager) -> Vec<String> {
        db.committed(tm)
    }
    fn outside_any_transaction(_: &(), _: &common::Place, tm: &TransactionManager) -> bool {
        tm.is_autocommit()
    }
}

/// A PostgreSQL run's schema and an observer connection, kept for all its
/// programs: connecting is most of what a program costs.
#[cfg(feature = "postgres")]
struct PgShared {
    harness: common::backends::pg::PgHarness,
    observer: std::cell::RefCell<txmanager::postgres::Client>,
}

#[cfg(feature = "postgres")]
impl ModelBackend for common::backends::pg::PgHarness {
    const RULES: Rules = Rules {
        error_aborts_transaction: true,
        failed_batch_outside_transaction_keeps_nothing: true,
        control_refused_before_batch_runs: true,
    };
    const CASES: u32 = 500;
    const MORE_CONTROL: &'static [&'static str] = &[
        "START TRANSACTION",
        "ABORT",
        "COMMIT AND CHAIN",
        "begin isolation level serializable",
        "PREPARE TRANSACTION 'model'",
    ];
    type Shared = PgShared;
    /// Each program empties the run's table and connects a new manager.
    type Db = ();
    fn shared() -> PgShared {
        let harness = Self::new();
        let observer = std::cell::RefCell::new(harness.0.observer());
        PgShared { harness, observer }
    }
    fn open(shared: &PgShared, _: bool) -> ((), TransactionManager<txmanager::Postgres>) {
        shared
            .observer
            .borrow_mut()
            .batch_execute("TRUNCATE reporter")
            .expect("empty the table for the next program");
        ((), shared.harness.manager())
    }
    fn committed_in(
        shared: &PgShared,
        (): &(),
        _: &TransactionManager<txmanager::Postgres>,
    ) -> Vec<String> {
        common::pg::committed_seen_by(&mut shared.observer.borrow_mut())
    }
    fn outside_any_transaction(
        shared: &PgShared,
        (): &(),
        tm: &TransactionManager<txmanager::Postgres>,
    ) -> bool {
        common::pg::outside_transaction_seen_by(&mut shared.observer.borrow_mut(), tm)
    }
}

/// One running block, as the model sees it.
struct ModelFrame {
    mode: Mode,
    /// Opened a transaction or a savepoint (not an autocommit block).
    transactional: bool,
    /// `current` at the block's start, or its last commit or rollback.
    snapshot: Vec<i64>,
    dirty: bool,
    /// Hooks queued in this block since its start or last commit.
    hooks: Vec<i64>,
    /// A statement failed in this block since its start or last commit or
    /// rollback, and the database aborted the transaction
    /// (`Rules::error_aborts_transaction`).
    aborted: bool,
}

struct Model {
    rules: Rules,
    committed: Vec<i64>,
    /// What the manager's own connection sees.
    current: Vec<i64>,
    frames: Vec<ModelFrame>,
    fired: Vec<i64>,
    next: i64,
}

#[derive(Debug, PartialEq)]
enum Outcome {
    Ok,
    Deliberate,
    Pending,
    Panicked,
    /// The closure returned `Ok` after the database aborted the block
    /// (PostgreSQL): `Error::BlockAborted`, and the block rolled back.
    Aborted,
}

impl Model {
    fn new(rules: Rules) -> Model {
        Model {
            rules,
            committed: Vec::new(),
            current: Vec::new(),
            frames: Vec::new(),
            fired: Vec::new(),
            next: 0,
        }
    }

    fn in_transaction(&self) -> bool {
        self.frames.iter().any(|f| f.transactional)
    }

    fn value(&mut self) -> i64 {
        self.next += 1;
        self.next
    }

    fn insert(&mut self, v: i64) {
        self.current.push(v);
        match self.frames.last_mut() {
            Some(top) if top.transactional => top.dirty = true,
            _ => self.committed.push(v),
        }
    }

    /// A statement failed.
    fn failed(&mut self) {
        if self.rules.error_aborts_transaction
            && self.in_transaction()
            && let Some(top) = self.frames.last_mut()
        {
            // PostgreSQL: the failure aborted the transaction; the block can
            // only roll back.
            top.aborted = true;
        }
        // SQLite: the transaction goes on; a failure outside one changed
        // nothing.
    }

    /// A batch inserted `v`, then a statement of it failed.
    fn failed_batch(&mut self, v: i64) {
        if self.in_transaction() {
            if self.rules.error_aborts_transaction {
                // PostgreSQL: the insert ran, then the failure aborted the
                // block.
                self.failed();
            } else {
                // SQLite: the insert before the failure stays in the block.
                self.insert(v);
            }
        } else if !self.rules.failed_batch_outside_transaction_keeps_nothing {
            // SQLite: the insert committed before the failing statement ran.
            self.insert(v);
        }
        // PostgreSQL outside a transaction: the batch was one implicit
        // transaction, and its failure rolled the insert back.
    }

    /// Whether the innermost block was aborted by the database
    /// (PostgreSQL): its statements fail with 25P02 until it rolls back.
    fn top_aborted(&self) -> bool {
        self.frames.last().is_some_and(|f| f.aborted)
    }

    fn hook(&mut self, v: i64) {
        match self.frames.last_mut() {
            Some(top) if top.transactional => top.hooks.push(v),
            _ => self.fired.push(v),
        }
    }

    fn top_is_manual(&self) -> bool {
        self.frames
            .last()
            .is_some_and(|f| f.mode == Mode::CommitManually)
    }

    /// Keeps a frame's work: a real commit when it is the outermost
    /// transaction, a release into the parent otherwise.
    fn keep(&mut self, dirty: bool, hooks: Vec<i64>) {
        let outermost = !self.in_transaction();
        if outermost {
            self.committed = self.current.clone();
            self.fired.extend(hooks);
        } else if let Some(parent) = self.frames.last_mut() {
            parent.dirty |= dirty;
            parent.hooks.extend(hooks);
        }
    }

    fn commit(&mut self) {
        let Some(mut top) = self.frames.pop() else {
            return;
        };
        let hooks = std::mem::take(&mut top.hooks);
        self.keep(top.dirty, hooks);
        top.snapshot = self.current.clone();
        top.dirty = false;
        self.frames.push(top);
    }

    fn rollback(&mut self) {
        if let Some(top) = self.frames.last_mut() {
            self.current = top.snapshot.clone();
            top.dirty = false;
            top.hooks.clear();
            top.aborted = false;
        }
    }

    fn push(&mut self, mode: Mode) {
        self.frames.push(ModelFrame {
            mode,
            transactional: mode != Mode::Autocommit,
            snapshot: self.current.clone(),
            dirty: false,
            hooks: Vec::new(),
            aborted: false,
        });
    }

    fn pop(&mut self, end: End) -> Outcome {
        let Some(frame) = self.frames.pop() else {
            return Outcome::Ok;
        };
        let outcome = match end {
            End::Ok => Outcome::Ok,
            End::Err => Outcome::Deliberate,
            End::Panic => Outcome::Panicked,
        };
        if !frame.transactional {
            return outcome;
        }
        match (frame.mode, end) {
            // PostgreSQL: a block the database aborted rolls back, and a
            // closure that swallowed the error and returned `Ok` gets
            // `BlockAborted` (before any `PendingCommitRollback`), never `Ok`.
            (_, End::Ok) if frame.aborted => {
                self.current = frame.snapshot;
                Outcome::Aborted
            }
            (Mode::CommitOnSuccess, End::Ok) => {
                self.keep(frame.dirty, frame.hooks);
                Outcome::Ok
            }
            (Mode::CommitManually, End::Ok) if frame.dirty => {
                self.current = frame.snapshot;
                Outcome::Pending
            }
            // A clean manual block closes with nothing to keep; its hooks
            // since the last commit are dropped.
            (Mode::CommitManually, End::Ok) => Outcome::Ok,
            _ => {
                self.current = frame.snapshot;
                outcome
            }
        }
    }
}

#[derive(Debug)]
enum TestError {
    Deliberate,
    Db(Error),
}

impl From<Error> for TestError {
    fn from(e: Error) -> Self {
        TestError::Db(e)
    }
}

const DELIBERATE: &str = "deliberate panic";

/// Asserts that a statement failed because the database had aborted the
/// block (PostgreSQL's 25P02, in_failed_sql_transaction).
fn assert_refused_as_aborted(result: &Result<impl std::fmt::Debug, Error>) {
    assert!(
        matches!(result, Err(e @ Error::Statement { .. }) if e.sqlstate() == Some("25P02")),
        "a statement in an aborted block: {result:?}"
    );
}

struct Run<'a> {
    model: &'a mut Model,
    log: Arc<Mutex<Vec<i64>>>,
    /// The transaction control `Op::RawControl` picks from.
    control: &'a [&'static str],
}

impl Run<'_> {
    /// Runs a statement-level op through a handle or the manager; false if
    /// `op` is not one.
    fn statement(&mut self, runs: &impl Statements, op: &Op) -> bool {
        match op {
            Op::Insert | Op::WritingRead => {
                let v = self.model.value();
                let result = if matches!(op, Op::Insert) {
                    runs.insert_with_id(v, FIRST_NAME, &v.to_string())
                } else {
                    runs.writing_read(v, FIRST_NAME, &v.to_string())
                };
                if self.model.top_aborted() {
                    assert_refused_as_aborted(&result);
                } else {
                    result.expect("insert");
                    self.model.insert(v);
                }
            }
            Op::Read => {
                let result = runs.count();
                if self.model.top_aborted() {
                    assert_refused_as_aborted(&result);
                } else {
                    result.expect("read");
                }
            }
            Op::FailingStatement => {
                let result = runs.failing();
                if self.model.top_aborted() {
                    assert_refused_as_aborted(&result);
                } else {
                    assert!(matches!(result, Err(Error::Statement { .. })), "{result:?}");
                    self.model.failed();
                }
            }
            Op::MissingRow => {
                let result = runs.missing_row();
                if self.model.top_aborted() {
                    assert_refused_as_aborted(&result);
                } else {
                    assert!(
                        matches!(&result, Err(e @ Error::Statement { .. }) if e.sqlstate().is_none()),
                        "{result:?}"
                    );
                }
            }
            Op::RawControl {
                statement,
                after_write,
            } => {
                let statement = self.control[*statement % self.control.len()];
                let result = if *after_write {
                    let v = self.model.value();
                    let never = self.model.value();
                    let batch = format!("{}; {statement}; {}", insert_sql(v), insert_sql(never));
                    let result = runs.raw(&batch);
                    // SQLite ran the insert before the refused statement;
                    // PostgreSQL refused the whole batch before running it.
                    if !self.model.rules.control_refused_before_batch_runs {
                        self.model.insert(v);
                    }
                    result
                } else {
                    runs.raw(statement)
                };
                assert!(
                    matches!(result, Err(Error::TransactionControlRefused { .. })),
                    "{statement}: {result:?}"
                );
            }
            Op::FailingBatch => {
                let v = self.model.value();
                let result = runs.raw(&format!(
                    "{}; INSERT INTO missing VALUES (1)",
                    insert_sql(v)
                ));
                if self.model.top_aborted() {
                    assert_refused_as_aborted(&result);
                } else {
                    assert!(matches!(result, Err(Error::Statement { .. })), "{result:?}");
                    self.model.failed_batch(v);
                }
            }
            _ => return false,
        }
        true
    }

    fn body<B: Backend>(&mut self, tx: &mut Transaction<'_, B>, ops: &[Op])
    where
        for<'a> Transaction<'a, B>: Statements,
    {
        for op in ops {
            if self.statement(tx, op) {
                continue;
            }
            match op {
                Op::Insert
                | Op::WritingRead
                | Op::Read
                | Op::FailingStatement
                | Op::MissingRow
                | Op::RawControl { .. }
                | Op::FailingBatch => {}
                Op::Hook => {
                    let v = self.model.value();
                    let log = Arc::clone(&self.log);
                    tx.on_commit(move || log.lock().unwrap().push(v));
                    self.model.hook(v);
                }
                Op::Commit | Op::Rollback => {
                    let manual = self.model.top_is_manual();
                    let commit = matches!(op, Op::Commit);
                    let result = if commit { tx.commit() } else { tx.rollback() };
                    if !manual {
                        assert!(
                            matches!(result, Err(Error::NotInManualMode { .. })),
                            "{result:?}"
                        );
                    } else if commit && self.model.top_aborted() {
                        // PostgreSQL: commit() of work the database aborted
                        // rolls it back and says so.
                        assert!(matches!(result, Err(Error::BlockAborted)), "{result:?}");
                        self.model.rollback();
                    } else if commit {
                        result.expect("manual commit");
                        self.model.commit();
                    } else {
                        result.expect("manual rollback");
                        self.model.rollback();
                    }
                }
                Op::Block { mode, end, body } => self.block(tx, *mode, *end, body),
            }
        }
    }

    fn block<B: Backend, S: Scope<B>>(&mut self, scope: &mut S, mode: Mode, end: End, body: &[Op])
    where
        for<'a> Transaction<'a, B>: Statements,
    {
        if mode == Mode::Autocommit && self.model.in_transaction() {
            let refused = scope.run(mode, |_| -> Result<(), Error> {
                panic!("a refused block ran")
            });
            assert!(
                matches!(refused, Err(Error::AutocommitInTransaction { .. })),
                "{refused:?}"
            );
            return;
        }
        if self.model.top_aborted() {
            // PostgreSQL: a nested block's SAVEPOINT fails in an aborted
            // transaction (25P02), so the block does not run.
            let refused = scope.run(mode, |_| -> Result<(), Error> {
                panic!("a block ran inside an aborted transaction")
            });
            assert!(
                matches!(
                    refused,
                    Err(Error::StepFailed {
                        step: Step::Savepoint,
                        ..
                    })
                ),
                "{refused:?}"
            );
            return;
        }
        self.model.push(mode);
        let result = panic::catch_unwind(AssertUnwindSafe(|| {
            scope.run(mode, |tx| {
                self.body(tx, body);
                match end {
                    End::Ok => Ok(()),
                    End::Err => Err(TestError::Deliberate),
                    End::Panic => panic::panic_any(DELIBERATE),
                }
            })
        }));
        let actual = match result {
            Ok(Ok(())) => Outcome::Ok,
            Ok(Err(TestError::Deliberate)) => Outcome::Deliberate,
            Ok(Err(TestError::Db(Error::PendingCommitRollback))) => Outcome::Pending,
            Ok(Err(TestError::Db(Error::BlockAborted))) => Outcome::Aborted,
            Ok(Err(TestError::Db(other))) => panic!("unexpected error: {other:?}"),
            Err(payload) if payload.downcast_ref::<&str>() == Some(&DELIBERATE) => {
                Outcome::Panicked
            }
            Err(payload) => panic::resume_unwind(payload),
        };
        let expected = self.model.pop(end);
        assert_eq!(actual, expected, "block {mode} ending {end:?}");
    }

    fn top<B: Backend>(&mut self, tm: &mut TransactionManager<B>, ops: &[Op])
    where
        TransactionManager<B>: Statements,
        for<'a> Transaction<'a, B>: Statements,
    {
        for op in ops {
            if self.statement(tm, op) {
                continue;
            }
            match op {
                // No handle outside a block: nothing to run.
                Op::Insert
                | Op::WritingRead
                | Op::Read
                | Op::FailingStatement
                | Op::MissingRow
                | Op::RawControl { .. }
                | Op::FailingBatch => {}
                Op::Hook | Op::Commit | Op::Rollback => {}
                Op::Block { mode, end, body } => self.block(tm, *mode, *end, body),
            }
        }
    }
}

fn quiet_deliberate_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if info.payload().downcast_ref::<&str>() != Some(&DELIBERATE) {
                default(info);
            }
        }));
    });
}

/// The values in a committed listing of the model's reporters.
fn values(names: Vec<String>) -> Vec<i64> {
    names
        .iter()
        .map(|name| {
            name.strip_prefix(FIRST_NAME)
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or_else(|| panic!("not a model row: {name:?}"))
        })
        .collect()
}

fn every_program_commits_exactly_what_the_model_says<H: ModelBackend>()
where
    TransactionManager<H::B>: Statements,
    for<'a> Transaction<'a, H::B>: Statements,
{
    quiet_deliberate_panics();
    let config = ProptestConfig {
        cases: H::CASES,
        ..ProptestConfig::default()
    };
    let shared = H::shared();
    let control: Vec<&str> = RAW_CONTROL.iter().chain(H::MORE_CONTROL).copied().collect();
    proptest!(config, |(program in prop::collection::vec(op(), 0..6), variant in any::<bool>())| {
        let (db, mut tm) = H::open(&shared, variant);
        let mut model = Model::new(H::RULES);
        let log = Arc::new(Mutex::new(Vec::new()));
        Run { model: &mut model, log: Arc::clone(&log), control: &control }.top(&mut tm, &program);

        let mut expected = model.committed.clone();
        expected.sort_unstable();
        prop_assert!(H::outside_any_transaction(&shared, &db, &tm), "left inside a transaction");
        prop_assert_eq!(values(H::committed_in(&shared, &db, &tm)), expected);
        prop_assert_eq!(&*log.lock().unwrap(), &model.fired);
        prop_assert!(H::outside_any_transaction(&shared, &db, &tm), "left inside a transaction");
        prop_assert!(!tm.is_broken());
    });
}
