//! Webhooks: endpoints, the outbox written with an invoice, dispatch at the
//! subscriptions of the moment, claims under a lease with a per-endpoint
//! limit, attempts fenced by their number, retries, lists and isolation.
//!
//! Dispatch and claims act across accounts: these checks expect a store of
//! their own, which the macro gives every check.

use std::collections::HashSet;
use std::sync::Arc;

use serde_json::json;
use tally_event::Timestamp;

use super::catalog::sample_invoice;
use super::fixtures::{at, new_account, new_customer};
use crate::catalog::{Invoice, InvoiceStatus, InvoiceUpdate};
use crate::error::StoreError;
use crate::ids::{AccountId, WebhookEndpointId, WebhookEventId, WebhookMessageId};
use crate::page::PageRequest;
use crate::traits::Store;
use crate::webhooks::{
    AttemptOutcome, ClaimRequest, ClaimedMessage, DeliveryAttempt, FinishedAttempt, MessageQuery,
    MessageStatus, NewWebhookEvent, WebhookEndpoint, WebhookEventType,
};

const LEASE_MS: i64 = 30_000;

fn endpoint(url: &str, types: &[WebhookEventType], created: i64) -> WebhookEndpoint {
    WebhookEndpoint {
        id: WebhookEndpointId::random(),
        description: Some(format!("receiver at {url}")),
        url: url.to_owned(),
        secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_owned(),
        event_types: types.to_vec(),
        created_at: at(created),
        updated_at: at(created),
    }
}

fn event(event_type: WebhookEventType, created: i64) -> NewWebhookEvent {
    NewWebhookEvent {
        id: WebhookEventId::random(),
        event_type,
        data: json!({"invoice_id": "inv_1", "amount": 12.50, "big": 12345678901234567890_u64}),
        created_at: at(created),
    }
}

async fn add_endpoint(
    store: &Arc<dyn Store>,
    account: &AccountId,
    types: &[WebhookEventType],
) -> WebhookEndpoint {
    let new = endpoint("https://example.com/hooks", types, 1);
    store.create_webhook_endpoint(account, &new).await.unwrap()
}

fn claim_at(now: Timestamp, per_endpoint: u32) -> ClaimRequest {
    ClaimRequest {
        now,
        lease_until: Timestamp::from_millis(now.as_millis() + LEASE_MS).unwrap(),
        max_messages: 100,
        per_endpoint,
    }
}

async fn claim(store: &Arc<dyn Store>, now: Timestamp, per_endpoint: u32) -> Vec<ClaimedMessage> {
    store
        .claim_webhook_messages(&claim_at(now, per_endpoint))
        .await
        .unwrap()
}

fn finished(attempt: u32, started: i64, outcome: AttemptOutcome) -> FinishedAttempt {
    let status_code = match outcome {
        AttemptOutcome::Succeeded => Some(204),
        _ => Some(500),
    };
    FinishedAttempt {
        attempt: DeliveryAttempt {
            attempt,
            started_at: at(started),
            duration_ms: 12,
            status_code,
            error: (status_code != Some(204)).then(|| "status 500".to_owned()),
        },
        outcome,
    }
}

async fn finish(
    store: &Arc<dyn Store>,
    message: &ClaimedMessage,
    attempt: u32,
    outcome: AttemptOutcome,
) -> bool {
    let done = finished(attempt, 100, outcome);
    store
        .finish_webhook_attempt(&message.account, &message.id, &done)
        .await
        .unwrap()
}

async fn message(
    store: &Arc<dyn Store>,
    account: &AccountId,
    id: &WebhookMessageId,
) -> crate::webhooks::WebhookMessage {
    store.get_webhook_message(account, id).await.unwrap()
}

