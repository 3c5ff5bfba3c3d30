//! Test helpers for your own record types: the equivalent of
//! django-concurrency's `ConcurrencyTestMixin`.
//!
//! [`ConcurrencyTest`] checks three things about a versioned record type, on
//! your database, inside a transaction it rolls back afterwards (so it leaves
//! nothing behind):
//!
//! 1. a new record has no version yet, and a save gives it one;
//! 2. a save bumps the version;
//! 3. two copies of one record conflict: after the first is saved, saving the
//!    second fails with [`Error::RecordModified`]
//!    and leaves its in-memory version unchanged.

use std::fmt;

use crate::{Error, Record, RecordValues, TransactionManager};

/// Which of the three checks failed, and how.
///
/// # Example
///
/// ```
/// # use txmanager::{testing::ConcurrencyTest, Record, TransactionManager};
/// #[derive(Debug, Clone, Default, Record)]
/// #[record(table = "plain")]
/// pub struct Unversioned {
///     #[record(primary_key)]
///     pub id: Option<i64>,
///     pub x: i64,
/// }
/// # fn main() -> Result<(), txmanager::Error> {
/// let mut tm = TransactionManager::open_in_memory()?;
/// tm.execute("CREATE TABLE plain (id INTEGER PRIMARY KEY, x INTEGER)", [])?;
/// let failure = ConcurrencyTest::new(Unversioned::default).run(&mut tm).unwrap_err();
/// assert_eq!(failure.check(), "a save gives a new record a version");
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct ConcurrencyTestFailure {
    check: &'static str,
    detail: String,
}

impl ConcurrencyTestFailure {
    /// The check that failed, as a sentence.
    ///
    /// ```
    /// # use txmanager::{testing::ConcurrencyTest, TransactionManager, Record};
    /// #[derive(Debug, Clone, Default, Record)]
    /// pub struct Unchecked {
    ///     #[record(primary_key)]
    ///     pub id: Option<i64>,
    ///     #[record(version(auto_increment, manual))]
    ///     pub version: Option<i64>,
    ///     pub x: i64,
    /// }
    /// # fn main() -> Result<(), txmanager::Error> {
    /// let mut tm = TransactionManager::open_in_memory()?;
    /// tm.execute("CREATE TABLE unchecked (id INTEGER PRIMARY KEY, version INTEGER, x INTEGER)", [])?;
    /// let failure = ConcurrencyTest::new(Unchecked::default).run(&mut tm).unwrap_err();
    /// assert_eq!(failure.check(), "two copies of one record conflict");
    /// assert_eq!(failure.detail(), "saving the stale copy succeeded");
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn check(&self) -> &'static str {
        self.check
    }

    /// What was seen instead.
    ///
    /// ```
    /// # use txmanager::{testing::ConcurrencyTest, TransactionManager, Record};
    /// #[derive(Debug, Clone, Default, Record)]
    /// pub struct Unchecked {
    ///     #[record(primary_key)]
    ///     pub id: Option<i64>,
    ///     #[record(version(auto_increment, manual))]
    ///     pub version: Option<i64>,
    ///     pub x: i64,
    /// }
    /// # fn main() -> Result<(), txmanager::Error> {
    /// let mut tm = TransactionManager::open_in_memory()?;
    /// tm.execute("CREATE TABLE unchecked (id INTEGER PRIMARY KEY, version INTEGER, x INTEGER)", [])?;
    /// let failure = ConcurrencyTest::new(Unchecked::default).run(&mut tm).unwrap_err();
    /// assert_eq!(failure.check(), "two copies of one record conflict");
    /// assert_eq!(failure.detail(), "saving the stale copy succeeded");
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn detail(&self) -> &str {
        &self.detail
    }
}

impl fmt::Display for ConcurrencyTestFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "concurrency check failed: {}: {}",
            self.check, self.detail
        )
    }
}

impl std::error::Error for ConcurrencyTestFailure {}

/// How a run ends inside its transaction: always by rolling back.
enum Ending {
    Passed,
    Failed(ConcurrencyTestFailure),
    Database(Error),
}

impl From<Error> for Ending {
    fn from(e: Error) -> Self {
        Ending::Database(e)
    }
}

fn fail(check: &'static str, detail: String) -> Ending {
    Ending::Failed(ConcurrencyTestFailure { check, detail })
}

/// The three concurrency checks for record type `R`.
///
/// `make` builds a new, unsaved record that satisfies your table's
/// constraints; `change` (optional, default: no change) modifies a record the
/// way a save would, and must touch a tracked field for a
/// [`Conditional`](crate::VersionKind::Conditional) version.
///
/// # Example
///
/// ```
/// use txmanager::{testing::ConcurrencyTest, TransactionManager, Record};
///
/// #[derive(Debug, Clone, Default, Record)]
/// pub struct Article {
///     #[record(primary_key)]
///     pub id: Option<i64>,
///     #[record(version(conditional(title)))]
///     pub version: Option<i64>,
///     pub title: String,
///     pub views: i64,
/// }
///
/// # fn main() -> Result<(), txmanager::Error> {
/// let mut tm = TransactionManager::open_in_memory()?;
/// tm.execute("CREATE TABLE article (id INTEGER PRIMARY KEY, version INTEGER, title TEXT, views INTEGER)", [])?;
/// ConcurrencyTest::new(|| Article { title: "draft".into(), ..Default::default() })
///     .with_change(|a: &mut Article| a.title.push('!'))
///     .assert(&mut tm);
/// # Ok(())
/// # }
/// ```
pub struct ConcurrencyTest<M, C> {
    make: M,
    change: C,
}

impl<M, C> fmt::Debug for ConcurrencyTest<M, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConcurrencyTest").finish_non_exhaustive()
    }
}

