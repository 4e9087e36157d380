//! Event versions: the ingestion sequence, which versions a read sees, and the
//! upsert plan every backend follows (docs/storage.md, "Versions").
//!
//! A store keeps every accepted version of a key (account, event type, record
//! id), each with its ingestion sequence number `seq` (transaction time) next to
//! its timestamp (valid time). Per version it also keeps two sequence numbers
//! that make every read a test on one row:
//!
//! - `current_until`: the `seq` from which the version is no longer the key's
//!   current one (a newer version or a deletion replaced it); none while it is
//!   current. A stale version was never current: its `current_until` is its own
//!   `seq`.
//! - `deleted_at`: the `seq` of the deletion that ended the key's life, for
//!   every version written before it; none while the key lives. An event sent
//!   after a deletion starts a new life (`created`, with a new id).

use std::collections::HashMap;

use tally_event::{EventKey, Record, Timestamp, UpsertOutcome, upsert_outcome};

use crate::error::{StoreError, StoreResult};
use crate::events::{EventWindow, NewEvent, StoredEvent, UpsertResult};
use crate::ids::{AccountId, CustomerId, EventId};

/// An ingestion sequence number: strictly increasing per account, one per
/// stored version and one per deletion. What an account "knew" at sequence `s`
/// is every version with `seq <= s`, minus what deletions up to `s` removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct EventSeq(i64);

impl EventSeq {
    /// Before anything was stored: an account's sequence starts here.
    pub const ZERO: EventSeq = EventSeq(0);

    /// A sequence number as a database stores it; negative numbers are corrupt.
    pub fn new(value: i64) -> StoreResult<Self> {
        if value < 0 {
            return Err(StoreError::Corrupt(format!(
                "negative event sequence {value}"
            )));
        }
        Ok(Self(value))
    }

    /// The number, as stored.
    pub fn get(self) -> i64 {
        self.0
    }

    /// The number after this one.
    pub fn next(self) -> Self {
        Self(self.0 + 1)
    }
}

impl std::fmt::Display for EventSeq {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// Which version of each key a read sees.
///
/// - `known_at`: only what the account knew at this sequence (a finalized
///   invoice reads as of the sequence it saw); `None`: everything known now.
/// - `valid_at`: each key's version with the greatest timestamp at or before
///   this instant (ties: the later `seq`), among the versions known; `None`: the
///   current version, whatever its timestamp. A key deleted (as known) has none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AsOf {
    /// Transaction time: what was known at this sequence.
    pub known_at: Option<EventSeq>,
    /// Valid time: the state of each entity at this instant.
    pub valid_at: Option<Timestamp>,
}

impl AsOf {
    /// The current versions, as known now.
    pub const CURRENT: AsOf = AsOf {
        known_at: None,
        valid_at: None,
    };

    /// The current versions as known at `seq`.
    pub fn known_at(seq: EventSeq) -> Self {
        Self {
            known_at: Some(seq),
            valid_at: None,
        }
    }

    /// Each entity's version at the instant `at`, as known now.
    pub fn valid_at(at: Timestamp) -> Self {
        Self {
            known_at: None,
            valid_at: Some(at),
        }
    }

    /// The read a billing window means, as known at `known_at` (`None`: now):
    /// a metered range reads each key's current version; a licensed window
    /// (`Before(end)`) reads each entity as it was just before `end`, so an
    /// update or soft deletion stamped after the end never changes the period
    /// (docs/storage.md, "Which version a read sees").
    pub fn for_window(window: EventWindow, known_at: Option<EventSeq>) -> Self {
        let valid_at = match window {
            EventWindow::Range(_) => None,
            // The last instant before `end`; the epoch has none, and a window
            // ending there holds nothing whichever version is read.
            EventWindow::Before(end) => Timestamp::from_millis(end.as_millis() - 1).ok(),
        };
        Self { known_at, valid_at }
    }

    /// Whether this is the plain current read.
    pub fn is_current(&self) -> bool {
        *self == Self::CURRENT
    }

