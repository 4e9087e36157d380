//! Drafts follow the events, finalized invoices do not, numbers have no gaps,
//! and a period is invoiced once, however creates race.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use serde_json::json;
use tally_billing::{BillingError, InvoiceFilter, InvoiceView, Pagination};
use tally_store::{InvoiceStatus, MemoryStore, Store};

use crate::counting::CountingStore;
use crate::invoices::{SCENARIOS, build, scenario};
use crate::support::{Harness, at};

/// The graduated scenario: 12 January calls invoiced 851 + a 2900 fee.
async fn graduated() -> (Harness, String) {
    build(&scenario(SCENARIOS[0].1)).await
}

fn late_call(id: &str) -> serde_json::Value {
    json!({"event_type": "api_call", "customer_id": "acme", "timestamp": "2024-01-25T00:00:00Z",
           "record": {"id": id}})
}

#[tokio::test]
async fn a_draft_follows_late_events_and_a_finalized_invoice_does_not() {
    let (h, subscription) = graduated().await;
    let draft = h
        .billing
        .create_invoice(&h.account, &subscription, Some(at("2024-01-20T00:00:00Z")))
        .await
        .unwrap();
    assert_eq!(draft.status, InvoiceStatus::Draft);
    assert_eq!(draft.lines[0].amount_excluding_tax, 851);
    // A 13th call costs 0.5 more: 851.5 rounds to 852 on the next read.
    h.billing
        .ingest_event(&h.account, &late_call("late-1"))
        .await
        .unwrap();
    let read = h
        .billing
        .get_invoice(&h.account, draft.id.as_str())
        .await
        .unwrap();
    assert_eq!(read.lines[0].amount_excluding_tax, 852);
    let finalized = h
        .billing
        .finalize_invoice(&h.account, draft.id.as_str())
        .await
        .unwrap();
    assert_eq!(finalized.status, InvoiceStatus::Finalized);
    assert!(finalized.finalized_at.is_some());
    assert_eq!(finalized.totals.amount_excluding_tax, 852 + 2900);
    let fresh = h
        .billing
        .invoice_consumption(&h.account, draft.id.as_str(), Pagination::default())
        .await
        .unwrap();
    assert_eq!(fresh.events_changed_since_finalization, Some(false));

    // Two more: 15 calls, 852.5 rounds to 853.
    for id in ["late-2", "late-3"] {
        h.billing
            .ingest_event(&h.account, &late_call(id))
            .await
            .unwrap();
    }
    let frozen = h
        .billing
        .get_invoice(&h.account, draft.id.as_str())
        .await
        .unwrap();
    assert_eq!(frozen.lines, finalized.lines);
    assert_eq!(frozen.totals, finalized.totals);
    let view = h
        .billing
        .invoice_consumption(&h.account, draft.id.as_str(), Pagination::default())
        .await
        .unwrap();
    assert_eq!(view.events_changed_since_finalization, Some(true));
    let group = &view.products[0].groups[0];
    // The explanation of a finalized invoice reads the events as known when it
    // was finalized: it still adds up to the line. What moved since is listed.
    assert_eq!(
        (group.invoice_line_amount, group.amount_excluding_tax),
        (Some(852), 852)
    );
    let changes = h
        .billing
        .invoice_changes(&h.account, draft.id.as_str(), Pagination::default())
        .await
        .unwrap();
    let added: Vec<&str> = changes
        .events
        .iter()
        .map(|c| c.record_id.as_str())
        .collect();
    assert_eq!(added, ["late-2", "late-3"]);
    assert_eq!((changes.added, changes.changed, changes.deleted), (2, 0, 0));
    let usage_line = &changes.lines[0];
    assert_eq!(
        (
            usage_line.finalized_amount,
            usage_line.current_amount,
            usage_line.delta
        ),
        (852, 853, 1)
    );
    let again = h
        .billing
        .finalize_invoice(&h.account, draft.id.as_str())
        .await;
    assert!(
        matches!(again, Err(BillingError::Conflict { .. })),
        "{again:?}"
    );
}

#[tokio::test]
async fn numbers_have_no_gaps_and_a_period_is_invoiced_once() {
    let (h, subscription) = graduated().await;
    let mut numbers = Vec::new();
    for day in ["2024-01-20", "2024-02-20", "2024-03-20"] {
        let invoice = h
            .billing
            .create_invoice(
                &h.account,
                &subscription,
                Some(at(&format!("{day}T00:00:00Z"))),
            )
            .await
            .unwrap();
        numbers.push(invoice.number.to_string());
    }
    assert_eq!(numbers, ["INV-1", "INV-2", "INV-3"]);
    let twice = h
        .billing
        .create_invoice(&h.account, &subscription, Some(at("2024-01-31T00:00:00Z")))
        .await;
    assert!(
        matches!(twice, Err(BillingError::Conflict { .. })),
        "{twice:?}"
    );
    let listed = h
        .billing
        .list_invoices(&h.account, &InvoiceFilter::default(), Pagination::new(2, 0))
        .await
        .unwrap();
    let listed: Vec<String> = listed.items.iter().map(|i| i.number.to_string()).collect();
    assert_eq!(listed, ["INV-3", "INV-2"]);
    let by = |subscription: Option<&str>, customer: Option<&str>| InvoiceFilter {
        subscription_id: subscription.map(str::to_owned),
        customer_id: customer.map(str::to_owned),
    };
    for (filter, total) in [
        (by(Some(subscription.as_str()), Some("acme")), 3),
        (by(Some("sub_doesnotexist00000000000"), None), 0),
        (by(None, Some("nobody")), 0),
    ] {
        let page = h
            .billing
            .list_invoices(&h.account, &filter, Pagination::default())
            .await
            .unwrap();
        assert_eq!(page.total, total, "{filter:?}");
    }
    // A refused create took no number.
    let next = h
        .billing
        .create_invoice(&h.account, &subscription, Some(at("2024-04-02T00:00:00Z")))
        .await
        .unwrap();
    assert_eq!(next.number.to_string(), "INV-4");
}

