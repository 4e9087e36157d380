//! Event checks: upsert outcomes, moves, listing, pagination, deletion, streams.

use std::sync::Arc;

use futures::TryStreamExt;
use serde_json::json;
use tally_event::{EventKey, EventType, Period, RecordId, UpsertOutcome};

use super::fixtures::{at, event, new_account, new_customer, record};
use crate::error::StoreError;
use crate::events::{EventQuery, EventWindow, NewEvent, StoredEvent};
use crate::ids::{AccountId, CustomerId};
use crate::page::{PageRequest, SortOrder};
use crate::traits::Store;

fn key(event_type: &str, record_id: &str) -> EventKey {
    EventKey {
        event_type: EventType::parse(event_type).unwrap(),
        record_id: RecordId::parse(record_id).unwrap(),
    }
}

fn outcomes(results: &[crate::events::UpsertResult]) -> Vec<UpsertOutcome> {
    results.iter().map(|r| r.outcome).collect()
}

/// Created, updated (newer and equal timestamps), stale (older), in input order,
/// ids kept across updates, and a key repeated within one batch.
pub async fn upsert_outcomes(store: &Arc<dyn Store>) {
    let account = new_account(store).await;
    let customer = new_customer(store, &account, "acme").await;
    let first = event("calls", &customer, at(1_000), record("r1", json!({"n": 1})));
    let created = store
        .upsert_events(&account, std::slice::from_ref(&first))
        .await
        .unwrap();
    assert_eq!(outcomes(&created), [UpsertOutcome::Created]);
    assert_eq!(
        created[0].event_id, first.id,
        "a created event keeps its new id"
    );

    let newer = event("calls", &customer, at(2_000), record("r1", json!({"n": 2})));
    let older = event("calls", &customer, at(1_500), record("r1", json!({"n": 3})));
    let equal = event("calls", &customer, at(2_000), record("r1", json!({"n": 4})));
    let results = store
        .upsert_events(&account, &[newer, older, equal])
        .await
        .unwrap();
    let expected = [
        UpsertOutcome::Updated,
        UpsertOutcome::Stale,
        UpsertOutcome::Updated,
    ];
    assert_eq!(
        outcomes(&results),
        expected,
        "newer, older, equal timestamps"
    );
    for result in &results {
        assert_eq!(
            result.event_id, first.id,
            "every outcome reports the stored id"
        );
    }
    let stored = store
        .get_event(&account, &key("calls", "r1"))
        .await
        .unwrap();
    assert_eq!(stored.id, first.id);
    assert_eq!(stored.timestamp, at(2_000));
    assert_eq!(
        stored.record,
        record("r1", json!({"n": 4})),
        "equal timestamp: last wins"
    );

    let out_of_order = store
        .upsert_events(
            &account,
            &[
                event("calls", &customer, at(50), record("r2", json!({}))),
                event("calls", &customer, at(10), record("r2", json!({}))),
                event(
                    "calls",
                    &customer,
                    at(60),
                    record("r2", json!({"late": true})),
                ),
                event("other", &customer, at(10), record("r2", json!({}))),
            ],
        )
        .await
        .unwrap();
    let expected = [
        UpsertOutcome::Created,
        UpsertOutcome::Stale,
        UpsertOutcome::Updated,
        UpsertOutcome::Created,
    ];
    assert_eq!(
        outcomes(&out_of_order),
        expected,
        "a key repeated in one batch"
    );
    assert_eq!(out_of_order[0].event_id, out_of_order[2].event_id);
    assert_ne!(
        out_of_order[0].event_id, out_of_order[3].event_id,
        "the key includes the type"
    );
    let r2 = store
        .get_event(&account, &key("calls", "r2"))
        .await
        .unwrap();
    assert_eq!(r2.timestamp, at(60));
    assert_eq!(r2.record, record("r2", json!({"late": true})));

    let missing = store.get_event(&account, &key("calls", "nope")).await;
    assert!(
        matches!(missing, Err(StoreError::NotFound { .. })),
        "{missing:?}"
    );
}

