//! `WebhookStore` for SQLite (docs/webhooks.md): endpoints, the outbox
//! ([`outbox::insert_webhook_events`], the insert every transaction that
//! causes events calls), the delivery worker's claims, and the messages'
//! lists.

mod delivery;
pub(crate) mod outbox;
mod rows;

use async_trait::async_trait;
use sqlx::{QueryBuilder, Sqlite};
use tally_event::Timestamp;
use tally_store::{
    AccountId, ClaimRequest, ClaimedMessage, DeliveryAttempt, FinishedAttempt, MessageQuery,
    NewWebhookEvent, Page, PageRequest, StoreError, StoreResult, WebhookEndpoint,
    WebhookEndpointId, WebhookMessage, WebhookMessageId, WebhookStore,
};

use crate::error::db_err;
use crate::open::SqliteStore;
use crate::scoped::one_row;
use rows::{AttemptRow, ENDPOINT_COLUMNS, EndpointRow, MESSAGE_COLUMNS, MessageRow, types_text};

const ENDPOINT: &str = "webhook endpoint";
const MESSAGE: &str = "webhook message";

const INSERT_ENDPOINT: &str = "\
INSERT INTO webhook_endpoints (account_id, id, description, url, secret, event_types,
                               created_at, updated_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
const UPDATE_ENDPOINT: &str = "\
UPDATE webhook_endpoints SET description = ?3, url = ?4, secret = ?5, event_types = ?6,
                             updated_at = ?7
WHERE account_id = ?1 AND id = ?2";
const COUNT_ENDPOINTS: &str = "SELECT COUNT(*) FROM webhook_endpoints WHERE account_id = ?1";
const DELETE_ATTEMPTS_OF_ENDPOINT: &str = "\
DELETE FROM webhook_attempts WHERE account_id = ?1 AND message_id IN
    (SELECT id FROM webhook_messages WHERE account_id = ?1 AND endpoint_id = ?2)";
const DELETE_MESSAGES_OF_ENDPOINT: &str =
    "DELETE FROM webhook_messages WHERE account_id = ?1 AND endpoint_id = ?2";
const DELETE_ENDPOINT: &str = "DELETE FROM webhook_endpoints WHERE account_id = ?1 AND id = ?2";
/// A new run, unless an attempt holds a live lease.
const RETRY: &str = "\
UPDATE webhook_messages SET status = 'pending', next_attempt_at = ?3, run_attempts = 0,
                            lease_until = NULL
WHERE account_id = ?1 AND id = ?2 AND NOT (status = 'delivering' AND lease_until > ?3)";
const MESSAGE_EXISTS: &str = "SELECT 1 FROM webhook_messages WHERE account_id = ?1 AND id = ?2";

fn endpoint_sql(tail: &str) -> String {
    format!("SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE account_id = ?1 {tail}")
}

fn push_message_filters(
    builder: &mut QueryBuilder<'_, Sqlite>,
    account: &AccountId,
    query: &MessageQuery,
) {
    builder
        .push(" WHERE m.account_id = ")
        .push_bind(account.as_str().to_owned());
    if let Some(endpoint) = &query.endpoint_id {
        builder
            .push(" AND m.endpoint_id = ")
            .push_bind(endpoint.as_str().to_owned());
    }
    if let Some(status) = query.status {
        builder.push(" AND m.status = ").push_bind(status.as_str());
    }
}

const MESSAGES_FROM: &str = " FROM webhook_messages m JOIN webhook_events e \
     ON e.account_id = m.account_id AND e.id = m.event_id";

impl SqliteStore {
    /// The messages of `rows` with their attempts (one query for them all).
    async fn with_attempts(
        &self,
        account: &AccountId,
        rows: Vec<MessageRow>,
    ) -> StoreResult<Vec<WebhookMessage>> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let mut select = QueryBuilder::<Sqlite>::new(
            "SELECT message_id, attempt, started_at, duration_ms, status_code, error \
             FROM webhook_attempts WHERE account_id = ",
        );
        select.push_bind(account.as_str().to_owned());
        select.push(" AND message_id IN (");
        let mut ids = select.separated(", ");
        for row in &rows {
            ids.push_bind(row.id().to_owned());
        }
        select.push(") ORDER BY message_id, attempt");
        let attempts: Vec<AttemptRow> = select
            .build_query_as()
            .fetch_all(&self.reader)
            .await
            .map_err(db_err(MESSAGE))?;
        let mut by_message: std::collections::HashMap<String, Vec<DeliveryAttempt>> =
            std::collections::HashMap::new();
        for attempt in attempts {
            let message = attempt.message_id.clone();
            by_message
                .entry(message)
                .or_default()
                .push(DeliveryAttempt::try_from(attempt)?);
        }
        rows.into_iter()
            .map(|row| {
                let attempts = by_message.remove(row.id()).unwrap_or_default();
                row.into_message(attempts)
            })
            .collect()
    }
}