    /// The version of one key that this read sees, among all of the key's
    /// versions (any order): the reference every backend's query must match.
    pub fn pick<'v>(&self, versions: &'v [EventVersion]) -> Option<&'v EventVersion> {
        match self.valid_at {
            None => versions.iter().find(|v| self.sees_as_current(v)),
            Some(at) => versions
                .iter()
                .filter(|v| self.sees(v) && v.event.timestamp <= at)
                .max_by_key(|v| (v.event.timestamp, v.event.seq)),
        }
    }

    /// Whether `version` is visible to this read at all: known at `known_at`
    /// and not deleted by then (the key's other versions decide which visible
    /// one wins).
    pub fn sees(&self, version: &EventVersion) -> bool {
        let known = self.known_at.is_none_or(|s| version.event.seq <= s);
        let alive = match (version.deleted_at, self.known_at) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(deleted), Some(s)) => deleted > s,
        };
        known && alive
    }

    /// Whether `version` is its key's answer to a read without `valid_at`: the
    /// version that was current at `known_at` (or is current now).
    pub fn sees_as_current(&self, version: &EventVersion) -> bool {
        let known = self.known_at.is_none_or(|s| version.event.seq <= s);
        let still_current = match (version.current_until, self.known_at) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(until), Some(s)) => until > s,
        };
        known && still_current
    }
}

/// One stored version of an event and what became of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventVersion {
    /// The version as stored (its `seq`, the key's `evt_` id for this life).
    pub event: StoredEvent,
    /// From which sequence it stopped being the current version; `None` while it
    /// is current. A stale version's is its own `seq`.
    pub current_until: Option<EventSeq>,
    /// The sequence of the deletion that ended the key's life; `None` while alive.
    pub deleted_at: Option<EventSeq>,
}

impl EventVersion {
    /// What the version is now: current, superseded, stale (never current) or deleted.
    pub fn status(&self) -> VersionStatus {
        match (self.deleted_at, self.current_until) {
            (Some(_), _) => VersionStatus::Deleted,
            (None, None) => VersionStatus::Current,
            (None, Some(until)) if until == self.event.seq => VersionStatus::Stale,
            (None, Some(_)) => VersionStatus::Superseded,
        }
    }
}

/// The state of a stored version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionStatus {
    /// The key's current version.
    Current,
    /// Replaced by a later current version.
    Superseded,
    /// Older than the current version when it arrived: history only.
    Stale,
    /// The key was deleted after this version was stored.
    Deleted,
}

impl VersionStatus {
    /// The lowercase name the API reports.
    pub fn as_str(self) -> &'static str {
        match self {
            VersionStatus::Current => "current",
            VersionStatus::Superseded => "superseded",
            VersionStatus::Stale => "stale",
            VersionStatus::Deleted => "deleted",
        }
    }
}

/// A version to insert, planned by [`plan_upserts`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedVersion<'a> {
    /// The account it is written in.
    pub account: &'a AccountId,
    /// The incoming event (its own `id` is ignored: `id` below is the key's).
    pub event: &'a NewEvent,
    /// The key's `evt_` id (the incoming event's fresh id when it creates the key).
    pub id: EventId,
    /// Its sequence number.
    pub seq: EventSeq,
    /// `None`: it is the current version. `Some(seq)`: stale, never current.
    pub current_until: Option<EventSeq>,
}

/// A stored version that stops being current: the row with `seq` gets
/// `current_until`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Superseded<'a> {
    /// Its account.
    pub account: &'a AccountId,
    /// Its key.
    pub key: EventKey,
    /// The superseded version's sequence number.
    pub seq: EventSeq,
    /// The sequence of the version that replaces it.
    pub until: EventSeq,
    /// The superseded version itself (its contribution leaves the rollups).
    pub previous: StoredEvent,
}

