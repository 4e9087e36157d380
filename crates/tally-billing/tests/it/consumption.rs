//! The consumption explorer over stored events: rows in (timestamp, record id)
//! order whose amounts add up to the line.

use futures::TryStreamExt;
use serde_json::{Value, json};
use tally_billing::{ConsumptionRow, DateRange, ProductConsumption};

use crate::support::Harness;

const NOW: &str = "2024-12-21T00:00:00Z";

fn call(id: &str, at: &str, bytes: i64) -> Value {
    json!({"event_type": "api_call", "customer_id": "acme-42", "timestamp": at,
           "record": {"id": id, "bytes": bytes}})
}

/// acme-42 subscribed monthly since Dec 1 to one product on `aggregator`
/// with the given price groups; events of `events` ingested.
async fn scene(aggregator: Value, groups: Value, events: &[Value]) -> (Harness, String, String) {
    let h = Harness::new(NOW).await;
    h.customer("acme-42", Some("20")).await;
    let aggregator = h.aggregator(aggregator).await;
    let product = h
        .product(
            json!({"name": "API calls", "type": "usage", "aggregator_id": aggregator.id,
            "currency": "EUR", "price_groups": groups}),
        )
        .await;
    let subscription = h
        .subscription(json!({"customer_id": "acme-42", "product_ids": [product.id],
            "starts_at": "2024-12-01T00:00:00Z", "billing_interval": {"period": "months", "count": 1}}))
        .await;
    let outcome = h.billing.ingest_batch(&h.account, events).await.unwrap();
    assert!(outcome.rejected.is_empty(), "{:?}", outcome.rejected);
    (h, subscription.id.to_string(), product.id.to_string())
}

async fn explore(h: &Harness, subscription: &str, product: &str) -> ProductConsumption {
    let scope = h
        .billing
        .subscription_scope(&h.account, subscription, &DateRange::default())
        .await
        .unwrap();
    h.billing
        .product_consumption(&h.account, &scope, product)
        .await
        .unwrap()
}

async fn rows(h: &Harness, product: &ProductConsumption, group: usize) -> Vec<ConsumptionRow> {
    let stream = h
        .billing
        .consumption_rows(&h.account, product, group)
        .unwrap();
    stream.try_collect().await.unwrap()
}

/// (record id, quantity, amount) of each row.
fn summary(rows: &[ConsumptionRow]) -> Vec<(String, Option<String>, i64)> {
    rows.iter()
        .map(|row| {
            (
                row.event.record_id().as_str().to_owned(),
                row.quantity.map(|q| q.to_string()),
                row.amount,
            )
        })
        .collect()
}

#[tokio::test]
async fn graduated_count_walks_events_in_time_order() {
    let events = [
        call("c", "2024-12-03T00:00:00Z", 1),
        call("a", "2024-12-02T00:00:00Z", 1),
        call("b", "2024-12-02T00:00:00Z", 1),
        call("old", "2024-11-30T00:00:00Z", 1),
    ];
    // 2 free calls, then 0.5 cent per call with a 100 flat fee on the second
    // tier: a 0, b 0, c 100.5 → 101 (rounded half away from zero).
    let price = json!({"type": "graduated", "tiers": [
        {"up_to": "2", "unit_amount": "0"},
        {"up_to": null, "unit_amount": "0.5", "flat_amount": "100"}]});
    let (h, subscription, product) = scene(
        json!({"name": "Calls", "event_type": "api_call", "operation": "count"}),
        json!([{"name": "calls", "price": price},
               {"name": "base", "price": {"type": "flat", "amount": "900"}}]),
        &events,
    )
    .await;
    let consumption = explore(&h, &subscription, &product).await;
    // A flat price on an additive aggregation is caused by no event.
    let base = &consumption.groups[1];
    assert_eq!((base.subtotal, base.unattributed), (900, 900));
    let base_rows = rows(&h, &consumption, 1).await;
    assert_eq!(base_rows.iter().map(|row| row.amount).sum::<i64>(), 0);
    let group = &consumption.groups[0];
    assert_eq!(
        (group.subtotal, group.unattributed, group.events),
        (101, 0, 3)
    );
    let got = rows(&h, &consumption, 0).await;
    assert_eq!(
        summary(&got),
        [
            ("a".into(), Some("1".into()), 0),
            ("b".into(), Some("1".into()), 0),
            ("c".into(), Some("1".into()), 101)
        ]
    );
}

#[tokio::test]
async fn volume_sum_is_pro_rata_and_adds_up_to_the_line() {
    let events = [
        call("a", "2024-12-02T00:00:00Z", 1),
        call("b", "2024-12-03T00:00:00Z", 1),
        call("c", "2024-12-04T00:00:00Z", 1),
    ];
    // 3 bytes in the first tier at 1 cent plus a 10 flat: 13 cents over 3
    // equal contributions: 4.33 each, the residue unit to the earliest.
    let price = json!({"type": "volume", "tiers": [
        {"up_to": "10", "unit_amount": "1", "flat_amount": "10"},
        {"up_to": null, "unit_amount": "0.5"}]});
    let (h, subscription, product) = scene(
        json!({"name": "Bytes", "event_type": "api_call", "operation": "sum", "property": "bytes"}),
        json!([{"name": "bytes", "price": price}]),
        &events,
    )
    .await;
    let consumption = explore(&h, &subscription, &product).await;
    let got = rows(&h, &consumption, 0).await;
    let amounts: Vec<i64> = got.iter().map(|row| row.amount).collect();
    assert_eq!(amounts, [5, 4, 4]);
    assert_eq!(consumption.groups[0].subtotal, 13);
}