#[async_trait]
impl WebhookStore for SqliteStore {
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
            .bind(types_text(&endpoint.event_types))
            .bind(endpoint.created_at.as_millis())
            .bind(endpoint.updated_at.as_millis())
            .execute(&self.writer)
            .await
            .map_err(db_err(ENDPOINT))?;
        Ok(endpoint.clone())
    }

    async fn get_webhook_endpoint(
        &self,
        account: &AccountId,
        id: &WebhookEndpointId,
    ) -> StoreResult<WebhookEndpoint> {
        let sql = endpoint_sql("AND id = ?2");
        self.fetch_scoped::<EndpointRow, _>(&sql, account, id.as_str(), ENDPOINT)
            .await
    }

    async fn list_webhook_endpoints(
        &self,
        account: &AccountId,
        page: PageRequest,
    ) -> StoreResult<Page<WebhookEndpoint>> {
        let sql = endpoint_sql("ORDER BY created_at, id LIMIT ?2 OFFSET ?3");
        self.page_scoped::<EndpointRow, _>((COUNT_ENDPOINTS, &sql), account, page, ENDPOINT)
            .await
    }

    async fn update_webhook_endpoint(
        &self,
        account: &AccountId,
        endpoint: &WebhookEndpoint,
    ) -> StoreResult<WebhookEndpoint> {
        let done = sqlx::query(UPDATE_ENDPOINT)
            .bind(account.as_str())
            .bind(endpoint.id.as_str())
            .bind(endpoint.description.as_deref())
            .bind(&endpoint.url)
            .bind(&endpoint.secret)
            .bind(types_text(&endpoint.event_types))
            .bind(endpoint.updated_at.as_millis())
            .execute(&self.writer)
            .await
            .map_err(db_err(ENDPOINT))?;
        one_row(done.rows_affected(), ENDPOINT)?;
        self.get_webhook_endpoint(account, &endpoint.id).await
    }

    async fn delete_webhook_endpoint(
        &self,
        account: &AccountId,
        id: &WebhookEndpointId,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        for sql in [DELETE_ATTEMPTS_OF_ENDPOINT, DELETE_MESSAGES_OF_ENDPOINT] {
            sqlx::query(sql)
                .bind(account.as_str())
                .bind(id.as_str())
                .execute(&mut *tx)
                .await
                .map_err(db_err(ENDPOINT))?;
        }
        let done = sqlx::query(DELETE_ENDPOINT)
            .bind(account.as_str())
            .bind(id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db_err(ENDPOINT))?;
        one_row(done.rows_affected(), ENDPOINT)?;
        tx.commit().await.map_err(db_err(ENDPOINT))
    }

    async fn record_webhook_event(
        &self,
        account: &AccountId,
        event: &NewWebhookEvent,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        outbox::insert_webhook_events(&mut tx, account, std::slice::from_ref(event)).await?;
        tx.commit().await.map_err(db_err("webhook event"))
    }

    async fn dispatch_webhook_events(&self, now: Timestamp, max_events: u32) -> StoreResult<u64> {
        let mut tx = self.begin_write().await?;
        let dispatched = outbox::dispatch(&mut tx, now, max_events).await?;
        tx.commit().await.map_err(db_err("webhook event"))?;
        Ok(dispatched)
    }

    async fn claim_webhook_messages(
        &self,
        claim: &ClaimRequest,
    ) -> StoreResult<Vec<ClaimedMessage>> {
        let mut tx = self.begin_write().await?;
        let claimed = delivery::claim(&mut tx, claim).await?;
        tx.commit().await.map_err(db_err(MESSAGE))?;
        Ok(claimed)
    }

    async fn finish_webhook_attempt(
        &self,
        account: &AccountId,
        id: &WebhookMessageId,
        finished: &FinishedAttempt,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let done = delivery::finish(&mut tx, account, id, finished).await?;
        tx.commit().await.map_err(db_err(MESSAGE))?;
        Ok(done)
    }

    async fn list_webhook_messages(
        &self,
        account: &AccountId,
        query: &MessageQuery,
    ) -> StoreResult<Page<WebhookMessage>> {
        let (limit, offset) = query.page.limit_offset()?;
        let mut count = QueryBuilder::new(format!("SELECT COUNT(*){MESSAGES_FROM}"));
        push_message_filters(&mut count, account, query);
        let total: i64 = count
            .build_query_scalar()
            .fetch_one(&self.reader)
            .await
            .map_err(db_err(MESSAGE))?;
        let mut select = QueryBuilder::new(format!("SELECT {MESSAGE_COLUMNS}{MESSAGES_FROM}"));
        push_message_filters(&mut select, account, query);
        select.push(" ORDER BY m.created_at DESC, m.id DESC LIMIT ");
        select.push_bind(limit).push(" OFFSET ").push_bind(offset);
        let rows: Vec<MessageRow> = select
            .build_query_as()
            .fetch_all(&self.reader)
            .await
            .map_err(db_err(MESSAGE))?;
        Ok(Page {
            total: u64::try_from(total).unwrap_or_default(),
            items: self.with_attempts(account, rows).await?,
        })
    }

    async fn get_webhook_message(
        &self,
        account: &AccountId,
        id: &WebhookMessageId,
    ) -> StoreResult<WebhookMessage> {
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS}{MESSAGES_FROM} WHERE m.account_id = ?1 AND m.id = ?2"
        );
        let row: Option<MessageRow> = sqlx::query_as(&sql)
            .bind(account.as_str())
            .bind(id.as_str())
            .fetch_optional(&self.reader)
            .await
            .map_err(db_err(MESSAGE))?;
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
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(RETRY)
            .bind(account.as_str())
            .bind(id.as_str())
            .bind(now.as_millis())
            .execute(&mut *tx)
            .await
            .map_err(db_err(MESSAGE))?;
        if done.rows_affected() == 0 {
            let exists: Option<i64> = sqlx::query_scalar(MESSAGE_EXISTS)
                .bind(account.as_str())
                .bind(id.as_str())
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err(MESSAGE))?;
            return Err(match exists {
                Some(_) => StoreError::conflict(MESSAGE, "an attempt is in progress"),
                None => StoreError::not_found(MESSAGE),
            });
        }
        tx.commit().await.map_err(db_err(MESSAGE))?;
        self.get_webhook_message(account, id).await
    }
}
