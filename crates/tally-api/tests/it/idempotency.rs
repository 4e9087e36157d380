//! `Idempotency-Key` on `POST`s: one execution per key, byte-identical
//! replays, a reused key (422), a key in flight (409), 5xx not stored, keys
//! scoped by account, expiry after 24 hours.

use axum::body::Body;
use axum::http::{HeaderValue, Method, Request, StatusCode, header};
use serde_json::{Value, json};
use tally_api::idempotency::request_hash;
use tally_event::Timestamp;
use tally_store::{
    Claim, ClaimToken, IDEMPOTENCY_TTL_MS, IN_FLIGHT_TIMEOUT_MS, IdempotencyKey, NewClaim,
};

use crate::support::{KEY_A, KEY_B, NOW, Reply, TestApp, request};

const REPLAYED: &str = "idempotent-replayed";

/// A JSON `POST` with an API key and an idempotency key.
fn keyed(api_key: &str, path: &str, idempotency_key: &str, body: &Value) -> Request<Body> {
    let mut request = request(Method::POST, path, Some(api_key), Some(body.clone()));
    let value = HeaderValue::from_str(idempotency_key).unwrap();
    request.headers_mut().insert("idempotency-key", value);
    request
}

fn replayed(reply: &Reply) -> bool {
    reply.headers.get(REPLAYED).map(|v| v.as_bytes()) == Some(b"true")
}

/// `NOW` plus `ms`.
fn later(ms: i64) -> Timestamp {
    let now = Timestamp::parse(NOW).unwrap();
    Timestamp::from_millis(now.as_millis() + ms).unwrap()
}

/// A customer and a fee product of account A, to subscribe to.
async fn customer_and_product(app: &TestApp) -> (Value, Value) {
    let customer = app
        .call(
            Method::POST,
            "/v1/customers",
            Some(json!({"external_id": "acme"})),
        )
        .await;
    let product = app
        .call(
            Method::POST,
            "/v1/products",
            Some(
                json!({"name": "Platform fee", "type": "fee", "currency": "EUR",
                "price_groups": [{"name": "base", "price": {"type": "flat", "amount": "2900"}}]}),
            ),
        )
        .await;
    assert_eq!(customer.status, StatusCode::CREATED, "{}", customer.text);
    assert_eq!(product.status, StatusCode::CREATED, "{}", product.text);
    (customer.json["id"].clone(), product.json["id"].clone())
}

#[tokio::test]
async fn a_subscription_sent_twice_with_one_key_is_created_once() {
    let app = TestApp::new().await;
    let (customer, product) = customer_and_product(&app).await;
    let body = json!({"customer_id": customer, "product_ids": [product],
        "starts_at": "2024-12-01T00:00:00Z", "currency": "EUR",
        "billing_interval": {"period": "months", "count": 1}});
    let first = app
        .send(keyed(KEY_A, "/v1/subscriptions", "sub-1", &body))
        .await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.text);
    assert!(!first.headers.contains_key(REPLAYED));

    let second = app
        .send(keyed(KEY_A, "/v1/subscriptions", "sub-1", &body))
        .await;
    assert_eq!(second.status, StatusCode::CREATED);
    assert_eq!(second.bytes, first.bytes, "byte-identical");
    assert_eq!(
        second.headers[header::CONTENT_TYPE],
        first.headers[header::CONTENT_TYPE]
    );
    assert!(replayed(&second));
    assert!(second.headers.contains_key("x-ratelimit-remaining"));

    let listed = app.call(Method::GET, "/v1/subscriptions", None).await;
    assert_eq!(listed.json["meta"]["total"], 1, "{}", listed.text);
    // Without a key, the same request runs again.
    let unkeyed = app
        .call(Method::POST, "/v1/subscriptions", Some(body))
        .await;
    assert_eq!(unkeyed.status, StatusCode::CREATED);
    assert_ne!(unkeyed.json["id"], first.json["id"]);
}

#[tokio::test]
async fn a_key_used_for_another_request_is_a_422() {
    let app = TestApp::new().await;
    let body = json!({"external_id": "acme"});
    let first = app.send(keyed(KEY_A, "/v1/customers", "k", &body)).await;
    assert_eq!(first.status, StatusCode::CREATED);
    let other_body = json!({"external_id": "globex"});
    let other_path = json!({"name": "Calls", "event_type": "api_call", "operation": "count"});
    for reused in [
        keyed(KEY_A, "/v1/customers", "k", &other_body),
        keyed(KEY_A, "/v1/customers?x=1", "k", &body),
        keyed(KEY_A, "/v1/aggregators", "k", &other_path),
    ] {
        let reply = app.send(reused).await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            reply.text
        );
        assert_eq!(reply.json["code"], "idempotency_key_reused");
        assert_eq!(reply.json["errors"], json!([]));
    }
    let listed = app.call(Method::GET, "/v1/customers", None).await;
    assert_eq!(listed.json["meta"]["total"], 1);
}

