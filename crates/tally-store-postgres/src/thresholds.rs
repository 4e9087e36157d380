//! `ThresholdStore` for PostgreSQL (migration 0008): a threshold's state
//! moves by one conditional statement (an insert that does nothing on a
//! conflict, or an update guarded by the state it replaces), and its webhook
//! events are written in the same transaction, or neither is. Row locks make
//! the compare-and-set exact across replicas.

use std::str::FromStr;

use async_trait::async_trait;
use rust_decimal::Decimal;
use tally_event::{Period, Timestamp};
use tally_store::{
    AccountId, CustomerId, EventSeq, StoreResult, ThresholdChange, ThresholdState, ThresholdStore,
};

use crate::rows::{corrupt, parse, timestamp};
use crate::webhooks::outbox::insert_webhook_events;
use crate::{PgStore, map_sqlx_error};

const STATES: &str = "SELECT customer_id, threshold_key, period_start, period_end, crossed, \
     usage, seq, version, changed_at FROM threshold_states \
     WHERE account_id = $1 AND customer_id = $2 AND period_end > $3 \
     ORDER BY threshold_key, period_start";
const PAST: &str = "SELECT DISTINCT customer_id FROM threshold_states \
     WHERE account_id = $1 AND crossed AND period_end > $2 ORDER BY customer_id";
const INSERT: &str = "INSERT INTO threshold_states (account_id, customer_id, threshold_key, \
     period_start, period_end, crossed, usage, seq, changed_at, version) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
     ON CONFLICT (account_id, customer_id, threshold_key, period_start) DO NOTHING";
const UPDATE: &str = "UPDATE threshold_states SET crossed = $6, usage = $7, seq = $8, \
     changed_at = $9, period_end = $5, version = $10 \
     WHERE account_id = $1 AND customer_id = $2 AND threshold_key = $3 AND period_start = $4 \
     AND version = $11";

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
        let start = timestamp(row.period_start, "period_start")?;
        let end = timestamp(row.period_end, "period_end")?;
        let period = Period::new(start, end).map_err(|e| corrupt("period", e))?;
        Ok(ThresholdState {
            customer_id: parse::<CustomerId>(row.customer_id, "customer_id")?,
            key: row.threshold_key,
            period,
            crossed: row.crossed,
            usage: Decimal::from_str(&row.usage).map_err(|e| corrupt("usage", e))?,
            seq: EventSeq::new(row.seq)?,
            version: u64::try_from(row.version).map_err(|e| corrupt("version", e))?,
            changed_at: timestamp(row.changed_at, "changed_at")?,
        })
    }
}

#[async_trait]
impl ThresholdStore for PgStore {
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
            .fetch_all(&self.pool)
            .await
            .map_err(map_sqlx_error)?;
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
            .fetch_all(&self.pool)
            .await
            .map_err(map_sqlx_error)?;
        ids.into_iter()
            .map(|id| parse::<CustomerId>(id, "customer_id"))
            .collect()
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
        let mut tx = self.pool.begin().await.map_err(map_sqlx_error)?;
        let done = query.execute(&mut *tx).await.map_err(map_sqlx_error)?;
        if done.rows_affected() == 0 {
            // Rolled back on drop: nothing was written.
            return Ok(false);
        }
        insert_webhook_events(&mut tx, account, &change.events).await?;
        tx.commit().await.map_err(map_sqlx_error)?;
        Ok(true)
    }
}

/// A version as the `BIGINT`/`INTEGER` column stores it.
fn version_column(version: u64) -> StoreResult<i64> {
    i64::try_from(version)
        .map_err(|_| tally_store::StoreError::InvalidInput("threshold state version".into()))
}
