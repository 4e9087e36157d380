//! CSV and ZIP exports over a subscription period: the text, the archive, and
//! amounts that add up to the consumption lines.

use std::collections::BTreeMap;
use std::io::{Cursor, Read};

use rust_decimal::Decimal;
use serde_json::{Value, json};
use tally_billing::export::CsvExport;
use tally_billing::{ConsumptionScope, DateRange};

use crate::support::Harness;

/// One customer, a `sum` aggregator over `api_call.units` named after the
/// region, and a product with two price groups: `eu` (graduated, through a
/// filter) and `all` (volume). Events in January 2024, some with hostile text.
struct Exported {
    h: Harness,
    scope: ConsumptionScope,
    product_id: String,
    aggregator_id: String,
}

async fn exported() -> Exported {
    let h = Harness::new("2024-01-31T12:00:00Z").await;
    h.customer("acme-42", None).await;
    let aggregator = h
        .aggregator(
            json!({"name": "Units", "event_type": "api_call", "operation": "sum",
            "property": "units", "custom_event_name": "{record.region} call",
            "filters": [{"name": "eu", "where": {"conditional": "and", "fields": [
                {"property": "region", "operator": "equals", "value": "eu"}]}}]}),
        )
        .await;
    let eu = aggregator.definition.filters[0].id.clone();
    let product = h
        .product(
            json!({"name": "Units", "type": "usage", "aggregator_id": aggregator.id,
            "currency": "EUR", "price_groups": [
                {"name": "eu", "aggregator_filter_id": eu, "price": {"type": "graduated", "tiers": [
                    {"up_to": "10", "unit_amount": "0"},
                    {"up_to": null, "unit_amount": "33.3333"}]}},
                {"name": "=all", "price": {"type": "volume", "tiers": [
                    {"up_to": "20", "unit_amount": "7.5"},
                    {"up_to": null, "unit_amount": "6.25", "flat_amount": "100"}]}}]}),
        )
        .await;
    let subscription = h
        .subscription(json!({"customer_id": "acme-42", "product_ids": [product.id],
            "starts_at": "2024-01-01T00:00:00Z", "billing_interval": {"period": "months", "count": 1},
            "currency": "EUR"}))
        .await;
    h.set_now("2024-02-01T00:00:00Z");
    let events: Vec<Value> = (0..12)
        .map(|n| {
            let region = ["eu", "us", "=HYPERLINK(\"x\")"][n % 3];
            json!({"customer_id": "acme-42", "event_type": "api_call",
                "timestamp": format!("2024-01-{:02}T10:00:00Z", 2 + n),
                "record": {"id": n, "units": n % 5 + 1, "region": region, "delta": -1.5}})
        })
        .collect();
    let outcome = h.billing.ingest_batch(&h.account, &events).await.unwrap();
    assert!(outcome.rejected.is_empty(), "{:?}", outcome.rejected);
    h.set_now("2024-01-31T12:00:00Z");
    let scope = h
        .billing
        .subscription_scope(&h.account, subscription.id.as_str(), &DateRange::default())
        .await
        .unwrap();
    Exported {
        h,
        scope,
        product_id: product.id.to_string(),
        aggregator_id: aggregator.id.to_string(),
    }
}

async fn csv_export(e: &Exported) -> CsvExport {
    e.h.billing
        .product_csv(&e.h.account, &e.scope, &e.product_id)
        .await
        .unwrap()
}

/// Writes an export into memory, checking the rows reported.
async fn csv_text(export: CsvExport) -> String {
    let expected = export.rows();
    let mut chunks: Vec<Vec<u8>> = Vec::new();
    let mut reported = 0;
    let rows = export
        .write_to(&mut chunks, &mut |rows| reported = rows)
        .await
        .unwrap();
    assert_eq!((rows, reported), (expected, expected));
    String::from_utf8(chunks.concat()).unwrap()
}

#[tokio::test]
async fn the_csv_of_a_product_with_two_price_groups() {
    let e = exported().await;
    let text = csv_text(csv_export(&e).await).await;
    insta::assert_snapshot!(text);
}

/// Minor units per price group, read back from the CSV's `amount` column.
fn amounts_by_group(text: &str) -> BTreeMap<String, i64> {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header = reader.headers().unwrap().clone();
    let column = |name: &str| header.iter().position(|h| h == name).unwrap();
    let (group, amount) = (column("price_group"), column("amount"));
    let mut sums = BTreeMap::new();
    for record in reader.records() {
        let record = record.unwrap();
        let major: Decimal = record[amount].parse().unwrap();
        let minor = i64::try_from(major * Decimal::ONE_HUNDRED).unwrap();
        *sums.entry(record[group].to_owned()).or_default() += minor;
    }
    sums
}

