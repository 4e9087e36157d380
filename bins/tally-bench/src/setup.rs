//! Catalog objects created over HTTP before a measurement: aggregators,
//! products and subscriptions, with the shapes of docs/API.md.

use anyhow::Context;
use hyper::body::Bytes;
use hyper::{Method, StatusCode};
use serde_json::{Value, json};

use crate::generate::{EventKind, bench_month, iso};
use crate::http::Conn;

/// Creates an object with `POST path` and returns its `id`.
pub async fn create(conn: &mut Conn, path: &str, body: &Value) -> anyhow::Result<String> {
    let reply = conn
        .send(Method::POST, path, Some(Bytes::from(body.to_string())))
        .await?
        .expect(StatusCode::CREATED, &format!("POST {path}"))?;
    let json = reply.json(path)?;
    json["id"]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("POST {path}: no id in {json}"))
}

/// The aggregator and price a product bills `kind` events with: calls
/// counted on graduated tiers, gigabytes summed per unit, transaction amounts
/// summed on volume tiers.
pub fn aggregator_body(kind: EventKind) -> Value {
    match kind {
        EventKind::ApiCall => json!({
            "name": "API calls", "event_type": "api_call", "operation": "count",
            "unit_name": "call", "custom_event_name": "{record.method} {record.endpoint}"
        }),
        EventKind::Storage => json!({
            "name": "Storage", "event_type": "storage", "operation": "sum",
            "property": "gigabytes", "unit_name": "GB"
        }),
        EventKind::Transaction => json!({
            "name": "Payment volume", "event_type": "transaction", "operation": "sum",
            "property": "amount", "unit_name": "EUR"
        }),
    }
}

fn price(kind: EventKind) -> Value {
    match kind {
        EventKind::ApiCall => json!({"type": "graduated", "tiers": [
            {"up_to": "1000", "unit_amount": "0.5", "flat_amount": "0"},
            {"up_to": "100000", "unit_amount": "0.2", "flat_amount": "0"},
            {"up_to": null, "unit_amount": "0.1", "flat_amount": "0"}]}),
        EventKind::Storage => json!({"type": "per_unit", "unit_amount": "2.3"}),
        EventKind::Transaction => json!({"type": "volume", "tiers": [
            {"up_to": "100000", "unit_amount": "1.5", "flat_amount": "0"},
            {"up_to": null, "unit_amount": "1", "flat_amount": "1000"}]}),
    }
}

/// A usage product in EUR billing `aggregator` with `kind`'s price.
pub fn product_body(kind: EventKind, aggregator: &str) -> Value {
    json!({
        "name": aggregator_body(kind)["name"], "type": "usage", "aggregator_id": aggregator,
        "currency": "EUR", "price_groups": [{"name": "all", "price": price(kind)}]
    })
}

/// A monthly subscription from the benchmark month's start.
pub fn subscription_body(customer: &str, products: &[String]) -> Value {
    json!({
        "customer_id": customer, "product_ids": products,
        "starts_at": iso(bench_month().0),
        "billing_interval": {"period": "months", "count": 1},
        "tax_rate": "20", "currency": "EUR"
    })
}

/// An aggregator and a product for each kind; returns the product ids.
pub async fn products(conn: &mut Conn, kinds: &[EventKind]) -> anyhow::Result<Vec<String>> {
    let mut products = Vec::new();
    for &kind in kinds {
        let aggregator = create(conn, "/v1/aggregators", &aggregator_body(kind)).await?;
        products.push(create(conn, "/v1/products", &product_body(kind, &aggregator)).await?);
    }
    Ok(products)
}

/// Waits until no aggregator's rollup is building (the server's backfill
/// is done), polling the list; returns how long it took.
pub async fn wait_for_rollups(conn: &mut Conn) -> anyhow::Result<std::time::Duration> {
    let started = std::time::Instant::now();
    loop {
        let reply = conn
            .send(Method::GET, "/v1/aggregators?take=100", None)
            .await?
            .expect(StatusCode::OK, "GET /v1/aggregators")?;
        let list = reply.json("aggregators")?;
        let items = list["data"]
            .as_array()
            .context("aggregator list without data")?;
        let building = items
            .iter()
            .any(|a| a["usage_rollup"]["status"] == "building");
        if !building {
            return Ok(started.elapsed());
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
