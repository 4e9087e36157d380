//! The trait's default methods, on a store implementing only the required ones.

use async_trait::async_trait;
use futures::stream::BoxStream;
use serde_json::json;
use tally_aggregate::{Aggregator, AggregatorDef, Window};
use tally_event::{EventKey, EventType, Period, RecordId, UpsertOutcome};
use tally_store::conformance::{at, event, record};
use tally_store::{
    AccountId, AsOf, CustomerId, EventGroup, EventQuery, EventSeq, EventStore, EventVersion,
    EventWindow, MemoryStore, Page, StoreError, StoreResult, StoredEvent, UpsertResult,
};

/// `MemoryStore`'s required event methods, and the defaults for the rest.
struct RequiredOnly(MemoryStore);

#[async_trait]
impl EventStore for RequiredOnly {
    async fn upsert_event_groups(
        &self,
        groups: &[EventGroup],
    ) -> StoreResult<Vec<Vec<UpsertResult>>> {
        self.0.upsert_event_groups(groups).await
    }

    async fn latest_seq(&self, account: &AccountId) -> StoreResult<EventSeq> {
        self.0.latest_seq(account).await
    }

    async fn event_history(
        &self,
        account: &AccountId,
        key: &EventKey,
    ) -> StoreResult<Vec<EventVersion>> {
        self.0.event_history(account, key).await
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

    async fn purge_events(
        &self,
        account: &AccountId,
        event_type: &EventType,
        record_ids: &[RecordId],
    ) -> StoreResult<u64> {
        self.0.purge_events(account, event_type, record_ids).await
    }

    fn stream_events_as_of(
        &self,
        account: &AccountId,
        customer: Option<&CustomerId>,
        event_type: &EventType,
        window: EventWindow,
        as_of: AsOf,
    ) -> BoxStream<'static, StoreResult<StoredEvent>> {
        self.0
            .stream_events_as_of(account, customer, event_type, window, as_of)
    }
}

fn sum_of_amount() -> Aggregator {
    let def: AggregatorDef = serde_json::from_value(json!({
        "name": "amount", "event_type": "calls", "operation": "sum",
        "property": "amount", "type": "metered"
    }))
    .unwrap();
    Aggregator::compile(&def).unwrap()
}

/// The single upsert wraps the group upsert; `get_event` is the current read;
/// `aggregate_as_of` reads the versions known at a sequence through the
/// evaluator, and the current ones through `aggregate`.
#[tokio::test]
async fn defaults_read_through_the_required_methods() {
    let store = RequiredOnly(MemoryStore::new());
    let account = AccountId::random();
    let customer = CustomerId::random();
    let first = event(
        "calls",
        &customer,
        at(10),
        record("r1", json!({"amount": 5})),
    );
    let results = store
        .upsert_events(&account, std::slice::from_ref(&first))
        .await
        .unwrap();
    assert_eq!(results[0].outcome, UpsertOutcome::Created);
    let known = store.latest_seq(&account).await.unwrap();
    let second = event(
        "calls",
        &customer,
        at(20),
        record("r1", json!({"amount": 7})),
    );
    store.upsert_events(&account, &[second]).await.unwrap();

    let key = first.key();
    let current = store.get_event(&account, &key).await.unwrap();
    assert_eq!(current.record.to_json()["amount"], json!(7));
    let missing = EventKey {
        record_id: RecordId::parse("nope").unwrap(),
        ..key
    };
    let missing = store.get_event(&account, &missing).await;
    assert!(
        matches!(missing, Err(StoreError::NotFound { .. })),
        "{missing:?}"
    );

    let aggregator = sum_of_amount();
    let window = Window::Range(Period::new(at(0), at(100)).unwrap());
    let now = store
        .aggregate_as_of(
            &account,
            &aggregator,
            None,
            &customer,
            window,
            AsOf::CURRENT,
        )
        .await
        .unwrap();
    let then = store
        .aggregate_as_of(
            &account,
            &aggregator,
            None,
            &customer,
            window,
            AsOf::known_at(known),
        )
        .await
        .unwrap();
    assert_eq!(now.quantity, 7.into());
    assert_eq!(then.quantity, 5.into());
}