#[tokio::test]
async fn unknown_and_malformed_ids_are_not_found_and_before_start_is_invalid() {
    let (h, subscription) = graduated().await;
    for id in ["inv_doesnotexist0000000000", "nope"] {
        let got = h.billing.get_invoice(&h.account, id).await;
        assert!(matches!(got, Err(BillingError::NotFound { .. })), "{got:?}");
    }
    let early = h
        .billing
        .create_invoice(&h.account, &subscription, Some(at("2023-12-01T00:00:00Z")))
        .await;
    assert!(matches!(early, Err(BillingError::Invalid(_))), "{early:?}");
}

#[tokio::test]
async fn a_jan_31_anchor_invoices_feb_29_then_mar_31_in_a_leap_year() {
    let h = Harness::new("2024-06-01T00:00:00Z").await;
    h.customer("acme", None).await;
    let fee = h
        .product(json!({"name": "Fee", "type": "fee", "currency": "EUR",
            "price_groups": [{"name": "base", "price": {"type": "flat", "amount": "1000"}}]}))
        .await;
    let subscription = h
        .subscription(json!({"customer_id": "acme", "product_ids": [fee.id],
            "starts_at": "2024-01-31T00:00:00Z", "billing_interval": {"period": "months", "count": 1}}))
        .await;
    let mut periods = Vec::new();
    for day in ["2024-02-15", "2024-03-05", "2024-04-30"] {
        let invoice = h
            .billing
            .create_invoice(
                &h.account,
                subscription.id.as_str(),
                Some(at(&format!("{day}T00:00:00Z"))),
            )
            .await
            .unwrap();
        assert_eq!(invoice.totals.amount_excluding_tax, 1000);
        periods.push((
            invoice.period.start().to_rfc3339(),
            invoice.period.end().to_rfc3339(),
        ));
    }
    let day = |d: &str| format!("2024-{d}T00:00:00.000Z");
    assert_eq!(
        periods,
        [
            (day("01-31"), day("02-29")),
            (day("02-29"), day("03-31")),
            (day("04-30"), day("05-31")),
        ]
    );
}

/// Finalizes the graduated scenario's January invoice; returns its id.
async fn finalized(h: &Harness, subscription: &str) -> String {
    let invoice = h
        .billing
        .create_invoice(&h.account, subscription, Some(at("2024-01-20T00:00:00Z")))
        .await
        .unwrap();
    let id = invoice.id.to_string();
    h.billing.finalize_invoice(&h.account, &id).await.unwrap();
    id
}

async fn changed(h: &Harness, invoice: &str) -> Option<bool> {
    h.billing
        .invoice_consumption(&h.account, invoice, Pagination::default())
        .await
        .unwrap()
        .events_changed_since_finalization
}

#[tokio::test]
async fn a_deletion_or_an_upsert_after_finalization_is_a_change_too() {
    let (h, subscription) = graduated().await;
    let invoice = finalized(&h, &subscription).await;
    assert_eq!(changed(&h, &invoice).await, Some(false));
    let delete: tally_billing::DeleteEvents = serde_json::from_value(
        json!({"matching": "record_ids", "event_type": "api_call", "record_ids": ["c2"]}),
    )
    .unwrap();
    assert_eq!(
        h.billing.delete_events(&h.account, &delete).await.unwrap(),
        1
    );
    assert_eq!(changed(&h, &invoice).await, Some(true));

    let (h, subscription) = graduated().await;
    let invoice = finalized(&h, &subscription).await;
    // The same key at a later instant of the period: same count, new version.
    h.set_now("2024-02-06T00:00:00Z");
    let upsert = json!({"event_type": "api_call", "customer_id": "acme",
        "timestamp": "2024-01-29T00:00:00Z", "record": {"id": "c3"}});
    h.billing.ingest_event(&h.account, &upsert).await.unwrap();
    assert_eq!(changed(&h, &invoice).await, Some(true));
}

