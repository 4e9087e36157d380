//! Usage thresholds: a crossing is announced once, a clearing when usage
//! goes back under, for aggregators and usage limits, also when many writers
//! cross at once.

use serde_json::{Value, json};
use tally_billing::entitlements::{CustomerEntitlementInput, EntitlementInput, FeatureInput};
use tally_event::{EventType, RecordId, record_from_stored_json};
use tally_store::{
    MessageQuery, WebhookEndpoint, WebhookEndpointId, WebhookEventType, WebhookMessage,
};

use crate::support::{Harness, at};

const NOW: &str = "2024-12-15T00:00:00Z";

/// An endpoint that takes every event type, so every outbox event becomes
/// a message to read back.
async fn listen(h: &Harness) {
    let endpoint = WebhookEndpoint {
        id: WebhookEndpointId::random(),
        description: None,
        url: "https://example.com/hooks".into(),
        secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into(),
        event_types: WebhookEventType::ALL.to_vec(),
        created_at: at(NOW),
        updated_at: at(NOW),
    };
    h.billing
        .store()
        .create_webhook_endpoint(&h.account, &endpoint)
        .await
        .unwrap();
}

/// The messages announced since the last call (their order within one
/// call is by threshold key: events of one instant have no order).
struct Announced {
    seen: Vec<tally_store::WebhookMessageId>,
}

impl Announced {
    fn new() -> Self {
        Announced { seen: Vec::new() }
    }

    async fn next(&mut self, h: &Harness) -> Vec<WebhookMessage> {
        h.billing.settle_thresholds().await.unwrap();
        let store = h.billing.store();
        while store.dispatch_webhook_events(at(NOW), 100).await.unwrap() > 0 {}
        let query = MessageQuery {
            page: tally_store::PageRequest { take: 100, skip: 0 },
            ..MessageQuery::default()
        };
        let all = store
            .list_webhook_messages(&h.account, &query)
            .await
            .unwrap()
            .items;
        let mut new: Vec<WebhookMessage> = all
            .into_iter()
            .filter(|m| !self.seen.contains(&m.id))
            .collect();
        self.seen.extend(new.iter().map(|m| m.id.clone()));
        new.sort_by(|a, b| {
            a.data["threshold_key"]
                .to_string()
                .cmp(&b.data["threshold_key"].to_string())
        });
        new
    }
}

fn summary(messages: &[WebhookMessage]) -> Vec<(String, String)> {
    messages
        .iter()
        .map(|m| {
            let key = m.data["threshold_key"].as_str().unwrap_or_default();
            (m.event_type.as_str().to_owned(), key.to_owned())
        })
        .collect()
}

fn call(id: u32, customer: &str) -> Value {
    json!({"event_type": "api_call", "customer_id": customer,
           "timestamp": "2024-12-10T10:00:00Z", "record": {"id": id}})
}