/// Endpoints: create, get, list oldest first with paging, update (keeping
/// `created_at`), delete; another account's endpoint is `NotFound`.
pub async fn webhook_endpoints_crud(store: &Arc<dyn Store>) {
    let (account, other) = (new_account(store).await, new_account(store).await);
    let types = [WebhookEventType::InvoiceCreated];
    let second = endpoint("https://b.example/hook", &types, 20);
    let first = endpoint("https://a.example/hook", &WebhookEventType::ALL, 10);
    for new in [&second, &first] {
        assert_eq!(
            &store.create_webhook_endpoint(&account, new).await.unwrap(),
            new
        );
    }
    let taken = store.create_webhook_endpoint(&account, &first).await;
    assert!(
        matches!(taken, Err(StoreError::Conflict { .. })),
        "{taken:?}"
    );
    let page = store
        .list_webhook_endpoints(&account, PageRequest { take: 1, skip: 1 })
        .await
        .unwrap();
    assert_eq!((page.total, page.items), (2, vec![second.clone()]));

    let changed = WebhookEndpoint {
        description: None,
        url: "http://c.example:8080/other".into(),
        event_types: vec![WebhookEventType::UsageThresholdCleared],
        created_at: at(999),
        updated_at: at(30),
        ..first.clone()
    };
    let stored = store
        .update_webhook_endpoint(&account, &changed)
        .await
        .unwrap();
    assert_eq!(stored.created_at, first.created_at, "created_at is kept");
    assert_eq!(
        store
            .get_webhook_endpoint(&account, &first.id)
            .await
            .unwrap(),
        WebhookEndpoint {
            created_at: first.created_at,
            ..changed
        }
    );
    let elsewhere = store.get_webhook_endpoint(&other, &first.id).await;
    assert!(matches!(elsewhere, Err(StoreError::NotFound { .. })));
    let elsewhere = store.delete_webhook_endpoint(&other, &first.id).await;
    assert!(matches!(elsewhere, Err(StoreError::NotFound { .. })));
    store
        .delete_webhook_endpoint(&account, &first.id)
        .await
        .unwrap();
    let gone = store.get_webhook_endpoint(&account, &first.id).await;
    assert!(matches!(gone, Err(StoreError::NotFound { .. })));
}

/// An event becomes one message per endpoint of its account subscribed to
/// its type when dispatched (an endpoint made after the event counts, one
/// that dropped the type does not), once; its data reads back exactly.
pub async fn webhook_dispatch_follows_subscriptions(store: &Arc<dyn Store>) {
    let (account, other) = (new_account(store).await, new_account(store).await);
    let early = event(WebhookEventType::InvoiceCreated, 5);
    store.record_webhook_event(&account, &early).await.unwrap();
    let created = add_endpoint(store, &account, &[WebhookEventType::InvoiceCreated]).await;
    let both = add_endpoint(store, &account, &WebhookEventType::ALL).await;
    let finalized_only = add_endpoint(store, &account, &[WebhookEventType::InvoiceFinalized]).await;
    let dropped = add_endpoint(store, &account, &[WebhookEventType::InvoiceCreated]).await;
    store
        .update_webhook_endpoint(
            &account,
            &WebhookEndpoint {
                event_types: vec![WebhookEventType::InvoiceFinalized],
                ..dropped.clone()
            },
        )
        .await
        .unwrap();
    add_endpoint(store, &other, &WebhookEventType::ALL).await;
    let repeated = store.record_webhook_event(&account, &early).await;
    assert!(
        matches!(repeated, Err(StoreError::Conflict { .. })),
        "{repeated:?}"
    );

    assert_eq!(store.dispatch_webhook_events(at(50), 10).await.unwrap(), 1);
    assert_eq!(store.dispatch_webhook_events(at(60), 10).await.unwrap(), 0);
    let page = store
        .list_webhook_messages(&account, &MessageQuery::default())
        .await
        .unwrap();
    let mut endpoints: Vec<_> = page.items.iter().map(|m| m.endpoint_id.clone()).collect();
    endpoints.sort();
    let mut expected = vec![created.id.clone(), both.id.clone()];
    expected.sort();
    assert_eq!(
        endpoints, expected,
        "not {finalized_only:?} nor {dropped:?}"
    );
    for message in &page.items {
        assert_eq!(message.event_id, early.id);
        assert_eq!(message.event_type, WebhookEventType::InvoiceCreated);
        assert_eq!(message.data, early.data, "data reads back exactly");
        assert_eq!(message.status, MessageStatus::Pending);
        assert_eq!(message.next_attempt_at, Some(at(50)));
        assert!(message.attempts.is_empty());
    }
    let none = store
        .list_webhook_messages(&other, &MessageQuery::default())
        .await
        .unwrap();
    assert_eq!(none.total, 0, "the other account's endpoint gets nothing");

    for n in 0..5 {
        let later = event(WebhookEventType::EventPriceCalculated, 100 + n);
        store.record_webhook_event(&account, &later).await.unwrap();
    }
    assert_eq!(store.dispatch_webhook_events(at(200), 3).await.unwrap(), 3);
    assert_eq!(store.dispatch_webhook_events(at(200), 3).await.unwrap(), 2);
}

