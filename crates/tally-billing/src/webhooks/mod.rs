//! Webhooks (docs/webhooks.md): endpoints an account registers, the events
//! the use cases emit into the store's outbox, and the messages that deliver
//! them. Delivery itself (dispatch, claims, signed HTTP requests, retries)
//! is the `tally-webhooks` worker's; this module holds what it shares with
//! the use cases: the settings ([`WebhookConfig`]), the signing secret and
//! signature ([`signing`]) and the URL rules ([`address`]).
//!
//! Events emitted here:
//!
//! - `invoice.created` and `invoice.finalized`, written in the store
//!   transaction of the invoice's creation or finalization
//!   ([`invoice_summary`] is their data);
//! - `event.price_calculated`, after `POST /v1/events/prices` stored and
//!   priced an event (a plain insert: that use case has no one transaction).
//!
//! `usage.threshold_crossed`, `usage.threshold_cleared` and
//! `entitlement.limit_reached` are written with the move of a threshold's
//! state, in its compare-and-set's transaction (`crate::thresholds`,
//! through each SQL backend's `webhooks::outbox::insert_webhook_events`).

pub mod address;
mod endpoints;
mod messages;
pub mod signing;

use std::time::Duration;

use serde_json::json;
use tally_store::{Invoice, NewWebhookEvent, WebhookEventId, WebhookEventType};

pub use address::{AddressError, EndpointUrl};
pub use endpoints::{MAX_URL_CHARS, WebhookEndpointInput, WebhookEndpointPatch};
pub use messages::MessageFilter;
pub use signing::{SecretError, WebhookSecret};

use crate::service::Billing;

/// How webhooks are delivered; the defaults are docs/webhooks.md's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WebhookConfig {
    /// Whether endpoints may point at private, loopback, link-local or
    /// unspecified addresses (off: refused when saved and when delivered).
    pub allow_private_urls: bool,
    /// Attempts per run before a message is `failed`.
    pub max_attempts: u32,
    /// The whole of one attempt: connecting, sending, reading the answer.
    pub timeout: Duration,
    /// The wait after a run's first failed attempt; each next one doubles.
    pub backoff_base: Duration,
    /// The longest wait between two attempts.
    pub backoff_max: Duration,
    /// Attempts in flight at once per endpoint, across every process.
    pub per_endpoint_concurrency: u32,
    /// Attempts in flight at once in one process.
    pub max_in_flight: u32,
    /// How often an idle worker looks for events and due messages.
    pub poll_interval: Duration,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        WebhookConfig {
            allow_private_urls: false,
            max_attempts: 15,
            timeout: Duration::from_secs(15),
            backoff_base: Duration::from_secs(10),
            backoff_max: Duration::from_secs(6 * 60 * 60),
            per_endpoint_concurrency: 4,
            max_in_flight: 64,
            poll_interval: Duration::from_secs(1),
        }
    }
}

impl WebhookConfig {
    /// How long a claim holds a message: twice an attempt's timeout and 5
    /// seconds, room for the attempt and for recording its end (35 s with
    /// the defaults). A worker that dies mid-attempt leaves its messages to
    /// be claimed again when their lease ends.
    pub fn lease(&self) -> Duration {
        self.timeout * 2 + Duration::from_secs(5)
    }
}

/// The data of an invoice's events: its id and the fields a receiver acts
/// on. The lines are left out: a draft's change with every event, and `GET
/// /v1/invoices/{id}` has them.
pub fn invoice_summary(invoice: &Invoice) -> serde_json::Value {
    let total = |name: &str| invoice.totals.get(name).cloned().unwrap_or(json!(null));
    json!({
        "id": invoice.id.as_str(),
        "number": format!("INV-{}", invoice.number.0),
        "status": invoice.status.as_str(),
        "subscription_id": invoice.subscription_id.as_ref().map(|s| s.as_str()),
        "customer_id": invoice.customer_id.as_str(),
        "period_start": invoice.period.start().to_rfc3339(),
        "period_end": invoice.period.end().to_rfc3339(),
        "currency": invoice.currency,
        "amount_excluding_tax": total("amount_excluding_tax"),
        "tax_amount": total("tax_amount"),
        "total_amount": total("total_amount"),
        "created_at": invoice.created_at.to_rfc3339(),
        "finalized_at": invoice.finalized_at.map(|t| t.to_rfc3339()),
    })
}

impl Billing {
    /// A fresh `evt_` id for a webhook event.
    pub(crate) fn webhook_event_id(&self) -> WebhookEventId {
        self.ids.with(WebhookEventId::generate)
    }

    /// The builder of a batch of invoice writes' events: one event of
    /// `event_type` per invoice, each with its own id.
    pub(crate) fn invoice_event_each(
        &self,
        event_type: WebhookEventType,
    ) -> impl Fn(&Invoice) -> Vec<NewWebhookEvent> + Send + Sync + '_ {
        let now = self.now();
        move |invoice| {
            vec![NewWebhookEvent {
                id: self.webhook_event_id(),
                event_type,
                data: invoice_summary(invoice),
                created_at: now,
            }]
        }
    }

    /// The builder of an invoice write's one event of `event_type`.
    pub(crate) fn invoice_event(
        &self,
        event_type: WebhookEventType,
    ) -> impl Fn(&Invoice) -> Vec<NewWebhookEvent> + Send + Sync + use<> {
        let (id, now) = (self.webhook_event_id(), self.now());
        move |invoice| {
            vec![NewWebhookEvent {
                id: id.clone(),
                event_type,
                data: invoice_summary(invoice),
                created_at: now,
            }]
        }
    }
}
