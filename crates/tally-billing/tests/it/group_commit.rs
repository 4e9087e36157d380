//! Group commit: concurrent ingests share transactions, a full queue refuses at
//! once, a combined transaction refused for one request's input is retried
//! request by request (one that failed for an unavailable database is not),
//! and nothing is acknowledged before its commit.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::{Value, json};
use tally_billing::{BillingError, EventFilter, IngestQueueConfig, IngestedEvent};
use tokio::task::JoinHandle;

use crate::counting::CountingStore;
use crate::support::Harness;

const NOW: &str = "2024-12-21T00:00:00Z";

fn call(id: &str) -> Value {
    json!({"customer_id": "acme", "event_type": "api_call",
        "timestamp": "2024-12-20T16:04:11Z", "record": {"id": id}})
}

async fn harness(config: IngestQueueConfig) -> (Harness, Arc<CountingStore>) {
    let store = Arc::new(CountingStore::default());
    let mut h = Harness::with_store(NOW, json!({}), store.clone()).await;
    h.billing = h.billing.clone().with_ingest_queue(config);
    // The customer exists before the gated part, so ingests only wait on writes.
    h.billing
        .ingest_event(&h.account, &call("warm-up"))
        .await
        .unwrap();
    store.upserts.store(0, Ordering::SeqCst);
    (h, store)
}

fn spawn_ingest(h: &Harness, event: Value) -> JoinHandle<Result<IngestedEvent, BillingError>> {
    let billing = h.billing.clone();
    let account = h.account.clone();
    tokio::spawn(async move { billing.ingest_event(&account, &event).await })
}

/// Holds the store's gate and starts one ingest of `id`, returning once its
/// write has reached the store and waits there: what is ingested next queues
/// behind it until the gate is dropped.
async fn hold_first_write<'a>(
    h: &Harness,
    store: &'a CountingStore,
    id: &str,
) -> (
    tokio::sync::MutexGuard<'a, ()>,
    JoinHandle<Result<IngestedEvent, BillingError>>,
) {
    let gate = store.gate.lock().await;
    let first = spawn_ingest(h, call(id));
    until("the first write reaches the store", || {
        store.upserts.load(Ordering::SeqCst) == 1
    })
    .await;
    (gate, first)
}

/// Waits (yielding) until `done` holds; panics after many tries rather than
/// hanging.
async fn until(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..10_000 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    panic!("never happened: {what}");
}

async fn stored(h: &Harness) -> u64 {
    h.billing
        .list_events(&h.account, &EventFilter::default())
        .await
        .unwrap()
        .total
}

#[tokio::test]
async fn concurrent_ingests_share_a_transaction() {
    let (h, store) = harness(IngestQueueConfig::default()).await;
    let (gate, first) = hold_first_write(&h, &store, "first").await;
    let rest: Vec<_> = (0..20)
        .map(|i| spawn_ingest(&h, call(&format!("e{i}"))))
        .collect();
    until("21 events queued", || h.billing.ingest_queue_len() == 21).await;
    assert!(
        !first.is_finished() && rest.iter().all(|r| !r.is_finished()),
        "nothing is answered before its commit"
    );
    drop(gate);
    first.await.unwrap().unwrap();
    for handle in rest {
        let event = handle.await.unwrap().unwrap();
        assert_eq!(event.outcome, tally_event::UpsertOutcome::Created);
    }
    assert_eq!(
        store.upserts.load(Ordering::SeqCst),
        2,
        "the first write, then the 20 queued behind it in one transaction"
    );
    assert_eq!(stored(&h).await, 22);
    assert_eq!(h.billing.ingest_queue_len(), 0);
}

