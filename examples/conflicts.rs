//! Two writers collide on one record; the loser gets `RecordModified` instead
//! of silently overwriting the winner, reloads, reapplies its change, and
//! retries.
//!
//! Run it with `cargo run --example conflicts`.

use txmanager::{Error, Record, TransactionManager};

/// A wiki page edited by two people at once.
#[derive(Debug, Clone, Default, Record)]
pub struct Page {
    #[record(primary_key)]
    pub id: Option<i64>,
    #[record(version(auto_increment))]
    pub version: Option<i64>,
    pub title: String,
    pub body: String,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Applies `edit` to the page and saves it, reloading and retrying when
/// someone else saved first.
fn save_with_retry(
    tm: &mut TransactionManager,
    who: &str,
    page: &mut Page,
    edit: impl Fn(&mut Page),
) -> Result<(), Error> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        edit(page);
        match tm.commit_on_success(|tx| page.save(tx)) {
            Ok(()) => {
                println!(
                    "{who}: saved on attempt {attempt}, now at version {:?}",
                    page.version
                );
                return Ok(());
            }
            Err(Error::RecordModified {
                expected, found, ..
            }) => {
                println!(
                    "{who}: conflict on attempt {attempt}: loaded version {expected}, found {found:?}; reloading"
                );
                page.reload(&*tm)?;
            }
            Err(other) => return Err(other),
        }
    }
}

fn main() -> Result<(), BoxError> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("wiki.db");

    // Two writers, as two processes would be: two managers on one file.
    let mut alice = TransactionManager::open(&path)?;
    let mut bob = TransactionManager::open(&path)?;
    alice.execute(
        "CREATE TABLE page (id INTEGER PRIMARY KEY, version INTEGER NOT NULL, title TEXT NOT NULL, body TEXT NOT NULL)",
        [],
    )?;
    let mut page = Page {
        title: "Home".into(),
        body: "Welcome.".into(),
        ..Default::default()
    };
    page.save(&alice)?;
    println!("created page {:?} at version {:?}", page.id, page.version);

    // Both load version 1.
    let mut alices_copy = Page::get(&alice, 1)?;
    let mut bobs_copy = Page::get(&bob, 1)?;

    // Alice saves first.
    save_with_retry(&mut alice, "alice", &mut alices_copy, |p| {
        p.title = "Home page".into();
    })?;

    // Bob's copy is stale: his save is refused, he reloads, reapplies, wins.
    save_with_retry(&mut bob, "bob", &mut bobs_copy, |p| {
        p.body.push_str(" Edited by Bob.");
    })?;

    let final_page = Page::get(&alice, 1)?;
    println!(
        "final: {:?} / {:?} at version {:?}: both edits kept",
        final_page.title, final_page.body, final_page.version
    );
    assert_eq!(final_page.title, "Home page");
    assert_eq!(final_page.body, "Welcome. Edited by Bob.");
    Ok(())
}
