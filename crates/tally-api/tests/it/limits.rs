//! Body limits (413), rate limits (429 and the `X-RateLimit-*` headers) and
//! request ids.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::json;
use tally_api::{ApiConfig, RateLimitConfig};

use crate::support::{KEY_A, KEY_B, TestApp, redacted, request};

#[tokio::test]
async fn a_body_over_the_limit_is_a_413() {
    let app = TestApp::with_config(ApiConfig {
        body_limit_bytes: 64,
        batch_body_limit_bytes: 128,
        ..ApiConfig::default()
    })
    .await;
    let name = "x".repeat(100);
    let reply = app
        .call(Method::POST, "/v1/customers", Some(json!({"name": name})))
        .await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
    insta::assert_snapshot!("body_too_large", redacted(&reply));
    // The batch route has its own, larger limit.
    let batch = json!([{"event_type": "e", "record": {"id": 1}, "customer_id": "c", "timestamp": 1734714000000_i64}]);
    assert!(batch.to_string().len() > 64 && batch.to_string().len() <= 128);
    let accepted = app
        .call(Method::POST, "/v1/events/batch", Some(batch))
        .await;
    assert_eq!(accepted.status, StatusCode::ACCEPTED, "{}", accepted.text);
    let events: Vec<_> = (0..3)
        .map(|i| json!({"event_type": "e", "record": {"id": i}, "customer_id": "c", "timestamp": 1734714000000_i64}))
        .collect();
    let refused = app
        .call(Method::POST, "/v1/events/batch", Some(json!(events)))
        .await;
    assert_eq!(refused.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(refused.json["code"], "payload_too_large");
    // The optional body of an invoice creation is read under the same limit, with
    // the same error body (the subscription need not exist: the body is read first).
    let invoice = app
        .call(
            Method::POST,
            "/v1/subscriptions/sub_none/invoices",
            Some(json!({"at": name})),
        )
        .await;
    assert_eq!(invoice.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(invoice.json["code"], "payload_too_large");
}

#[tokio::test]
async fn each_key_has_its_own_token_bucket() {
    let app = TestApp::with_config(ApiConfig {
        rate_limit: RateLimitConfig {
            per_second: 1,
            burst: 2,
        },
        ..ApiConfig::default()
    })
    .await;
    let first = app.call(Method::GET, "/v1/customers", None).await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(first.headers["x-ratelimit-limit"], "2");
    assert_eq!(first.headers["x-ratelimit-remaining"], "1");
    assert!(first.headers.contains_key("x-ratelimit-reset"));
    let second = app.call(Method::GET, "/v1/customers", None).await;
    assert_eq!(second.headers["x-ratelimit-remaining"], "0");
    let limited = app.call(Method::GET, "/v1/customers", None).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(limited.headers.contains_key(header::RETRY_AFTER));
    assert_eq!(limited.headers["x-ratelimit-remaining"], "0");
    insta::assert_snapshot!("rate_limited", redacted(&limited));
    let other = app
        .call_as(Some(KEY_B), Method::GET, "/v1/customers", None)
        .await;
    assert_eq!(other.status, StatusCode::OK);
    // Routes outside /v1 are not limited.
    let health = app.call(Method::GET, "/healthz", None).await;
    assert_eq!(health.status, StatusCode::OK);
    assert!(!health.headers.contains_key("x-ratelimit-limit"));
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let app = TestApp::new().await;
    let given = Request::builder()
        .uri("/v1/customers")
        .header(header::AUTHORIZATION, format!("Bearer {KEY_A}"))
        .header("x-request-id", "my-trace-123")
        .body(Body::empty())
        .unwrap();
    assert_eq!(
        app.send(given).await.headers["x-request-id"],
        "my-trace-123"
    );
    let requests = [
        request(Method::GET, "/healthz", None, None),
        request(Method::GET, "/v1/customers", Some(KEY_A), None),
        request(Method::GET, "/v1/customers", None, None),
        request(Method::GET, "/nowhere", None, None),
        request(Method::GET, "/v1/customers/nobody", Some(KEY_A), None),
        request(
            Method::POST,
            "/v1/customers",
            Some(KEY_A),
            Some(json!({"name": 1})),
        ),
    ];
    for request in requests {
        let path = request.uri().to_string();
        let reply = app.send(request).await;
        let id = reply
            .headers
            .get("x-request-id")
            .map(|v| v.to_str().unwrap().to_owned());
        let id = id.unwrap_or_else(|| panic!("no request id on {path}"));
        assert!(id.starts_with("req_") && id.len() == 26, "{path}: {id}");
    }
}

// A full ingestion queue answers 503 with `Retry-After` at once. The test
// runtime has one thread: the ingest polled below has taken the queue's only
// place and waits for the writer task, which cannot run before this task
// yields, and the request after it never yields before it is refused.
#[tokio::test]
async fn a_full_ingestion_queue_is_a_503_with_retry_after() {
    let queue = tally_billing::IngestQueueConfig {
        max_queued_events: 1,
        max_events_per_commit: 10,
    };
    let app = TestApp::with_queue(ApiConfig::default(), queue).await;
    let event = |id: &str| {
        json!({"event_type": "e", "record": {"id": id}, "customer_id": "c",
            "timestamp": "2024-12-20T00:00:00Z"})
    };
    let first = event("first");
    let mut pending = Box::pin(app.billing.ingest_event(&app.account_a, &first));
    assert!(
        futures::poll!(pending.as_mut()).is_pending(),
        "the first ingest waits for its commit"
    );
    assert_eq!(app.billing.ingest_queue_len(), 1);
    let refused = app
        .call(Method::POST, "/v1/events", Some(event("second")))
        .await;
    assert_eq!(refused.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(refused.headers[header::RETRY_AFTER], "1");
    insta::assert_snapshot!("ingestion_queue_full", redacted(&refused));
    let batch = app
        .call(
            Method::POST,
            "/v1/events/batch",
            Some(json!([event("third")])),
        )
        .await;
    assert_eq!(batch.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(batch.json["code"], "overloaded");

    pending.await.unwrap();
    let accepted = app
        .call(Method::POST, "/v1/events", Some(event("second")))
        .await;
    assert_eq!(accepted.status, StatusCode::ACCEPTED, "{}", accepted.text);
    let listed = app.call(Method::GET, "/v1/events", None).await;
    let ids: Vec<&str> = listed.json["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["record"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 2, "{ids:?}");
    assert!(!ids.contains(&"third"), "a refused event is not stored");
}

// `[1,1,1,…]`: millions of items, each a value of its own if the array were
// built before it is counted. The parse stops at the item after the limit.
#[tokio::test]
async fn a_batch_of_millions_of_items_is_refused_without_reading_them_all() {
    let mut body = String::from("[");
    body.push_str(&"1,".repeat(4_000_000));
    body.push_str("1]");
    let refused = app_send_raw(&TestApp::new().await, body).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.text);
    assert_eq!(refused.json["code"], "invalid_request");
    assert_eq!(refused.json["errors"][0]["code"], "batch_too_large");
    assert_eq!(refused.json["errors"][0]["path"], "");
}

// Over a mebibyte the body is parsed on the blocking pool; the answer is the
// same as for a small one.
#[tokio::test]
async fn a_large_batch_body_is_parsed_like_a_small_one() {
    let event = json!({"event_type": "e", "record": {"id": 1}, "customer_id": "c",
        "timestamp": 1734714000000_i64});
    let padding = " ".repeat(tally_api::batch::OFF_THREAD_BYTES);
    let app = TestApp::new().await;
    let accepted = app_send_raw(&app, format!("[{padding}{event}]")).await;
    assert_eq!(accepted.status, StatusCode::ACCEPTED, "{}", accepted.text);
    assert_eq!(accepted.json["events_created"][0]["index"], 0);
    let empty = app_send_raw(&app, format!("[{padding}]")).await;
    assert_eq!(empty.json["errors"][0]["code"], "batch_empty");
    let malformed = app_send_raw(&app, format!("[{padding}{event},")).await;
    assert_eq!(malformed.json["code"], "malformed_json");
}

async fn app_send_raw(app: &TestApp, body: String) -> crate::support::Reply {
    let request = Request::post("/v1/events/batch")
        .header(header::AUTHORIZATION, format!("Bearer {KEY_A}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body))
        .unwrap();
    app.send(request).await
}
