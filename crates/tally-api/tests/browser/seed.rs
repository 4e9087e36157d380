//! What the pages show, put in through the API as an account's own backend
//! would (a catalog, customers subscribed to it, their calls, invoices),
//! and the API's numbers read back to compare with a page's. Every call is
//! made as account A at the API tests' `NOW` (2024-12-21).

use std::str::FromStr;

use axum::http::{Method, StatusCode};
use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::support::TestApp;

/// Account A's products: API calls at 2 cents each (a per-unit price on a
/// count of `api_call` events) and a platform fee of 29 EUR a period.
pub struct Catalog {
    /// The `agg_` id of the count of calls.
    pub aggregator: String,
    pub calls: String,
    pub fee: String,
}

/// A customer with one monthly subscription to the whole catalog.
pub struct Customer {
    /// The `cus_` id.
    pub id: String,
    /// The `sub_` id.
    pub subscription: String,
}

pub async fn catalog(app: &TestApp) -> Catalog {
    let aggregator = aggregator(
        app,
        json!({"name": "Calls", "event_type": "api_call", "operation": "count",
               "unit_name": "call"}),
    )
    .await;
    let calls = product(app, "API calls", &aggregator).await;
    let fee = post(
        app,
        "/v1/products",
        json!({"name": "Platform fee", "type": "fee", "currency": "EUR",
               "price_groups": [{"name": "base", "price": {"type": "flat", "amount": "2900"}}]}),
    )
    .await;
    Catalog {
        aggregator,
        calls,
        fee: id(&fee),
    }
}

/// The catalog, and Acme Corp (external id `acme`) subscribed to all of it
/// since `starts_at`.
pub async fn acme(app: &TestApp, starts_at: &str) -> (Catalog, Customer) {
    let catalog = catalog(app).await;
    let products = [catalog.calls.as_str(), catalog.fee.as_str()];
    let acme = customer(app, ("acme", "Acme Corp"), &products, starts_at).await;
    (catalog, acme)
}

/// An aggregator (`POST /v1/aggregators`'s body); answers its `agg_` id.
pub async fn aggregator(app: &TestApp, definition: Value) -> String {
    id(&post(app, "/v1/aggregators", definition).await)
}

/// A usage product named `name` at 2 cents per event the aggregator counts;
/// its price group is named after it too.
pub async fn product(app: &TestApp, name: &str, aggregator: &str) -> String {
    let product = post(
        app,
        "/v1/products",
        json!({"name": name, "type": "usage", "aggregator_id": aggregator, "currency": "EUR",
               "price_groups": [{"name": name, "price": {"type": "per_unit", "unit_amount": "2"}}]}),
    )
    .await;
    id(&product)
}

/// A customer `external_id` named `name`, subscribed to `products` monthly
/// since `starts_at`, taxed at 20 %.
pub async fn customer(
    app: &TestApp,
    (external_id, name): (&str, &str),
    products: &[&str],
    starts_at: &str,
) -> Customer {
    let customer = bare_customer(app, (external_id, name)).await;
    let subscription = post(
        app,
        "/v1/subscriptions",
        json!({"customer_id": customer, "product_ids": products,
               "starts_at": starts_at, "currency": "EUR", "tax_rate": "20",
               "billing_interval": {"period": "months", "count": 1}}),
    )
    .await;
    Customer {
        id: customer,
        subscription: id(&subscription),
    }
}

/// A customer without subscriptions; answers its `cus_` id.
pub async fn bare_customer(app: &TestApp, (external_id, name): (&str, &str)) -> String {
    let body = json!({"external_id": external_id, "name": name});
    id(&post(app, "/v1/customers", body).await)
}

/// `count` API calls of `customer` (its external id) at `timestamp`, each
/// with a `note` shown by no page yet.
pub async fn calls(app: &TestApp, customer: &str, timestamp: &str, count: usize) {
    let batch = (0..count)
        .map(|call| {
            json!({"customer_id": customer, "event_type": "api_call", "timestamp": timestamp,
                   "record": {"id": format!("{customer}-{timestamp}-{call}"),
                              "note": "<script>alert(1)</script>"}})
        })
        .collect();
    events(app, batch).await;
}

/// Events (`POST /v1/events/batch`'s body), every one accepted.
pub async fn events(app: &TestApp, events: Vec<Value>) {
    let reply = app
        .call(Method::POST, "/v1/events/batch", Some(json!(events)))
        .await;
    assert!(reply.status.is_success(), "{}", reply.text);
    assert_eq!(reply.json["events_failed"], json!([]), "{}", reply.text);
}

/// The invoice of the subscription's period containing `at`, finalized
/// when asked; answers the invoice.
pub async fn invoice(app: &TestApp, subscription: &str, at: &str, finalize: bool) -> Value {
    let path = format!("/v1/subscriptions/{subscription}/invoices");
    let invoice = post(app, &path, json!({"at": at})).await;
    if !finalize {
        return invoice;
    }
    let path = format!("/v1/invoices/{}/finalize", id(&invoice));
    let reply = app.call(Method::POST, &path, None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    reply.json
}

/// A `GET` as account A that must succeed.
pub async fn get(app: &TestApp, path: &str) -> Value {
    let reply = app.call(Method::GET, path, None).await;
    assert_eq!(reply.status, StatusCode::OK, "{path}: {}", reply.text);
    reply.json
}

async fn post(app: &TestApp, path: &str, body: Value) -> Value {
    let reply = app.call(Method::POST, path, Some(body)).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{path}: {}", reply.text);
    reply.json
}

fn id(object: &Value) -> String {
    object["id"].as_str().unwrap().to_owned()
}

/// A JSON number or numeric string as a decimal.
pub fn decimal(value: &Value) -> Decimal {
    let text = value.to_string();
    Decimal::from_str(text.trim_matches('"')).unwrap_or_else(|_| panic!("{value} is no number"))
}

/// An amount in minor units (cents) as the page writes it, in major units.
pub fn cents(value: &Value) -> Decimal {
    Decimal::new(value.as_i64().unwrap(), 2)
}
