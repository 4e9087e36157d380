//! Ingestion: outcomes, batches with partial success, customers, PII policies,
//! and the event list and delete.

use serde_json::{Value, json};
use tally_billing::{BillingError, DeleteEvents, EventFilter, Pagination};
use tally_event::UpsertOutcome;
use tally_store::CustomerType;

use crate::support::{Harness, codes, problems};

const NOW: &str = "2024-12-21T00:00:00Z";

fn api_call(id: &str, customer: &str, timestamp: &str) -> Value {
    json!({"customer_id": customer, "event_type": "api_call", "timestamp": timestamp,
           "record": {"id": id, "durationInMs": 32, "isVerified": true}})
}

#[tokio::test]
async fn upsert_outcomes_keep_the_event_id() {
    let h = Harness::new(NOW).await;
    let first = h
        .billing
        .ingest_event(&h.account, &api_call("A", "acme", "2024-12-20T16:04:11Z"))
        .await
        .unwrap();
    assert_eq!(first.outcome, UpsertOutcome::Created);
    assert!(first.id.as_str().starts_with("evt_"));
    let newer = h
        .billing
        .ingest_event(&h.account, &api_call("A", "acme", "2024-12-20T17:00:00Z"))
        .await
        .unwrap();
    assert_eq!(
        (newer.outcome, &newer.id),
        (UpsertOutcome::Updated, &first.id)
    );
    let older = h
        .billing
        .ingest_event(&h.account, &api_call("A", "acme", "2024-12-20T10:00:00Z"))
        .await
        .unwrap();
    assert_eq!(
        (older.outcome, &older.id),
        (UpsertOutcome::Stale, &first.id)
    );
}

#[tokio::test]
async fn raw_bytes_are_validated_like_values() {
    let h = Harness::new(NOW).await;
    let body = serde_json::to_vec(&api_call("A", "acme", "2024-12-20T16:04:11Z")).unwrap();
    let ingested = h
        .billing
        .ingest_event_bytes(&h.account, &body)
        .await
        .unwrap();
    assert_eq!(ingested.outcome, UpsertOutcome::Created);
    let broken = h
        .billing
        .ingest_event_bytes(&h.account, b"{\"customer_id\":")
        .await;
    assert_eq!(codes(&problems(broken)), [" malformed_json"]);
}

#[tokio::test]
async fn a_batch_stores_the_valid_events_and_reports_the_others() {
    let h = Harness::new(NOW).await;
    let events = vec![
        api_call("A", "acme", "2024-12-20T16:04:11Z"),
        json!({"customer_id": "acme", "event_type": "api call", "timestamp": 12,
               "record": {"id": "B", "address": {"city": "Paris"}}}),
        api_call("C", "globex", "2024-12-20T16:05:00Z"),
        api_call("A", "acme", "2024-12-20T16:04:11Z"),
    ];
    let outcome = h.billing.ingest_batch(&h.account, &events).await.unwrap();
    let accepted: Vec<(usize, UpsertOutcome)> = outcome
        .accepted
        .iter()
        .map(|a| (a.index, a.event.outcome))
        .collect();
    assert_eq!(
        accepted,
        [
            (0, UpsertOutcome::Created),
            (2, UpsertOutcome::Created),
            // The same key later in the batch sees its earlier occurrence:
            // identical, so nothing is stored.
            (3, UpsertOutcome::Unchanged),
        ]
    );
    assert_eq!(outcome.rejected.len(), 1);
    assert_eq!(outcome.rejected[0].index, 1);
    assert_eq!(
        codes(&outcome.rejected[0].errors),
        [
            "/event_type invalid_characters",
            "/timestamp timestamp_in_seconds",
            "/record/address nested_object"
        ]
    );
    let page = h
        .billing
        .list_events(&h.account, &EventFilter::default())
        .await
        .unwrap();
    assert_eq!(page.total, 2);
}