/// A claim leases due messages, raising both attempt counters; a message
/// under a live lease or not yet due is not claimed; finishing is fenced by
/// the attempt number; an expired lease is claimed again; a retry starts a
/// new run, and is refused while an attempt holds the lease.
pub async fn webhook_claim_lease_and_retry(store: &Arc<dyn Store>) {
    let account = new_account(store).await;
    let hook = add_endpoint(store, &account, &[WebhookEventType::InvoiceFinalized]).await;
    let sent = event(WebhookEventType::InvoiceFinalized, 1);
    store.record_webhook_event(&account, &sent).await.unwrap();
    store.dispatch_webhook_events(at(10), 10).await.unwrap();
    assert!(claim(store, at(9), 4).await.is_empty(), "not due yet");

    let first = claim(store, at(10), 4).await;
    assert_eq!(first.len(), 1);
    let claimed = &first[0];
    assert_eq!(
        (
            claimed.attempt,
            claimed.run_attempt,
            &claimed.url,
            &claimed.secret
        ),
        (1, 1, &hook.url, &hook.secret)
    );
    assert_eq!((&claimed.account, &claimed.event_id), (&account, &sent.id));
    assert_eq!(claimed.data, sent.data);
    let shown = message(store, &account, &claimed.id).await;
    assert_eq!(shown.status, MessageStatus::Delivering);
    assert!(claim(store, at(11), 4).await.is_empty(), "leased");
    let retry = store
        .retry_webhook_message(&account, &claimed.id, at(12))
        .await;
    assert!(
        matches!(retry, Err(StoreError::Conflict { .. })),
        "{retry:?}"
    );

    let retry_at = at(1_000);
    assert!(
        !finish(store, claimed, 2, AttemptOutcome::RetryAt(retry_at)).await,
        "not its attempt"
    );
    assert!(finish(store, claimed, 1, AttemptOutcome::RetryAt(retry_at)).await);
    assert!(
        !finish(store, claimed, 1, AttemptOutcome::Succeeded).await,
        "finished once"
    );
    let shown = message(store, &account, &claimed.id).await;
    assert_eq!(
        (shown.status, shown.next_attempt_at, shown.attempts.len()),
        (MessageStatus::Pending, Some(retry_at), 1)
    );
    assert_eq!(
        shown.attempts[0],
        finished(1, 100, AttemptOutcome::RetryAt(retry_at)).attempt
    );
    assert!(
        claim(store, at(999), 4).await.is_empty(),
        "its retry is not due"
    );

    // The worker of attempt 2 dies: its lease expires and attempt 3 takes over.
    let second = claim(store, retry_at, 4).await;
    assert_eq!((second[0].attempt, second[0].run_attempt), (2, 2));
    assert!(claim(store, at(1_000 + LEASE_MS - 1), 4).await.is_empty());
    let third = claim(store, at(1_000 + LEASE_MS), 4).await;
    assert_eq!((third[0].attempt, third[0].run_attempt), (3, 3));
    assert!(
        !finish(store, &second[0], 2, AttemptOutcome::Succeeded).await,
        "lease lost"
    );
    assert!(finish(store, &third[0], 3, AttemptOutcome::Failed).await);
    let shown = message(store, &account, &claimed.id).await;
    assert_eq!(
        (shown.status, shown.next_attempt_at),
        (MessageStatus::Failed, None)
    );
    let numbers: Vec<u32> = shown.attempts.iter().map(|a| a.attempt).collect();
    assert_eq!(numbers, [1, 3], "attempt 2 was never finished");
    assert!(
        claim(store, at(99_999), 4).await.is_empty(),
        "failed is final"
    );

    let retried = store
        .retry_webhook_message(&account, &claimed.id, at(100_000))
        .await
        .unwrap();
    assert_eq!(
        (retried.status, retried.next_attempt_at),
        (MessageStatus::Pending, Some(at(100_000)))
    );
    let again = claim(store, at(100_000), 4).await;
    assert_eq!(
        (again[0].attempt, again[0].run_attempt),
        (4, 1),
        "a new run"
    );
    assert!(finish(store, &again[0], 4, AttemptOutcome::Succeeded).await);
    let shown = message(store, &account, &claimed.id).await;
    assert_eq!(
        (shown.status, shown.attempts.len()),
        (MessageStatus::Succeeded, 3)
    );
    let missing = store
        .retry_webhook_message(&account, &WebhookMessageId::random(), at(1))
        .await;
    assert!(matches!(missing, Err(StoreError::NotFound { .. })));
}