#[tokio::test]
async fn max_is_not_additive_so_events_share_equally() {
    let events = [
        call("a", "2024-12-02T00:00:00Z", 7),
        call("b", "2024-12-03T00:00:00Z", 3),
    ];
    let (h, subscription, product) = scene(
        json!({"name": "Peak", "event_type": "api_call", "operation": "max", "property": "bytes"}),
        json!([{"name": "flat", "price": {"type": "flat", "amount": "500"}},
               {"name": "peak", "price": {"type": "per_unit", "unit_amount": "3"}}]),
        &events,
    )
    .await;
    let consumption = explore(&h, &subscription, &product).await;
    // Equal shares even for a flat price, as `tally_pricing::attribute` does
    // for any quantity it cannot split by event.
    let flat = &consumption.groups[0];
    assert_eq!((flat.subtotal, flat.unattributed), (500, 0));
    let flat_rows = rows(&h, &consumption, 0).await;
    assert_eq!(
        summary(&flat_rows),
        [("a".into(), None, 250), ("b".into(), None, 250)]
    );
    // max 7 × 3 = 21 shared equally: 10.5 each, the residue to the earliest.
    let peak = rows(&h, &consumption, 1).await;
    assert_eq!(
        summary(&peak),
        [("a".into(), None, 11), ("b".into(), None, 10)]
    );
}

#[tokio::test]
async fn unique_count_shares_among_the_first_event_of_each_value() {
    let events = [
        call("a", "2024-12-02T00:00:00Z", 7),
        call("b", "2024-12-03T00:00:00Z", 7),
        call("c", "2024-12-04T00:00:00Z", 9),
    ];
    // 2 distinct values × 5 = 10, shared by a (first 7) and c (first 9).
    let (h, subscription, product) = scene(
        json!({"name": "Distinct", "event_type": "api_call", "operation": "unique_count", "property": "bytes"}),
        json!([{"name": "distinct", "price": {"type": "per_unit", "unit_amount": "5"}}]),
        &events,
    )
    .await;
    let consumption = explore(&h, &subscription, &product).await;
    let got = rows(&h, &consumption, 0).await;
    assert_eq!(
        summary(&got),
        [
            ("a".into(), Some("1".into()), 5),
            ("b".into(), Some("0".into()), 0),
            ("c".into(), Some("1".into()), 5)
        ]
    );
}

#[tokio::test]
async fn more_distinct_fractions_than_the_exact_limit_still_add_up() {
    use tally_billing::consumption::select::EXACT_LIMIT;
    let count = EXACT_LIMIT + 200;
    let events: Vec<Value> = (0..count)
        .map(|i| {
            let at = 1_733_011_200_000i64 + i64::try_from(i).unwrap() * 1_000;
            json!({"event_type": "api_call", "customer_id": "acme-42", "timestamp": at,
                   "record": {"id": i, "bytes": i}})
        })
        .collect();
    // A thousandth of a cent per byte: event i's share is i / 1000, so the
    // fractional parts take 1000 distinct values, and marginal shares of a
    // graduated price with a fractional tier add more.
    let price = json!({"type": "graduated", "tiers": [
        {"up_to": "1000000", "unit_amount": "0.001"},
        {"up_to": null, "unit_amount": "0.0007"}]});
    let (h, subscription, product) = scene(
        json!({"name": "Bytes", "event_type": "api_call", "operation": "sum", "property": "bytes"}),
        json!([{"name": "bytes", "price": price}]),
        &events,
    )
    .await;
    let consumption = explore(&h, &subscription, &product).await;
    let got = rows(&h, &consumption, 0).await;
    let group = &consumption.groups[0];
    assert_eq!(got.len(), count);
    assert_eq!(
        group.unattributed + got.iter().map(|row| row.amount).sum::<i64>(),
        group.subtotal
    );
    assert!(got.iter().all(|row| row.amount >= 0));
}

#[tokio::test]
async fn a_licensed_aggregator_walks_every_live_entity_before_the_period_end() {
    let events = [
        call("seat-old", "2024-10-15T00:00:00Z", 1),
        call("seat-new", "2024-12-10T00:00:00Z", 1),
    ];
    let (h, subscription, product) = scene(
        json!({"name": "Seats", "event_type": "api_call", "operation": "count", "type": "licensed"}),
        json!([{"name": "seats", "price": {"type": "per_unit", "unit_amount": "1000"}}]),
        &events,
    )
    .await;
    let consumption = explore(&h, &subscription, &product).await;
    let got = rows(&h, &consumption, 0).await;
    assert_eq!(
        summary(&got),
        [
            ("seat-old".into(), Some("1".into()), 1000),
            ("seat-new".into(), Some("1".into()), 1000)
        ]
    );
    assert_eq!(consumption.groups[0].subtotal, 2000);
}
