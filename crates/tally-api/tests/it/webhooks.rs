//! `/v1/webhooks`: endpoints (the secret shown once), their validation, the
//! events invoices and prices emit, messages and retries.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use tally_event::Timestamp;

use crate::invoices::seed_invoice;
use crate::support::{KEY_B, NOW, TestApp};

const ENDPOINTS: &str = "/v1/webhooks/endpoints";
/// A public address: no lookup, and no server is asked anything.
const URL: &str = "https://93.184.215.14/hooks";

async fn create_endpoint(app: &TestApp, types: Value) -> Value {
    let reply = app
        .call(
            Method::POST,
            ENDPOINTS,
            Some(json!({"url": URL, "event_types": types})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    reply.json
}

/// The outbox's events become messages, as the worker's first step does.
async fn dispatch(app: &TestApp) {
    let now = Timestamp::parse(NOW).unwrap();
    app.billing
        .store()
        .dispatch_webhook_events(now, 100)
        .await
        .unwrap();
}

#[tokio::test]
async fn endpoints_show_their_secret_once() {
    let app = TestApp::new().await;
    let created = app
        .call(
            Method::POST,
            ENDPOINTS,
            Some(json!({"description": "billing", "url": URL,
                        "event_types": ["invoice.created", "usage.threshold_crossed"]})),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let id = created.json["id"].as_str().unwrap();
    assert!(id.starts_with("we_"), "{id}");
    assert!(
        created.json["secret"]
            .as_str()
            .unwrap()
            .starts_with("whsec_")
    );
    assert_eq!(created.json["url"], URL);

    let path = format!("{ENDPOINTS}/{id}");
    let read = app.call(Method::GET, &path, None).await;
    assert_eq!(read.status, StatusCode::OK);
    assert!(read.json.get("secret").is_none(), "{}", read.text);
    assert_eq!(
        read.json["event_types"],
        json!(["invoice.created", "usage.threshold_crossed"])
    );
    let listed = app.call(Method::GET, ENDPOINTS, None).await;
    assert_eq!(listed.json["meta"]["total"], 1);
    assert!(listed.json["data"][0].get("secret").is_none());

    let changed = app
        .call(
            Method::PATCH,
            &path,
            Some(json!({"description": null, "event_types": ["invoice.finalized"]})),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.text);
    assert_eq!(changed.json["description"], Value::Null);
    assert_eq!(changed.json["event_types"], json!(["invoice.finalized"]));
    assert_eq!(changed.json["url"], URL);
    assert!(changed.json.get("secret").is_none());

    let elsewhere = app.call_as(Some(KEY_B), Method::GET, &path, None).await;
    assert_eq!(elsewhere.status, StatusCode::NOT_FOUND);
    let deleted = app.call(Method::DELETE, &path, None).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_eq!(
        app.call(Method::GET, &path, None).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn bad_endpoints_list_every_problem() {
    let app = TestApp::new().await;
    let reply = app
        .call(
            Method::POST,
            ENDPOINTS,
            Some(
                json!({"url": "http://127.0.0.1:8080/hooks", "secret": "not-a-secret",
                        "event_types": ["invoice.created", "invoice.paid", "invoice.created"]}),
            ),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text);
    assert_eq!(reply.json["code"], "invalid_request");
    let problems: Vec<(String, String)> = reply.json["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["path"].as_str().unwrap().into(),
                e["code"].as_str().unwrap().into(),
            )
        })
        .collect();
    let expected = [
        ("/url", "private_address"),
        ("/secret", "invalid_secret"),
        ("/event_types/1", "unknown_event_type"),
        ("/event_types/2", "duplicate"),
    ];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(p, c)| ((*p).into(), (*c).into()))
        .collect();
    assert_eq!(problems, expected);

    for (body, path, code) in [
        (
            json!({"url": "ftp://example.com/", "event_types": ["invoice.created"]}),
            "/url",
            "invalid_url",
        ),
        (
            json!({"url": "http://[::1]:9/", "event_types": ["invoice.created"]}),
            "/url",
            "private_address",
        ),
        (
            json!({"url": URL, "event_types": []}),
            "/event_types",
            "empty",
        ),
        (
            json!({"url": URL, "event_types": ["invoice.created"], "urll": 1}),
            "/urll",
            "unknown_field",
        ),
    ] {
        let reply = app.call(Method::POST, ENDPOINTS, Some(body)).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text);
        assert_eq!(reply.json["errors"][0]["path"], path, "{}", reply.text);
        assert_eq!(reply.json["errors"][0]["code"], code, "{}", reply.text);
    }
}

#[tokio::test]
async fn invoices_and_prices_emit_events_that_become_messages() {
    let app = TestApp::new().await;
    let endpoint = create_endpoint(
        &app,
        json!([
            "invoice.created",
            "invoice.finalized",
            "event.price_calculated"
        ]),
    )
    .await;
    let (_, invoice) = seed_invoice(&app).await;
    let finalized = app
        .call(
            Method::POST,
            &format!("/v1/invoices/{invoice}/finalize"),
            None,
        )
        .await;
    assert_eq!(finalized.status, StatusCode::OK, "{}", finalized.text);
    let priced = app
        .call(
            Method::POST,
            "/v1/events/prices",
            Some(json!({"customer_id": "acme-42", "event_type": "api_call",
                        "timestamp": "2024-12-03T00:00:00Z", "record": {"id": "c2"}})),
        )
        .await;
    assert_eq!(priced.status, StatusCode::ACCEPTED, "{}", priced.text);
    dispatch(&app).await;

    let listed = app.call(Method::GET, "/v1/webhooks/messages", None).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.text);
    assert_eq!(listed.json["meta"]["total"], 3, "{}", listed.text);
    let by_type = |event_type: &str| -> Value {
        listed.json["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["payload"]["event_type"] == event_type)
            .unwrap_or_else(|| panic!("no {event_type}: {}", listed.text))
            .clone()
    };
    let created = by_type("invoice.created");
    assert_eq!(created["endpoint_id"], endpoint["id"]);
    assert_eq!(created["status"], "pending");
    assert!(created["id"].as_str().unwrap().starts_with("msg_"));
    assert!(created["event_id"].as_str().unwrap().starts_with("evt_"));
    assert_eq!(created["attempts"], json!([]));
    let data = &created["payload"]["data"];
    assert_eq!(
        (&data["id"], &data["number"], &data["status"]),
        (&json!(invoice), &json!("INV-1"), &json!("draft"))
    );
    assert_eq!(data["amount_excluding_tax"], 2);
    let data = &by_type("invoice.finalized")["payload"]["data"];
    assert_eq!(
        (&data["status"], &data["number"]),
        (&json!("finalized"), &json!("INV-1"))
    );
    assert!(data["finalized_at"].is_string());
    let data = &by_type("event.price_calculated")["payload"]["data"];
    assert_eq!(data["calculation_id"], priced.json["id"]);
    assert_eq!(data["event"]["id"], priced.json["event"]["id"]);
    assert_eq!(data["event"]["record_id"], "c2");
    assert_eq!(data["result"][0]["amount_excluding_tax"], 2);

    let pending = app
        .call(
            Method::GET,
            "/v1/webhooks/messages?status=pending&take=1",
            None,
        )
        .await;
    assert_eq!(
        pending.json["meta"],
        json!({"total": 3, "taken": 1, "skipped": 0})
    );
    let none = app
        .call(Method::GET, "/v1/webhooks/messages?status=succeeded", None)
        .await;
    assert_eq!(none.json["meta"]["total"], 0);
    let other = app
        .call_as(Some(KEY_B), Method::GET, "/v1/webhooks/messages", None)
        .await;
    assert_eq!(other.json["meta"]["total"], 0);
    let bad = app
        .call(Method::GET, "/v1/webhooks/messages?status=lost", None)
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.json["errors"][0]["path"], "/status");

    let retry = format!(
        "/v1/webhooks/messages/{}/retry",
        created["id"].as_str().unwrap()
    );
    let retried = app.call(Method::POST, &retry, None).await;
    assert_eq!(retried.status, StatusCode::OK, "{}", retried.text);
    assert_eq!(retried.json["status"], "pending");
    assert_eq!(retried.json["next_attempt_at"], "2024-12-21T00:00:00.000Z");
    let missing = app
        .call(
            Method::POST,
            "/v1/webhooks/messages/msg_nothing/retry",
            None,
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let elsewhere = app.call_as(Some(KEY_B), Method::POST, &retry, None).await;
    assert_eq!(elsewhere.status, StatusCode::NOT_FOUND);
}