/// What a batch of upserts writes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UpsertPlan<'a> {
    /// Outcomes per group, in input order.
    pub results: Vec<Vec<UpsertResult>>,
    /// New versions, in input order (so in `seq` order per account), each with
    /// its final `current_until`: a version superseded within the same plan is
    /// inserted as superseded.
    pub versions: Vec<PlannedVersion<'a>>,
    /// Versions stored before the plan that stop being current. A backend may
    /// write them before or after the inserts: they never name a planned version.
    pub superseded: Vec<Superseded<'a>>,
    /// The last sequence number of each account the plan wrote in.
    pub last_seq: HashMap<&'a AccountId, EventSeq>,
}

/// Where a key's current version is while planning.
#[derive(Debug, Clone)]
enum Slot {
    /// Stored before the plan.
    Stored(StoredEvent),
    /// Written by the plan: its index in `UpsertPlan::versions`.
    Planned(usize),
}

/// Plans the upserts of `groups` (each an account and its events, applied in
/// order), given the current version of every key they name (`None`: no
/// current version), as the backend read it, and each account's last
/// sequence number. Every backend
/// runs this one plan, so the outcome of an upsert is decided in one place;
/// what a backend owns is reading the state and writing the plan atomically.
pub fn plan_upserts<'a>(
    groups: &[(&'a AccountId, &'a [NewEvent])],
    current: HashMap<(&'a AccountId, EventKey), Option<StoredEvent>>,
    mut last_seq: HashMap<&'a AccountId, EventSeq>,
) -> UpsertPlan<'a> {
    let mut slots: HashMap<(&'a AccountId, EventKey), Option<Slot>> = current
        .into_iter()
        .map(|(key, found)| (key, found.map(Slot::Stored)))
        .collect();
    let mut plan = UpsertPlan::default();
    for &(account, events) in groups {
        let mut results = Vec::with_capacity(events.len());
        for event in events {
            let slot = slots.entry((account, event.key())).or_insert(None);
            let (outcome, id) = match slot {
                None => (UpsertOutcome::Created, event.id.clone()),
                Some(Slot::Stored(stored)) => {
                    let content = (&stored.customer_id, &stored.record);
                    let outcome = outcome_against((stored.timestamp, content), event);
                    (outcome, stored.id.clone())
                }
                Some(Slot::Planned(index)) => {
                    let planned = &plan.versions[*index];
                    let content = (&planned.event.customer_id, &planned.event.record);
                    let outcome = outcome_against((planned.event.timestamp, content), event);
                    (outcome, planned.id.clone())
                }
            };
            if !outcome.stores_version() {
                results.push(UpsertResult {
                    event_id: id,
                    outcome,
                    seq: None,
                });
                continue;
            }
            let seq = last_seq.entry(account).or_insert(EventSeq::ZERO);
            *seq = seq.next();
            let seq = *seq;
            results.push(UpsertResult {
                event_id: id.clone(),
                outcome,
                seq: Some(seq),
            });
            let current_until = (outcome == UpsertOutcome::Stale).then_some(seq);
            if outcome.is_written() {
                match slot {
                    Some(Slot::Planned(index)) => plan.versions[*index].current_until = Some(seq),
                    Some(Slot::Stored(stored)) => plan.superseded.push(Superseded {
                        account,
                        key: event.key(),
                        seq: stored.seq,
                        until: seq,
                        previous: stored.clone(),
                    }),
                    None => {}
                }
                *slot = Some(Slot::Planned(plan.versions.len()));
            }
            plan.versions.push(PlannedVersion {
                account,
                event,
                id,
                seq,
                current_until,
            });
        }
        plan.results.push(results);
    }
    plan.last_seq = last_seq;
    plan
}

/// The content `unchanged` compares: the customer and the record.
type Content<'c> = (&'c CustomerId, &'c Record);

