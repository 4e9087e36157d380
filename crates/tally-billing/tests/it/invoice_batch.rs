//! Invoicing many subscriptions at once: each draft is priced as a single
//! create prices it, numbers follow the order given, and a subscription that
//! cannot be invoiced is refused alone.

use serde_json::json;
use tally_billing::{BillingError, MAX_BATCH_INVOICES};

use crate::invoices::{SCENARIOS, build, scenario};
use crate::support::{Harness, at};

#[tokio::test]
async fn a_batch_prices_each_subscription_as_a_single_create_does() {
    for (name, text) in SCENARIOS {
        let s = scenario(text);
        let (one, subscription) = build(&s).await;
        let single = one
            .billing
            .create_invoice(&one.account, &subscription, Some(at(&s.at)))
            .await
            .unwrap();
        let (many, subscription) = build(&s).await;
        let batch = many
            .billing
            .create_invoices(
                &many.account,
                std::slice::from_ref(&subscription),
                Some(at(&s.at)),
            )
            .await
            .unwrap();
        assert_eq!(batch.len(), 1);
        assert_eq!(batch[0].subscription_id, subscription);
        let created = batch[0].result.as_ref().unwrap();
        let shape = |v: &tally_billing::InvoiceView| {
            (v.number, v.period, v.lines.clone(), v.totals, v.status)
        };
        assert_eq!(shape(created), shape(&single), "{name}");
        // What was stored is what a read recomputes.
        let read = many
            .billing
            .get_invoice(&many.account, created.id.as_str())
            .await
            .unwrap();
        assert_eq!(shape(&read), shape(&single), "{name}");
    }
}

#[tokio::test]
async fn a_batch_refuses_a_subscription_alone_and_numbers_in_order() {
    let h = Harness::new("2024-12-28T00:00:00Z").await;
    let calls = h
        .aggregator(json!({"name": "calls", "event_type": "api_call", "operation": "count"}))
        .await;
    let product = h
        .product(
            json!({"name": "Calls", "type": "usage", "aggregator_id": calls.id,
            "currency": "EUR", "price_groups": [{"name": "all",
            "price": {"type": "per_unit", "unit_amount": "7"}}]}),
        )
        .await;
    let mut subscriptions = Vec::new();
    for (customer, starts) in [
        ("acme-0", "2024-12-01T00:00:00Z"),
        ("acme-1", "2024-12-01T00:00:00Z"),
        ("acme-2", "2025-03-01T00:00:00Z"),
        ("acme-3", "2024-12-01T00:00:00Z"),
    ] {
        h.customer(customer, None).await;
        let subscription = h
            .subscription(json!({"customer_id": customer, "product_ids": [product.id],
                "starts_at": starts, "billing_interval": {"period": "months", "count": 1}}))
            .await;
        subscriptions.push(subscription.id.to_string());
    }
    let events: Vec<_> = (0..5)
        .map(|i| {
            json!({"event_type": "api_call", "customer_id": format!("acme-{}", i % 2),
                   "timestamp": "2024-12-10T00:00:00Z", "record": {"id": i}})
        })
        .collect();
    h.billing.ingest_batch(&h.account, &events).await.unwrap();
    let first = h
        .billing
        .create_invoice(&h.account, &subscriptions[0], None)
        .await
        .unwrap();
    assert_eq!(first.number.to_string(), "INV-1");

    let ids = [
        subscriptions[0].clone(),
        subscriptions[1].clone(),
        "sub_0000000000000000000000".to_owned(),
        subscriptions[2].clone(),
        subscriptions[1].clone(),
        "not an id".to_owned(),
        subscriptions[3].clone(),
    ];
    let batch = h
        .billing
        .create_invoices(&h.account, &ids, None)
        .await
        .unwrap();
    let given: Vec<&str> = batch.iter().map(|b| b.subscription_id.as_str()).collect();
    assert_eq!(given, ids.iter().map(String::as_str).collect::<Vec<_>>());
    let conflict_names = |result: &Result<_, BillingError>, number: &str| matches!(result, Err(BillingError::Conflict { reason, .. }) if reason.contains(number));
    assert!(
        conflict_names(&batch[0].result, "INV-1"),
        "{:?}",
        batch[0].result
    );
    let created = batch[1].result.as_ref().unwrap();
    assert_eq!(created.number.to_string(), "INV-2");
    // acme-1 sent events 1 and 3: 2 calls at 7.
    assert_eq!(created.totals.amount_excluding_tax, 14);
    assert!(
        matches!(
            batch[2].result,
            Err(BillingError::NotFound {
                what: "subscription"
            })
        ),
        "{:?}",
        batch[2].result
    );
    assert!(
        matches!(batch[3].result, Err(BillingError::Invalid(_))),
        "not started: {:?}",
        batch[3].result
    );
    // The same subscription twice: the second names the first's invoice.
    assert!(
        conflict_names(&batch[4].result, "INV-2"),
        "{:?}",
        batch[4].result
    );
    assert!(matches!(
        batch[5].result,
        Err(BillingError::NotFound { .. })
    ));
    let last = batch[6].result.as_ref().unwrap();
    assert_eq!(last.number.to_string(), "INV-3", "numbers follow the order");
    assert_eq!(last.totals.amount_excluding_tax, 0, "acme-3 sent nothing");

    // One invoice.created per invoice, each its own event (the store
    // refuses an event id twice, which would fail the whole batch).
    let now = at("2024-12-28T00:00:00Z");
    let dispatched = h
        .billing
        .store()
        .dispatch_webhook_events(now, 100)
        .await
        .unwrap();
    assert_eq!(dispatched, 3, "INV-1, then INV-2 and INV-3 of the batch");

    let too_many = vec![subscriptions[1].clone(); MAX_BATCH_INVOICES + 1];
    let refused = h.billing.create_invoices(&h.account, &too_many, None).await;
    assert!(
        matches!(refused, Err(BillingError::Invalid(_))),
        "{refused:?}"
    );
    let empty = h.billing.create_invoices(&h.account, &[], None).await;
    assert!(empty.unwrap().is_empty());
}
