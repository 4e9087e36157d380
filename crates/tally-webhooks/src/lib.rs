//! Tally's webhook delivery worker (docs/webhooks.md).
//!
//! [`start`] spawns one task per process over a [`Billing`]'s store and
//! webhook settings ([`tally_billing::WebhookConfig`]). In a loop it:
//!
//! 1. dispatches the outbox: each waiting event becomes one message per
//!    endpoint subscribed to its type;
//! 2. claims due messages under a lease (at most
//!    `per_endpoint_concurrency` in flight per endpoint across every
//!    process, `max_in_flight` in this one);
//! 3. delivers each claimed message in a task of its own: a signed `POST`
//!    (Standard Webhooks headers) to the endpoint's URL, checked again
//!    against the private-address rule, the whole attempt bounded by
//!    `timeout`;
//! 4. records the attempt and what the message becomes: `succeeded` on a
//!    2xx answer, else `pending` again after an exponential backoff with
//!    jitter ([`backoff`]), or `failed` once its run has used
//!    `max_attempts`.
//!
//! A process that dies mid-attempt leaves its claims to expire; the
//! messages are then claimed again. Delivery is at least once: a receiver
//! deduplicates by the `webhook-id` header, the message id, which every
//! attempt of a message repeats.

#![warn(missing_docs)]

pub mod backoff;
mod deliver;
mod worker;

pub use deliver::{MAX_ANSWER_BYTES, message_body};
pub use worker::{WebhookWorker, start};

#[cfg(doc)]
use tally_billing::Billing;