impl<R: Record, M: Fn() -> R> ConcurrencyTest<M, fn(&mut R)> {
    /// The checks for the records `make` builds, with no change between saves.
    ///
    /// ```
    /// # use txmanager::{testing::ConcurrencyTest, Record};
    /// # #[derive(Debug, Clone, Default, Record)] pub struct Tag { #[record(primary_key)] pub id: Option<i64>, #[record(version(auto_increment))] pub version: Option<i64>, pub label: String, }
    /// let test = ConcurrencyTest::new(Tag::default);
    /// # let _ = test;
    /// ```
    pub fn new(make: M) -> Self {
        ConcurrencyTest {
            make,
            change: |_: &mut R| {},
        }
    }
}

impl<R: RecordValues, M: Fn() -> R, C: Fn(&mut R)> ConcurrencyTest<M, C> {
    /// Applies `change` to a record before each save.
    ///
    /// ```
    /// # use txmanager::{testing::ConcurrencyTest, Record};
    /// # #[derive(Debug, Clone, Default, Record)] pub struct Tag { #[record(primary_key)] pub id: Option<i64>, #[record(version(auto_increment))] pub version: Option<i64>, pub label: String, }
    /// let test = ConcurrencyTest::new(Tag::default).with_change(|t: &mut Tag| t.label.push('x'));
    /// # let _ = test;
    /// ```
    pub fn with_change<C2: Fn(&mut R)>(self, change: C2) -> ConcurrencyTest<M, C2> {
        ConcurrencyTest {
            make: self.make,
            change,
        }
    }

    /// Runs the three checks in a transaction that is rolled back afterwards.
    ///
    /// # Errors
    ///
    /// The first check that failed; a database error is reported as a
    /// failure of the check it happened in.
    ///
    /// ```
    /// # use txmanager::{testing::ConcurrencyTest, TransactionManager, Record};
    /// # #[derive(Debug, Clone, Default, Record)] pub struct Tag { #[record(primary_key)] pub id: Option<i64>, #[record(version(auto_increment))] pub version: Option<i64>, pub label: String, }
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let mut tm = TransactionManager::open_in_memory()?;
    /// tm.execute("CREATE TABLE tag (id INTEGER PRIMARY KEY, version INTEGER, label TEXT)", [])?;
    /// ConcurrencyTest::new(Tag::default).run(&mut tm)?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn run(&self, tm: &mut TransactionManager) -> Result<(), ConcurrencyTestFailure> {
        let ending = tm
            .commit_on_success(|tx| -> Result<(), Ending> {
                let mut record = (self.make)();
                let step = "a new record has no version yet";
                if let Some(v) = record.version() {
                    return Err(fail(
                        step,
                        format!("the new record already has version {v}"),
                    ));
                }
                let step = "a save gives a new record a version";
                record.save(tx).map_err(|e| fail(step, e.to_string()))?;
                let (Some(pk), Some(first)) = (record.primary_key().cloned(), record.version())
                else {
                    return Err(fail(
                        step,
                        "after saving, the record has no version".to_owned(),
                    ));
                };

                let step = "a save bumps the version";
                (self.change)(&mut record);
                record.save(tx).map_err(|e| fail(step, e.to_string()))?;
                if record.version() == Some(first) {
                    return Err(fail(step, format!("the version stayed at {first}")));
                }

                let step = "two copies of one record conflict";
                let mut a = R::get(tx, pk.clone()).map_err(|e| fail(step, e.to_string()))?;
                let mut b = R::get(tx, pk).map_err(|e| fail(step, e.to_string()))?;
                (self.change)(&mut a);
                a.save(tx).map_err(|e| fail(step, e.to_string()))?;
                (self.change)(&mut b);
                let before = b.version();
                match b.save(tx) {
                    Err(Error::RecordModified { .. }) => {}
                    Ok(()) => return Err(fail(step, "saving the stale copy succeeded".to_owned())),
                    Err(e) => return Err(fail(step, format!("expected RecordModified, got: {e}"))),
                }
                if b.version() != before {
                    return Err(fail(
                        "a failed save leaves the in-memory version unchanged",
                        format!("it went from {before:?} to {:?}", b.version()),
                    ));
                }
                Err(Ending::Passed) // roll everything back
            })
            .err();
        match ending {
            Some(Ending::Passed) => Ok(()),
            Some(Ending::Failed(failure)) => Err(failure),
            Some(Ending::Database(e)) => Err(ConcurrencyTestFailure {
                check: "the checks can run",
                detail: e.to_string(),
            }),
            None => Err(ConcurrencyTestFailure {
                check: "the checks can run",
                detail: "the run ended without a verdict".to_owned(),
            }),
        }
    }

    /// Runs the checks and panics with the failure's message if one fails:
    /// for use in `#[test]` functions.
    ///
    /// # Panics
    ///
    /// When a check fails.
    ///
    /// ```
    /// # use txmanager::{testing::ConcurrencyTest, TransactionManager, Record};
    /// # #[derive(Debug, Clone, Default, Record)] pub struct Tag { #[record(primary_key)] pub id: Option<i64>, #[record(version(integer))] pub version: Option<i64>, pub label: String, }
    /// # fn main() -> Result<(), txmanager::Error> {
    /// let mut tm = TransactionManager::open_in_memory()?;
    /// tm.execute("CREATE TABLE tag (id INTEGER PRIMARY KEY, version INTEGER, label TEXT)", [])?;
    /// ConcurrencyTest::new(Tag::default).assert(&mut tm);
    /// # Ok(())
    /// # }
    /// ```
    pub fn assert(&self, tm: &mut TransactionManager) {
        if let Err(failure) = self.run(tm) {
            panic!("{failure}");
        }
    }
}