#[tokio::test]
async fn a_key_whose_first_request_still_runs_is_a_409_until_abandoned() {
    let app = TestApp::new().await;
    let body = json!({"external_id": "acme"});
    let bytes = body.to_string();
    let uri = "/v1/customers".parse().unwrap();
    // Another server claimed the key for this very request, and has not answered.
    let claim = NewClaim {
        key: IdempotencyKey::parse("slow").unwrap(),
        request: request_hash(&Method::POST, &uri, bytes.as_bytes()),
        token: ClaimToken::random(),
        now: later(0),
    };
    let store = app.billing.store();
    let claimed = store.claim_idempotency_key(&app.account_a, &claim).await;
    assert_eq!(claimed.unwrap(), Claim::Claimed);

    let reply = app.send(keyed(KEY_A, "/v1/customers", "slow", &body)).await;
    assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.text);
    assert_eq!(reply.json["code"], "idempotency_key_in_flight");

    // The other server died: after the timeout, the claim is taken over.
    app.clock.set(later(IN_FLIGHT_TIMEOUT_MS));
    let reply = app.send(keyed(KEY_A, "/v1/customers", "slow", &body)).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    assert!(!replayed(&reply));
}

// The ingestion queue is made full as in `limits`: the refused request is a
// 503, which is not stored, so the retry runs.
#[tokio::test]
async fn a_5xx_is_not_stored_and_the_retry_runs() {
    let queue = tally_billing::IngestQueueConfig {
        max_queued_events: 1,
        max_events_per_commit: 10,
    };
    let app = TestApp::with_queue(tally_api::ApiConfig::default(), queue).await;
    let event = |id: &str| {
        json!({"event_type": "e", "record": {"id": id}, "customer_id": "c",
            "timestamp": "2024-12-20T00:00:00Z"})
    };
    let first = event("first");
    let mut pending = Box::pin(app.billing.ingest_event(&app.account_a, &first));
    assert!(futures::poll!(pending.as_mut()).is_pending());
    let body = event("second");
    let refused = app.send(keyed(KEY_A, "/v1/events", "evt-2", &body)).await;
    assert_eq!(refused.status, StatusCode::SERVICE_UNAVAILABLE);

    pending.await.unwrap();
    let retried = app.send(keyed(KEY_A, "/v1/events", "evt-2", &body)).await;
    assert_eq!(retried.status, StatusCode::ACCEPTED, "{}", retried.text);
    assert!(!replayed(&retried), "the 503 was not stored");
    let again = app.send(keyed(KEY_A, "/v1/events", "evt-2", &body)).await;
    assert_eq!(again.status, StatusCode::ACCEPTED);
    assert!(replayed(&again));
    assert_eq!(again.bytes, retried.bytes);
}

#[tokio::test]
async fn a_4xx_is_stored_and_replayed() {
    let app = TestApp::new().await;
    let body = json!({"customer_id": "nobody", "product_ids": [], "currency": "EUR"});
    let first = app
        .send(keyed(KEY_A, "/v1/subscriptions", "bad", &body))
        .await;
    assert!(first.status.is_client_error(), "{}", first.text);
    let second = app
        .send(keyed(KEY_A, "/v1/subscriptions", "bad", &body))
        .await;
    assert_eq!(second.status, first.status);
    assert_eq!(second.bytes, first.bytes);
    assert!(replayed(&second));
}

#[tokio::test]
async fn keys_are_scoped_by_account() {
    let app = TestApp::new().await;
    let body = json!({"external_id": "acme"});
    let a = app
        .send(keyed(KEY_A, "/v1/customers", "shared", &body))
        .await;
    let b = app
        .send(keyed(KEY_B, "/v1/customers", "shared", &body))
        .await;
    assert_eq!(
        (a.status, b.status),
        (StatusCode::CREATED, StatusCode::CREATED)
    );
    assert!(!replayed(&b), "B's request ran");
    assert_ne!(a.json["id"], b.json["id"]);
    let a_again = app
        .send(keyed(KEY_A, "/v1/customers", "shared", &body))
        .await;
    assert!(replayed(&a_again));
    assert_eq!(a_again.json["id"], a.json["id"]);
}