#[tokio::test]
async fn batch_sizes_outside_1_to_5000_are_refused() {
    let h = Harness::new(NOW).await;
    let empty = h.billing.ingest_batch(&h.account, &[]).await;
    assert_eq!(codes(&problems(empty)), [" batch_empty"]);
    let many = vec![api_call("A", "acme", "2024-12-20T16:04:11Z"); 5001];
    let too_many = h.billing.ingest_batch(&h.account, &many).await;
    assert_eq!(codes(&problems(too_many)), [" batch_too_large"]);
    let most = vec![api_call("A", "acme", "2024-12-20T16:04:11Z"); 5000];
    let outcome = h.billing.ingest_batch(&h.account, &most).await.unwrap();
    assert_eq!(outcome.accepted.len(), 5000);
}

#[tokio::test]
async fn unknown_customers_are_created_once() {
    let h = Harness::new(NOW).await;
    let events = vec![
        api_call("A", "new-customer", "2024-12-20T16:04:11Z"),
        api_call("B", "new-customer", "2024-12-20T16:04:12Z"),
    ];
    let outcome = h.billing.ingest_batch(&h.account, &events).await.unwrap();
    let ids: Vec<_> = outcome
        .accepted
        .iter()
        .map(|a| &a.event.customer_id)
        .collect();
    assert_eq!(ids[0], ids[1]);
    assert!(outcome.accepted[0].event.customer_created);
    let customer = h
        .billing
        .get_customer(&h.account, "new-customer")
        .await
        .unwrap();
    assert_eq!(customer.customer_type, CustomerType::AutomaticallyCreated);
    assert_eq!(&customer.id, ids[0]);
    let again = h
        .billing
        .ingest_event(
            &h.account,
            &api_call("C", ids[0].as_str(), "2024-12-20T16:04:13Z"),
        )
        .await
        .unwrap();
    assert!(!again.customer_created);
    assert_eq!(&again.customer_id, ids[0]);
}

#[tokio::test]
async fn without_auto_create_an_unknown_customer_is_an_error() {
    let h = Harness::with_settings(NOW, json!({"auto_create_customers": false})).await;
    let known = h.customer("known", None).await;
    let single = h
        .billing
        .ingest_event(
            &h.account,
            &api_call("A", "stranger", "2024-12-20T16:04:11Z"),
        )
        .await;
    assert_eq!(
        codes(&problems(single)),
        ["/customer_id customer_not_found"]
    );
    let events = vec![
        api_call("A", "stranger", "2024-12-20T16:04:11Z"),
        api_call("B", &known, "2024-12-20T16:04:11Z"),
        api_call("C", "known", "2024-12-20T16:04:11Z"),
    ];
    let outcome = h.billing.ingest_batch(&h.account, &events).await.unwrap();
    assert_eq!(outcome.accepted.len(), 2);
    assert_eq!(outcome.rejected[0].index, 0);
    assert_eq!(
        codes(&outcome.rejected[0].errors),
        ["/customer_id customer_not_found"]
    );
}

fn with_email(id: &str) -> Value {
    json!({"customer_id": "acme", "event_type": "users", "timestamp": "2024-12-20T16:04:11Z",
           "record": {"id": id, "email": "lucas.carter@yourcompany.com"}})
}

#[tokio::test]
async fn pii_policies() {
    let warn = Harness::new(NOW).await;
    let warned = warn
        .billing
        .ingest_event(&warn.account, &with_email("1"))
        .await
        .unwrap();
    assert_eq!(warned.warnings.len(), 1);
    assert_eq!(warned.warnings[0].path, "/record/email");

    let mask = Harness::with_settings(NOW, json!({"pii_policy": "mask"})).await;
    let masked = mask
        .billing
        .ingest_event(&mask.account, &with_email("1"))
        .await
        .unwrap();
    assert_eq!(masked.warnings.len(), 1);
    let stored = mask
        .billing
        .list_events(&mask.account, &EventFilter::default())
        .await
        .unwrap();
    let email = stored.items[0].record.get("email").and_then(|v| v.as_str());
    assert_ne!(email, Some("lucas.carter@yourcompany.com"));

    let reject = Harness::with_settings(NOW, json!({"pii_policy": "reject"})).await;
    let refused = reject
        .billing
        .ingest_event(&reject.account, &with_email("1"))
        .await;
    assert_eq!(codes(&problems(refused)), ["/record/email pii_detected"]);

    let off = Harness::with_settings(NOW, json!({"pii_policy": "off"})).await;
    let quiet = off
        .billing
        .ingest_event(&off.account, &with_email("1"))
        .await
        .unwrap();
    assert!(quiet.warnings.is_empty());
}