#[tokio::test]
async fn csv_amounts_add_up_to_each_consumption_line() {
    let e = exported().await;
    let consumption =
        e.h.billing
            .product_consumption(&e.h.account, &e.scope, &e.product_id)
            .await
            .unwrap();
    let sums = amounts_by_group(&csv_text(csv_export(&e).await).await);
    assert_eq!(sums.len(), 2);
    for group in &consumption.groups {
        let name = tally_billing::export::safe_cell(&group.price_group.name);
        let in_csv = sums.get(&name).copied().unwrap_or_default();
        assert!(group.subtotal > 0, "{name}: a line worth testing");
        assert_eq!(in_csv + group.unattributed, group.subtotal, "{name}");
    }
}

#[tokio::test]
async fn a_product_outside_the_scope_is_not_found() {
    let e = exported().await;
    let other = e
        .h
        .product(json!({"name": "Other", "type": "usage", "aggregator_id": e.aggregator_id,
            "currency": "EUR", "price_groups": [{"name": "a", "price": {"type": "per_unit", "unit_amount": "1"}}]}))
        .await;
    let result =
        e.h.billing
            .product_csv(&e.h.account, &e.scope, other.id.as_str())
            .await;
    assert!(
        matches!(result, Err(tally_billing::BillingError::NotFound { .. })),
        "{:?}",
        result.err()
    );
}

#[tokio::test]
async fn the_archive_holds_the_same_csv_as_the_single_export() {
    let e = exported().await;
    let single = csv_text(csv_export(&e).await).await;
    let export = e.h.billing.scope_zip(&e.h.account, &e.scope).await.unwrap();
    let mut chunks: Vec<Vec<u8>> = Vec::new();
    export.write_to(&mut chunks, &mut |_| {}).await.unwrap();
    let mut zip = zip::ZipArchive::new(Cursor::new(chunks.concat())).unwrap();
    assert_eq!(zip.len(), 1);
    let mut file = zip.by_index(0).unwrap();
    assert_eq!(file.name(), "Units.csv");
    let mut text = String::new();
    file.read_to_string(&mut text).unwrap();
    assert_eq!(text, single);
}

/// The invoice of the exported period: its ZIP's CSV adds up, group by group,
/// to the invoice's own lines (no part of these lines is unattributed).
#[tokio::test]
async fn an_invoice_zip_adds_up_to_the_invoice_lines() {
    let e = exported().await;
    let subscription = e.scope.subscription_id.as_str();
    let at = tally_event::Timestamp::parse("2024-01-15T00:00:00Z").unwrap();
    let invoice =
        e.h.billing
            .create_invoice(&e.h.account, subscription, Some(at))
            .await
            .unwrap();
    let export =
        e.h.billing
            .invoice_zip(&e.h.account, invoice.id.as_str())
            .await
            .unwrap();
    assert_eq!(export.file_name(), format!("events-{}.zip", invoice.number));
    let mut chunks: Vec<Vec<u8>> = Vec::new();
    export.write_to(&mut chunks, &mut |_| {}).await.unwrap();
    let mut zip = zip::ZipArchive::new(Cursor::new(chunks.concat())).unwrap();
    let mut text = String::new();
    zip.by_index(0).unwrap().read_to_string(&mut text).unwrap();
    let sums = amounts_by_group(&text);
    let usage_lines: Vec<_> = invoice
        .lines
        .iter()
        .filter_map(|line| Some((line.price_group.as_ref()?, line.amount_excluding_tax)))
        .collect();
    assert_eq!(usage_lines.len(), 2, "{:?}", invoice.lines);
    for (group, amount) in usage_lines {
        let name = tally_billing::export::safe_cell(&group.name);
        assert!(amount > 0, "{name}: a line worth testing");
        assert_eq!(sums.get(&name).copied(), Some(amount), "{name}");
    }
}

/// A flat price group bills the period, not its events: its rows show 0 and
/// the line's amount is the unattributed part, outside the CSV.
#[tokio::test]
async fn a_flat_group_leaves_its_amount_unattributed_and_out_of_the_csv() {
    let e = exported().await;
    let product =
        e.h.product(
            json!({"name": "Units, flat", "type": "usage", "aggregator_id": e.aggregator_id,
            "currency": "EUR", "price_groups": [
                {"name": "flat", "price": {"type": "flat", "amount": "2900"}},
                {"name": "unit", "price": {"type": "per_unit", "unit_amount": "0.5"}}]}),
        )
        .await;
    let subscription = e
        .h
        .subscription(json!({"customer_id": "acme-42", "product_ids": [product.id],
            "starts_at": "2024-01-01T00:00:00Z", "billing_interval": {"period": "months", "count": 1},
            "currency": "EUR"}))
        .await;
    let billing = &e.h.billing;
    let scope = billing
        .subscription_scope(
            &e.h.account,
            subscription.id.as_str(),
            &DateRange::default(),
        )
        .await
        .unwrap();
    let consumption = billing
        .product_consumption(&e.h.account, &scope, product.id.as_str())
        .await
        .unwrap();
    let export = billing
        .product_csv(&e.h.account, &scope, product.id.as_str())
        .await
        .unwrap();
    let sums = amounts_by_group(&csv_text(export).await);
    let parts: Vec<(i64, i64, i64)> = consumption
        .groups
        .iter()
        .map(|group| {
            let in_csv = sums
                .get(&group.price_group.name)
                .copied()
                .unwrap_or_default();
            (in_csv, group.unattributed, group.subtotal)
        })
        .collect();
    // 33 units at half a cent: 16.5, rounded half away from zero.
    assert_eq!(parts, [(0, 2900, 2900), (17, 0, 17)]);
}

