//! Where each usage threshold stands for a customer and a period
//! (docs/entitlements.md, "Thresholds"), and the one write that moves it:
//! a compare-and-set that records the webhook events of the move in the same
//! transaction, so a crossing is announced exactly once however many
//! evaluations race, and never lost once recorded.

use rust_decimal::Decimal;
use tally_event::{Period, Timestamp};

use crate::ids::CustomerId;
use crate::versions::EventSeq;
use crate::webhooks::NewWebhookEvent;

/// A threshold's state for one customer and one period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThresholdState {
    /// The customer whose usage it watches.
    pub customer_id: CustomerId,
    /// Which threshold: `aggregator:{agg_…}:{gte|gt}:{value}` or
    /// `feature:{code}:{percent}`.
    pub key: String,
    /// The period the usage covers.
    pub period: Period,
    /// Whether the usage is past the threshold.
    pub crossed: bool,
    /// The usage when the state last changed.
    pub usage: Decimal,
    /// The account's ingestion sequence the usage was read at (at least):
    /// a change read at an earlier sequence than the stored one is refused,
    /// so a slow evaluation never undoes a newer one.
    pub seq: EventSeq,
    /// When the state last changed.
    pub changed_at: Timestamp,
}

/// A move of a threshold's state, and what announces it.
#[derive(Debug, Clone, PartialEq)]
pub struct ThresholdChange {
    /// The new state.
    pub state: ThresholdState,
    /// The state it replaces: `None` when the threshold has no state yet for
    /// this customer and period, else whether it was crossed.
    pub was_crossed: Option<bool>,
    /// Written to the outbox with the change, only if it applies.
    pub events: Vec<NewWebhookEvent>,
}

impl ThresholdChange {
    /// Whether `stored` (the current row, if any) is what this change
    /// replaces: the compare of the compare-and-set every backend runs.
    pub fn applies_to(&self, stored: Option<&ThresholdState>) -> bool {
        match (self.was_crossed, stored) {
            (None, None) => true,
            (Some(was), Some(stored)) => stored.crossed == was && stored.seq <= self.state.seq,
            _ => false,
        }
    }
}