#[tokio::test]
async fn a_key_expires_24_hours_after_its_first_request() {
    let app = TestApp::new().await;
    let body = json!({"external_id": "acme"});
    let first = app.send(keyed(KEY_A, "/v1/customers", "day", &body)).await;
    assert_eq!(first.status, StatusCode::CREATED);

    app.clock.set(later(IDEMPOTENCY_TTL_MS - 1));
    let replay = app.send(keyed(KEY_A, "/v1/customers", "day", &body)).await;
    assert!(replayed(&replay));
    assert_eq!(replay.bytes, first.bytes);

    app.clock.set(later(IDEMPOTENCY_TTL_MS));
    let again = app.send(keyed(KEY_A, "/v1/customers", "day", &body)).await;
    assert!(!replayed(&again), "the key expired: the request runs again");
    assert_eq!(
        again.status,
        StatusCode::CONFLICT,
        "the external id is taken"
    );
    assert_eq!(again.json["code"], "conflict");
}

#[tokio::test]
async fn expired_keys_are_deleted_by_a_later_request() {
    let app = TestApp::new().await;
    let body = json!({"external_id": "acme"});
    app.send(keyed(KEY_A, "/v1/customers", "old", &body)).await;
    app.clock.set(later(IDEMPOTENCY_TTL_MS + 1));
    let other = json!({"external_id": "globex"});
    let reply = app.send(keyed(KEY_A, "/v1/customers", "new", &other)).await;
    assert_eq!(reply.status, StatusCode::CREATED);
    // The deletion runs in the background; the test runtime has one thread.
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let left = app
        .billing
        .store()
        .delete_expired_idempotency_keys(later(1))
        .await
        .unwrap();
    assert_eq!(left, 0, "the old key was deleted already");
}

#[tokio::test]
async fn an_invalid_key_is_a_400_naming_the_header() {
    let app = TestApp::new().await;
    let body = json!({"external_id": "acme"});
    let too_long = "k".repeat(256);
    let values = [
        HeaderValue::from_static(""),
        HeaderValue::from_str(&too_long).unwrap(),
        HeaderValue::from_bytes(b"caf\xe9").unwrap(),
        HeaderValue::from_static("tab\there"),
    ];
    for value in values {
        let mut request = request(
            Method::POST,
            "/v1/customers",
            Some(KEY_A),
            Some(body.clone()),
        );
        request.headers_mut().insert("idempotency-key", value);
        let reply = app.send(request).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text);
        assert_eq!(reply.json["code"], "invalid_request");
        assert_eq!(reply.json["errors"][0]["path"], "Idempotency-Key");
        assert_eq!(reply.json["errors"][0]["code"], "invalid_idempotency_key");
    }
    let listed = app.call(Method::GET, "/v1/customers", None).await;
    assert_eq!(listed.json["meta"]["total"], 0);
}

#[tokio::test]
async fn a_key_is_ignored_on_other_methods_and_checked_after_authentication() {
    let app = TestApp::new().await;
    let mut get = request(Method::GET, "/v1/customers", Some(KEY_A), None);
    get.headers_mut()
        .insert("idempotency-key", HeaderValue::from_static(""));
    assert_eq!(app.send(get).await.status, StatusCode::OK);
    let unauthenticated = keyed("tally_sk_nope", "/v1/customers", "k", &json!({}));
    let reply = app.send(unauthenticated).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_openapi_document_declares_the_header_on_every_v1_post() {
    let app = TestApp::new().await;
    let reply = app.call_as(None, Method::GET, "/openapi.json", None).await;
    let declares = |operation: &Value| {
        operation["parameters"]
            .as_array()
            .is_some_and(|parameters| {
                parameters
                    .iter()
                    .any(|p| p["name"] == "Idempotency-Key" && p["in"] == "header")
            })
    };
    let mut posts = 0;
    for (path, item) in reply.json["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let expected = method == "post" && path.starts_with("/v1/");
            assert_eq!(declares(operation), expected, "{method} {path}");
            posts += usize::from(expected);
        }
    }
    assert!(posts >= 10, "{posts} posts");
}

#[tokio::test]
async fn a_keyed_body_over_the_limits_is_a_413() {
    let app = TestApp::with_config(tally_api::ApiConfig {
        body_limit_bytes: 64,
        batch_body_limit_bytes: 128,
        ..tally_api::ApiConfig::default()
    })
    .await;
    // Over the route's limit (read by the handler) and over every route's
    // (read by the key's middleware): the same 413.
    for length in [100, 200] {
        let body = json!({"name": "x".repeat(length)});
        let reply = app.send(keyed(KEY_A, "/v1/customers", "big", &body)).await;
        assert_eq!(
            reply.status,
            StatusCode::PAYLOAD_TOO_LARGE,
            "{}",
            reply.text
        );
        assert_eq!(reply.json["code"], "payload_too_large");
    }
}