/// A resubmitted `NewEvent` (its fresh id equal to the stored event's id) is
/// `unchanged`, a newer one an update and an older one stale: the outcome
/// never depends on the fresh id.
pub async fn upsert_resubmitted(store: &Arc<dyn Store>) {
    let account = new_account(store).await;
    let customer = new_customer(store, &account, "acme").await;
    let original = event("calls", &customer, at(1_000), record("r1", json!({"n": 1})));
    let created = store
        .upsert_events(&account, std::slice::from_ref(&original))
        .await
        .unwrap();
    assert_eq!(outcomes(&created), [UpsertOutcome::Created]);

    let resubmitted = store
        .upsert_events(&account, std::slice::from_ref(&original))
        .await
        .unwrap();
    assert_eq!(
        outcomes(&resubmitted),
        [UpsertOutcome::Unchanged],
        "the same NewEvent again changes nothing"
    );
    assert_eq!(resubmitted[0].event_id, original.id);

    let newer = NewEvent {
        timestamp: at(2_000),
        record: record("r1", json!({"n": 2})),
        ..original.clone()
    };
    let older = NewEvent {
        timestamp: at(500),
        ..original.clone()
    };
    let results = store
        .upsert_events(&account, &[newer.clone(), older, newer])
        .await
        .unwrap();
    let expected = [
        UpsertOutcome::Updated,
        UpsertOutcome::Stale,
        UpsertOutcome::Unchanged,
    ];
    assert_eq!(
        outcomes(&results),
        expected,
        "fresh id equal to the stored id: newer, older, the newer again"
    );
    for result in &results {
        assert_eq!(result.event_id, original.id);
    }
    let stored = store
        .get_event(&account, &key("calls", "r1"))
        .await
        .unwrap();
    assert_eq!(stored.id, original.id);
    assert_eq!(stored.record, record("r1", json!({"n": 2})));
}

/// An update may move an event to another customer and period: reads see only
/// the current version.
pub async fn customer_moves(store: &Arc<dyn Store>) {
    let account = new_account(store).await;
    let alice = new_customer(store, &account, "alice").await;
    let bob = new_customer(store, &account, "bob").await;
    let january = window(0, 31);
    let february = window(31, 60);
    let original = event("seats", &alice, day(3), record("s1", json!({"seats": 5})));
    store.upsert_events(&account, &[original]).await.unwrap();
    assert_eq!(streamed(store, &account, &alice, january).await.len(), 1);

    let moved = event("seats", &bob, day(40), record("s1", json!({"seats": 7})));
    let result = store.upsert_events(&account, &[moved]).await.unwrap();
    assert_eq!(outcomes(&result), [UpsertOutcome::Updated]);
    assert!(streamed(store, &account, &alice, january).await.is_empty());
    assert!(streamed(store, &account, &bob, january).await.is_empty());
    let now_bob = streamed(store, &account, &bob, february).await;
    assert_eq!(now_bob.len(), 1);
    assert_eq!(now_bob[0].record, record("s1", json!({"seats": 7})));
    let by_alice = EventQuery {
        customer_id: Some(alice.clone()),
        ..EventQuery::default()
    };
    let page = store.list_events(&account, &by_alice).await.unwrap();
    assert_eq!(page.total, 0, "the old customer lists nothing");
}

fn day(n: i64) -> tally_event::Timestamp {
    at(n * 86_400_000)
}

fn window(from_day: i64, to_day: i64) -> EventWindow {
    EventWindow::Range(Period::new(day(from_day), day(to_day)).unwrap())
}

async fn streamed(
    store: &Arc<dyn Store>,
    account: &AccountId,
    customer: &CustomerId,
    window: EventWindow,
) -> Vec<StoredEvent> {
    let event_type = EventType::parse("seats").unwrap();
    store
        .stream_events(account, customer, &event_type, window)
        .try_collect()
        .await
        .unwrap()
}

fn record_ids(events: &[StoredEvent]) -> Vec<&str> {
    events.iter().map(|e| e.record_id().as_str()).collect()
}

async fn list(store: &Arc<dyn Store>, account: &AccountId, query: EventQuery) -> Vec<String> {
    let page = store.list_events(account, &query).await.unwrap();
    assert_eq!(
        page.total as usize,
        page.items.len(),
        "one page holds all here"
    );
    record_ids(&page.items)
        .into_iter()
        .map(str::to_owned)
        .collect()
}

