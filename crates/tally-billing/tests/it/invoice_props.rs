//! For random events and tiers, the consumption rows of every usage line add
//! up exactly to the invoice line, through the store.

use futures::TryStreamExt;
use proptest::prelude::*;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use tally_billing::LineType;
use tally_testkit::{TierConfig, tiers_with};

use crate::support::{Harness, at};

/// Tier bounds of 1 to 39 events each, so that a few events cross them; prices
/// in hundredths of a cent, so that amounts have fractional minor units.
fn tiers() -> impl Strategy<Value = Vec<Value>> {
    let config = TierConfig {
        tiers: 1..=3,
        widths: (1_i64..40).prop_map(Decimal::from).boxed(),
        prices: (0_i64..5_000).prop_map(|h| Decimal::new(h, 2)).boxed(),
    };
    tiers_with(&config).prop_map(|tiers| {
        tiers
            .iter()
            .map(|tier| serde_json::to_value(tier).unwrap())
            .collect()
    })
}

/// Hundredths as a decimal string, so prices have fractional minor units.
fn f_cents(hundredths: i64) -> String {
    format!("{}.{:02}", hundredths / 100, hundredths % 100)
}

fn scene() -> impl Strategy<Value = (bool, Vec<Value>, Vec<(u32, i64)>)> {
    (
        any::<bool>(),
        tiers(),
        prop::collection::vec((0u32..28 * 24, 0i64..2_000), 0..30),
    )
}

async fn check(volume: bool, tiers: Vec<Value>, events: Vec<(u32, i64)>) {
    let h = Harness::new("2024-03-05T00:00:00Z").await;
    h.customer("acme", Some("20")).await;
    let count = h
        .aggregator(json!({"name": "Calls", "event_type": "e", "operation": "count"}))
        .await;
    let sum = h
        .aggregator(
            json!({"name": "Bytes", "event_type": "e", "operation": "sum", "property": "v"}),
        )
        .await;
    let kind = if volume { "volume" } else { "graduated" };
    let mut products = Vec::new();
    for aggregator in [&count, &sum] {
        let product = h
            .product(json!({"name": "P", "type": "usage", "aggregator_id": aggregator.id,
                "currency": "EUR", "price_groups": [{"name": "g", "price": {"type": kind, "tiers": tiers}}]}))
            .await;
        products.push(product.id);
    }
    let subscription = h
        .subscription(json!({"customer_id": "acme", "product_ids": products,
            "starts_at": "2024-02-01T00:00:00Z", "billing_interval": {"period": "months", "count": 1}}))
        .await;
    let batch: Vec<Value> = events
        .iter()
        .enumerate()
        .map(|(i, (hour, value))| {
            json!({"event_type": "e", "customer_id": "acme",
                   "timestamp": 1_706_745_600_000i64 + i64::from(*hour) * 3_600_000,
                   "record": {"id": i, "v": f_cents(*value)}})
        })
        .collect();
    if !batch.is_empty() {
        h.billing.ingest_batch(&h.account, &batch).await.unwrap();
    }
    let id = subscription.id.to_string();
    let invoice = h
        .billing
        .create_invoice(&h.account, &id, Some(at("2024-02-10T00:00:00Z")))
        .await
        .unwrap();
    let scope = h
        .billing
        .invoice_scope(&h.account, invoice.id.as_str())
        .await
        .unwrap();
    let usage = invoice
        .lines
        .iter()
        .filter(|l| l.line_type == LineType::Usage);
    for (line, product) in usage.zip(&products) {
        let planned = h
            .billing
            .product_consumption(&h.account, &scope, product.as_str())
            .await
            .unwrap();
        let rows: Vec<_> = h
            .billing
            .consumption_rows(&h.account, &planned, 0)
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        let group = &planned.groups[0];
        let sum: i64 = rows.iter().map(|row| row.amount).sum();
        assert_eq!(group.subtotal, line.amount_excluding_tax);
        assert_eq!(group.unattributed + sum, line.amount_excluding_tax);
        assert!(rows.iter().all(|row| row.amount >= 0), "{rows:?}");
        assert_eq!(rows.len(), events.len());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn per_event_amounts_add_up_to_the_invoice_line((volume, tiers, events) in scene()) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(check(volume, tiers, events));
    }
}
