//! Rows written as they are: the baseline of the ingestion benchmark.
//!
//! DESIGN §9 compares ingestion over HTTP with "a raw bulk insert of the same
//! rows, with the same keys and indexes". [`SqliteStore::upsert_raw_rows`] is
//! that insert: the classic loop of one prepared single-row upsert per event
//! (the statement the store used before it batched rows) on the store's one writer
//! connection (`synchronous=FULL`), one `BEGIN IMMEDIATE` transaction per call,
//! fed rows whose record is already JSON text. No validation, no id checks, no
//! customer resolution and no outcome per event: only what SQLite must do.
//! `tally-bench raw-sqlite` drives it; the server never does.

use tally_store::{AccountId, StoreResult};

use crate::error::db_err;
use crate::open::SqliteStore;

/// The single-row upsert. `RETURNING` yields a row when the event was created or
/// updated, none when the `WHERE` of `DO UPDATE` refused an older event.
const UPSERT_EVENT: &str = "\
INSERT INTO events (account_id, event_type, record_id, id, customer_id, ts, record, ingested_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
ON CONFLICT (account_id, event_type, record_id) DO UPDATE SET
    customer_id = excluded.customer_id,
    ts = excluded.ts,
    record = excluded.record,
    ingested_at = excluded.ingested_at,
    revision = events.revision + 1
WHERE excluded.ts >= events.ts
RETURNING id, revision";

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
    /// Upserts `rows` for `account` in one write transaction with the statement
    /// `EventStore::upsert_events` used before it batched rows, and returns how many rows the
    /// statement wrote (created or updated; a stale row writes nothing).
    pub async fn upsert_raw_rows(
        &self,
        account: &AccountId,
        rows: &[RawEventRow],
    ) -> StoreResult<u64> {
        let mut tx = self.begin_write().await?;
        let mut written = 0;
        for row in rows {
            let returned: Option<(String, i64)> = sqlx::query_as(UPSERT_EVENT)
                .bind(account.as_str())
                .bind(row.event_type.as_str())
                .bind(row.record_id.as_str())
                .bind(row.id.as_str())
                .bind(row.customer_id.as_str())
                .bind(row.timestamp_ms)
                .bind(row.record_json.as_str())
                .bind(row.ingested_at_ms)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err("event"))?;
            written += u64::from(returned.is_some());
        }
        tx.commit().await.map_err(db_err("event"))?;
        Ok(written)
    }
}