/// Every list filter, inclusive time bounds, and the (timestamp, type, id) order.
pub async fn list_filters_and_order(store: &Arc<dyn Store>) {
    let account = new_account(store).await;
    let a = new_customer(store, &account, "a").await;
    let b = new_customer(store, &account, "b").await;
    let events = [
        event("calls", &a, at(30), record("c3", json!({}))),
        event("calls", &a, at(10), record("c1", json!({}))),
        event("calls", &b, at(20), record("c2", json!({}))),
        event("mails", &a, at(20), record("m1", json!({}))),
        event("calls", &a, at(20), record("c0", json!({}))),
    ];
    store.upsert_events(&account, &events).await.unwrap();
    let calls = EventType::parse("calls").ok();
    let q = EventQuery::default;
    assert_eq!(
        list(store, &account, q()).await,
        ["c1", "c0", "c2", "m1", "c3"]
    );
    let desc = EventQuery {
        order: SortOrder::Desc,
        ..q()
    };
    assert_eq!(
        list(store, &account, desc).await,
        ["c3", "m1", "c2", "c0", "c1"]
    );
    let typed = EventQuery {
        event_type: calls.clone(),
        ..q()
    };
    assert_eq!(list(store, &account, typed).await, ["c1", "c0", "c2", "c3"]);
    let of_b = EventQuery {
        customer_id: Some(b.clone()),
        ..q()
    };
    assert_eq!(list(store, &account, of_b).await, ["c2"]);
    let ids = |v: &[&str]| Some(v.iter().map(|s| RecordId::parse(s).unwrap()).collect());
    let by_ids = EventQuery {
        record_ids: ids(&["c3", "m1", "zz"]),
        ..q()
    };
    assert_eq!(list(store, &account, by_ids).await, ["m1", "c3"]);
    let no_ids = EventQuery {
        record_ids: ids(&[]),
        ..q()
    };
    assert!(
        list(store, &account, no_ids).await.is_empty(),
        "empty id list"
    );
    let bounds = EventQuery {
        timestamp_gte: Some(at(20)),
        timestamp_lte: Some(at(20)),
        event_type: calls,
        customer_id: Some(a),
        ..q()
    };
    assert_eq!(
        list(store, &account, bounds).await,
        ["c0"],
        "bounds are inclusive"
    );
}

/// take 0, skip past the end, a partial last page, and the total on each.
pub async fn pagination_edges(store: &Arc<dyn Store>) {
    let account = new_account(store).await;
    let customer = new_customer(store, &account, "acme").await;
    let events: Vec<_> = (0..5)
        .map(|i| {
            event(
                "calls",
                &customer,
                at(i),
                record(&format!("e{i}"), json!({})),
            )
        })
        .collect();
    store.upsert_events(&account, &events).await.unwrap();
    let page = |take, skip| EventQuery {
        page: PageRequest { take, skip },
        ..EventQuery::default()
    };
    let cases: [(u32, u64, &[&str]); 5] = [
        (0, 0, &[]),
        (2, 0, &["e0", "e1"]),
        (2, 4, &["e4"]),
        (10, 5, &[]),
        (10, u64::from(u32::MAX) * 4, &[]),
    ];
    for (take, skip, expected) in cases {
        let got = store
            .list_events(&account, &page(take, skip))
            .await
            .unwrap();
        assert_eq!(got.total, 5, "total with take {take} skip {skip}");
        assert_eq!(record_ids(&got.items), expected, "take {take} skip {skip}");
    }
    let too_many = store.list_events(&account, &page(101, 0)).await;
    assert!(
        matches!(too_many, Err(StoreError::InvalidInput(_))),
        "{too_many:?}"
    );
}

/// Deletion by record ids counts what existed and touches nothing else.
pub async fn delete_events(store: &Arc<dyn Store>) {
    let account = new_account(store).await;
    let customer = new_customer(store, &account, "acme").await;
    let events = [
        event("calls", &customer, at(1), record("d1", json!({}))),
        event("calls", &customer, at(2), record("d2", json!({}))),
        event("calls", &customer, at(3), record("d3", json!({}))),
        event("mails", &customer, at(4), record("d1", json!({}))),
    ];
    store.upsert_events(&account, &events).await.unwrap();
    let calls = EventType::parse("calls").unwrap();
    let ids: Vec<_> = ["d1", "d2", "unknown"]
        .iter()
        .map(|s| RecordId::parse(s).unwrap())
        .collect();
    assert_eq!(
        store.delete_events(&account, &calls, &ids).await.unwrap(),
        2
    );
    assert_eq!(
        store.delete_events(&account, &calls, &ids).await.unwrap(),
        0
    );
    assert_eq!(store.delete_events(&account, &calls, &[]).await.unwrap(), 0);
    let gone = store.get_event(&account, &key("calls", "d1")).await;
    assert!(matches!(gone, Err(StoreError::NotFound { .. })), "{gone:?}");
    let left = list(store, &account, EventQuery::default()).await;
    assert_eq!(left, ["d3", "d1"], "other ids and other types stay");
    let again = event("calls", &customer, at(0), record("d1", json!({})));
    let result = store.upsert_events(&account, &[again]).await.unwrap();
    assert_eq!(
        outcomes(&result),
        [UpsertOutcome::Created],
        "a deleted key is free again"
    );
}