async fn ingest(h: &Harness, ids: std::ops::Range<u32>, customer: &str) {
    let batch: Vec<Value> = ids.map(|id| call(id, customer)).collect();
    let outcome = h.billing.ingest_batch(&h.account, &batch).await.unwrap();
    assert!(outcome.rejected.is_empty(), "{:?}", outcome.rejected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aggregator_thresholds_cross_once_and_clear() {
    let h = Harness::new(NOW).await;
    listen(&h).await;
    h.customer("acme", None).await;
    let calls = h
        .aggregator(
            json!({"name": "calls", "event_type": "api_call", "operation": "count",
            "thresholds": [{"name": "plan", "threshold_value": 3},
                           {"name": "over", "threshold_value": "5", "comparison_operator": "gt"}]}),
        )
        .await;
    let plan = format!("aggregator:{}:gte:3", calls.id);
    let over = format!("aggregator:{}:gt:5", calls.id);
    let mut announced = Announced::new();

    ingest(&h, 0..2, "acme").await;
    assert!(announced.next(&h).await.is_empty(), "2 calls cross nothing");
    ingest(&h, 2..3, "acme").await;
    let messages = announced.next(&h).await;
    assert_eq!(
        summary(&messages),
        [("usage.threshold_crossed".to_owned(), plan.clone())]
    );
    let data = &messages[0].data;
    assert_eq!(data["usage"], json!(3));
    assert_eq!(data["customer_external_id"], json!("acme"));
    assert_eq!(data["aggregator_id"], json!(calls.id.to_string()));
    assert_eq!(
        data["threshold"],
        json!({"name": "plan", "threshold_value": 3, "comparison_operator": "gte"})
    );
    assert_eq!(data["period_start"], json!("2024-12-01T00:00:00.000Z"));
    // The same events again, and one more: nothing new until past 5.
    ingest(&h, 0..5, "acme").await;
    assert!(announced.next(&h).await.is_empty());
    ingest(&h, 5..6, "acme").await;
    assert_eq!(
        summary(&announced.next(&h).await),
        [("usage.threshold_crossed".to_owned(), over.clone())]
    );
    // Another customer's usage is its own.
    ingest(&h, 100..101, "globex").await;
    assert!(announced.next(&h).await.is_empty());

    // Deleting calls brings usage back under both thresholds.
    let gone: Vec<RecordId> = (0..4).map(RecordId::from_integer).collect();
    h.billing
        .delete_events(
            &h.account,
            &serde_json::from_value(json!({"matching": "record_ids", "event_type": "api_call",
                "record_ids": gone.iter().map(|r| r.to_string()).collect::<Vec<_>>()}))
            .unwrap(),
        )
        .await
        .unwrap();
    let cleared = summary(&announced.next(&h).await);
    let mut cleared_keys: Vec<&str> = cleared.iter().map(|(_, k)| k.as_str()).collect();
    cleared_keys.sort();
    let mut expected = vec![plan.as_str(), over.as_str()];
    expected.sort();
    assert_eq!(cleared_keys, expected);
    assert!(
        cleared
            .iter()
            .all(|(kind, _)| kind == "usage.threshold_cleared")
    );
    // Crossing again after a clearing is announced again.
    ingest(&h, 10..11, "acme").await;
    assert_eq!(
        summary(&announced.next(&h).await),
        [("usage.threshold_crossed".to_owned(), plan)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_limit_thresholds_are_shares_of_the_limit() {
    let h = Harness::new(NOW).await;
    listen(&h).await;
    h.customer("acme", None).await;
    let calls = h
        .aggregator(json!({"name": "calls", "event_type": "api_call", "operation": "count"}))
        .await;
    let plan = h
        .product(json!({"name": "Plan", "type": "fee", "currency": "EUR",
            "price_groups": [{"name": "fee", "price": {"type": "flat", "amount": "1000"}}]}))
        .await;
    let feature: FeatureInput = serde_json::from_value(json!({"code": "api_calls",
        "name": "API calls", "value_type": "number", "aggregator_id": calls.id,
        "threshold_percents": [100, 50]}))
    .unwrap();
    let created = h
        .billing
        .create_feature(&h.account, &feature)
        .await
        .unwrap();
    assert_eq!(
        created.threshold_percents,
        [50.into(), 100.into()],
        "kept ascending"
    );
    let limit: EntitlementInput = serde_json::from_value(json!({"value": 4})).unwrap();
    h.billing
        .put_product_entitlement(&h.account, &plan.id.to_string(), "api_calls", &limit)
        .await
        .unwrap();
    h.subscription(json!({"customer_id": "acme", "product_ids": [plan.id],
        "starts_at": "2024-12-01T00:00:00Z",
        "billing_interval": {"period": "months", "count": 1}}))
        .await;

    let mut announced = Announced::new();
    ingest(&h, 0..1, "acme").await;
    assert!(announced.next(&h).await.is_empty());
    ingest(&h, 1..2, "acme").await;
    let half = announced.next(&h).await;
    assert_eq!(
        summary(&half),
        [(
            "usage.threshold_crossed".to_owned(),
            "feature:api_calls:50".to_owned()
        )]
    );
    assert_eq!(
        (
            &half[0].data["limit"],
            &half[0].data["threshold_value"],
            &half[0].data["percent"]
        ),
        (&json!(4), &json!(2), &json!(50))
    );
    ingest(&h, 2..4, "acme").await;
    assert_eq!(
        summary(&announced.next(&h).await),
        [(
            "entitlement.limit_reached".to_owned(),
            "feature:api_calls:100".to_owned()
        )]
    );
    // An unlimited override puts usage under every share of the limit.
    let unlimited: CustomerEntitlementInput =
        serde_json::from_value(json!({"value": null})).unwrap();
    h.billing
        .put_customer_entitlement(&h.account, "acme", "api_calls", &unlimited)
        .await
        .unwrap();
    let after = summary(&announced.next(&h).await);
    assert_eq!(after.len(), 2, "{after:?}");
    assert!(
        after
            .iter()
            .all(|(kind, _)| kind == "usage.threshold_cleared")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_writers_crossing_at_once_announce_it_once() {
    let h = Harness::new(NOW).await;
    listen(&h).await;
    h.customer("acme", None).await;
    h.aggregator(
        json!({"name": "calls", "event_type": "api_call", "operation": "count",
        "thresholds": [{"name": "ten", "threshold_value": 10}]}),
    )
    .await;
    let writers: Vec<_> = (0..16)
        .map(|n| {
            let billing = h.billing.clone();
            let account = h.account.clone();
            tokio::spawn(async move {
                billing
                    .ingest_event(&account, &call(n, "acme"))
                    .await
                    .unwrap();
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }
    let messages = Announced::new().next(&h).await;
    assert_eq!(
        messages
            .iter()
            .filter(|m| m.event_type == WebhookEventType::UsageThresholdCrossed)
            .count(),
        1,
        "{:?}",
        summary(&messages)
    );
    assert_eq!(messages.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crossing_no_evaluation_saw_is_announced_at_start() {
    let h = Harness::new(NOW).await;
    listen(&h).await;
    let acme = h.customer("acme", None).await;
    h.aggregator(
        json!({"name": "calls", "event_type": "api_call", "operation": "count",
        "thresholds": [{"name": "three", "threshold_value": 3}]}),
    )
    .await;
    h.billing.settle_thresholds().await.unwrap();
    // Written straight to the store, as when a server stopped after the
    // commit and before its evaluation: nothing announces it.
    let events: Vec<tally_store::NewEvent> = (0..3)
        .map(|n| tally_store::NewEvent {
            id: tally_store::EventId::random(),
            event_type: EventType::parse("api_call").unwrap(),
            customer_id: tally_store::CustomerId::parse(&acme).unwrap(),
            timestamp: at("2024-12-10T10:00:00Z"),
            record: record_from_stored_json(&json!({"id": n})).unwrap(),
            ingested_at: at(NOW),
        })
        .collect();
    h.billing
        .store()
        .upsert_events(&h.account, &events)
        .await
        .unwrap();
    let mut announced = Announced::new();
    assert!(announced.next(&h).await.is_empty());
    h.billing.start_thresholds().await.unwrap();
    let messages = announced.next(&h).await;
    assert_eq!(messages.len(), 1, "{:?}", summary(&messages));
    assert_eq!(
        messages[0].event_type,
        WebhookEventType::UsageThresholdCrossed
    );
    // Starting again announces nothing new.
    h.billing.start_thresholds().await.unwrap();
    assert!(announced.next(&h).await.is_empty());
}
