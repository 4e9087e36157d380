//! For random events and tiers, the consumption rows of every usage line add
//! up exactly to the invoice line, through the store.

use futures::TryStreamExt;
use proptest::prelude::*;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use tally_billing::{ConsumptionRow, InvoiceView, LineType};
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

/// Each usage line of the invoice (one price group per product, in product
/// order) against the consumption rows that explain it: the group's quantity
/// and subtotal are the line's, and its rows plus the unattributed part add
/// up to it. Returns the rows of each line.
async fn explained_lines(
    h: &Harness,
    invoice: &InvoiceView,
    products: &[&str],
) -> Vec<Vec<ConsumptionRow>> {
    let scope = h
        .billing
        .invoice_scope(&h.account, invoice.id.as_str())
        .await
        .unwrap();
    let usage = invoice
        .lines
        .iter()
        .filter(|l| l.line_type == LineType::Usage);
    let mut explained = Vec::new();
    for (line, product) in usage.zip(products) {
        let planned = h
            .billing
            .product_consumption(&h.account, &scope, product)
            .await
            .unwrap();
        let rows: Vec<ConsumptionRow> = h
            .billing
            .consumption_rows(&h.account, &planned, 0)
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        let group = &planned.groups[0];
        let sum: i64 = rows.iter().map(|row| row.amount).sum();
        assert_eq!(group.quantity, line.quantity.unwrap_or_default());
        assert_eq!(group.subtotal, line.amount_excluding_tax);
        assert_eq!(group.unattributed + sum, line.amount_excluding_tax);
        explained.push(rows);
    }
    explained
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
    let product_ids: Vec<&str> = products.iter().map(|id| id.as_str()).collect();
    for rows in explained_lines(&h, &invoice, &product_ids).await {
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

/// What may happen after an invoice is finalized.
#[derive(Debug, Clone)]
enum Later {
    /// A new event at this hour of February with this value.
    Late(u32, i64),
    /// An existing key (index modulo the initial events) at another hour and value.
    Upsert(usize, u32, i64),
    /// An existing key deleted.
    Delete(usize),
    /// New tiers for both products, effective from February 1st.
    Reprice(Vec<Value>),
    /// Both aggregators keep only events whose value is at least this many cents.
    Refilter(i64),
}

fn later() -> impl Strategy<Value = Later> {
    prop_oneof![
        (0u32..28 * 24, 0i64..2_000).prop_map(|(h, v)| Later::Late(h, v)),
        (any::<usize>(), 0u32..40 * 24, 0i64..2_000).prop_map(|(k, h, v)| Later::Upsert(k, h, v)),
        any::<usize>().prop_map(Later::Delete),
        tiers().prop_map(Later::Reprice),
        (0i64..2_000).prop_map(Later::Refilter),
    ]
}

fn event_at(id: usize, hour: u32, value: i64) -> Value {
    json!({"event_type": "e", "customer_id": "acme",
           "timestamp": 1_706_745_600_000i64 + i64::from(hour) * 3_600_000,
           "record": {"id": id, "v": f_cents(value)}})
}

async fn check_after_changes(tiers: Vec<Value>, events: Vec<(u32, i64)>, changes: Vec<Later>) {
    // Late enough that upserts may move events into March.
    let h = Harness::new("2024-04-01T00:00:00Z").await;
    h.customer("acme", Some("20")).await;
    let definitions = [
        json!({"name": "Calls", "event_type": "e", "operation": "count"}),
        json!({"name": "Bytes", "event_type": "e", "operation": "sum", "property": "v"}),
    ];
    let mut aggregators = Vec::new();
    let mut products = Vec::new();
    for definition in &definitions {
        let aggregator = h.aggregator(definition.clone()).await;
        let product = h
            .product(json!({"name": "P", "type": "usage", "aggregator_id": aggregator.id,
                "currency": "EUR", "price_groups": [{"name": "g", "price": {"type": "graduated", "tiers": tiers}}]}))
            .await;
        aggregators.push(aggregator);
        products.push(product);
    }
    let subscription = h
        .subscription(json!({"customer_id": "acme",
            "product_ids": products.iter().map(|p| p.id.to_string()).collect::<Vec<_>>(),
            "starts_at": "2024-02-01T00:00:00Z", "billing_interval": {"period": "months", "count": 1}}))
        .await;
    let batch: Vec<Value> = events
        .iter()
        .enumerate()
        .map(|(i, (hour, value))| event_at(i, *hour, *value))
        .collect();
    if !batch.is_empty() {
        h.billing.ingest_batch(&h.account, &batch).await.unwrap();
    }
    let draft = h
        .billing
        .create_invoice(
            &h.account,
            subscription.id.as_str(),
            Some(at("2024-02-10T00:00:00Z")),
        )
        .await
        .unwrap();
    let finalized = h
        .billing
        .finalize_invoice(&h.account, draft.id.as_str())
        .await
        .unwrap();

    let mut next_id = events.len();
    // Whether the events under the invoice surely changed (a late event in
    // its period), or surely did not (no event was sent or deleted).
    let late = changes.iter().any(|c| matches!(c, Later::Late(..)));
    let touched = changes
        .iter()
        .any(|c| matches!(c, Later::Late(..) | Later::Upsert(..) | Later::Delete(_)));
    for change in changes {
        match change {
            Later::Late(hour, value) => {
                h.billing
                    .ingest_event(&h.account, &event_at(next_id, hour, value))
                    .await
                    .unwrap();
                next_id += 1;
            }
            Later::Upsert(key, hour, value) if !events.is_empty() => {
                let event = event_at(key % events.len(), hour, value);
                h.billing.ingest_event(&h.account, &event).await.unwrap();
            }
            Later::Delete(key) if !events.is_empty() => {
                let delete = tally_billing::DeleteEvents {
                    matching: Some("record_ids".into()),
                    event_type: Some("e".into()),
                    record_ids: vec![json!(key % events.len())],
                };
                h.billing.delete_events(&h.account, &delete).await.unwrap();
            }
            Later::Reprice(tiers) => {
                for product in &products {
                    let input: tally_billing::ProductInput = serde_json::from_value(json!({
                        "name": "P", "type": "usage", "aggregator_id": product.aggregator_id,
                        "currency": "EUR", "effective_from": "2024-02-01T00:00:00Z",
                        "price_groups": [{"id": product.price_groups[0].id, "name": "g",
                            "price": {"type": "graduated", "tiers": tiers}}]}))
                    .unwrap();
                    h.billing
                        .update_product(&h.account, product.id.as_str(), &input)
                        .await
                        .unwrap();
                }
            }
            Later::Refilter(cents) => {
                for (aggregator, definition) in aggregators.iter().zip(&definitions) {
                    let mut definition = definition.clone();
                    definition["where"] = json!({"conditional": "and", "fields": [
                        {"property": "v", "operator": "greater_than_or_equal", "value": f_cents(cents)}]});
                    let definition = serde_json::from_value(definition).unwrap();
                    h.billing
                        .update_aggregator(&h.account, aggregator.id.as_str(), &definition)
                        .await
                        .unwrap();
                }
            }
            Later::Upsert(..) | Later::Delete(_) => {}
        }
    }

    // The invoice never moves, and what explains it still adds up to it.
    let read = h
        .billing
        .get_invoice(&h.account, finalized.id.as_str())
        .await
        .unwrap();
    assert_eq!(read.lines, finalized.lines);
    let product_ids: Vec<&str> = products.iter().map(|p| p.id.as_str()).collect();
    explained_lines(&h, &finalized, &product_ids).await;
    let changes = h
        .billing
        .invoice_changes(&h.account, finalized.id.as_str(), Default::default())
        .await
        .unwrap();
    assert_eq!(changes.finalized_totals, finalized.totals);
    if late {
        assert!(changes.added > 0, "a late event is listed: {changes:?}");
    }
    if !touched {
        assert_eq!(changes.total, 0, "catalog edits are not event changes");
        assert_eq!(
            changes.delta_totals,
            Default::default(),
            "nor do they move the amounts"
        );
    }
    let flagged = h
        .billing
        .events_changed_since_finalization(&h.account, &read)
        .await
        .unwrap();
    assert_eq!(flagged, Some(changes.total > 0));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn finalized_invoices_stay_explained_after_any_later_change(
        tiers in tiers(),
        events in prop::collection::vec((0u32..28 * 24, 0i64..2_000), 0..20),
        changes in prop::collection::vec(later(), 0..8),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(check_after_changes(tiers, events, changes));
    }
}
