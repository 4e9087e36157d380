//! `Event` and the upsert rule.

use serde::{Deserialize, Serialize};

use crate::ids::{CustomerRef, EventKey, EventType};
use crate::time::Timestamp;
use crate::value::Record;

/// A validated usage event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The kind of usage (`api_call`, `users`); with `record.id` it forms the upsert key.
    pub event_type: EventType,
    /// The customer as the sender named it (Tally id or external id), not yet resolved.
    pub customer: CustomerRef,
    /// When the usage happened, in UTC milliseconds; it decides the billing period and
    /// which of two versions of a record wins an upsert.
    pub timestamp: Timestamp,
    /// The flat property map that aggregators filter on and sum.
    pub record: Record,
}

impl Event {
    /// The upsert key: (`event_type`, `record.id`).
    pub fn key(&self) -> EventKey {
        EventKey {
            event_type: self.event_type.clone(),
            record_id: self.record.id().clone(),
        }
    }

    /// The wire form, which `parse_event` accepts back unchanged.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "customer_id": self.customer.as_str(),
            "event_type": self.event_type.as_str(),
            "timestamp": self.timestamp.to_rfc3339(),
            "record": self.record.to_json(),
        })
    }
}

/// What an upsert did to the stored event with the same key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpsertOutcome {
    /// No event had this key: the incoming one is stored.
    Created,
    /// The incoming event is as recent or more recent: it replaces the stored one.
    Updated,
    /// The incoming event is older than the stored one: nothing changes.
    Stale,
}

impl UpsertOutcome {
    /// The lowercase name the API reports: `created`, `updated` or `stale`.
    pub fn as_str(self) -> &'static str {
        match self {
            UpsertOutcome::Created => "created",
            UpsertOutcome::Updated => "updated",
            UpsertOutcome::Stale => "stale",
        }
    }

    /// Whether the incoming event is now the stored one.
    pub fn is_written(self) -> bool {
        !matches!(self, UpsertOutcome::Stale)
    }
}

/// The upsert rule: `incoming` replaces `stored` when its timestamp is greater than
/// or equal to the stored one's (equal timestamps: the last write wins).
pub fn upsert_outcome(stored: Option<Timestamp>, incoming: Timestamp) -> UpsertOutcome {
    match stored {
        None => UpsertOutcome::Created,
        Some(stored) if incoming >= stored => UpsertOutcome::Updated,
        Some(_) => UpsertOutcome::Stale,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: i64) -> Timestamp {
        Timestamp::from_millis(ms).unwrap()
    }

    #[test]
    fn upsert_rule() {
        assert_eq!(upsert_outcome(None, at(5)), UpsertOutcome::Created);
        assert_eq!(upsert_outcome(Some(at(5)), at(6)), UpsertOutcome::Updated);
        assert_eq!(upsert_outcome(Some(at(5)), at(5)), UpsertOutcome::Updated);
        assert_eq!(upsert_outcome(Some(at(5)), at(4)), UpsertOutcome::Stale);
    }
}
