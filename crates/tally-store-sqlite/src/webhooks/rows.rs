//! The webhook tables' row structs and their conversions; a value that does
//! not read back is `Corrupt`.

use tally_store::{
    AccountId, ClaimedMessage, DeliveryAttempt, MessageStatus, StoreError, StoreResult,
    WebhookEndpoint, WebhookEndpointId, WebhookEventId, WebhookEventType, WebhookMessage,
    WebhookMessageId,
};

use crate::error::corrupt;
use crate::rows::{id, json, ts};

/// The endpoint columns, in `EndpointRow`'s order.
pub(super) const ENDPOINT_COLUMNS: &str =
    "id, description, url, secret, event_types, created_at, updated_at";

/// The message columns with their event's, for `FROM webhook_messages m JOIN
/// webhook_events e`.
pub(super) const MESSAGE_COLUMNS: &str = "m.id, m.endpoint_id, m.event_id, e.event_type, \
     e.data, m.status, m.next_attempt_at, m.created_at";

/// The event types as stored: a JSON array of names.
pub(super) fn types_text(types: &[WebhookEventType]) -> String {
    let names: Vec<&str> = types.iter().map(|t| t.as_str()).collect();
    serde_json::Value::from(names).to_string()
}

fn event_type(text: &str) -> StoreResult<WebhookEventType> {
    WebhookEventType::parse(text).ok_or_else(|| corrupt("webhook event type", text))
}

#[derive(sqlx::FromRow)]
pub(super) struct EndpointRow {
    id: String,
    description: Option<String>,
    url: String,
    secret: String,
    event_types: String,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<EndpointRow> for WebhookEndpoint {
    type Error = StoreError;

    fn try_from(row: EndpointRow) -> StoreResult<Self> {
        let names: Vec<String> = serde_json::from_str(&row.event_types)
            .map_err(|e| corrupt("webhook_endpoints.event_types", e))?;
        Ok(WebhookEndpoint {
            id: id(&row.id, WebhookEndpointId::parse)?,
            description: row.description,
            url: row.url,
            secret: row.secret,
            event_types: names
                .iter()
                .map(|name| event_type(name))
                .collect::<StoreResult<_>>()?,
            created_at: ts(row.created_at)?,
            updated_at: ts(row.updated_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct MessageRow {
    id: String,
    endpoint_id: String,
    event_id: String,
    event_type: String,
    data: String,
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
            id: id(&self.id, WebhookMessageId::parse)?,
            endpoint_id: id(&self.endpoint_id, WebhookEndpointId::parse)?,
            event_id: id(&self.event_id, WebhookEventId::parse)?,
            event_type: event_type(&self.event_type)?,
            data: json(&self.data)?,
            status: MessageStatus::parse(&self.status)
                .ok_or_else(|| corrupt("webhook_messages.status", &self.status))?,
            next_attempt_at: self.next_attempt_at.map(ts).transpose()?,
            attempts,
            created_at: ts(self.created_at)?,
        })
    }

    pub(super) fn id(&self) -> &str {
        &self.id
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct AttemptRow {
    pub(super) message_id: String,
    attempt: i64,
    started_at: i64,
    duration_ms: i64,
    status_code: Option<i64>,
    error: Option<String>,
}

impl TryFrom<AttemptRow> for DeliveryAttempt {
    type Error = StoreError;

    fn try_from(row: AttemptRow) -> StoreResult<Self> {
        let number = |column: &str, value: i64| corrupt(column, value);
        Ok(DeliveryAttempt {
            attempt: u32::try_from(row.attempt)
                .map_err(|_| number("webhook_attempts.attempt", row.attempt))?,
            started_at: ts(row.started_at)?,
            duration_ms: u64::try_from(row.duration_ms)
                .map_err(|_| number("webhook_attempts.duration_ms", row.duration_ms))?,
            status_code: row
                .status_code
                .map(|code| {
                    u16::try_from(code).map_err(|_| number("webhook_attempts.status_code", code))
                })
                .transpose()?,
            error: row.error,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct ClaimedRow {
    account_id: String,
    id: String,
    endpoint_id: String,
    url: String,
    secret: String,
    event_id: String,
    event_type: String,
    data: String,
    attempt_count: i64,
    run_attempts: i64,
}

impl TryFrom<ClaimedRow> for ClaimedMessage {
    type Error = StoreError;

    fn try_from(row: ClaimedRow) -> StoreResult<Self> {
        let count =
            |column: &str, value: i64| u32::try_from(value).map_err(|_| corrupt(column, value));
        Ok(ClaimedMessage {
            account: id(&row.account_id, AccountId::parse)?,
            id: id(&row.id, WebhookMessageId::parse)?,
            endpoint_id: id(&row.endpoint_id, WebhookEndpointId::parse)?,
            url: row.url,
            secret: row.secret,
            event_id: id(&row.event_id, WebhookEventId::parse)?,
            event_type: event_type(&row.event_type)?,
            data: json(&row.data)?,
            attempt: count("webhook_messages.attempt_count", row.attempt_count)?,
            run_attempt: count("webhook_messages.run_attempts", row.run_attempts)?,
        })
    }
}
