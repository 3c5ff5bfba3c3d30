//! Property test: random programs of nested blocks in all three modes, with
//! writes, commits, rollbacks, hooks, returned errors and panics, raw
//! transaction-control statements (alone or inside a batch after a write)
//! and multi-statement batches that write and then fail, run against a real
//! database (a file, or `:memory:`) and, in lockstep, against a simple
//! reference model of what must be committed. After every program the
//! database (a file read through a second connection) must equal the model,
//! the hooks that ran must be the model's, and the connection must be
//! outside any transaction.

mod common;

use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, Mutex, Once};

use proptest::prelude::*;
use txmanager::{Error, Mode, Scope, Transaction, TransactionManager};

#[derive(Debug, Clone, Copy, PartialEq)]
enum End {
    Ok,
    Err,
    Panic,
}

#[derive(Debug, Clone)]
enum Op {
    Insert,
    /// A transaction-control statement from `RAW_CONTROL`; with `after_write`,
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
        4 => Just(Op::Insert),
        1 => (0..RAW_CONTROL.len(), any::<bool>())
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

/// Raw transaction control: every one is refused before it runs.
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
];

/// How a statement reaches the connection: a handle or the manager.
trait Runs {
    fn execute_one(&self, sql: &str, v: i64) -> Result<usize, Error>;
    fn batch(&self, sql: &str) -> Result<(), Error>;
}

impl Runs for Transaction<'_> {
    fn execute_one(&self, sql: &str, v: i64) -> Result<usize, Error> {
        self.execute(sql, [v])
    }
    fn batch(&self, sql: &str) -> Result<(), Error> {
        self.execute_batch(sql)
    }
}

impl Runs for TransactionManager {
    fn execute_one(&self, sql: &str, v: i64) -> Result<usize, Error> {
        self.execute(sql, [v])
    }
    fn batch(&self, sql: &str) -> Result<(), Error> {
        self.execute_batch(sql)
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
}

#[derive(Default)]
struct Model {
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
}

impl Model {
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
        }
    }

    fn push(&mut self, mode: Mode) {
        self.frames.push(ModelFrame {
            mode,
            transactional: mode != Mode::Autocommit,
            snapshot: self.current.clone(),
            dirty: false,
            hooks: Vec::new(),
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

struct Run<'a> {
    model: &'a mut Model,
    log: Arc<Mutex<Vec<i64>>>,
}

impl Run<'_> {
    /// Runs a statement-level op through a handle or the manager; false if
    /// `op` is not one.
    fn statement(&mut self, runs: &impl Runs, op: &Op) -> bool {
        match op {
            Op::Insert => {
                let v = self.model.value();
                runs.execute_one("INSERT INTO t (v) VALUES (?1)", v)
                    .expect("insert");
                self.model.insert(v);
            }
            Op::RawControl {
                statement,
                after_write,
            } => {
                let statement = RAW_CONTROL[*statement];
                let result = if *after_write {
                    let v = self.model.value();
                    let never = self.model.value();
                    let batch = format!(
                        "INSERT INTO t (v) VALUES ({v}); {statement}; INSERT INTO t (v) VALUES ({never})"
                    );
                    let result = runs.batch(&batch);
                    self.model.insert(v);
                    result
                } else {
                    runs.batch(statement)
                };
                assert!(
                    matches!(result, Err(Error::TransactionControlRefused { .. })),
                    "{statement}: {result:?}"
                );
            }
            Op::FailingBatch => {
                let v = self.model.value();
                let result = runs.batch(&format!(
                    "INSERT INTO t (v) VALUES ({v}); INSERT INTO missing VALUES (1)"
                ));
                assert!(matches!(result, Err(Error::Statement { .. })), "{result:?}");
                self.model.insert(v);
            }
            _ => return false,
        }
        true
    }

    fn body(&mut self, tx: &mut Transaction<'_>, ops: &[Op]) {
        for op in ops {
            if self.statement(tx, op) {
                continue;
            }
            match op {
                Op::Insert | Op::RawControl { .. } | Op::FailingBatch => {}
                Op::Hook => {
                    let v = self.model.value();
                    let log = Arc::clone(&self.log);
                    tx.on_commit(move || log.lock().unwrap().push(v));
                    self.model.hook(v);
                }
                Op::Commit | Op::Rollback => {
                    let manual = self.model.top_is_manual();
                    let result = if matches!(op, Op::Commit) {
                        tx.commit()
                    } else {
                        tx.rollback()
                    };
                    if manual {
                        result.expect("manual commit/rollback");
                        if matches!(op, Op::Commit) {
                            self.model.commit();
                        } else {
                            self.model.rollback();
                        }
                    } else {
                        assert!(
                            matches!(result, Err(Error::NotInManualMode { .. })),
                            "{result:?}"
                        );
                    }
                }
                Op::Block { mode, end, body } => self.block(tx, *mode, *end, body),
            }
        }
    }

    fn block<S: Scope>(&mut self, scope: &mut S, mode: Mode, end: End, body: &[Op]) {
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
            Ok(Err(TestError::Db(other))) => panic!("unexpected error: {other:?}"),
            Err(payload) if payload.downcast_ref::<&str>() == Some(&DELIBERATE) => {
                Outcome::Panicked
            }
            Err(payload) => panic::resume_unwind(payload),
        };
        let expected = self.model.pop(end);
        assert_eq!(actual, expected, "block {mode} ending {end:?}");
    }

    fn top(&mut self, tm: &mut TransactionManager, ops: &[Op]) {
        for op in ops {
            if self.statement(tm, op) {
                continue;
            }
            match op {
                // No handle outside a block: nothing to run.
                Op::Insert | Op::RawControl { .. } | Op::FailingBatch => {}
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

/// What is committed: read through a second connection for a file, or
/// through the manager (outside any transaction) for `:memory:`.
fn committed(path: Option<&std::path::Path>, tm: &TransactionManager) -> Vec<i64> {
    const LIST: &str = "SELECT v FROM t ORDER BY v";
    match path {
        Some(path) => {
            let conn = txmanager::rusqlite::Connection::open(path).unwrap();
            let mut stmt = conn.prepare(LIST).unwrap();
            stmt.query_map([], |r| r.get(0))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap()
        }
        None => {
            assert!(tm.is_autocommit());
            let mut stmt = tm.prepare(LIST).unwrap();
            stmt.query_map([], |r| r.get(0))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap()
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn every_program_commits_exactly_what_the_model_says(
        program in prop::collection::vec(op(), 0..6),
        in_memory in any::<bool>(),
    ) {
        quiet_deliberate_panics();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("model.db");
        let path = (!in_memory).then_some(file.as_path());
        let mut tm = match path {
            Some(path) => TransactionManager::open(path).unwrap(),
            None => TransactionManager::open_in_memory().unwrap(),
        };
        tm.execute("CREATE TABLE t (v INTEGER NOT NULL)", []).unwrap();
        let mut model = Model::default();
        let log = Arc::new(Mutex::new(Vec::new()));
        Run { model: &mut model, log: Arc::clone(&log) }.top(&mut tm, &program);

        let mut expected = model.committed.clone();
        expected.sort_unstable();
        prop_assert!(tm.is_autocommit(), "left inside a transaction");
        prop_assert_eq!(committed(path, &tm), expected);
        prop_assert_eq!(&*log.lock().unwrap(), &model.fired);
        prop_assert!(tm.is_autocommit(), "left inside a transaction");
        prop_assert!(!tm.is_broken());
    }
}
