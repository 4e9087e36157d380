//! Stored events and the queries over them.

use tally_event::{
    CustomerRef, Event, EventKey, EventType, Period, Record, RecordId, Timestamp, UpsertOutcome,
};

use crate::error::{StoreError, StoreResult};
use crate::ids::{AccountId, CustomerId, EventId};
use crate::page::{PageRequest, SortOrder};
use crate::versions::{EventSeq, PlannedVersion};

/// An event ready to store: validated, its customer resolved to a `cus_` id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    /// A fresh id, kept only when the upsert creates the event; an update keeps
    /// the stored event's id.
    pub id: EventId,
    /// The event's type (`api_call`); with the record id, its key.
    pub event_type: EventType,
    /// The customer the event belongs to, resolved from its `customer_id` reference.
    pub customer_id: CustomerId,
    /// When the event happened (UTC milliseconds): what decides its period and which version of
    /// a key wins.
    pub timestamp: Timestamp,
    /// The flat record, `id` included.
    pub record: Record,
    /// When the engine accepted the event (passed in: stores read no clock).
    pub ingested_at: Timestamp,
}

impl NewEvent {
    /// The upsert key: (`event_type`, `record.id`), per account.
    pub fn key(&self) -> EventKey {
        EventKey {
            event_type: self.event_type.clone(),
            record_id: self.record.id().clone(),
        }
    }

    /// The event as the pure evaluator takes it, its customer given by `cus_` id.
    pub fn to_event(&self) -> StoreResult<Event> {
        event_of(
            &self.event_type,
            &self.customer_id,
            self.timestamp,
            &self.record,
        )
    }
}

fn event_of(
    event_type: &EventType,
    customer_id: &CustomerId,
    timestamp: Timestamp,
    record: &Record,
) -> StoreResult<Event> {
    Ok(Event {
        event_type: event_type.clone(),
        customer: customer_ref(customer_id)?,
        timestamp,
        record: record.clone(),
    })
}

/// A `cus_` id (5..=64 ASCII characters) is always a valid customer reference.
fn customer_ref(customer_id: &CustomerId) -> StoreResult<CustomerRef> {
    CustomerRef::parse(customer_id.as_str())
        .map_err(|err| StoreError::Internal(format!("customer id as reference: {err}")))
}

/// A stored version of an event (the current one, unless a read asked for
/// another: `tally_store::AsOf`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    /// The stored event's id (`evt_…`), kept when an update replaces its content.
    pub id: EventId,
    /// The event's type.
    pub event_type: EventType,
    /// The customer it belongs to.
    pub customer_id: CustomerId,
    /// When the event happened (UTC milliseconds).
    pub timestamp: Timestamp,
    /// The flat record, `id` included.
    pub record: Record,
    /// When this version was stored (UTC milliseconds).
    pub ingested_at: Timestamp,
    /// This version's ingestion sequence number (transaction time).
    pub seq: EventSeq,
}

impl StoredEvent {
    /// The upsert key: (`event_type`, `record.id`).
    pub fn key(&self) -> EventKey {
        EventKey {
            event_type: self.event_type.clone(),
            record_id: self.record.id().clone(),
        }
    }

    /// The record's `id`.
    pub fn record_id(&self) -> &RecordId {
        self.record.id()
    }

    /// The event as the pure evaluator takes it, without copying the
    /// record: for a reader that needs nothing else of the stored version.
    pub fn into_event(self) -> StoreResult<Event> {
        Ok(Event {
            customer: customer_ref(&self.customer_id)?,
            event_type: self.event_type,
            timestamp: self.timestamp,
            record: self.record,
        })
    }

    /// Lends the event to `read` without copying the record (it is moved
    /// into the event and back), and gives the stored version back with what
    /// `read` answered: for readers that judge an event, then keep it.
    pub fn lend_event<T>(self, read: impl FnOnce(&Event) -> T) -> StoreResult<(StoredEvent, T)> {
        let StoredEvent {
            id,
            event_type,
            customer_id,
            timestamp,
            record,
            ingested_at,
            seq,
        } = self;
        let event = Event {
            customer: customer_ref(&customer_id)?,
            event_type,
            timestamp,
            record,
        };
        let answer = read(&event);
        let stored = StoredEvent {
            id,
            event_type: event.event_type,
            customer_id,
            timestamp,
            record: event.record,
            ingested_at,
            seq,
        };
        Ok((stored, answer))
    }

