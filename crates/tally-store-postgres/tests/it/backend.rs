//! PostgreSQL-specific behaviour beyond the shared conformance suite: a key
//! repeated in one batch, several processes (pools) sharing a database and
//! its sequence counters, and streaming across page boundaries.

use std::collections::BTreeSet;
use std::sync::Arc;

use futures::{StreamExt, TryStreamExt, future};
use serde_json::json;
use tally_event::{
    EventKey, EventType, Period, RecordId, Timestamp, UpsertOutcome, record_from_stored_json,
};
use tally_store::{
    AccountId, AggregatorFilterId, AsOf, CustomerId, CustomerStore, EventGroup, EventId, EventSeq,
    EventStore, EventWindow, InvoiceId, InvoiceStatus, InvoiceStore, NewEvent, NewInvoice,
    StoreError,
};
use tally_store_postgres::PgStore;

use crate::harness::{TestDatabase, fresh_database};

fn at(ms: i64) -> Timestamp {
    Timestamp::from_millis(ms).unwrap()
}

fn event(record_id: &str, customer: &CustomerId, ts: i64, amount: i64) -> NewEvent {
    let record = json!({"id": record_id, "amount": amount});
    NewEvent {
        id: EventId::random(),
        event_type: EventType::parse("api_call").unwrap(),
        customer_id: customer.clone(),
        timestamp: at(ts),
        record: record_from_stored_json(&record).unwrap(),
        ingested_at: at(ts),
    }
}

/// Two stores on one database: what two `tally serve` processes look like.
async fn two_stores() -> (TestDatabase, PgStore, PgStore) {
    let db = fresh_database().await;
    let first = PgStore::connect_with(db.options.clone(), 8).await.unwrap();
    let second = PgStore::connect_with(db.options.clone(), 8).await.unwrap();
    (db, first, second)
}

#[tokio::test]
async fn a_key_repeated_in_one_batch_is_applied_in_order() {
    let (_db, store, _) = two_stores().await;
    let account = AccountId::random();
    let customer = CustomerId::random();
    let batch = vec![
        event("k", &customer, 5_000, 1),
        event("other", &customer, 1_000, 9),
        event("k", &customer, 4_000, 2),
        event("k", &customer, 5_000, 3),
        event("k", &customer, 6_000, 4),
    ];
    let results = store.upsert_events(&account, &batch).await.unwrap();
    let outcomes: Vec<UpsertOutcome> = results.iter().map(|r| r.outcome).collect();
    use UpsertOutcome::{Created, Stale, Updated};
    assert_eq!(outcomes, [Created, Created, Stale, Updated, Updated]);
    // Every occurrence of "k" reports the id stored first.
    for index in [2, 3, 4] {
        assert_eq!(results[index].event_id, batch[0].id);
    }
    let stored = store.get_event(&account, &batch[4].key()).await.unwrap();
    assert_eq!(stored.id, batch[0].id);
    assert_eq!(stored.timestamp, at(6_000));
    assert_eq!(stored.record, batch[4].record);
    // Every occurrence is a version, numbered in batch order ("other" took 2);
    // the ones replaced within the batch were inserted already superseded.
    let history = store
        .event_history(&account, &batch[0].key())
        .await
        .unwrap();
    let versions: Vec<(i64, Option<i64>)> = history
        .iter()
        .map(|v| (v.event.seq.get(), v.current_until.map(EventSeq::get)))
        .collect();
    assert_eq!(
        versions,
        [(1, Some(4)), (3, Some(3)), (4, Some(5)), (5, None)]
    );
    assert_eq!(store.latest_seq(&account).await.unwrap().get(), 5);
}