/// No endpoint ever has more than `per_endpoint` messages under a live
/// lease, whatever the claims; others' endpoints are not held back.
pub async fn webhook_claim_per_endpoint_limit(store: &Arc<dyn Store>) {
    let account = new_account(store).await;
    let busy = add_endpoint(store, &account, &[WebhookEventType::EventPriceCalculated]).await;
    for n in 0..5 {
        let sent = event(WebhookEventType::EventPriceCalculated, n);
        store.record_webhook_event(&account, &sent).await.unwrap();
    }
    store.dispatch_webhook_events(at(10), 10).await.unwrap();
    let quiet = add_endpoint(store, &account, &[WebhookEventType::InvoiceCreated]).await;
    let sent = event(WebhookEventType::InvoiceCreated, 20);
    store.record_webhook_event(&account, &sent).await.unwrap();
    store.dispatch_webhook_events(at(20), 10).await.unwrap();

    let first = claim(store, at(30), 2).await;
    let of = |claimed: &[ClaimedMessage], id: &WebhookEndpointId| {
        claimed.iter().filter(|m| m.endpoint_id == *id).count()
    };
    assert_eq!((of(&first, &busy.id), of(&first, &quiet.id)), (2, 1));
    assert!(
        claim(store, at(31), 2).await.is_empty(),
        "both at their limit or done"
    );
    let done = first.iter().find(|m| m.endpoint_id == busy.id).unwrap();
    assert!(finish(store, done, 1, AttemptOutcome::Succeeded).await);
    assert_eq!(
        of(&claim(store, at(32), 2).await, &busy.id),
        1,
        "one slot freed"
    );
    let expired = claim(store, at(32 + LEASE_MS), 2).await;
    assert_eq!(
        of(&expired, &busy.id),
        2,
        "the expired leases free their slots"
    );
}

/// Concurrent claims never hand one message to two claimants (a backend
/// may give a claim nothing while another holds the endpoint), and claims
/// repeated until none is left take every message once.
pub async fn webhook_claim_concurrent(store: &Arc<dyn Store>) {
    let account = new_account(store).await;
    add_endpoint(store, &account, &[WebhookEventType::EventPriceCalculated]).await;
    add_endpoint(store, &account, &[WebhookEventType::EventPriceCalculated]).await;
    for n in 0..20 {
        let sent = event(WebhookEventType::EventPriceCalculated, n);
        store.record_webhook_event(&account, &sent).await.unwrap();
    }
    store.dispatch_webhook_events(at(100), 100).await.unwrap();
    let claim_some = |store: Arc<dyn Store>| async move {
        let mut request = claim_at(at(200), 100);
        request.max_messages = 3;
        let mut got = Vec::new();
        for _ in 0..10 {
            got.extend(store.claim_webhook_messages(&request).await.unwrap());
        }
        got
    };
    let tasks: Vec<_> = (0..8)
        .map(|_| tokio::spawn(claim_some(Arc::clone(store))))
        .collect();
    let mut seen = HashSet::new();
    for task in tasks {
        for claimed in task.await.unwrap() {
            assert!(
                seen.insert(claimed.id.clone()),
                "{} claimed twice",
                claimed.id
            );
        }
    }
    loop {
        let rest = claim(store, at(200), 100).await;
        if rest.is_empty() {
            break;
        }
        for claimed in rest {
            assert!(
                seen.insert(claimed.id.clone()),
                "{} claimed twice",
                claimed.id
            );
        }
    }
    assert_eq!(seen.len(), 40, "every message, once");
}

