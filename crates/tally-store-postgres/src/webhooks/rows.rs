//! The webhook tables' row structs and their conversions; a value that does
//! not read back is `Corrupt`.

use serde_json::Value as Json;
use tally_store::{
    ClaimedMessage, DeliveryAttempt, MessageStatus, StoreError, StoreResult, WebhookEndpoint,
    WebhookEventType, WebhookMessage,
};

use crate::rows::{corrupt, parse, timestamp, timestamp_opt};

/// The endpoint columns, in `EndpointRow`'s order.
pub(super) const ENDPOINT_COLUMNS: &str =
    "id, description, url, secret, event_types, created_at, updated_at";

/// The message columns with their event's, for `FROM webhook_messages m JOIN
/// webhook_events e`.
pub(super) const MESSAGE_COLUMNS: &str = "m.id, m.endpoint_id, m.event_id, e.event_type, \
     e.data, m.status, m.next_attempt_at, m.created_at";

/// The names of `types`, as the `event_types` column holds them.
pub(super) fn type_names(types: &[WebhookEventType]) -> Vec<String> {
    types.iter().map(|t| t.as_str().to_owned()).collect()
}

fn event_type(text: &str, column: &str) -> StoreResult<WebhookEventType> {
    WebhookEventType::parse(text).ok_or_else(|| corrupt(column, text))
}

fn count(value: i32, column: &str) -> StoreResult<u32> {
    u32::try_from(value).map_err(|e| corrupt(column, e))
}

#[derive(sqlx::FromRow)]
pub(super) struct EndpointRow {
    id: String,
    description: Option<String>,
    url: String,
    secret: String,
    event_types: Vec<String>,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<EndpointRow> for WebhookEndpoint {
    type Error = StoreError;

    fn try_from(row: EndpointRow) -> StoreResult<Self> {
        Ok(WebhookEndpoint {
            id: parse(row.id, "webhook_endpoints.id")?,
            description: row.description,
            url: row.url,
            secret: row.secret,
            event_types: row
                .event_types
                .iter()
                .map(|name| event_type(name, "webhook_endpoints.event_types"))
                .collect::<StoreResult<_>>()?,
            created_at: timestamp(row.created_at, "webhook_endpoints.created_at")?,
            updated_at: timestamp(row.updated_at, "webhook_endpoints.updated_at")?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct MessageRow {
    pub(super) id: String,
    endpoint_id: String,
    event_id: String,
    event_type: String,
    data: Json,
    status: String,
    next_attempt_at: Option<i64>,
    created_at: i64,
}

impl MessageRow {
    /// The message, with the attempts read for it.
    pub(super) fn into_message(
        self,
        attempts: Vec<DeliveryAttempt>,
    ) -> StoreResult<WebhookMessage> {
        Ok(WebhookMessage {
            id: parse(self.id, "webhook_messages.id")?,
            endpoint_id: parse(self.endpoint_id, "webhook_messages.endpoint_id")?,
            event_id: parse(self.event_id, "webhook_messages.event_id")?,
            event_type: event_type(&self.event_type, "webhook_events.event_type")?,
            data: self.data,
            status: MessageStatus::parse(&self.status)
                .ok_or_else(|| corrupt("webhook_messages.status", &self.status))?,
            next_attempt_at: timestamp_opt(
                self.next_attempt_at,
                "webhook_messages.next_attempt_at",
            )?,
            attempts,
            created_at: timestamp(self.created_at, "webhook_messages.created_at")?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct AttemptRow {
    pub(super) message_id: String,
    attempt: i32,
    started_at: i64,
    duration_ms: i64,
    status_code: Option<i32>,
    error: Option<String>,
}

impl TryFrom<AttemptRow> for DeliveryAttempt {
    type Error = StoreError;

    fn try_from(row: AttemptRow) -> StoreResult<Self> {
        Ok(DeliveryAttempt {
            attempt: count(row.attempt, "webhook_attempts.attempt")?,
            started_at: timestamp(row.started_at, "webhook_attempts.started_at")?,
            duration_ms: u64::try_from(row.duration_ms)
                .map_err(|e| corrupt("webhook_attempts.duration_ms", e))?,
            status_code: row
                .status_code
                .map(|code| {
                    u16::try_from(code).map_err(|e| corrupt("webhook_attempts.status_code", e))
                })
                .transpose()?,
            error: row.error,
        })
    }
}

/// A claimed message and its event, as the claim's `RETURNING` reads them;
/// the endpoint's columns come from the endpoint row the claim locked.
#[derive(sqlx::FromRow)]
pub(super) struct ClaimedRow {
    id: String,
    event_id: String,
    event_type: String,
    data: Json,
    attempt_count: i32,
    run_attempts: i32,
}

impl ClaimedRow {
    pub(super) fn into_claimed(self, endpoint: &LockedEndpoint) -> StoreResult<ClaimedMessage> {
        Ok(ClaimedMessage {
            account: parse(endpoint.account_id.clone(), "webhook_endpoints.account_id")?,
            id: parse(self.id, "webhook_messages.id")?,
            endpoint_id: parse(endpoint.id.clone(), "webhook_endpoints.id")?,
            url: endpoint.url.clone(),
            secret: endpoint.secret.clone(),
            event_id: parse(self.event_id, "webhook_messages.event_id")?,
            event_type: event_type(&self.event_type, "webhook_events.event_type")?,
            data: self.data,
            attempt: count(self.attempt_count, "webhook_messages.attempt_count")?,
            run_attempt: count(self.run_attempts, "webhook_messages.run_attempts")?,
        })
    }
}

/// An endpoint with due messages, locked by a claim.
#[derive(sqlx::FromRow)]
pub(super) struct LockedEndpoint {
    pub(super) account_id: String,
    pub(super) id: String,
    url: String,
    secret: String,
}
