//! Rows written as they are: the baseline of the ingestion benchmark.
//!
//! DESIGN §9 compares ingestion over HTTP with "a raw bulk insert of the same
//! rows, with the same keys and indexes". [`SqliteStore::upsert_raw_rows`] is
//! that insert: the classic loop of one prepared single-row statement per event
//! (the store's own `INSERT … ON CONFLICT … DO UPDATE … WHERE` with one row,
//! where the store writes up to 256 rows per statement) on the store's one writer
//! connection (`synchronous=FULL`), one `BEGIN IMMEDIATE` transaction per call,
//! fed rows whose record is already JSON text. No validation, no id checks, no
//! customer resolution and no outcome per event: only what SQLite must do.
//! `tally-bench raw-sqlite` drives it; the server never does.

use tally_store::{AccountId, StoreResult};

use crate::error::db_err;
use crate::open::SqliteStore;
use crate::upsert::{INSERT_HEAD, INSERT_ROW, INSERT_TAIL};

/// One `events` row, ready to bind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawEventRow {
    /// The event type, already validated.
    pub event_type: String,
    /// The record id, already normalized (the key with `event_type`).
    pub record_id: String,
    /// The event id (`evt_…`); kept only when the row is created.
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

impl SqliteStore {
    /// Upserts `rows` for `account` in one write transaction, one prepared
    /// single-row statement per row (the store's own upsert with one row), and
    /// returns how many rows the statement wrote (created or updated; a stale
    /// row writes nothing).
    pub async fn upsert_raw_rows(
        &self,
        account: &AccountId,
        rows: &[RawEventRow],
    ) -> StoreResult<u64> {
        let statement = format!("{INSERT_HEAD}{INSERT_ROW}{INSERT_TAIL}");
        let mut tx = self.begin_write().await?;
        let mut written = 0;
        for row in rows {
            let done = sqlx::query(&statement)
                .bind(account.as_str())
                .bind(row.event_type.as_str())
                .bind(row.record_id.as_str())
                .bind(row.id.as_str())
                .bind(row.customer_id.as_str())
                .bind(row.timestamp_ms)
                .bind(row.record_json.as_str())
                .bind(row.ingested_at_ms)
                .execute(&mut *tx)
                .await
                .map_err(db_err("event"))?;
            written += done.rows_affected();
        }
        tx.commit().await.map_err(db_err("event"))?;
        Ok(written)
    }
}