/// Writers in two processes, each transaction naming both accounts in either
/// order, with deletions among them: none deadlocks (the counters are locked
/// in one order), and each account's versions and deletions have the
/// sequence numbers 1..=latest, each once, with one current version per live
/// key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_across_processes_share_each_sequence() {
    let (_db, first, second) = two_stores().await;
    let (first, second) = (Arc::new(first), Arc::new(second));
    let accounts = [AccountId::random(), AccountId::random()];
    let customer = CustomerId::random();
    let api_call = EventType::parse("api_call").unwrap();
    let writes = (0..32i64).map(|i| {
        let store = if i % 2 == 0 {
            first.clone()
        } else {
            second.clone()
        };
        let (x, y) = if i % 3 == 0 { (0, 1) } else { (1, 0) };
        // Distinct content every time: every event stores a version.
        let groups = vec![
            EventGroup {
                account: accounts[x].clone(),
                events: vec![event(&format!("k{}", i % 4), &customer, 1_000 + i, i)],
            },
            EventGroup {
                account: accounts[y].clone(),
                events: vec![
                    event(&format!("k{}", i % 3), &customer, 2_000 - i, i),
                    event("fixed", &customer, 1_000 + i, i),
                ],
            },
        ];
        let (account, api_call) = (accounts[x].clone(), api_call.clone());
        tokio::spawn(async move {
            store.upsert_event_groups(&groups).await?;
            if i % 5 == 0 {
                let ids = [RecordId::parse("k0").unwrap()];
                store.delete_events(&account, &api_call, &ids).await?;
            }
            Ok::<_, StoreError>(())
        })
    });
    for joined in future::join_all(writes).await {
        joined.unwrap().unwrap();
    }
    for account in &accounts {
        let latest = first.latest_seq(account).await.unwrap().get();
        let mut used = Vec::new();
        let mut deletions = BTreeSet::new();
        for record_id in ["k0", "k1", "k2", "k3", "fixed"] {
            let key = EventKey {
                event_type: api_call.clone(),
                record_id: RecordId::parse(record_id).unwrap(),
            };
            let history = second.event_history(account, &key).await.unwrap();
            used.extend(history.iter().map(|v| v.event.seq.get()));
            deletions.extend(
                history
                    .iter()
                    .filter_map(|v| v.deleted_at.map(EventSeq::get)),
            );
            let current = history.iter().filter(|v| v.current_until.is_none()).count();
            let alive = history.last().is_some_and(|v| v.deleted_at.is_none());
            assert_eq!(
                current,
                usize::from(alive),
                "{record_id}: one current version if alive"
            );
            // The database's own current-version query agrees with the history.
            let picked = AsOf::CURRENT.pick(&history).map(|v| v.event.seq);
            let query = tally_store::EventQuery {
                event_type: Some(key.event_type.clone()),
                record_ids: Some(vec![key.record_id.clone()]),
                ..tally_store::EventQuery::default()
            };
            let listed = first.list_events(account, &query).await.unwrap();
            assert_eq!(listed.items.first().map(|e| e.seq), picked);
        }
        used.extend(deletions);
        used.sort_unstable();
        assert_eq!(
            used,
            (1..=latest).collect::<Vec<i64>>(),
            "each seq used once"
        );
    }
}

#[tokio::test]
async fn invoice_numbers_stay_gapless_across_processes() {
    let (_db, first, second) = two_stores().await;
    let (first, second) = (Arc::new(first), Arc::new(second));
    let account = AccountId::random();
    let creates = (0..40).map(|i| {
        let store = if i % 2 == 0 {
            first.clone()
        } else {
            second.clone()
        };
        let account = account.clone();
        tokio::spawn(async move { store.create_invoice(&account, &new_invoice()).await })
    });
    let mut numbers: Vec<u64> = future::join_all(creates)
        .await
        .into_iter()
        .map(|joined| joined.unwrap().unwrap().number.0)
        .collect();
    numbers.sort_unstable();
    assert_eq!(numbers, (1..=40).collect::<Vec<u64>>());
    // A create that fails (taken id) gives its number back.
    let taken = new_invoice();
    first.create_invoice(&account, &taken).await.unwrap();
    let again = second.create_invoice(&account, &taken).await;
    assert!(
        matches!(again, Err(StoreError::Conflict { .. })),
        "{again:?}"
    );
    let next = second
        .create_invoice(&account, &new_invoice())
        .await
        .unwrap();
    assert_eq!(next.number.0, 42);
}

fn new_invoice() -> NewInvoice {
    NewInvoice {
        id: InvoiceId::random(),
        subscription_id: None,
        customer_id: CustomerId::random(),
        status: InvoiceStatus::Draft,
        period: Period::new(at(0), at(86_400_000)).unwrap(),
        currency: "EUR".into(),
        lines: json!([]),
        totals: json!({"total": 0}),
        known_seq: None,
        basis: None,
        created_at: at(1_000),
    }
}

