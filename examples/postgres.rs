//! The modes on PostgreSQL, against the server in TXMANAGER_PG_URL.
//!
//! ```sh
//! scripts/with-postgres.sh cargo run --features postgres --example postgres
//! ```
//!
//! It shows a transfer that commits as one unit, a block that swallowed a
//! failed statement (PostgreSQL aborts the transaction; txmanager rolls back
//! and says so instead of a COMMIT that would silently discard the work),
//! and a serializable block retried after a concurrent update.

use std::sync::atomic::{AtomicBool, Ordering};

use txmanager::{Error, PgBlockOptions, PgIsolation, Postgres, RetryPolicy, TransactionManager};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("TXMANAGER_PG_URL").map_err(|_| {
        "TXMANAGER_PG_URL is not set: run `scripts/with-postgres.sh cargo run --features postgres --example postgres`"
    })?;
    let mut tm = TransactionManager::<Postgres>::connect(&url)?;
    tm.execute_batch(
        "DROP TABLE IF EXISTS demo_account;
         CREATE TABLE demo_account (id BIGINT PRIMARY KEY, balance BIGINT NOT NULL);
         INSERT INTO demo_account VALUES (1, 100), (2, 0);",
    )?;
    let balances = |tm: &TransactionManager<Postgres>| -> Result<(i64, i64), Error> {
        let rows = tm.query("SELECT balance FROM demo_account ORDER BY id", &[])?;
        Ok((rows[0].get(0), rows[1].get(0)))
    };

    // 1. Both updates commit together, or neither does.
    tm.commit_on_success(|tx| {
        tx.execute(
            "UPDATE demo_account SET balance = balance - 30 WHERE id = 1",
            &[],
        )?;
        tx.execute(
            "UPDATE demo_account SET balance = balance + 30 WHERE id = 2",
            &[],
        )?;
        Ok::<_, Error>(())
    })?;
    println!("after the transfer: {:?}", balances(&tm)?);

    // 2. A statement fails and the closure ignores it: PostgreSQL has
    //    aborted the transaction, so the block rolls back and fails.
    let swallowed = tm.commit_on_success(|tx| {
        tx.execute(
            "UPDATE demo_account SET balance = balance - 50 WHERE id = 1",
            &[],
        )?;
        let _ignored = tx.execute("INSERT INTO demo_account VALUES (1, 0)", &[]); // duplicate key
        Ok::<_, Error>(())
    });
    println!(
        "a block that swallowed an error: {}",
        swallowed.unwrap_err()
    );
    println!("balances unchanged: {:?}", balances(&tm)?);

    // 3. SERIALIZABLE: a concurrent update makes the first run fail with
    //    40001; the retry helper runs the whole block again.
    tm.set_block_options(PgBlockOptions::default().with_isolation(PgIsolation::Serializable));
    let other = TransactionManager::<Postgres>::connect(&url)?;
    let interfered = AtomicBool::new(false);
    let done = tm.commit_on_success_with_retry(&RetryPolicy::default(), |tx| {
        let balance: i64 = tx
            .query_one("SELECT balance FROM demo_account WHERE id = 2", &[])?
            .get(0);
        if !interfered.swap(true, Ordering::SeqCst) {
            other.execute(
                "UPDATE demo_account SET balance = balance + 5 WHERE id = 2",
                &[],
            )?;
        }
        tx.execute(
            "UPDATE demo_account SET balance = $1 WHERE id = 2",
            &[&(balance + 1)],
        )
    })?;
    println!(
        "serializable read-modify-write took {} attempts; balances {:?}",
        done.attempts,
        balances(&tm)?
    );
    tm.execute_batch("DROP TABLE demo_account")?;
    Ok(())
}
