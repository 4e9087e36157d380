//! Where each usage threshold stands for a customer and a period
//! (docs/entitlements.md, "Thresholds"), and the one write that moves it:
//! a compare-and-set on the row's version that records the webhook events of
//! the move in the same transaction, so a move is announced exactly once
//! however many evaluations race, and never lost once recorded.

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
    /// The account's ingestion sequence when the usage was read (the usage
    /// reflects at least it).
    pub seq: EventSeq,
    /// 1 for the first state, then one more at each move: what a
    /// compare-and-set compares.
    pub version: u64,
    /// When the state last changed.
    pub changed_at: Timestamp,
}

/// A move of a threshold's state, and what announces it.
#[derive(Debug, Clone, PartialEq)]
pub struct ThresholdChange {
    /// The new state; its `version` is one more than `replaces` (1 for a
    /// first state).
    pub state: ThresholdState,
    /// The version of the state it replaces, as the evaluation read it before
    /// reading the usage: `None` when the threshold had no state yet for this
    /// customer and period.
    pub replaces: Option<u64>,
    /// Written to the outbox with the change, only if it applies.
    pub events: Vec<NewWebhookEvent>,
}

impl ThresholdChange {
    /// A move from the state of version `replaces` (`None`: no state yet) to
    /// `state`, whose version it sets.
    pub fn new(
        mut state: ThresholdState,
        replaces: Option<u64>,
        events: Vec<NewWebhookEvent>,
    ) -> Self {
        state.version = replaces.map_or(1, |version| version + 1);
        ThresholdChange {
            state,
            replaces,
            events,
        }
    }

    /// Whether `stored` (the current row, if any) is what this change
    /// replaces: the compare of the compare-and-set every backend runs.
    /// Anything that moved the state since the evaluation read it (another
    /// evaluation, on this server or another) makes the change not apply.
    pub fn applies_to(&self, stored: Option<&ThresholdState>) -> bool {
        match (self.replaces, stored) {
            (None, None) => true,
            (Some(version), Some(stored)) => stored.version == version,
            _ => false,
        }
    }
}