#[tokio::test]
async fn concurrent_auto_creates_across_processes_make_one_customer() {
    let (_db, first, second) = two_stores().await;
    let (first, second) = (Arc::new(first), Arc::new(second));
    let account = AccountId::random();
    let reference = tally_event::CustomerRef::parse("acme-42").unwrap();
    let resolves = (0..16).map(|i| {
        let store = if i % 2 == 0 {
            first.clone()
        } else {
            second.clone()
        };
        let (account, reference) = (account.clone(), reference.clone());
        tokio::spawn(async move {
            let new_id = CustomerId::random();
            store
                .resolve_or_create_customer(&account, &reference, &new_id, at(1_000))
                .await
        })
    });
    let resolved: Vec<_> = future::join_all(resolves)
        .await
        .into_iter()
        .map(|joined| joined.unwrap().unwrap())
        .collect();
    assert_eq!(resolved.iter().filter(|r| r.created).count(), 1);
    let id = &resolved[0].customer.id;
    assert!(resolved.iter().all(|r| r.customer.id == *id));
    assert_eq!(
        first
            .find_customer(
                &account,
                &tally_event::CustomerRef::parse("acme-42").unwrap()
            )
            .await
            .unwrap()
            .unwrap()
            .id,
        *id
    );
}

/// Two processes creating the same new customers in bulk, named in opposite
/// orders, at once: no deadlock (the inserts go in byte order), and each
/// reference ends up with one customer, created by exactly one of them.
#[tokio::test]
async fn bulk_auto_creates_in_opposite_orders_do_not_deadlock() {
    let (_db, first, second) = two_stores().await;
    let (first, second) = (Arc::new(first), Arc::new(second));
    let account = AccountId::random();
    let references: Vec<tally_event::CustomerRef> = (0..200)
        .map(|n| tally_event::CustomerRef::parse(&format!("org-{n:03}")).unwrap())
        .collect();
    let calls = (0..8).map(|i| {
        let store = if i % 2 == 0 {
            first.clone()
        } else {
            second.clone()
        };
        let mut wanted: Vec<_> = references
            .iter()
            .map(|r| (r.clone(), CustomerId::random()))
            .collect();
        if i % 2 == 1 {
            wanted.reverse();
        }
        let account = account.clone();
        tokio::spawn(async move {
            store
                .resolve_or_create_customers(&account, &wanted, at(1_000))
                .await
        })
    });
    let mut created = std::collections::HashMap::new();
    let mut ids = std::collections::HashMap::new();
    for joined in future::join_all(calls).await {
        for resolved in joined.unwrap().unwrap() {
            let external = resolved.customer.external_id.clone().unwrap();
            *created.entry(external.clone()).or_insert(0) += usize::from(resolved.created);
            let id = ids.entry(external).or_insert(resolved.customer.id.clone());
            assert_eq!(*id, resolved.customer.id, "one customer per reference");
        }
    }
    assert_eq!(created.len(), 200);
    assert!(
        created.values().all(|n| *n == 1),
        "each created exactly once"
    );
}

#[tokio::test]
async fn a_stream_longer_than_a_page_is_complete_and_ordered() {
    let (_db, store, _) = two_stores().await;
    let account = AccountId::random();
    let customer = CustomerId::random();
    // 2 500 events over 50 timestamps: pages end in the middle of a timestamp.
    let events: Vec<NewEvent> = (0..2_500)
        .map(|i| event(&format!("r{i:05}"), &customer, 1_000 + (i % 50), i))
        .collect();
    for chunk in events.chunks(1_000) {
        store.upsert_events(&account, chunk).await.unwrap();
    }
    let window = EventWindow::Range(Period::new(at(1_000), at(1_050)).unwrap());
    let event_type = EventType::parse("api_call").unwrap();
    let streamed: Vec<(i64, String)> = store
        .stream_events(&account, &customer, &event_type, window)
        .map_ok(|e| (e.timestamp.as_millis(), e.record_id().as_str().to_owned()))
        .try_collect()
        .await
        .unwrap();
    let mut expected: Vec<(i64, String)> = events
        .iter()
        .map(|e| (e.timestamp.as_millis(), e.record.id().as_str().to_owned()))
        .collect();
    expected.sort();
    assert_eq!(streamed, expected);
    let other_type = EventType::parse("other").unwrap();
    let none = store.stream_events(&account, &customer, &other_type, window);
    assert_eq!(none.count().await, 0);
}

fn aggregator(operation: &str) -> tally_aggregate::Aggregator {
    let property = (operation != "count").then_some("amount");
    let def: tally_aggregate::AggregatorDef = serde_json::from_value(json!({
        "name": "calls", "event_type": "api_call", "operation": operation,
        "property": property,
        "where": {"conditional": "and", "fields": [
            {"property": "plan", "operator": "not_equals", "value": "free"}]},
        "filters": [{"id": "agf_big", "name": "big", "where": {"conditional": "and",
            "fields": [{"property": "amount", "operator": "greater_than", "value": 0.15}]}}]
    }))
    .unwrap();
    tally_aggregate::Aggregator::compile(&def).unwrap()
}