/// An invoice's events are written with it, built from the invoice as
/// stored (its number included), and not at all when the write is refused.
pub async fn webhook_invoice_events_in_transaction(store: &Arc<dyn Store>) {
    let account = new_account(store).await;
    let customer = new_customer(store, &account, "acme").await;
    add_endpoint(store, &account, &WebhookEventType::ALL).await;
    let build = |event_type: WebhookEventType| {
        move |invoice: &Invoice| {
            vec![NewWebhookEvent {
                id: WebhookEventId::random(),
                event_type,
                data: json!({"id": invoice.id.as_str(), "number": invoice.number.0,
                             "status": invoice.status.as_str()}),
                created_at: at(7),
            }]
        }
    };
    let sub = crate::ids::SubscriptionId::random();
    let new = sample_invoice(&customer, Some(&sub));
    let created_events = build(WebhookEventType::InvoiceCreated);
    let created = store
        .create_invoice_with_events(&account, &new, &created_events)
        .await
        .unwrap();
    let refused = store
        .create_invoice_with_events(
            &account,
            &sample_invoice(&customer, Some(&sub)),
            &created_events,
        )
        .await;
    assert!(
        matches!(refused, Err(StoreError::Conflict { .. })),
        "same period"
    );
    let finalize = InvoiceUpdate {
        status: InvoiceStatus::Finalized,
        lines: created.lines.clone(),
        totals: created.totals.clone(),
        known_seq: None,
        basis: None,
        finalized_at: Some(at(8)),
    };
    let finalized_events = build(WebhookEventType::InvoiceFinalized);
    store
        .update_invoice_with_events(&account, &created.id, &finalize, &finalized_events)
        .await
        .unwrap();
    let frozen = store
        .update_invoice_with_events(&account, &created.id, &finalize, &finalized_events)
        .await;
    assert!(
        matches!(frozen, Err(StoreError::Conflict { .. })),
        "finalized once"
    );

    assert_eq!(
        store.dispatch_webhook_events(at(9), 10).await.unwrap(),
        2,
        "two events"
    );
    let page = store
        .list_webhook_messages(&account, &MessageQuery::default())
        .await
        .unwrap();
    let mut data: Vec<_> = page
        .items
        .iter()
        .map(|m| (m.event_type, m.data.clone()))
        .collect();
    data.sort_by_key(|(event_type, _)| *event_type);
    let expected = |status: &str| json!({"id": created.id.as_str(), "number": 1, "status": status});
    assert_eq!(
        data,
        [
            (WebhookEventType::InvoiceCreated, expected("draft")),
            (WebhookEventType::InvoiceFinalized, expected("finalized")),
        ]
    );
}

/// Messages list newest first with their attempts, filtered by endpoint and
/// status, paged; an endpoint's deletion takes its messages; another
/// account sees none of them.
pub async fn webhook_messages_list(store: &Arc<dyn Store>) {
    let (account, other) = (new_account(store).await, new_account(store).await);
    let one = add_endpoint(store, &account, &[WebhookEventType::InvoiceCreated]).await;
    let two = add_endpoint(store, &account, &[WebhookEventType::InvoiceCreated]).await;
    for n in 0..3 {
        let sent = event(WebhookEventType::InvoiceCreated, n);
        store.record_webhook_event(&account, &sent).await.unwrap();
        store.dispatch_webhook_events(at(10 + n), 1).await.unwrap();
    }
    let claimed = claim(store, at(100), 1).await;
    let of_one = claimed.iter().find(|m| m.endpoint_id == one.id).unwrap();
    assert!(finish(store, of_one, 1, AttemptOutcome::Succeeded).await);

    let query = |endpoint: Option<&WebhookEndpointId>, status, take| MessageQuery {
        endpoint_id: endpoint.cloned(),
        status,
        page: PageRequest { take, skip: 0 },
    };
    let all = store
        .list_webhook_messages(&account, &query(None, None, 100))
        .await
        .unwrap();
    assert_eq!(all.total, 6);
    let created: Vec<Timestamp> = all.items.iter().map(|m| m.created_at).collect();
    let mut newest_first = created.clone();
    newest_first.sort_by(|a, b| b.cmp(a));
    assert_eq!(created, newest_first);
    let done = store
        .list_webhook_messages(
            &account,
            &query(Some(&one.id), Some(MessageStatus::Succeeded), 100),
        )
        .await
        .unwrap();
    assert_eq!(done.total, 1);
    assert_eq!(done.items[0].id, of_one.id);
    assert_eq!(done.items[0].attempts.len(), 1);
    let page = store
        .list_webhook_messages(&account, &query(Some(&two.id), None, 2))
        .await
        .unwrap();
    assert_eq!((page.total, page.items.len()), (3, 2));
    let elsewhere = store.get_webhook_message(&other, &of_one.id).await;
    assert!(matches!(elsewhere, Err(StoreError::NotFound { .. })));
    let none = store
        .list_webhook_messages(&other, &query(None, None, 100))
        .await
        .unwrap();
    assert_eq!(none.total, 0);

    store
        .delete_webhook_endpoint(&account, &one.id)
        .await
        .unwrap();
    let left = store
        .list_webhook_messages(&account, &query(None, None, 100))
        .await
        .unwrap();
    assert_eq!(
        left.total, 3,
        "the deleted endpoint's messages went with it"
    );
    let gone = store.get_webhook_message(&account, &of_one.id).await;
    assert!(matches!(gone, Err(StoreError::NotFound { .. })));
}
