//! `EventStore` for `MemoryStore`.

use async_trait::async_trait;
use futures::stream::{self, BoxStream, StreamExt};
use tally_event::{EventKey, EventType, RecordId, upsert_outcome};

use super::{MemoryStore, Tenant};
use crate::error::{StoreError, StoreResult};
use crate::events::{EventGroup, EventQuery, EventWindow, NewEvent, StoredEvent, UpsertResult};
use crate::ids::{AccountId, CustomerId};
use crate::page::{Page, SortOrder};
use crate::traits::EventStore;

fn upsert_one(tenant: &mut Tenant, new: &NewEvent) -> UpsertResult {
    let key = new.key();
    let stored = tenant.events.get(&key);
    let outcome = upsert_outcome(stored.map(|e| e.timestamp), new.timestamp);
    let next = match stored {
        None => StoredEvent::from_new(new),
        Some(stored) if outcome.is_written() => stored.replaced_by(new),
        Some(stored) => {
            return UpsertResult {
                event_id: stored.id.clone(),
                outcome,
            };
        }
    };
    let event_id = next.id.clone();
    tenant.events.insert(key, next);
    UpsertResult { event_id, outcome }
}

fn list_order(a: &StoredEvent, b: &StoredEvent) -> std::cmp::Ordering {
    (a.timestamp, &a.event_type, a.record_id()).cmp(&(b.timestamp, &b.event_type, b.record_id()))
}

#[async_trait]
impl EventStore for MemoryStore {
    async fn upsert_events(
        &self,
        account: &AccountId,
        events: &[NewEvent],
    ) -> StoreResult<Vec<UpsertResult>> {
        self.with_tenant(account, |tenant| {
            Ok(events.iter().map(|new| upsert_one(tenant, new)).collect())
        })
    }

    /// Every group under the one lock: atomic, like a backend's transaction.
    async fn upsert_event_groups(
        &self,
        groups: &[EventGroup],
    ) -> StoreResult<Vec<Vec<UpsertResult>>> {
        self.with_state(|state| {
            Ok(groups
                .iter()
                .map(|group| {
                    let tenant = state.tenants.entry(group.account.clone()).or_default();
                    group
                        .events
                        .iter()
                        .map(|new| upsert_one(tenant, new))
                        .collect()
                })
                .collect())
        })
    }

    async fn get_event(&self, account: &AccountId, key: &EventKey) -> StoreResult<StoredEvent> {
        self.with_tenant(account, |tenant| {
            tenant
                .events
                .get(key)
                .cloned()
                .ok_or(StoreError::not_found("event"))
        })
    }

    async fn list_events(
        &self,
        account: &AccountId,
        query: &EventQuery,
    ) -> StoreResult<Page<StoredEvent>> {
        query.page.check()?;
        let mut matching = self.with_tenant(account, |tenant| {
            Ok(tenant
                .events
                .values()
                .filter(|e| query.matches(e))
                .cloned()
                .collect::<Vec<_>>())
        })?;
        matching.sort_by(list_order);
        if query.order == SortOrder::Desc {
            matching.reverse();
        }
        Ok(Page::slice(matching, query.page))
    }

    async fn delete_events(
        &self,
        account: &AccountId,
        event_type: &EventType,
        record_ids: &[RecordId],
    ) -> StoreResult<u64> {
        self.with_tenant(account, |tenant| {
            let mut deleted = 0;
            for record_id in record_ids {
                let key = EventKey {
                    event_type: event_type.clone(),
                    record_id: record_id.clone(),
                };
                deleted += u64::from(tenant.events.remove(&key).is_some());
            }
            Ok(deleted)
        })
    }

    fn stream_events(
        &self,
        account: &AccountId,
        customer: &CustomerId,
        event_type: &EventType,
        window: EventWindow,
    ) -> BoxStream<'static, StoreResult<StoredEvent>> {
        self.stream_matching(account, |e| {
            e.customer_id == *customer
                && e.event_type == *event_type
                && window.contains(e.timestamp)
        })
    }

    fn stream_events_of_type<'a>(
        &'a self,
        account: &'a AccountId,
        event_type: &'a EventType,
        window: EventWindow,
    ) -> BoxStream<'a, StoreResult<StoredEvent>> {
        self.stream_matching(account, |e| {
            e.event_type == *event_type && window.contains(e.timestamp)
        })
    }
}

impl MemoryStore {
    /// The account's events passing `keep`, in (timestamp, record id) order.
    fn stream_matching(
        &self,
        account: &AccountId,
        keep: impl Fn(&StoredEvent) -> bool,
    ) -> BoxStream<'static, StoreResult<StoredEvent>> {
        // Memory already holds every event: a sorted copy of the matching ones is
        // the bounded-memory answer here.
        let selected = self.with_tenant(account, |tenant| {
            let mut events: Vec<StoredEvent> = tenant
                .events
                .values()
                .filter(|e| keep(e))
                .cloned()
                .collect();
            events.sort_by(|a, b| (a.timestamp, a.record_id()).cmp(&(b.timestamp, b.record_id())));
            Ok(events)
        });
        match selected {
            Ok(events) => stream::iter(events.into_iter().map(Ok)).boxed(),
            Err(err) => stream::once(async move { Err(err) }).boxed(),
        }
    }
}