fn with_record(
    record_id: &str,
    customer: &CustomerId,
    ts: i64,
    record: serde_json::Value,
) -> NewEvent {
    let mut record = record;
    record["id"] = json!(record_id);
    NewEvent {
        record: record_from_stored_json(&record).unwrap(),
        ..event(record_id, customer, ts, 0)
    }
}

/// A store holding one customer's usage: two exact decimals, a string, a null,
/// and an event the aggregator's `where` refuses.
async fn usage_fixture() -> (TestDatabase, PgStore, AccountId, CustomerId) {
    let (db, store, _) = two_stores().await;
    let account = AccountId::random();
    let customer = CustomerId::random();
    let amount = |text: &str| serde_json::from_str::<serde_json::Value>(text).unwrap();
    let events = vec![
        with_record("a", &customer, 1_000, json!({"amount": amount("0.1")})),
        with_record("b", &customer, 2_000, json!({"amount": amount("0.2")})),
        with_record("c", &customer, 2_000, json!({"amount": "lots"})),
        with_record("d", &customer, 3_000, json!({"amount": null})),
        with_record("e", &customer, 4_000, json!({"amount": 7, "plan": "free"})),
    ];
    store.upsert_events(&account, &events).await.unwrap();
    (db, store, account, customer)
}

fn usage_window() -> tally_aggregate::Window {
    tally_aggregate::Window::Range(Period::new(at(0), at(10_000)).unwrap())
}

#[tokio::test]
async fn sql_aggregation_is_exact_and_reports_what_it_skips() {
    let (_db, store, account, customer) = usage_fixture().await;
    let sum = store
        .aggregate(
            &account,
            &aggregator("sum"),
            None,
            &customer,
            usage_window(),
        )
        .await
        .unwrap();
    // 0.1 + 0.2 in f64 is 0.30000000000000004.
    assert_eq!(sum.quantity.to_string(), "0.3");
    assert_eq!(sum.event_count, 2);
    assert_eq!(sum.diagnostics.matched_events, 4);
    assert_eq!(sum.diagnostics.skipped_not_numeric, 1);
    assert_eq!(sum.diagnostics.skipped_missing, 1);
    // The latest numeric value: "b" (0.2) at 2 000 beats "a"; "c" is not numeric.
    let latest = store
        .aggregate(
            &account,
            &aggregator("latest"),
            None,
            &customer,
            usage_window(),
        )
        .await
        .unwrap();
    assert_eq!(latest.quantity.to_string(), "0.2");
}

#[tokio::test]
async fn sql_aggregation_applies_named_filters_and_refuses_unknown_ones() {
    let (_db, store, account, customer) = usage_fixture().await;
    let big = AggregatorFilterId::parse("agf_big").unwrap();
    let filtered = store
        .aggregate(
            &account,
            &aggregator("count"),
            Some(&big),
            &customer,
            usage_window(),
        )
        .await
        .unwrap();
    assert_eq!(filtered.quantity.to_string(), "1");
    let unknown = AggregatorFilterId::parse("agf_nope").unwrap();
    let refused = store
        .aggregate(
            &account,
            &aggregator("sum"),
            Some(&unknown),
            &customer,
            usage_window(),
        )
        .await;
    assert!(
        matches!(refused, Err(StoreError::InvalidInput(_))),
        "{refused:?}"
    );
}

/// PostgreSQL cannot store NUL in text or JSONB: such an event is refused as
/// invalid input (and, the batch being one transaction, nothing is written).
#[tokio::test]
async fn a_nul_character_is_invalid_input() {
    let (_db, store, _) = two_stores().await;
    let account = AccountId::random();
    let customer = CustomerId::random();
    let batch = vec![
        event("fine", &customer, 1_000, 1),
        with_record("nul", &customer, 1_000, json!({"note": "a\u{0}b"})),
    ];
    let refused = store.upsert_events(&account, &batch).await;
    assert!(
        matches!(refused, Err(StoreError::InvalidInput(_))),
        "{refused:?}"
    );
    let missing = store.get_event(&account, &batch[0].key()).await;
    assert!(
        matches!(missing, Err(StoreError::NotFound { .. })),
        "{missing:?}"
    );
}