    /// The event as the pure evaluator takes it, its customer given by `cus_` id.
    pub fn to_event(&self) -> StoreResult<Event> {
        event_of(
            &self.event_type,
            &self.customer_id,
            self.timestamp,
            &self.record,
        )
    }

    /// The stored form of a planned version.
    pub fn from_planned(version: &PlannedVersion<'_>) -> StoredEvent {
        let new = version.event;
        StoredEvent {
            id: version.id.clone(),
            event_type: new.event_type.clone(),
            customer_id: new.customer_id.clone(),
            timestamp: new.timestamp,
            record: new.record.clone(),
            ingested_at: new.ingested_at,
            seq: version.seq,
        }
    }
}

/// One account's events in a group commit ([`EventStore::upsert_event_groups`](crate::EventStore::upsert_event_groups)):
/// several requests' upserts written in one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventGroup {
    /// The account every event of the group is written in.
    pub account: AccountId,
    /// The events, upserted in this order, after the groups before this one.
    pub events: Vec<NewEvent>,
}

/// What one upsert did, and the id of the event now stored under its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpsertResult {
    /// The id of the event now stored under the key: the new one, or the one kept.
    pub event_id: EventId,
    /// Created, updated, stale (kept as history) or unchanged (nothing stored).
    pub outcome: UpsertOutcome,
    /// The sequence number of the version stored; `None` when unchanged.
    pub seq: Option<EventSeq>,
}

/// Which timestamps an aggregation or a stream covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventWindow {
    /// Metered aggregators: events with a timestamp in [start, end).
    Range(Period),
    /// Licensed aggregators: every current event with a timestamp before `end`.
    Before(Timestamp),
}

impl EventWindow {
    /// Whether `at` falls in the window.
    pub fn contains(&self, at: Timestamp) -> bool {
        match self {
            EventWindow::Range(period) => period.contains(at),
            EventWindow::Before(end) => at < *end,
        }
    }

    /// The inclusive lower bound in milliseconds (0 for `Before`).
    pub fn start_ms(&self) -> i64 {
        match self {
            EventWindow::Range(period) => period.start().as_millis(),
            EventWindow::Before(_) => 0,
        }
    }

    /// The exclusive upper bound in milliseconds.
    pub fn end_ms(&self) -> i64 {
        match self {
            EventWindow::Range(period) => period.end().as_millis(),
            EventWindow::Before(end) => end.as_millis(),
        }
    }
}

/// Filters of `GET /v1/events`; every field narrows the result.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EventQuery {
    /// Only events of this type.
    pub event_type: Option<EventType>,
    /// Only this customer's events.
    pub customer_id: Option<CustomerId>,
    /// Only events whose record id is one of these (any event type unless
    /// `event_type` is set). An empty list matches nothing.
    pub record_ids: Option<Vec<RecordId>>,
    /// Inclusive lower bound on the timestamp.
    pub timestamp_gte: Option<Timestamp>,
    /// Inclusive upper bound on the timestamp.
    pub timestamp_lte: Option<Timestamp>,
    /// By (timestamp, event type, record id), ascending or descending.
    pub order: SortOrder,
    /// Which page.
    pub page: PageRequest,
}

impl EventQuery {
    /// Whether `event` passes every filter (the in-memory store's predicate).
    pub fn matches(&self, event: &StoredEvent) -> bool {
        self.event_type
            .as_ref()
            .is_none_or(|t| *t == event.event_type)
            && self
                .customer_id
                .as_ref()
                .is_none_or(|c| *c == event.customer_id)
            && self
                .record_ids
                .as_ref()
                .is_none_or(|ids| ids.contains(event.record_id()))
            && self.timestamp_gte.is_none_or(|t| event.timestamp >= t)
            && self.timestamp_lte.is_none_or(|t| event.timestamp <= t)
    }
}
