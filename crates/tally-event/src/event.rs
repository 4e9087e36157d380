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
///
/// Every outcome but `Unchanged` stores the incoming event as a new version of
/// its key (docs/storage.md, "Versions"); the outcome says whether that version
/// became the current one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpsertOutcome {
    /// No event had this key: the incoming one is stored.
    Created,
    /// The incoming event is as recent or more recent: it becomes the current version.
    Updated,
    /// The incoming event is older than the current version: it is kept as history
    /// (what the key was at its timestamp), and the current version does not change.
    Stale,
    /// The incoming event is identical to the current version (customer, timestamp
    /// and record): nothing is stored, nothing changes.
    Unchanged,
}

impl UpsertOutcome {
    /// The lowercase name the API reports: `created`, `updated`, `stale` or
    /// `unchanged`.
    pub fn as_str(self) -> &'static str {
        match self {
            UpsertOutcome::Created => "created",
            UpsertOutcome::Updated => "updated",
            UpsertOutcome::Stale => "stale",
            UpsertOutcome::Unchanged => "unchanged",
        }
    }

    /// Whether the incoming event became the current version by this upsert
    /// (`Unchanged`: it already was, and nothing changed).
    pub fn is_written(self) -> bool {
        matches!(self, UpsertOutcome::Created | UpsertOutcome::Updated)
    }

    /// Whether the upsert stored a version (every outcome but `Unchanged`).
    pub fn stores_version(self) -> bool {
        !matches!(self, UpsertOutcome::Unchanged)
    }
}

/// The upsert rule. `stored` is the key's current version and `incoming` the new
/// one, each as its timestamp and its content (whatever the caller compares: the
/// stores use the customer and the record). Identical to the current version:
/// `Unchanged`. Otherwise the incoming version becomes current when its
/// timestamp is greater than or equal to the current one's (equal timestamps:
/// the last write wins), and is `Stale` history when it is older.
pub fn upsert_outcome<C: PartialEq + ?Sized>(
    stored: Option<(Timestamp, &C)>,
    incoming: (Timestamp, &C),
) -> UpsertOutcome {
    match stored {
        None => UpsertOutcome::Created,
        Some((at, content)) if at == incoming.0 && content == incoming.1 => {
            UpsertOutcome::Unchanged
        }
        Some((at, _)) if incoming.0 >= at => UpsertOutcome::Updated,
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
        let rule = |stored: Option<(i64, &str)>, incoming: (i64, &str)| {
            upsert_outcome(
                stored.map(|(ms, c)| (at(ms), c)),
                (at(incoming.0), incoming.1),
            )
        };
        assert_eq!(rule(None, (5, "a")), UpsertOutcome::Created);
        assert_eq!(rule(Some((5, "a")), (6, "a")), UpsertOutcome::Updated);
        assert_eq!(rule(Some((5, "a")), (5, "b")), UpsertOutcome::Updated);
        assert_eq!(rule(Some((5, "a")), (5, "a")), UpsertOutcome::Unchanged);
        assert_eq!(rule(Some((5, "a")), (4, "b")), UpsertOutcome::Stale);
        // An older copy of the current content is history too, not "unchanged".
        assert_eq!(rule(Some((5, "a")), (4, "a")), UpsertOutcome::Stale);
    }

    #[test]
    fn only_unchanged_stores_nothing() {
        for outcome in [
            UpsertOutcome::Created,
            UpsertOutcome::Updated,
            UpsertOutcome::Stale,
        ] {
            assert!(outcome.stores_version());
        }
        assert!(!UpsertOutcome::Unchanged.stores_version());
        assert!(!UpsertOutcome::Unchanged.is_written());
        assert!(!UpsertOutcome::Stale.is_written());
    }
}
