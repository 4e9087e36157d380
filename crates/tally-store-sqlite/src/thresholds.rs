//! `ThresholdStore` for SQLite (migration 0008): a threshold's state moves
//! by one conditional statement, and its webhook events are written in the
//! same write transaction, or neither is.

use std::str::FromStr;

use async_trait::async_trait;
use rust_decimal::Decimal;
use tally_event::{Period, Timestamp};
use tally_store::{
    AccountId, CustomerId, EventSeq, StoreResult, ThresholdChange, ThresholdState, ThresholdStore,
};

use crate::error::{corrupt, db_err};
use crate::open::SqliteStore;
use crate::rows::{id, ts};
use crate::webhooks::outbox::insert_webhook_events;

const ENTITY: &str = "threshold state";

const STATES: &str = "\
SELECT customer_id, threshold_key, period_start, period_end, crossed, usage, seq, version,
       changed_at
FROM threshold_states WHERE account_id = ?1 AND customer_id = ?2 AND period_end > ?3
ORDER BY threshold_key, period_start";
const PAST: &str = "\
SELECT DISTINCT customer_id FROM threshold_states
WHERE account_id = ?1 AND crossed = 1 AND period_end > ?2 ORDER BY customer_id";
const INSERT: &str = "\
INSERT INTO threshold_states (account_id, customer_id, threshold_key, period_start, period_end,
                              crossed, usage, seq, changed_at, version)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
ON CONFLICT (account_id, customer_id, threshold_key, period_start) DO NOTHING";
const UPDATE: &str = "\
UPDATE threshold_states SET crossed = ?6, usage = ?7, seq = ?8, changed_at = ?9, period_end = ?5,
                            version = ?10
WHERE account_id = ?1 AND customer_id = ?2 AND threshold_key = ?3 AND period_start = ?4
  AND version = ?11";

#[derive(sqlx::FromRow)]
struct StateRow {
    customer_id: String,
    threshold_key: String,
    period_start: i64,
    period_end: i64,
    crossed: bool,
    usage: String,
    seq: i64,
    version: i64,
    changed_at: i64,
}

impl TryFrom<StateRow> for ThresholdState {
    type Error = tally_store::StoreError;

    fn try_from(row: StateRow) -> StoreResult<Self> {
        let period = Period::new(ts(row.period_start)?, ts(row.period_end)?)
            .map_err(|e| corrupt("threshold period", e))?;
        Ok(ThresholdState {
            customer_id: id(&row.customer_id, CustomerId::parse)?,
            key: row.threshold_key,
            period,
            crossed: row.crossed,
            usage: Decimal::from_str(&row.usage).map_err(|e| corrupt("usage", e))?,
            seq: EventSeq::new(row.seq)?,
            version: u64::try_from(row.version).map_err(|e| corrupt("version", e))?,
            changed_at: ts(row.changed_at)?,
        })
    }
}

#[async_trait]
impl ThresholdStore for SqliteStore {
    async fn threshold_states(
        &self,
        account: &AccountId,
        customer: &CustomerId,
        after: Timestamp,
    ) -> StoreResult<Vec<ThresholdState>> {
        let rows: Vec<StateRow> = sqlx::query_as(STATES)
            .bind(account.as_str())
            .bind(customer.as_str())
            .bind(after.as_millis())
            .fetch_all(&self.reader)
            .await
            .map_err(db_err(ENTITY))?;
        rows.into_iter().map(ThresholdState::try_from).collect()
    }

    async fn customers_past_thresholds(
        &self,
        account: &AccountId,
        after: Timestamp,
    ) -> StoreResult<Vec<CustomerId>> {
        let ids: Vec<String> = sqlx::query_scalar(PAST)
            .bind(account.as_str())
            .bind(after.as_millis())
            .fetch_all(&self.reader)
            .await
            .map_err(db_err(ENTITY))?;
        ids.iter().map(|text| id(text, CustomerId::parse)).collect()
    }

    async fn change_threshold_state(
        &self,
        account: &AccountId,
        change: &ThresholdChange,
    ) -> StoreResult<bool> {
        let state = &change.state;
        let sql = if change.replaces.is_some() {
            UPDATE
        } else {
            INSERT
        };
        let mut query = sqlx::query(sql)
            .bind(account.as_str())
            .bind(state.customer_id.as_str())
            .bind(&state.key)
            .bind(state.period.start().as_millis())
            .bind(state.period.end().as_millis())
            .bind(state.crossed)
            .bind(state.usage.normalize().to_string())
            .bind(state.seq.get())
            .bind(state.changed_at.as_millis())
            .bind(version_column(state.version)?);
        if let Some(version) = change.replaces {
            query = query.bind(version_column(version)?);
        }
        let mut tx = self.begin_write().await?;
        let done = query.execute(&mut *tx).await.map_err(db_err(ENTITY))?;
        if done.rows_affected() == 0 {
            // Rolled back on drop: nothing was written.
            return Ok(false);
        }
        insert_webhook_events(&mut tx, account, &change.events).await?;
        tx.commit().await.map_err(db_err(ENTITY))?;
        Ok(true)
    }
}

/// A version as the `BIGINT`/`INTEGER` column stores it.
fn version_column(version: u64) -> StoreResult<i64> {
    i64::try_from(version)
        .map_err(|_| tally_store::StoreError::InvalidInput("threshold state version".into()))
}