#[tokio::test]
async fn a_full_queue_refuses_at_once() {
    let config = IngestQueueConfig {
        max_queued_events: 2,
        max_events_per_commit: 100,
    };
    let (h, store) = harness(config).await;
    let (gate, first) = hold_first_write(&h, &store, "first").await;
    // One permit left: a batch of two does not fit, one event does.
    let batch = h
        .billing
        .ingest_batch(&h.account, &[call("b1"), call("b2")])
        .await;
    match batch {
        Err(BillingError::Overloaded { retry_after }) => assert!(retry_after.as_secs() >= 1),
        other => panic!("expected overloaded, got {other:?}"),
    }
    let second = spawn_ingest(&h, call("second"));
    until("two events queued", || h.billing.ingest_queue_len() == 2).await;
    let refused = h.billing.ingest_event(&h.account, &call("third")).await;
    let refused = refused.unwrap_err();
    assert_eq!(refused.code().as_str(), "overloaded");
    drop(gate);
    first.await.unwrap().unwrap();
    second.await.unwrap().unwrap();
    assert_eq!(
        stored(&h).await,
        3,
        "warm-up, first, second; no refused one"
    );
    // Room again once written.
    h.billing
        .ingest_event(&h.account, &call("later"))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_failed_group_is_retried_request_by_request() {
    let (h, store) = harness(IngestQueueConfig::default()).await;
    let (gate, first) = hold_first_write(&h, &store, "first").await;
    *store.poison_record.lock().unwrap() = Some("bad".into());
    let good_before = spawn_ingest(&h, call("good-1"));
    let bad = spawn_ingest(&h, call("bad"));
    let good_after = spawn_ingest(&h, call("good-2"));
    until("three events queued behind the first", || {
        h.billing.ingest_queue_len() == 4
    })
    .await;
    drop(gate);
    first.await.unwrap().unwrap();
    good_before.await.unwrap().unwrap();
    good_after.await.unwrap().unwrap();
    let failed = bad.await.unwrap().unwrap_err();
    assert_eq!(failed.code().as_str(), "invalid_request");
    assert_eq!(
        failed.problems().first().map(|problem| problem.code),
        Some("invalid_input"),
        "the store's refusal, as one problem"
    );
    assert_eq!(
        store.upserts.load(Ordering::SeqCst),
        5,
        "first; the combined one that failed; then each of the three alone"
    );
    assert_eq!(stored(&h).await, 4, "warm-up, first, good-1, good-2");
}

#[tokio::test]
async fn an_unavailable_store_fails_a_combined_group_once() {
    let (h, store) = harness(IngestQueueConfig::default()).await;
    let (gate, first) = hold_first_write(&h, &store, "first").await;
    store.fail_upserts.store(true, Ordering::SeqCst);
    let queued: Vec<_> = (0..3)
        .map(|i| spawn_ingest(&h, call(&format!("q{i}"))))
        .collect();
    until("three events queued behind the first", || {
        h.billing.ingest_queue_len() == 4
    })
    .await;
    drop(gate);
    assert_eq!(
        first.await.unwrap().unwrap_err().code().as_str(),
        "unavailable"
    );
    for handle in queued {
        let error = handle.await.unwrap().unwrap_err();
        assert_eq!(
            error.code().as_str(),
            "unavailable",
            "the database's error, as is"
        );
    }
    assert_eq!(
        store.upserts.load(Ordering::SeqCst),
        2,
        "first; the combined one, not retried request by request"
    );
    assert_eq!(stored(&h).await, 1, "only the warm-up event");
}

#[tokio::test]
async fn a_failing_store_acknowledges_nothing() {
    let (h, store) = harness(IngestQueueConfig::default()).await;
    store.fail_upserts.store(true, Ordering::SeqCst);
    let handles: Vec<_> = (0..5)
        .map(|i| spawn_ingest(&h, call(&format!("e{i}"))))
        .collect();
    for handle in handles {
        let error = handle.await.unwrap().unwrap_err();
        assert_eq!(error.code().as_str(), "unavailable");
    }
    assert_eq!(stored(&h).await, 1, "only the warm-up event");
    store.fail_upserts.store(false, Ordering::SeqCst);
    h.billing
        .ingest_event(&h.account, &call("e0"))
        .await
        .unwrap();
    assert_eq!(stored(&h).await, 2);
}

#[tokio::test]
async fn flush_waits_for_queued_writes() {
    let (h, store) = harness(IngestQueueConfig::default()).await;
    let (gate, pending) = hold_first_write(&h, &store, "pending").await;
    let billing = h.billing.clone();
    let flush = tokio::spawn(async move { billing.flush_ingest().await });
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(
        !flush.is_finished(),
        "a flush waits for the write in progress"
    );
    drop(gate);
    flush.await.unwrap();
    assert!(pending.await.unwrap().is_ok());
    assert_eq!(stored(&h).await, 2);
}

// Outside a Tokio runtime (another executor), ingestion writes directly.
#[test]
fn ingestion_works_outside_a_tokio_runtime() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let (h, store) = runtime.block_on(harness(IngestQueueConfig::default()));
    drop(runtime);
    let event = futures::executor::block_on(h.billing.ingest_event(&h.account, &call("plain")));
    assert!(event.is_ok(), "{event:?}");
    assert_eq!(store.upserts.load(Ordering::SeqCst), 1);
}
