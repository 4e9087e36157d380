//! Authentication and tenancy: no key or a wrong key is a 401; account B sees
//! none of account A's objects, through every route (404, or an empty list).

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{KEY_A, KEY_B, TestApp, redacted};

#[tokio::test]
async fn a_missing_or_unknown_key_is_a_401() {
    let app = TestApp::new().await;
    let missing = app.call_as(None, Method::GET, "/v1/customers", None).await;
    assert_eq!(missing.status, StatusCode::UNAUTHORIZED);
    insta::assert_snapshot!("missing_key", redacted(&missing));
    let unknown = app
        .call_as(Some("tally_sk_nope"), Method::GET, "/v1/customers", None)
        .await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    insta::assert_snapshot!("unknown_key", redacted(&unknown));
    assert!(unknown.headers.contains_key("x-request-id"));
}

#[tokio::test]
async fn only_the_bearer_scheme_is_accepted() {
    let app = TestApp::new().await;
    for value in [
        format!("Basic {KEY_A}"),
        "Bearer ".to_owned(),
        KEY_A.to_owned(),
    ] {
        let request = axum::http::Request::builder()
            .uri("/v1/customers")
            .header("authorization", value.as_str())
            .body(axum::body::Body::empty())
            .unwrap();
        let reply = app.send(request).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{value}");
        assert_eq!(reply.json["code"], "unauthorized");
    }
    let lower = axum::http::Request::builder()
        .uri("/v1/customers")
        .header("authorization", format!("bearer {KEY_A}"))
        .body(axum::body::Body::empty())
        .unwrap();
    assert_eq!(app.send(lower).await.status, StatusCode::OK);
}

/// A's objects, created as A; returns the ids every route needs.
async fn seed_account_a(app: &TestApp) -> Value {
    let customer = app
        .call(
            Method::POST,
            "/v1/customers",
            Some(json!({"external_id": "acme-42"})),
        )
        .await;
    let aggregator = app
        .call(
            Method::POST,
            "/v1/aggregators",
            Some(
                json!({"name": "Calls", "event_type": "api_call", "operation": "count",
                "filters": [{"name": "all", "where": null}]}),
            ),
        )
        .await;
    let product = app
        .call(
            Method::POST,
            "/v1/products",
            Some(
                json!({"name": "Calls", "type": "usage", "aggregator_id": aggregator.json["id"],
                "currency": "EUR", "price_groups": [{"name": "all",
                "price": {"type": "per_unit", "unit_amount": "2"}}]}),
            ),
        )
        .await;
    let subscription = app
        .call(
            Method::POST,
            "/v1/subscriptions",
            Some(
                json!({"customer_id": customer.json["id"], "product_ids": [product.json["id"]],
                "starts_at": "2024-12-01T00:00:00Z", "currency": "EUR",
                "billing_interval": {"period": "months", "count": 1}}),
            ),
        )
        .await;
    let event = app
        .call(Method::POST, "/v1/events", Some(event_body()))
        .await;
    for reply in [&customer, &aggregator, &product, &subscription] {
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    }
    assert_eq!(event.status, StatusCode::ACCEPTED, "{}", event.text);
    json!({"customer": customer.json["id"], "aggregator": aggregator.json["id"],
        "filter": aggregator.json["filters"][0]["id"], "product": product.json["id"],
        "subscription": subscription.json["id"]})
}

fn event_body() -> Value {
    json!({"event_type": "api_call", "record": {"id": "D32NAA8"}, "customer_id": "acme-42",
        "timestamp": "2024-12-20T16:04:11Z"})
}

