//! `WebhookStore` for PostgreSQL (docs/webhooks.md): endpoints, the outbox
//! ([`outbox::insert_webhook_events`], the insert every transaction that
//! causes events calls), the delivery workers' claims, safe across
//! replicas, and the messages' lists.

mod delivery;
pub(crate) mod outbox;
mod rows;

use std::collections::HashMap;

use async_trait::async_trait;
use tally_event::Timestamp;
use tally_store::{
    AccountId, ClaimRequest, ClaimedMessage, DeliveryAttempt, FinishedAttempt, MessageQuery,
    NewWebhookEvent, Page, PageRequest, StoreError, StoreResult, WebhookEndpoint,
    WebhookEndpointId, WebhookMessage, WebhookMessageId, WebhookStore,
};

use crate::rows::total;
use crate::scoped::found;
use crate::{PgStore, map_sqlx_error};
use rows::{AttemptRow, ENDPOINT_COLUMNS, EndpointRow, MESSAGE_COLUMNS, MessageRow, type_names};

const ENDPOINT: &str = "webhook endpoint";
const MESSAGE: &str = "webhook message";

const INSERT_ENDPOINT: &str = "INSERT INTO webhook_endpoints (account_id, id, description, url, \
     secret, event_types, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
const COUNT_ENDPOINTS: &str = "SELECT count(*) FROM webhook_endpoints WHERE account_id = $1";
/// The endpoint row goes first: a dispatch holding it (`FOR SHARE`) commits
/// before, and its messages are deleted with the others.
const DELETE_ENDPOINT: &str = "DELETE FROM webhook_endpoints WHERE account_id = $1 AND id = $2";
const DELETE_ATTEMPTS_OF_ENDPOINT: &str = "DELETE FROM webhook_attempts WHERE account_id = $1 \
     AND message_id IN (SELECT id FROM webhook_messages WHERE account_id = $1 AND endpoint_id = $2)";
const DELETE_MESSAGES_OF_ENDPOINT: &str =
    "DELETE FROM webhook_messages WHERE account_id = $1 AND endpoint_id = $2";
const MESSAGES_FROM: &str = " FROM webhook_messages m JOIN webhook_events e \
     ON e.account_id = m.account_id AND e.id = m.event_id";
const MESSAGE_FILTERS: &str = " WHERE m.account_id = $1 AND ($2::text IS NULL OR m.endpoint_id = $2) \
     AND ($3::text IS NULL OR m.status = $3)";
const ATTEMPTS: &str = "SELECT message_id, attempt, started_at, duration_ms, status_code, error \
     FROM webhook_attempts WHERE account_id = $1 AND message_id = ANY ($2) \
     ORDER BY message_id, attempt";
/// A new run, unless an attempt holds a live lease.
const RETRY: &str = "UPDATE webhook_messages SET status = 'pending', next_attempt_at = $3, \
     run_attempts = 0, lease_until = NULL WHERE account_id = $1 AND id = $2 \
     AND NOT (status = 'delivering' AND lease_until > $3)";
const MESSAGE_EXISTS: &str = "SELECT 1 FROM webhook_messages WHERE account_id = $1 AND id = $2";

fn endpoint_sql(tail: &str) -> String {
    format!("SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE account_id = $1 {tail}")
}

impl PgStore {
    /// The messages of `rows` with their attempts (one query for them all).
    async fn with_attempts(
        &self,
        account: &AccountId,
        rows: Vec<MessageRow>,
    ) -> StoreResult<Vec<WebhookMessage>> {
        let ids: Vec<String> = rows.iter().map(|row| row.id.clone()).collect();
        let attempts: Vec<AttemptRow> = sqlx::query_as(ATTEMPTS)
            .bind(account.as_str())
            .bind(&ids)
            .fetch_all(self.pool())
            .await
            .map_err(map_sqlx_error)?;
        let mut by_message: HashMap<String, Vec<DeliveryAttempt>> = HashMap::new();
        for attempt in attempts {
            let message = attempt.message_id.clone();
            by_message
                .entry(message)
                .or_default()
                .push(DeliveryAttempt::try_from(attempt)?);
        }
        rows.into_iter()
            .map(|row| {
                let attempts = by_message.remove(&row.id).unwrap_or_default();
                row.into_message(attempts)
            })
            .collect()
    }
}