#[tokio::test]
async fn a_draft_explains_a_product_added_to_the_subscription_after_creation() {
    let (h, subscription) = graduated().await;
    let draft = h
        .billing
        .create_invoice(&h.account, &subscription, Some(at("2024-01-20T00:00:00Z")))
        .await
        .unwrap();
    let before = h
        .billing
        .invoice_consumption(&h.account, draft.id.as_str(), Pagination::default())
        .await
        .unwrap();
    assert_eq!(before.products.len(), 1);
    let record = h
        .billing
        .get_subscription(&h.account, &subscription)
        .await
        .unwrap();
    let calls = h
        .billing
        .get_product(&h.account, record.product_ids[0].as_str())
        .await
        .unwrap();
    let again = h
        .product(json!({"name": "More calls", "type": "usage",
            "aggregator_id": calls.aggregator_id, "currency": "EUR",
            "price_groups": [{"name": "flat per call", "price": {"type": "per_unit", "unit_amount": "1"}}]}))
        .await;
    let mut ids: Vec<String> = record.product_ids.iter().map(ToString::to_string).collect();
    ids.push(again.id.to_string());
    let update: tally_billing::SubscriptionInput = serde_json::from_value(json!({
        "customer_id": "acme", "product_ids": ids, "starts_at": "2024-01-01T00:00:00Z",
        "billing_interval": {"period": "months", "count": 1}, "currency": "EUR"}))
    .unwrap();
    h.billing
        .update_subscription(&h.account, &subscription, &update)
        .await
        .unwrap();
    let after = h
        .billing
        .invoice_consumption(&h.account, draft.id.as_str(), Pagination::default())
        .await
        .unwrap();
    let names: Vec<&str> = after.products.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["API calls", "More calls"]);
    // 12 calls at 1 each, line and walk alike.
    let group = &after.products[1].groups[0];
    assert_eq!(
        (group.invoice_line_amount, group.amount_excluding_tax),
        (Some(12), 12)
    );
}

/// A harness over `store` with one monthly fee subscription from 2024-01-01;
/// returns its id.
async fn fee_subscription(store: Arc<dyn Store>) -> (Harness, String) {
    let h = Harness::with_store("2024-01-15T00:00:00Z", json!({}), store).await;
    let customer = h.customer("acme", None).await;
    let fee = h
        .product(json!({"name": "Platform fee", "type": "fee", "currency": "EUR",
                        "price_groups": [{"name": "base", "price": {"type": "flat", "amount": "2900"}}]}))
        .await;
    let subscription = h
        .subscription(json!({"customer_id": customer, "product_ids": [fee.id],
                             "starts_at": "2024-01-01T00:00:00Z"}))
        .await;
    (h, subscription.id.to_string())
}

fn names(existing: &InvoiceView) -> String {
    format!(
        "invoice {} ({}) already covers this period",
        existing.id, existing.number
    )
}

/// A create whose check missed a concurrent one (its list was stale) is refused
/// by the store's unique rule and answered as the check answers: a `Conflict`
/// naming the invoice that won. It takes no number.
#[tokio::test]
async fn a_create_that_loses_the_race_is_the_same_conflict() {
    let store = Arc::new(CountingStore::default());
    let (h, subscription) = fee_subscription(store.clone()).await;
    let won = h
        .billing
        .create_invoice(&h.account, &subscription, None)
        .await
        .unwrap();
    let checked = h
        .billing
        .create_invoice(&h.account, &subscription, None)
        .await;
    store.stale_invoice_lists.store(1, Ordering::SeqCst);
    let raced = h
        .billing
        .create_invoice(&h.account, &subscription, None)
        .await;
    assert_eq!(store.stale_invoice_lists.load(Ordering::SeqCst), 0);
    for refused in [checked, raced] {
        match refused {
            Err(BillingError::Conflict { what, reason }) => {
                assert_eq!((what, reason), ("invoice", names(&won)));
            }
            other => panic!("expected the period conflict, got {other:?}"),
        }
    }
    let next = h
        .billing
        .create_invoice(&h.account, &subscription, Some(at("2024-02-15T00:00:00Z")))
        .await
        .unwrap();
    assert_eq!(next.number.to_string(), "INV-2");
}

/// Concurrent creates for one period: one invoice, every other create a
/// `Conflict` naming it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_creates_for_one_period_make_one_invoice() {
    let (h, subscription) = fee_subscription(Arc::new(MemoryStore::new())).await;
    let h = Arc::new(h);
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let (h, subscription) = (Arc::clone(&h), subscription.clone());
        tasks.push(tokio::spawn(async move {
            h.billing
                .create_invoice(&h.account, &subscription, None)
                .await
        }));
    }
    let (mut created, mut refused) = (Vec::new(), Vec::new());
    for task in tasks {
        match task.await.unwrap() {
            Ok(invoice) => created.push(invoice),
            Err(error) => refused.push(error),
        }
    }
    assert_eq!(created.len(), 1, "{refused:?}");
    assert_eq!(created[0].number.to_string(), "INV-1");
    for error in refused {
        match error {
            BillingError::Conflict { reason, .. } => assert_eq!(reason, names(&created[0])),
            other => panic!("expected the period conflict, got {other:?}"),
        }
    }
}
