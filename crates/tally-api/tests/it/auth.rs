//! Authentication and tenancy: no key or a wrong key is a 401; account B sees
//! none of account A's objects, through every route (404, or an empty list).
//! Too many failed keys from one address are a 429.

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderName, Method, Request, StatusCode, header};
use serde_json::{Value, json};
use tally_api::{ApiConfig, AuthFailureLimit};

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

fn from_address(key: Option<&str>, peer: Option<&str>, forwarded: Option<&str>) -> Request<Body> {
    let mut request = crate::support::request(Method::GET, "/v1/customers", key, None);
    if let Some(peer) = peer {
        let address: SocketAddr = peer.parse().unwrap();
        request.extensions_mut().insert(ConnectInfo(address));
    }
    if let Some(forwarded) = forwarded {
        let value = forwarded.parse().unwrap();
        request.headers_mut().insert("x-forwarded-for", value);
    }
    request
}

fn failure_limit(max_failures: u32, client_ip_header: Option<&'static str>) -> ApiConfig {
    ApiConfig {
        auth_failure_limit: AuthFailureLimit {
            max_failures,
            window: Duration::from_secs(60),
        },
        client_ip_header: client_ip_header.map(HeaderName::from_static),
        ..ApiConfig::default()
    }
}

#[tokio::test]
async fn an_address_with_too_many_failed_keys_is_refused_before_its_key_is_read() {
    let app = TestApp::with_config(failure_limit(3, None)).await;
    let attacker = Some("192.0.2.1:50000");
    for key in [Some("tally_sk_nope"), None, Some("tally_sk_guess")] {
        let failed = app.send(from_address(key, attacker, None)).await;
        assert_eq!(failed.status, StatusCode::UNAUTHORIZED);
    }
    // Even the right key: the address is refused before any key lookup.
    let limited = app.send(from_address(Some(KEY_A), attacker, None)).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.json["code"], "rate_limited");
    assert_eq!(limited.headers[header::RETRY_AFTER], "20");
    // Another address, and successes, are not counted against anyone.
    for _ in 0..5 {
        let other = app
            .send(from_address(Some(KEY_A), Some("192.0.2.2:1"), None))
            .await;
        assert_eq!(other.status, StatusCode::OK);
    }
    // Without a peer address (a router driven in process), no per-address limit.
    for _ in 0..5 {
        let unknown = app
            .send(from_address(Some("tally_sk_nope"), None, None))
            .await;
        assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    }
    // Routes outside /v1 are not limited.
    let health = app
        .send(Request::get("/healthz").body(Body::empty()).unwrap())
        .await;
    assert_eq!(health.status, StatusCode::OK);
}

#[tokio::test]
async fn a_trusted_header_names_the_client_behind_a_proxy() {
    let app = TestApp::with_config(failure_limit(1, Some("x-forwarded-for"))).await;
    let proxy = Some("10.0.0.1:8000");
    let failed = app
        .send(from_address(None, proxy, Some("198.51.100.7, 203.0.113.9")))
        .await;
    assert_eq!(failed.status, StatusCode::UNAUTHORIZED);
    // The same proxy, another client: served.
    let other = app
        .send(from_address(Some(KEY_A), proxy, Some("203.0.113.10")))
        .await;
    assert_eq!(other.status, StatusCode::OK);
    let limited = app
        .send(from_address(Some(KEY_A), proxy, Some("203.0.113.9")))
        .await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    // A limit of 0 is none.
    let open = TestApp::with_config(failure_limit(0, None)).await;
    for _ in 0..3 {
        let failed = open.send(from_address(None, proxy, None)).await;
        assert_eq!(failed.status, StatusCode::UNAUTHORIZED);
    }
}