#[async_trait]
impl WebhookStore for PgStore {
    async fn create_webhook_endpoint(
        &self,
        account: &AccountId,
        endpoint: &WebhookEndpoint,
    ) -> StoreResult<WebhookEndpoint> {
        sqlx::query(INSERT_ENDPOINT)
            .bind(account.as_str())
            .bind(endpoint.id.as_str())
            .bind(endpoint.description.as_deref())
            .bind(&endpoint.url)
            .bind(&endpoint.secret)
            .bind(type_names(&endpoint.event_types))
            .bind(endpoint.created_at.as_millis())
            .bind(endpoint.updated_at.as_millis())
            .execute(self.pool())
            .await
            .map_err(map_sqlx_error)?;
        Ok(endpoint.clone())
    }

    async fn get_webhook_endpoint(
        &self,
        account: &AccountId,
        id: &WebhookEndpointId,
    ) -> StoreResult<WebhookEndpoint> {
        let sql = endpoint_sql("AND id = $2");
        self.fetch_scoped::<EndpointRow, _>(&sql, account, id.as_str(), ENDPOINT)
            .await
    }

    async fn list_webhook_endpoints(
        &self,
        account: &AccountId,
        page: PageRequest,
    ) -> StoreResult<Page<WebhookEndpoint>> {
        let sql = endpoint_sql("ORDER BY created_at, id LIMIT $2 OFFSET $3");
        self.page_scoped::<EndpointRow, _>((COUNT_ENDPOINTS, &sql), account, &[], page)
            .await
    }

    async fn update_webhook_endpoint(
        &self,
        account: &AccountId,
        endpoint: &WebhookEndpoint,
    ) -> StoreResult<WebhookEndpoint> {
        let sql = format!(
            "UPDATE webhook_endpoints SET description = $3, url = $4, secret = $5, \
             event_types = $6, updated_at = $7 WHERE account_id = $1 AND id = $2 \
             RETURNING {ENDPOINT_COLUMNS}"
        );
        let row: Option<EndpointRow> = sqlx::query_as(&sql)
            .bind(account.as_str())
            .bind(endpoint.id.as_str())
            .bind(endpoint.description.as_deref())
            .bind(&endpoint.url)
            .bind(&endpoint.secret)
            .bind(type_names(&endpoint.event_types))
            .bind(endpoint.updated_at.as_millis())
            .fetch_optional(self.pool())
            .await
            .map_err(map_sqlx_error)?;
        found(row, ENDPOINT)
    }

