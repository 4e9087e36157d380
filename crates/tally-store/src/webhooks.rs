//! Webhooks as the store keeps them (docs/webhooks.md): endpoints, the
//! outbox of events, and the messages that deliver each event to each
//! endpoint, with their attempts.
//!
//! The outbox is a table: an event row is written in the transaction of the
//! change that causes it (an invoice created or finalized, a usage threshold's
//! state moved), so a change is never committed without its event,
//! nor an event without its change. A dispatcher later turns each event into
//! one message per endpoint subscribed to its type, and delivery workers
//! claim due messages under a lease, so that a worker that dies mid-delivery
//! loses nothing: its messages are claimed again when the lease expires.
//!
//! The store decides nothing about timing: callers pass `now`, the lease's
//! end and each retry's instant ([`FinishedAttempt`]).

use std::fmt;

use tally_event::Timestamp;

use crate::catalog::Invoice;
use crate::ids::{AccountId, WebhookEndpointId, WebhookEventId, WebhookMessageId, derived_base62};
use crate::page::PageRequest;

/// What happened: the `event_type` of a webhook payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WebhookEventType {
    /// A draft invoice was created.
    InvoiceCreated,
    /// An invoice was finalized: its lines are frozen.
    InvoiceFinalized,
    /// `POST /v1/events/prices` stored and priced an event.
    EventPriceCalculated,
    /// A customer's usage went over a threshold (written with the move of
    /// the threshold's state).
    UsageThresholdCrossed,
    /// A customer's usage went back under a threshold.
    UsageThresholdCleared,
    /// A customer reached the limit of an entitlement.
    EntitlementLimitReached,
}

impl WebhookEventType {
    /// Every type an endpoint may subscribe to.
    pub const ALL: [WebhookEventType; 6] = [
        WebhookEventType::InvoiceCreated,
        WebhookEventType::InvoiceFinalized,
        WebhookEventType::EventPriceCalculated,
        WebhookEventType::UsageThresholdCrossed,
        WebhookEventType::UsageThresholdCleared,
        WebhookEventType::EntitlementLimitReached,
    ];

    /// The wire name (`invoice.created`).
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookEventType::InvoiceCreated => "invoice.created",
            WebhookEventType::InvoiceFinalized => "invoice.finalized",
            WebhookEventType::EventPriceCalculated => "event.price_calculated",
            WebhookEventType::UsageThresholdCrossed => "usage.threshold_crossed",
            WebhookEventType::UsageThresholdCleared => "usage.threshold_cleared",
            WebhookEventType::EntitlementLimitReached => "entitlement.limit_reached",
        }
    }

    /// The type with this wire name, if any.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == text)
    }
}

impl fmt::Display for WebhookEventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where an account's webhook messages go. The URL and the secret were
/// checked by the caller; the store keeps them as given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookEndpoint {
    /// `we_…`.
    pub id: WebhookEndpointId,
    /// Free text for the account's own use.
    pub description: Option<String>,
    /// `http://` or `https://` URL the messages are posted to.
    pub url: String,
    /// The signing secret, `whsec_<base64>`.
    pub secret: String,
    /// The types of events sent to this endpoint; at least one.
    pub event_types: Vec<WebhookEventType>,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it was last changed.
    pub updated_at: Timestamp,
}

impl WebhookEndpoint {
    /// Whether events of `event_type` go to this endpoint.
    pub fn subscribes_to(&self, event_type: WebhookEventType) -> bool {
        self.event_types.contains(&event_type)
    }
}

/// An event to write to the outbox.
#[derive(Debug, Clone, PartialEq)]
pub struct NewWebhookEvent {
    /// `evt_…`.
    pub id: WebhookEventId,
    /// What happened.
    pub event_type: WebhookEventType,
    /// The payload's `data`: a JSON document the store never interprets.
    pub data: serde_json::Value,
    /// When it happened.
    pub created_at: Timestamp,
}

/// Builds the webhook events an invoice write records in its own
/// transaction, from the invoice as that write stores it (a new invoice's
/// number is only known inside it).
pub type InvoiceEvents<'a> = &'a (dyn Fn(&Invoice) -> Vec<NewWebhookEvent> + Send + Sync);

/// No event: the builder of writes that record none.
pub fn no_invoice_events(_: &Invoice) -> Vec<NewWebhookEvent> {
    Vec::new()
}

/// Where a message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageStatus {
    /// Waiting for its next attempt (`next_attempt_at`).
    Pending,
    /// Claimed by a worker, whose lease has not necessarily expired.
    Delivering,
    /// An attempt got a 2xx answer.
    Succeeded,
    /// Its attempts ran out; a manual retry may start it again.
    Failed,
}

impl MessageStatus {
    /// Every status.
    pub const ALL: [MessageStatus; 4] = [
        MessageStatus::Pending,
        MessageStatus::Delivering,
        MessageStatus::Succeeded,
        MessageStatus::Failed,
    ];

