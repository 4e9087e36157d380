//! The trait's default methods, on a store implementing only the required ones.

use async_trait::async_trait;
use futures::TryStreamExt;
use futures::stream::BoxStream;
use serde_json::json;
use tally_event::{EventKey, EventType, Period, RecordId};
use tally_store::conformance::{at, event, record};
use tally_store::{
    AccountId, CustomerId, EventQuery, EventStore, EventWindow, MemoryStore, NewEvent, Page,
    StoreResult, StoredEvent, UpsertResult,
};

/// `MemoryStore`'s required event methods, and the defaults for the rest.
struct RequiredOnly(MemoryStore);

#[async_trait]
impl EventStore for RequiredOnly {
    async fn upsert_events(
        &self,
        account: &AccountId,
        events: &[NewEvent],
    ) -> StoreResult<Vec<UpsertResult>> {
        self.0.upsert_events(account, events).await
    }

    async fn get_event(&self, account: &AccountId, key: &EventKey) -> StoreResult<StoredEvent> {
        self.0.get_event(account, key).await
    }

    async fn list_events(
        &self,
        account: &AccountId,
        query: &EventQuery,
    ) -> StoreResult<Page<StoredEvent>> {
        self.0.list_events(account, query).await
    }

    async fn delete_events(
        &self,
        account: &AccountId,
        event_type: &EventType,
        record_ids: &[RecordId],
    ) -> StoreResult<u64> {
        self.0.delete_events(account, event_type, record_ids).await
    }

    fn stream_events(
        &self,
        account: &AccountId,
        customer: &CustomerId,
        event_type: &EventType,
        window: EventWindow,
    ) -> BoxStream<'static, StoreResult<StoredEvent>> {
        self.0.stream_events(account, customer, event_type, window)
    }
}

/// The default pages through `list_events` (100 a page) by timestamp: ties
/// longer than a page, and events of other types and customers, come out
/// exactly as a keyset stream gives them.
#[tokio::test]
async fn default_stream_of_type_pages_through_ties() {
    let memory = MemoryStore::new();
    let store = RequiredOnly(memory.clone());
    let account = AccountId::random();
    let customers = [CustomerId::random(), CustomerId::random()];
    let mut events = Vec::new();
    for i in 0..430_i64 {
        // 250 events on one instant, the rest spread around it.
        let ts = if i < 250 { at(5_000) } else { at(i * 20) };
        let customer = &customers[(i % 2) as usize];
        let id = format!("e{:03}", (i * 37) % 430);
        events.push(event("calls", customer, ts, record(&id, json!({"n": i}))));
        events.push(event("mails", customer, ts, record(&id, json!({}))));
    }
    store.upsert_events(&account, &events).await.unwrap();
    let calls = EventType::parse("calls").unwrap();
    for window in [
        EventWindow::Range(Period::new(at(0), at(20_000)).unwrap()),
        EventWindow::Range(Period::new(at(5_000), at(5_001)).unwrap()),
        EventWindow::Range(Period::new(at(4_000), at(6_000)).unwrap()),
        EventWindow::Before(at(6_000)),
    ] {
        let by_default: Vec<StoredEvent> = store
            .stream_events_of_type(&account, &calls, window)
            .try_collect()
            .await
            .unwrap();
        let keyset: Vec<StoredEvent> = memory
            .stream_events_of_type(&account, &calls, window)
            .try_collect()
            .await
            .unwrap();
        assert!(!keyset.is_empty());
        assert_eq!(by_default, keyset, "{window:?}");
    }
}