    async fn delete_webhook_endpoint(
        &self,
        account: &AccountId,
        id: &WebhookEndpointId,
    ) -> StoreResult<()> {
        let mut tx = self.pool().begin().await.map_err(map_sqlx_error)?;
        let done = sqlx::query(DELETE_ENDPOINT)
            .bind(account.as_str())
            .bind(id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(map_sqlx_error)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found(ENDPOINT));
        }
        for sql in [DELETE_ATTEMPTS_OF_ENDPOINT, DELETE_MESSAGES_OF_ENDPOINT] {
            sqlx::query(sql)
                .bind(account.as_str())
                .bind(id.as_str())
                .execute(&mut *tx)
                .await
                .map_err(map_sqlx_error)?;
        }
        tx.commit().await.map_err(map_sqlx_error)
    }

    async fn record_webhook_event(
        &self,
        account: &AccountId,
        event: &NewWebhookEvent,
    ) -> StoreResult<()> {
        let mut conn = self.pool().acquire().await.map_err(map_sqlx_error)?;
        outbox::insert_webhook_events(&mut conn, account, std::slice::from_ref(event)).await
    }

    async fn dispatch_webhook_events(&self, now: Timestamp, max_events: u32) -> StoreResult<u64> {
        let mut tx = self.pool().begin().await.map_err(map_sqlx_error)?;
        let dispatched = outbox::dispatch(&mut tx, now, max_events).await?;
        tx.commit().await.map_err(map_sqlx_error)?;
        Ok(dispatched)
    }

    async fn claim_webhook_messages(
        &self,
        claim: &ClaimRequest,
    ) -> StoreResult<Vec<ClaimedMessage>> {
        let mut tx = self.pool().begin().await.map_err(map_sqlx_error)?;
        let claimed = delivery::claim(&mut tx, claim).await?;
        tx.commit().await.map_err(map_sqlx_error)?;
        Ok(claimed)
    }

    async fn finish_webhook_attempt(
        &self,
        account: &AccountId,
        id: &WebhookMessageId,
        finished: &FinishedAttempt,
    ) -> StoreResult<bool> {
        let mut tx = self.pool().begin().await.map_err(map_sqlx_error)?;
        let done = delivery::finish(&mut tx, account, id, finished).await?;
        tx.commit().await.map_err(map_sqlx_error)?;
        Ok(done)
    }

    async fn list_webhook_messages(
        &self,
        account: &AccountId,
        query: &MessageQuery,
    ) -> StoreResult<Page<WebhookMessage>> {
        let (limit, offset) = query.page.limit_offset()?;
        let endpoint = query.endpoint_id.as_ref().map(WebhookEndpointId::as_str);
        let status = query.status.map(|s| s.as_str());
        let count = format!("SELECT count(*){MESSAGES_FROM}{MESSAGE_FILTERS}");
        let count: i64 = sqlx::query_scalar(&count)
            .bind(account.as_str())
            .bind(endpoint)
            .bind(status)
            .fetch_one(self.pool())
            .await
            .map_err(map_sqlx_error)?;
        let select = format!(
            "SELECT {MESSAGE_COLUMNS}{MESSAGES_FROM}{MESSAGE_FILTERS} \
             ORDER BY m.created_at DESC, m.id DESC LIMIT $4 OFFSET $5"
        );
        let rows: Vec<MessageRow> = sqlx::query_as(&select)
            .bind(account.as_str())
            .bind(endpoint)
            .bind(status)
            .bind(limit)
            .bind(offset)
            .fetch_all(self.pool())
            .await
            .map_err(map_sqlx_error)?;
        Ok(Page {
            total: total(count),
            items: self.with_attempts(account, rows).await?,
        })
    }

    async fn get_webhook_message(
        &self,
        account: &AccountId,
        id: &WebhookMessageId,
    ) -> StoreResult<WebhookMessage> {
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS}{MESSAGES_FROM} WHERE m.account_id = $1 AND m.id = $2"
        );
        let row: Option<MessageRow> = sqlx::query_as(&sql)
            .bind(account.as_str())
            .bind(id.as_str())
            .fetch_optional(self.pool())
            .await
            .map_err(map_sqlx_error)?;
        let row = row.ok_or(StoreError::not_found(MESSAGE))?;
        let mut messages = self.with_attempts(account, vec![row]).await?;
        messages.pop().ok_or(StoreError::not_found(MESSAGE))
    }

    async fn retry_webhook_message(
        &self,
        account: &AccountId,
        id: &WebhookMessageId,
        now: Timestamp,
    ) -> StoreResult<WebhookMessage> {
        let done = sqlx::query(RETRY)
            .bind(account.as_str())
            .bind(id.as_str())
            .bind(now.as_millis())
            .execute(self.pool())
            .await
            .map_err(map_sqlx_error)?;
        if done.rows_affected() == 0 {
            let exists: Option<i32> = sqlx::query_scalar(MESSAGE_EXISTS)
                .bind(account.as_str())
                .bind(id.as_str())
                .fetch_optional(self.pool())
                .await
                .map_err(map_sqlx_error)?;
            return Err(match exists {
                Some(_) => StoreError::conflict(MESSAGE, "an attempt is in progress"),
                None => StoreError::not_found(MESSAGE),
            });
        }
        self.get_webhook_message(account, id).await
    }
}
