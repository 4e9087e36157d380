//! The physical reference of the ingestion benchmark: the same rows written
//! into a minimal table, with nothing of Tally in the way.
//!
//! [`RawBaseline`] opens its own database file with the store's connection
//! settings (WAL, `synchronous=FULL`, the same page cache) and a table holding
//! only what a usage store cannot do without: the rows, the unique key and the
//! usage index. [`RawBaseline::insert`] writes a batch in one `BEGIN IMMEDIATE`
//! transaction with multi-row `INSERT`s of the whole batch (as many rows per
//! statement as SQLite's parameter limit allows): no versions, no sequence, no
//! lookups, no outcome per event. `tally-bench raw-sqlite` drives it; the
//! server never does.

use std::path::Path;

use sqlx::SqlitePool;
use sqlx::sqlite::SqliteConnectOptions;
use tally_store::StoreResult;

use crate::error::db_err;
use crate::events::upsert::repeated;
use crate::open::{SqliteOptions, SqliteStoreError, connect_options, pool};

const SCHEMA: [&str; 2] = [
    "CREATE TABLE IF NOT EXISTS raw_events (
        account_id TEXT NOT NULL, event_type TEXT NOT NULL, record_id TEXT NOT NULL,
        id TEXT NOT NULL, customer_id TEXT NOT NULL, ts INTEGER NOT NULL,
        record TEXT NOT NULL, ingested_at INTEGER NOT NULL,
        UNIQUE (account_id, event_type, record_id)) STRICT",
    "CREATE INDEX IF NOT EXISTS raw_usage
        ON raw_events (account_id, customer_id, event_type, ts, record_id)",
];
const INSERT_HEAD: &str = "INSERT INTO raw_events \
(account_id, event_type, record_id, id, customer_id, ts, record, ingested_at) VALUES ";
const INSERT_ROW: &str = "(?, ?, ?, ?, ?, ?, ?, ?)";
/// Rows per statement: SQLite allows 32 766 parameters, 8 per row.
const ROWS_PER_STATEMENT: usize = 4_000;

/// One event as the baseline writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawEventRow {
    /// The account's id.
    pub account_id: String,
    /// The event type, already validated.
    pub event_type: String,
    /// The record id, already normalized (the key with `event_type`).
    pub record_id: String,
    /// The event id (`evt_…`).
    pub id: String,
    /// The resolved customer's `cus_` id.
    pub customer_id: String,
    /// Milliseconds since the Unix epoch.
    pub timestamp_ms: i64,
    /// The record as the store keeps it: `Record::to_json` as text.
    pub record_json: String,
    /// When the row was received, milliseconds since the Unix epoch.
    pub ingested_at_ms: i64,
}

/// A minimal events table in its own database file.
#[derive(Debug, Clone)]
pub struct RawBaseline {
    pool: SqlitePool,
}

impl RawBaseline {
    /// Opens (creating) the file at `path` with the store's settings `options`
    /// and creates the table.
    pub async fn open(
        path: impl AsRef<Path>,
        options: &SqliteOptions,
    ) -> Result<Self, SqliteStoreError> {
        let connect = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true);
        let pool = pool(connect_options(connect, options), 1).await?;
        for statement in SCHEMA {
            sqlx::query(statement)
                .execute(&pool)
                .await
                .map_err(SqliteStoreError::Open)?;
        }
        Ok(Self { pool })
    }

    /// Inserts `rows` in one transaction; returns how many were written.
    pub async fn insert(&self, rows: &[RawEventRow]) -> StoreResult<u64> {
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db_err("event"))?;
        let mut written = 0;
        for chunk in rows.chunks(ROWS_PER_STATEMENT) {
            let sql = repeated(INSERT_HEAD, INSERT_ROW, chunk.len(), "");
            let mut query = sqlx::query(&sql);
            for row in chunk {
                query = query
                    .bind(row.account_id.as_str())
                    .bind(row.event_type.as_str())
                    .bind(row.record_id.as_str())
                    .bind(row.id.as_str())
                    .bind(row.customer_id.as_str())
                    .bind(row.timestamp_ms)
                    .bind(row.record_json.as_str())
                    .bind(row.ingested_at_ms);
            }
            let done = query.execute(&mut *tx).await.map_err(db_err("event"))?;
            written += done.rows_affected();
        }
        tx.commit().await.map_err(db_err("event"))?;
        Ok(written)
    }

    /// How many rows the table holds.
    pub async fn count(&self) -> StoreResult<u64> {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM raw_events")
            .fetch_one(&self.pool)
            .await
            .map_err(db_err("event"))?;
        Ok(u64::try_from(count).unwrap_or_default())
    }

    /// Closes the connection (checkpointing the WAL).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}
