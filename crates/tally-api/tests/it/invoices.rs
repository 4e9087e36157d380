//! Invoices and consumption belong to one account: another account's key
//! gets the same 404 as for an id that does not exist.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{KEY_B, TestApp};

/// Account A: a customer, a per-unit product, a subscription, one event and
/// its draft invoice; returns (subscription id, invoice id).
pub(crate) async fn seed_invoice(app: &TestApp) -> (String, String) {
    let post = |path: &'static str, body: Value| app.call(Method::POST, path, Some(body));
    let customer = post("/v1/customers", json!({"external_id": "acme-42"})).await;
    let aggregator = post(
        "/v1/aggregators",
        json!({"name": "Calls", "event_type": "api_call", "operation": "count"}),
    )
    .await;
    let product = post(
        "/v1/products",
        json!({"name": "Calls", "type": "usage", "aggregator_id": aggregator.json["id"],
               "currency": "EUR", "price_groups": [{"name": "all",
               "price": {"type": "per_unit", "unit_amount": "2"}}]}),
    )
    .await;
    let subscription = post(
        "/v1/subscriptions",
        json!({"customer_id": customer.json["id"], "product_ids": [product.json["id"]],
               "starts_at": "2024-12-01T00:00:00Z", "currency": "EUR",
               "billing_interval": {"period": "months", "count": 1}}),
    )
    .await;
    let subscription = subscription.json["id"].as_str().unwrap().to_owned();
    post(
        "/v1/events",
        json!({"customer_id": "acme-42", "event_type": "api_call",
               "timestamp": "2024-12-02T00:00:00Z", "record": {"id": "c1"}}),
    )
    .await;
    let path = format!("/v1/subscriptions/{subscription}/invoices");
    let invoice = app.call(Method::POST, &path, None).await;
    assert_eq!(invoice.status, StatusCode::CREATED, "{}", invoice.text);
    assert_eq!(invoice.json["amount_excluding_tax"], 2);
    (
        subscription,
        invoice.json["id"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn another_account_gets_404_on_invoices_and_consumption() {
    let app = TestApp::new().await;
    let (subscription, invoice) = seed_invoice(&app).await;
    let routes = [
        (
            Method::POST,
            format!("/v1/subscriptions/{subscription}/invoices"),
        ),
        (
            Method::GET,
            format!("/v1/subscriptions/{subscription}/consumption"),
        ),
        (Method::GET, format!("/v1/invoices/{invoice}")),
        (Method::GET, format!("/v1/invoices/{invoice}/consumption")),
        (Method::POST, format!("/v1/invoices/{invoice}/finalize")),
    ];
    for (method, path) in routes {
        let reply = app.call_as(Some(KEY_B), method.clone(), &path, None).await;
        assert_eq!(
            reply.status,
            StatusCode::NOT_FOUND,
            "{method} {path}: {}",
            reply.text
        );
        assert_eq!(reply.json["code"], "not_found", "{method} {path}");
    }
    let listed = app
        .call_as(Some(KEY_B), Method::GET, "/v1/invoices", None)
        .await;
    assert_eq!(listed.json["meta"]["total"], 0);
    // A's invoice is untouched: still a draft.
    let own = app
        .call(Method::GET, &format!("/v1/invoices/{invoice}"), None)
        .await;
    assert_eq!(own.json["status"], "draft");
}

/// Hyperline's invoice shape: `line_items` with `ili_` ids that stay the same
/// when a draft is recomputed, the period's bounds and the totals at the top.
#[tokio::test]
async fn invoices_have_hyperlines_shape_and_stable_line_item_ids() {
    let app = TestApp::new().await;
    let (_, invoice) = seed_invoice(&app).await;
    let first = app
        .call(Method::GET, &format!("/v1/invoices/{invoice}"), None)
        .await;
    let items = first.json["line_items"].as_array().unwrap();
    let id = items[0]["id"].as_str().unwrap();
    assert!(id.starts_with("ili_") && id.len() == 26, "{id}");
    assert_eq!(first.json["period_starts_at"], "2024-12-01T00:00:00.000Z");
    assert_eq!(first.json["period_ends_at"], "2025-01-01T00:00:00.000Z");
    assert_eq!(
        first.json["total_amount"].as_i64().unwrap(),
        first.json["amount_excluding_tax"].as_i64().unwrap()
            + first.json["tax_amount"].as_i64().unwrap()
    );
    for gone in ["lines", "totals", "period_start", "period_end"] {
        assert!(first.json.get(gone).is_none(), "{gone} is not in the shape");
    }
    // Another event: the draft is recomputed, its line keeps its id.
    app.call(
        Method::POST,
        "/v1/events",
        Some(json!({"customer_id": "acme-42", "event_type": "api_call",
               "timestamp": "2024-12-03T00:00:00Z", "record": {"id": "c2"}})),
    )
    .await;
    let again = app
        .call(Method::GET, &format!("/v1/invoices/{invoice}"), None)
        .await;
    assert_eq!(again.json["amount_excluding_tax"], 4);
    assert_eq!(again.json["line_items"][0]["id"], id);
    let finalized = app
        .call(
            Method::POST,
            &format!("/v1/invoices/{invoice}/finalize"),
            None,
        )
        .await;
    assert_eq!(finalized.json["line_items"][0]["id"], id);
}

/// `POST /v1/invoices/batch`: each subscription's draft or the error its
/// own create would give, in the order sent; another account's subscription
/// is not found; a bad body is refused whole.
#[tokio::test]
async fn a_batch_answers_each_subscription_in_order() {
    let app = TestApp::new().await;
    let (subscription, invoice) = seed_invoice(&app).await;
    let body = json!({"subscription_ids": [subscription, "sub_0000000000000000000000"],
                      "at": "2025-01-15T00:00:00Z"});
    let batch = app
        .call(Method::POST, "/v1/invoices/batch", Some(body))
        .await;
    assert_eq!(batch.status, StatusCode::OK, "{}", batch.text);
    let data = batch.json["data"].as_array().unwrap();
    assert_eq!(data.len(), 2);
    assert_eq!(data[0]["subscription_id"], subscription.as_str());
    assert_eq!(data[0]["status"], 201);
    assert_eq!(data[0]["invoice"]["number"], "INV-2");
    assert_eq!(
        data[0]["invoice"]["period_starts_at"],
        "2025-01-01T00:00:00.000Z"
    );
    assert_eq!(data[0]["invoice"]["amount_excluding_tax"], 0);
    assert!(data[0].get("error").is_none(), "{}", batch.text);
    assert_eq!(data[1]["status"], 404);
    assert_eq!(data[1]["error"]["code"], "not_found");
    assert!(data[1].get("invoice").is_none(), "{}", batch.text);
    let created = data[0]["invoice"]["id"].as_str().unwrap();
    let read = app
        .call(Method::GET, &format!("/v1/invoices/{created}"), None)
        .await;
    assert_eq!(read.json["number"], "INV-2");

    // December is already invoiced: a 409 naming the invoice.
    let again = json!({"subscription_ids": [subscription], "at": "2024-12-20T00:00:00Z"});
    let batch = app
        .call(Method::POST, "/v1/invoices/batch", Some(again.clone()))
        .await;
    assert_eq!(batch.json["data"][0]["status"], 409, "{}", batch.text);
    let message = batch.json["data"][0]["error"]["message"].as_str().unwrap();
    assert!(message.contains("INV-1"), "{message}");
    assert!(
        message.contains(&invoice),
        "names the invoice's id: {message}"
    );
    let elsewhere = app
        .call_as(Some(KEY_B), Method::POST, "/v1/invoices/batch", Some(again))
        .await;
    assert_eq!(
        elsewhere.json["data"][0]["status"], 404,
        "{}",
        elsewhere.text
    );

    for (body, path) in [
        (
            json!({"subscription_ids": [subscription], "at": "yesterday"}),
            "/at",
        ),
        (
            json!({"subscription_ids": vec![subscription.clone(); 1001]}),
            "/subscription_ids",
        ),
        (json!({"subscription_ids": [], "extra": 1}), ""),
    ] {
        let refused = app
            .call(Method::POST, "/v1/invoices/batch", Some(body))
            .await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.text);
        if !path.is_empty() {
            assert_eq!(refused.json["errors"][0]["path"], path, "{}", refused.text);
        }
    }
}