/// Every route naming one of A's objects, as `METHOD path`, with the body of
/// those that take one.
fn routes_naming(ids: &Value) -> Vec<(String, Option<Value>)> {
    let id = |name: &str| ids[name].as_str().unwrap().to_owned();
    let (cus, agg, agf) = (id("customer"), id("aggregator"), id("filter"));
    let (itm, sub) = (id("product"), id("subscription"));
    let range = "start_date=2024-12-01&end_date=2025-01-01";
    let event = event_body();
    let reads = [
        format!("GET /v1/customers/{cus}"),
        "GET /v1/customers/acme-42".to_owned(),
        format!("DELETE /v1/customers/{cus}"),
        format!("GET /v1/customers/{cus}/usage"),
        format!("GET /v1/customers/{cus}/usage/{agg}?{range}"),
        format!("GET /v1/customers/{cus}/usage/{agg}/events?{range}&aggregator_filter_id={agf}"),
        format!("GET /v1/aggregators/{agg}"),
        format!("DELETE /v1/aggregators/{agg}"),
        format!("GET /v1/aggregators/{agg}/usage/timeseries?{range}"),
        format!("GET /v1/products/{itm}"),
        format!("DELETE /v1/products/{itm}"),
        format!("GET /v1/subscriptions/{sub}"),
        format!("DELETE /v1/subscriptions/{sub}"),
    ];
    let writes = [
        (format!("PUT /v1/customers/{cus}"), json!({"name": "x"})),
        (
            format!("PUT /v1/aggregators/{agg}"),
            json!({"name": "x", "event_type": "e", "operation": "count"}),
        ),
        (
            format!("PUT /v1/products/{itm}"),
            json!({"name": "x", "type": "fee", "currency": "EUR"}),
        ),
        (
            format!("PUT /v1/subscriptions/{sub}"),
            json!({"customer_id": "x"}),
        ),
        (
            format!("POST /v1/events/simulate-prices?product_id={itm}"),
            event.clone(),
        ),
        (
            format!("POST /v1/events/simulate-prices?subscription_id={sub}"),
            event.clone(),
        ),
        (format!("POST /v1/events/prices?product_id={itm}"), event),
    ];
    let reads = reads.into_iter().map(|route| (route, None));
    let writes = writes.into_iter().map(|(route, body)| (route, Some(body)));
    reads.chain(writes).collect()
}

#[tokio::test]
async fn another_account_gets_404_on_every_route() {
    let app = TestApp::new().await;
    let ids = seed_account_a(&app).await;
    let product = format!("/v1/products/{}", ids["product"].as_str().unwrap());
    let first = app.call_as(Some(KEY_B), Method::GET, &product, None).await;
    insta::assert_snapshot!("other_accounts_product", redacted(&first));
    for (route, body) in routes_naming(&ids) {
        let (method, path) = route.split_once(' ').unwrap();
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let reply = app.call_as(Some(KEY_B), method, path, body).await;
        assert_eq!(
            reply.status,
            StatusCode::NOT_FOUND,
            "{route}: {}",
            reply.text
        );
        assert_eq!(reply.json["code"], "not_found", "{route}");
    }
    // A still sees everything.
    let own = app.call(Method::GET, &product, None).await;
    assert_eq!(own.status, StatusCode::OK);
}

#[tokio::test]
async fn another_account_lists_nothing_and_cannot_reach_a_customer() {
    let app = TestApp::new().await;
    let ids = seed_account_a(&app).await;
    for path in [
        "/v1/customers",
        "/v1/aggregators",
        "/v1/products",
        "/v1/subscriptions",
        "/v1/events",
        "/v1/events?customer_id=acme-42",
    ] {
        let reply = app.call_as(Some(KEY_B), Method::GET, path, None).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}");
        assert_eq!(reply.json["meta"]["total"], 0, "{path}");
        assert_eq!(reply.json["data"], json!([]), "{path}");
    }
    let deleted = app
        .call_as(
            Some(KEY_B),
            Method::DELETE,
            "/v1/events",
            Some(json!({"matching": "record_ids", "event_type": "api_call", "record_ids": ["D32NAA8"]})),
        )
        .await;
    assert_eq!(deleted.json["deleted"], 0);
    // B cannot subscribe A's customer to A's product.
    let subscription = app
        .call_as(
            Some(KEY_B),
            Method::POST,
            "/v1/subscriptions",
            Some(
                json!({"customer_id": ids["customer"], "product_ids": [ids["product"]],
                "starts_at": "2024-12-01T00:00:00Z", "currency": "EUR",
                "billing_interval": {"period": "months", "count": 1}}),
            ),
        )
        .await;
    assert!(
        subscription.status.is_client_error(),
        "{}",
        subscription.text
    );
    // A's event is still A's.
    let own = app.call(Method::GET, "/v1/events", None).await;
    assert_eq!(own.json["meta"]["total"], 1);
}