    /// The wire and column name (`pending`).
    pub fn as_str(self) -> &'static str {
        match self {
            MessageStatus::Pending => "pending",
            MessageStatus::Delivering => "delivering",
            MessageStatus::Succeeded => "succeeded",
            MessageStatus::Failed => "failed",
        }
    }

    /// The status with this name, if any.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// One delivery attempt, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryAttempt {
    /// 1 for the message's first attempt, counting every run.
    pub attempt: u32,
    /// When the request started.
    pub started_at: Timestamp,
    /// How long it took, until the answer's head or the failure.
    pub duration_ms: u64,
    /// The receiver's HTTP status, when it answered.
    pub status_code: Option<u16>,
    /// Why the attempt failed without an answer (timeout, refused), or the
    /// status that made it fail, lowercase.
    pub error: Option<String>,
}

/// One event for one endpoint, with what became of it.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookMessage {
    /// `msg_…`: derived from the event and the endpoint
    /// ([`message_id`]), so dispatching an event twice makes no second message.
    pub id: WebhookMessageId,
    /// The endpoint it goes to.
    pub endpoint_id: WebhookEndpointId,
    /// The event it carries.
    pub event_id: WebhookEventId,
    /// The event's type.
    pub event_type: WebhookEventType,
    /// The event's data.
    pub data: serde_json::Value,
    /// Where it is.
    pub status: MessageStatus,
    /// When its next attempt is due (pending), or was due (delivering);
    /// `None` once succeeded or failed.
    pub next_attempt_at: Option<Timestamp>,
    /// Every attempt, oldest first.
    pub attempts: Vec<DeliveryAttempt>,
    /// When the dispatcher made it.
    pub created_at: Timestamp,
}

/// The id of the message carrying `event` to `endpoint`: the same pair
/// always gives the same id, so the store needs no randomness to dispatch,
/// and a dispatch that runs twice inserts nothing the second time.
pub fn message_id(event: &WebhookEventId, endpoint: &WebhookEndpointId) -> WebhookMessageId {
    let random = derived_base62(
        &[event.as_str().as_bytes(), endpoint.as_str().as_bytes()],
        crate::ids::RANDOM_PART_LEN,
    );
    WebhookMessageId::parse(&format!("{}_{random}", WebhookMessageId::PREFIX))
        .expect("a derived id is base62")
}

/// Narrows a list of messages: newest first, by (created_at, id).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageQuery {
    /// Only this endpoint's messages.
    pub endpoint_id: Option<WebhookEndpointId>,
    /// Only messages in this state.
    pub status: Option<MessageStatus>,
    /// Which page.
    pub page: PageRequest,
}

/// What a delivery worker asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClaimRequest {
    /// Messages due at or before this instant are claimed; leases that end
    /// at or before it have expired.
    pub now: Timestamp,
    /// The claimed messages' lease: until then no other worker claims them.
    pub lease_until: Timestamp,
    /// At most this many messages in all.
    pub max_messages: u32,
    /// At most this many messages of one endpoint under a live lease,
    /// counting those other workers hold.
    pub per_endpoint: u32,
}

/// A message a worker claimed, with everything its delivery needs.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimedMessage {
    /// The account the endpoint belongs to.
    pub account: AccountId,
    /// The message.
    pub id: WebhookMessageId,
    /// Its endpoint.
    pub endpoint_id: WebhookEndpointId,
    /// The endpoint's URL when claimed.
    pub url: String,
    /// The endpoint's signing secret when claimed.
    pub secret: String,
    /// The event carried.
    pub event_id: WebhookEventId,
    /// Its type.
    pub event_type: WebhookEventType,
    /// Its data.
    pub data: serde_json::Value,
    /// This attempt's number over the message's life: the claim's token, which
    /// [`FinishedAttempt`] must give back.
    pub attempt: u32,
    /// This attempt's number in the current run (1 after dispatch or a manual
    /// retry): what the retry schedule counts.
    pub run_attempt: u32,
}

/// What became of an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// Delivered: the message is `succeeded`.
    Succeeded,
    /// Failed; try again at this instant (the message is `pending`).
    RetryAt(Timestamp),
    /// Failed, and no attempt is left (the message is `failed`).
    Failed,
}

/// The end of a claimed attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinishedAttempt {
    /// The attempt as recorded; its `attempt` is the claim's token.
    pub attempt: DeliveryAttempt,
    /// What the message becomes.
    pub outcome: AttemptOutcome,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_types_and_statuses_read_back() {
        for event_type in WebhookEventType::ALL {
            assert_eq!(
                WebhookEventType::parse(event_type.as_str()),
                Some(event_type)
            );
        }
        for status in MessageStatus::ALL {
            assert_eq!(MessageStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(WebhookEventType::parse("invoice.paid"), None);
    }

    #[test]
    fn message_ids_depend_on_both_halves() {
        let event = WebhookEventId::random();
        let endpoint = WebhookEndpointId::random();
        let id = message_id(&event, &endpoint);
        assert!(id.as_str().starts_with("msg_"));
        assert_eq!(id, message_id(&event, &endpoint));
        assert_ne!(id, message_id(&event, &WebhookEndpointId::random()));
        assert_ne!(id, message_id(&WebhookEventId::random(), &endpoint));
    }
}
