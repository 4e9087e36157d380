//! What `synchronous=FULL` costs over `NORMAL` in WAL mode: commits per second
//! of single-row transactions and rows per second of 1000-row transactions.
//!
//! `cargo run --release -p tally-store-sqlite --example sync_cost [DIR]`

use std::str::FromStr;
use std::time::Instant;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

const SINGLE_COMMITS: u32 = 500;
const BATCHES: u32 = 20;
const BATCH_ROWS: u32 = 1_000;

async fn measure(
    dir: &std::path::Path,
    sync: SqliteSynchronous,
    name: &str,
) -> Result<(), sqlx::Error> {
    let options = SqliteConnectOptions::from_str(&format!("sqlite://{}/{name}.db", dir.display()))?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(sync);
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await?;
    sqlx::query("CREATE TABLE t (k TEXT PRIMARY KEY, v TEXT NOT NULL)")
        .execute(&pool)
        .await?;
    let started = Instant::now();
    for i in 0..SINGLE_COMMITS {
        sqlx::query("INSERT INTO t VALUES (?1, ?2)")
            .bind(format!("s{i}"))
            .bind("x")
            .execute(&pool)
            .await?;
    }
    let single = f64::from(SINGLE_COMMITS) / started.elapsed().as_secs_f64();
    let started = Instant::now();
    for b in 0..BATCHES {
        let mut tx = pool.begin().await?;
        for i in 0..BATCH_ROWS {
            sqlx::query("INSERT INTO t VALUES (?1, ?2)")
                .bind(format!("b{b}-{i}"))
                .bind("{\"id\":1,\"amount\":2500}")
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
    }
    let rows = f64::from(BATCHES * BATCH_ROWS) / started.elapsed().as_secs_f64();
    println!(
        "{name:>6}: {single:>8.0} single-row commits/s, {rows:>8.0} rows/s in 1000-row commits"
    );
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), sqlx::Error> {
    let dir = std::env::args()
        .nth(1)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let dir = dir.join(format!("tally-sync-cost-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    measure(&dir, SqliteSynchronous::Full, "full").await?;
    measure(&dir, SqliteSynchronous::Normal, "normal").await?;
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