/// A finalized invoice keeps naming a product the subscription dropped and the
/// catalog deleted since: its ZIP leaves that product out instead of failing.
#[tokio::test]
async fn an_invoice_zip_leaves_out_a_product_deleted_since() {
    let e = exported().await;
    let subscription = e.scope.subscription_id.as_str();
    let fee =
        e.h.product(json!({"name": "Fee", "type": "fee", "currency": "EUR",
            "price_groups": [{"name": "base", "price": {"type": "flat", "amount": 2900}}]}))
            .await;
    let body = |product_ids: Vec<String>| -> tally_billing::SubscriptionInput {
        serde_json::from_value(json!({"customer_id": "acme-42", "product_ids": product_ids,
            "starts_at": "2024-01-01T00:00:00Z", "billing_interval": {"period": "months", "count": 1},
            "currency": "EUR"}))
        .unwrap()
    };
    let both = body(vec![e.product_id.clone(), fee.id.to_string()]);
    e.h.billing
        .update_subscription(&e.h.account, subscription, &both)
        .await
        .unwrap();
    let at = tally_event::Timestamp::parse("2024-01-15T00:00:00Z").unwrap();
    let invoice =
        e.h.billing
            .create_invoice(&e.h.account, subscription, Some(at))
            .await
            .unwrap();
    e.h.billing
        .finalize_invoice(&e.h.account, invoice.id.as_str())
        .await
        .unwrap();
    let usage_only = body(vec![e.product_id.clone()]);
    e.h.billing
        .update_subscription(&e.h.account, subscription, &usage_only)
        .await
        .unwrap();
    e.h.billing
        .delete_product(&e.h.account, fee.id.as_str())
        .await
        .unwrap();

    let export =
        e.h.billing
            .invoice_zip(&e.h.account, invoice.id.as_str())
            .await
            .unwrap();
    let mut chunks: Vec<Vec<u8>> = Vec::new();
    export.write_to(&mut chunks, &mut |_| {}).await.unwrap();
    let zip = zip::ZipArchive::new(Cursor::new(chunks.concat())).unwrap();
    assert_eq!(zip.len(), 1);
}

#[tokio::test]
async fn the_columns_are_the_keys_of_the_events_listed() {
    let h = Harness::new("2024-01-31T12:00:00Z").await;
    h.customer("acme-42", None).await;
    let aggregator = h
        .aggregator(
            json!({"name": "Calls", "event_type": "api_call", "operation": "count",
            "filters": [{"name": "eu", "where": {"conditional": "and", "fields": [
                {"property": "region", "operator": "equals", "value": "eu"}]}}]}),
        )
        .await;
    let eu = aggregator.definition.filters[0].id.clone();
    let product = h
        .product(
            json!({"name": "Calls", "type": "usage", "aggregator_id": aggregator.id,
            "currency": "EUR", "price_groups": [{"name": "eu", "aggregator_filter_id": eu,
                "price": {"type": "per_unit", "unit_amount": "1"}}]}),
        )
        .await;
    let subscription = h
        .subscription(json!({"customer_id": "acme-42", "product_ids": [product.id],
            "starts_at": "2024-01-01T00:00:00Z", "billing_interval": {"period": "months", "count": 1},
            "currency": "EUR"}))
        .await;
    let events = vec![
        json!({"customer_id": "acme-42", "event_type": "api_call", "timestamp": "2024-01-02T10:00:00Z",
               "record": {"id": "a", "region": "eu", "eu_only": 1}}),
        json!({"customer_id": "acme-42", "event_type": "api_call", "timestamp": "2024-01-03T10:00:00Z",
               "record": {"id": "b", "region": "us", "us_only": 1}}),
    ];
    let outcome = h.billing.ingest_batch(&h.account, &events).await.unwrap();
    assert!(outcome.rejected.is_empty(), "{:?}", outcome.rejected);
    let scope = h
        .billing
        .subscription_scope(&h.account, subscription.id.as_str(), &DateRange::default())
        .await
        .unwrap();
    let export = h
        .billing
        .product_csv(&h.account, &scope, product.id.as_str())
        .await
        .unwrap();
    let text = csv_text(export).await;
    let header = text.lines().next().unwrap();
    assert_eq!(
        header, "id,timestamp,name,record.eu_only,record.id,record.region,quantity,amount,currency",
        "the us event is listed by no price group: its keys are no column"
    );
    assert_eq!(text.lines().count(), 2, "{text}");
}