#[tokio::test]
async fn future_skew_follows_the_account_setting() {
    let strict = Harness::with_settings(NOW, json!({"max_future_skew_ms": 1000})).await;
    let event = api_call("A", "acme", "2024-12-21T00:00:02Z");
    let refused = strict.billing.ingest_event(&strict.account, &event).await;
    assert_eq!(
        codes(&problems(refused)),
        ["/timestamp timestamp_in_future"]
    );
    let lenient = Harness::with_settings(NOW, json!({"max_future_skew_ms": 0})).await;
    let far = api_call("A", "acme", "2030-01-01T00:00:00Z");
    assert!(
        lenient
            .billing
            .ingest_event(&lenient.account, &far)
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn unreadable_settings_fail_loudly() {
    let h = Harness::with_settings(NOW, json!({"pii_policy": "loud"})).await;
    let result = h
        .billing
        .ingest_event(&h.account, &api_call("A", "acme", "2024-12-20T16:04:11Z"))
        .await;
    assert!(matches!(result, Err(BillingError::Store(_))), "{result:?}");
}

#[tokio::test]
async fn listing_filters_and_paginates() {
    let h = Harness::new(NOW).await;
    h.ingest_seed().await;
    let filter = EventFilter {
        event_type: Some("api_call".into()),
        customer_id: Some("acme-42".into()),
        timestamp_gte: Some("2024-01-05T11:00:00Z".into()),
        timestamp_lte: Some("2024-02-01T00:00:00Z".into()),
        order: Some("desc".into()),
        page: Pagination::new(2, 1),
        ..EventFilter::default()
    };
    let page = h.billing.list_events(&h.account, &filter).await.unwrap();
    let ids: Vec<&str> = page.items.iter().map(|e| e.record_id().as_str()).collect();
    assert_eq!((page.total, ids), (4, vec!["D32NAA4", "D32NAA3"]));

    let by_record = EventFilter {
        record_ids: Some(vec!["258".into(), "G1".into()]),
        ..EventFilter::default()
    };
    let page = h.billing.list_events(&h.account, &by_record).await.unwrap();
    assert_eq!(page.total, 2);

    let nobody = EventFilter {
        customer_id: Some("nobody".into()),
        ..EventFilter::default()
    };
    let page = h.billing.list_events(&h.account, &nobody).await.unwrap();
    assert_eq!(page.total, 0);
}

#[tokio::test]
async fn listing_refuses_out_of_range_pages_and_bad_filters() {
    let h = Harness::new(NOW).await;
    let filter = EventFilter {
        event_type: Some("api call".into()),
        timestamp_gte: Some("yesterday".into()),
        order: Some("up".into()),
        page: Pagination::new(101, -1),
        ..EventFilter::default()
    };
    let result = h.billing.list_events(&h.account, &filter).await;
    assert_eq!(
        codes(&problems(result)),
        [
            "/take out_of_range",
            "/skip out_of_range",
            "/event_type invalid_event_type",
            "/timestamp_gte invalid_timestamp",
            "/order invalid_value"
        ]
    );
    let edge = EventFilter {
        page: Pagination::new(0, 0),
        ..EventFilter::default()
    };
    assert!(h.billing.list_events(&h.account, &edge).await.is_ok());
}

#[tokio::test]
async fn deleting_by_record_ids() {
    let h = Harness::new(NOW).await;
    h.ingest_seed().await;
    let request = DeleteEvents {
        matching: Some("record_ids".into()),
        event_type: Some("users".into()),
        record_ids: vec![json!(258), json!("259"), json!("unknown")],
    };
    assert_eq!(
        h.billing.delete_events(&h.account, &request).await.unwrap(),
        2
    );
    let too_many = DeleteEvents {
        matching: Some("everything".into()),
        event_type: None,
        record_ids: vec![json!("x"); 5001],
    };
    let result = h.billing.delete_events(&h.account, &too_many).await;
    assert_eq!(
        codes(&problems(result)),
        [
            "/matching invalid_value",
            "/event_type required",
            "/record_ids too_many_record_ids"
        ]
    );
    let bad_id = DeleteEvents {
        matching: Some("record_ids".into()),
        event_type: Some("users".into()),
        record_ids: vec![json!(1.5), json!(true)],
    };
    let result = h.billing.delete_events(&h.account, &bad_id).await;
    assert_eq!(
        codes(&problems(result)),
        [
            "/record_ids/0 invalid_record_id",
            "/record_ids/1 invalid_record_id"
        ]
    );
}

#[tokio::test]
async fn a_batch_naming_many_customers_resolves_each_once() {
    let h = Harness::new(NOW).await;
    let events: Vec<Value> = (0..60)
        .map(|i| {
            api_call(
                &format!("E{i}"),
                &format!("customer-{}", i % 20),
                "2024-12-20T16:04:11Z",
            )
        })
        .collect();
    let outcome = h.billing.ingest_batch(&h.account, &events).await.unwrap();
    assert_eq!(outcome.accepted.len(), 60);
    let created = outcome
        .accepted
        .iter()
        .filter(|a| a.event.customer_created && a.index < 20)
        .count();
    assert_eq!(created, 20);
    // Events naming one reference share its customer, in request order.
    assert_eq!(
        outcome.accepted[3].event.customer_id,
        outcome.accepted[23].event.customer_id
    );
    assert_ne!(
        outcome.accepted[3].event.customer_id,
        outcome.accepted[4].event.customer_id
    );
    let customers = h
        .billing
        .list_customers(&h.account, Pagination::default())
        .await
        .unwrap();
    assert_eq!(customers.total, 20);
}

#[tokio::test]
async fn a_batch_is_one_store_call_and_a_failed_one_acknowledges_nothing() {
    use std::sync::Arc;
    use std::sync::atomic::Ordering;

    let store = Arc::new(crate::counting::CountingStore::default());
    let h = Harness::with_store(NOW, json!({}), store.clone()).await;
    let events = vec![
        api_call("A", "acme", "2024-12-20T16:04:11Z"),
        json!({"customer_id": "acme"}),
        api_call("B", "globex", "2024-12-20T16:04:11Z"),
        api_call("C", "initech", "2024-12-20T16:04:11Z"),
    ];
    let outcome = h.billing.ingest_batch(&h.account, &events).await.unwrap();
    assert_eq!((outcome.accepted.len(), outcome.rejected.len()), (3, 1));
    assert_eq!(store.upserts.load(Ordering::SeqCst), 1);

    // A batch with no valid event does not call the store.
    let invalid = vec![json!({"customer_id": "acme"})];
    h.billing.ingest_batch(&h.account, &invalid).await.unwrap();
    assert_eq!(store.upserts.load(Ordering::SeqCst), 1);

    store.fail_upserts.store(true, Ordering::SeqCst);
    let more = vec![api_call("D", "acme", "2024-12-20T16:04:11Z")];
    let failed = h.billing.ingest_batch(&h.account, &more).await;
    assert!(matches!(&failed, Err(BillingError::Store(_))), "{failed:?}");
    assert_eq!(
        failed.map(|_| ()).unwrap_err().code().as_str(),
        "unavailable"
    );
    let single = h.billing.ingest_event(&h.account, &more[0]).await;
    assert!(single.is_err());
    let stored = h
        .billing
        .list_events(&h.account, &EventFilter::default())
        .await
        .unwrap();
    assert_eq!(stored.total, 3);
}