/// The upsert rule of `tally_event` applied to the current version's
/// timestamp and content.
fn outcome_against(current: (Timestamp, Content<'_>), incoming: &NewEvent) -> UpsertOutcome {
    let sent = (&incoming.customer_id, &incoming.record);
    upsert_outcome(Some((current.0, &current.1)), (incoming.timestamp, &sent))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::CustomerId;
    use tally_event::{EventType, Record, RecordId, Value};

    fn customer() -> CustomerId {
        CustomerId::parse("cus_aaaaaaaaaaaaaaaaaaaaaa").unwrap()
    }

    fn new_event(record_id: &str, ts: i64, amount: i64) -> NewEvent {
        let id = RecordId::parse(record_id).unwrap();
        let mut properties = std::collections::BTreeMap::new();
        properties.insert("id".to_owned(), Value::String(record_id.to_owned()));
        properties.insert("amount".to_owned(), Value::Number(amount.into()));
        NewEvent {
            id: EventId::random(),
            event_type: EventType::parse("calls").unwrap(),
            customer_id: customer(),
            timestamp: Timestamp::from_millis(ts).unwrap(),
            record: Record::from_trusted_parts(id, properties),
            ingested_at: Timestamp::from_millis(ts).unwrap(),
        }
    }

    #[test]
    fn a_batch_plans_versions_and_supersessions_in_order() {
        let account = AccountId::random();
        let events = [
            new_event("a", 10, 1), // created, seq 8
            new_event("a", 10, 1), // unchanged: no seq
            new_event("a", 20, 2), // updated, seq 9, supersedes 8
            new_event("a", 15, 3), // stale, seq 10
            new_event("a", 20, 2), // unchanged
        ];
        let groups = [(&account, &events[..])];
        let last = HashMap::from([(&account, EventSeq(7))]);
        let plan = plan_upserts(&groups, HashMap::new(), last);
        let outcomes: Vec<_> = plan.results[0].iter().map(|r| r.outcome).collect();
        use UpsertOutcome::*;
        assert_eq!(outcomes, [Created, Unchanged, Updated, Stale, Unchanged]);
        // Every version of the key carries the id its first version got.
        assert!(plan.results[0].iter().all(|r| r.event_id == events[0].id));
        assert!(plan.versions.iter().all(|v| v.id == events[0].id));
        let seqs: Vec<_> = plan
            .versions
            .iter()
            .map(|v| (v.seq.0, v.current_until))
            .collect();
        // Version 8 is superseded by 9 within the plan: inserted as superseded.
        let expected = [(8, Some(EventSeq(9))), (9, None), (10, Some(EventSeq(10)))];
        assert_eq!(seqs, expected);
        assert!(plan.superseded.is_empty());
        assert_eq!(plan.last_seq[&account], EventSeq(10));
    }

    #[test]
    fn a_stored_current_version_is_superseded_by_an_update() {
        let account = AccountId::random();
        let stored = new_event("a", 10, 1);
        let current = StoredEvent {
            id: stored.id.clone(),
            event_type: stored.event_type.clone(),
            customer_id: stored.customer_id.clone(),
            timestamp: stored.timestamp,
            record: stored.record.clone(),
            ingested_at: stored.ingested_at,
            seq: EventSeq(3),
        };
        let events = [new_event("a", 10, 2)];
        let found = HashMap::from([((&account, stored.key()), Some(current))]);
        let last = HashMap::from([(&account, EventSeq(3))]);
        let plan = plan_upserts(&[(&account, &events[..])], found, last);
        assert_eq!(plan.results[0][0].outcome, UpsertOutcome::Updated);
        assert_eq!(plan.results[0][0].event_id, stored.id);
        assert_eq!(plan.versions[0].id, stored.id);
        let superseded = &plan.superseded[0];
        assert_eq!(
            (superseded.seq, superseded.until),
            (EventSeq(3), EventSeq(4))
        );
    }

    #[test]
    fn a_move_to_another_customer_is_an_update() {
        let account = AccountId::random();
        let first = new_event("a", 10, 1);
        let mut moved = first.clone();
        moved.customer_id = CustomerId::random();
        let events = [first, moved];
        let plan = plan_upserts(&[(&account, &events[..])], HashMap::new(), HashMap::new());
        let outcomes: Vec<_> = plan.results[0].iter().map(|r| r.outcome).collect();
        assert_eq!(outcomes, [UpsertOutcome::Created, UpsertOutcome::Updated]);
    }
}