/// Streams come in (timestamp, record id) order, respect both window kinds, and
/// carry more events than any internal chunk.
pub async fn stream_order_and_window(store: &Arc<dyn Store>) {
    let account = new_account(store).await;
    let customer = new_customer(store, &account, "acme").await;
    let other = new_customer(store, &account, "other").await;
    let mut events = Vec::new();
    for i in 0..2_500_i64 {
        let ts = day(i % 50);
        events.push(event(
            "seats",
            &customer,
            ts,
            record(&format!("k{i:05}"), json!({})),
        ));
    }
    events.push(event("seats", &other, day(1), record("x", json!({}))));
    events.push(event("calls", &customer, day(1), record("y", json!({}))));
    for chunk in events.chunks(1_000) {
        store.upsert_events(&account, chunk).await.unwrap();
    }
    let all = streamed(store, &account, &customer, EventWindow::Before(day(50))).await;
    assert_eq!(all.len(), 2_500, "every event of the customer and type");
    let sorted = all
        .windows(2)
        .all(|w| (w[0].timestamp, w[0].record_id()) < (w[1].timestamp, w[1].record_id()));
    assert!(sorted, "stream is in (timestamp, record id) order");
    let range = streamed(store, &account, &customer, window(10, 12)).await;
    assert_eq!(range.len(), 100, "[start, end) holds days 10 and 11");
    assert!(
        range
            .iter()
            .all(|e| e.timestamp >= day(10) && e.timestamp < day(12))
    );
    let before = streamed(store, &account, &customer, EventWindow::Before(day(1))).await;
    assert_eq!(before.len(), 50, "before end excludes end");
}

/// Every customer's events of one type stream in (timestamp, record id) order
/// across pages, ties on one timestamp included; `time_series` (one customer and
/// all of them, metered and licensed) equals the pure series over the current
/// events, events outside the read window included in the data.
pub async fn time_series_reads(store: &Arc<dyn Store>) {
    let account = new_account(store).await;
    let alice = new_customer(store, &account, "alice").await;
    let bob = new_customer(store, &account, "bob").await;
    let mut events = Vec::new();
    // 1 200 events on 4 instants: ties of 300 span the stream's page boundaries.
    for i in 0..1_200_i64 {
        let customer = if i % 3 == 0 { &bob } else { &alice };
        let ts = at(2 * 86_400_000 + (i % 4) * 3_600_000);
        let id = format!("t{:04}", (i * 7_919) % 1_200);
        events.push(event("calls", customer, ts, record(&id, json!({"n": i}))));
    }
    events.push(event(
        "calls",
        &alice,
        day(0),
        record("before", json!({"n": 1})),
    ));
    events.push(event(
        "calls",
        &bob,
        day(9),
        record("after", json!({"n": 1})),
    ));
    events.push(event(
        "mails",
        &alice,
        day(2),
        record("t0001", json!({"n": 1})),
    ));
    store.upsert_events(&account, &events).await.unwrap();

    let calls = EventType::parse("calls").unwrap();
    let range = Period::new(day(1), day(5)).unwrap();
    let all: Vec<StoredEvent> = store
        .stream_events_of_type(&account, &calls, EventWindow::Range(range))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(
        all.len(),
        1_200,
        "every customer's events of the type in range"
    );
    let sorted = all
        .windows(2)
        .all(|w| (w[0].timestamp, w[0].record_id()) < (w[1].timestamp, w[1].record_id()));
    assert!(sorted, "stream is in (timestamp, record id) order");
    let before: Vec<StoredEvent> = store
        .stream_events_of_type(&account, &calls, EventWindow::Before(day(5)))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(before.len(), 1_201, "before the end: the earlier event too");

    let current: Vec<tally_event::Event> = events.iter().map(|e| e.to_event().unwrap()).collect();
    for kind in ["metered", "licensed"] {
        let def = tally_aggregate::AggregatorDef {
            name: "n".into(),
            event_type: "calls".into(),
            operation: "sum".into(),
            property: Some("n".into()),
            formula: None,
            kind: kind.into(),
            unit_name: None,
            allow_negative_values: false,
            where_: None,
            custom_event_name: None,
            exposed_event_keys: None,
            filters: Vec::new(),
            thresholds: Vec::new(),
        };
        let aggregator = tally_aggregate::Aggregator::compile(&def).unwrap();
        let alices: Vec<&tally_event::Event> = events
            .iter()
            .zip(&current)
            .filter(|(e, _)| e.customer_id == alice)
            .map(|(_, c)| c)
            .collect();
        for (customer, mine) in [(None, current.iter().collect()), (Some(&alice), alices)] {
            let bucket = tally_aggregate::Bucket::Day;
            let expected =
                tally_aggregate::time_series(&aggregator, range, bucket, None, mine).unwrap();
            let got = store
                .time_series(&account, &aggregator, None, customer, range, bucket)
                .await
                .unwrap();
            assert_eq!(got, expected, "{kind} series of {customer:?}");
        }
    }
}
