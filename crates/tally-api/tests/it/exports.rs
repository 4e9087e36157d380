//! CSV and ZIP exports: headers, streamed bodies, and 404s across accounts.

use axum::http::{Method, StatusCode, header};
use serde_json::{Value, json};

use crate::support::{KEY_B, Reply, TestApp};

/// A's catalog and December events; returns (subscription id, product id).
async fn seed(app: &TestApp) -> (String, String) {
    let customer = json!({"external_id": "acme-42", "currency": "EUR"});
    assert_eq!(
        app.call(Method::POST, "/v1/customers", Some(customer))
            .await
            .status,
        StatusCode::CREATED
    );
    let aggregator = app
        .call(
            Method::POST,
            "/v1/aggregators",
            Some(json!({"name": "API calls",
            "event_type": "api_call", "operation": "count",
            "custom_event_name": "{record.endpoint} call"})),
        )
        .await;
    let product = app
        .call(
            Method::POST,
            "/v1/products",
            Some(json!({"name": "API calls", "type": "usage",
            "aggregator_id": aggregator.json["id"], "currency": "EUR", "price_groups": [
                {"name": "calls", "price": {"type": "graduated", "tiers": [
                    {"up_to": "2", "unit_amount": "0"},
                    {"up_to": null, "unit_amount": "12.5"}]}}]})),
        )
        .await;
    let subscription = app
        .call(
            Method::POST,
            "/v1/subscriptions",
            Some(json!({"customer_id": "acme-42",
            "product_ids": [product.json["id"]], "starts_at": "2024-12-01T00:00:00Z",
            "billing_interval": {"period": "months", "count": 1}, "currency": "EUR"})),
        )
        .await;
    let events: Vec<Value> = ["/v1/users", "=1+1", "/v1/users", "-2"]
        .iter()
        .enumerate()
        .map(|(n, endpoint)| json!({"customer_id": "acme-42", "event_type": "api_call",
            "timestamp": format!("2024-12-1{n}T08:00:00Z"), "record": {"id": n, "endpoint": endpoint}}))
        .collect();
    let batch = app
        .call(Method::POST, "/v1/events/batch", Some(json!(events)))
        .await;
    assert_eq!(batch.status, StatusCode::ACCEPTED, "{}", batch.text);
    let id = |reply: &Reply| reply.json["id"].as_str().unwrap_or_default().to_owned();
    (id(&subscription), id(&product))
}

/// The body with event ids replaced, for a snapshot.
fn redacted_csv(text: &str) -> String {
    let cells = |line: &str| {
        line.split(',')
            .map(|cell| {
                if cell.starts_with("evt_") {
                    "[evt]"
                } else {
                    cell
                }
            })
            .collect::<Vec<_>>()
            .join(",")
    };
    text.split_inclusive("\r\n").map(cells).collect()
}

#[tokio::test]
async fn a_subscription_product_csv_is_streamed_as_an_attachment() {
    let app = TestApp::new().await;
    let (subscription, product) = seed(&app).await;
    let path = format!(
        "/v1/subscriptions/{subscription}/products/{product}/events.csv?start_date=2024-12-01T00:00:00Z&end_date=2025-01-01T00:00:00Z"
    );
    let reply = app.call(Method::GET, &path, None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(
        reply.headers[header::CONTENT_TYPE],
        "text/csv; charset=utf-8"
    );
    assert_eq!(
        reply.headers[header::CONTENT_DISPOSITION],
        format!("attachment; filename=\"events-{product}.csv\"").as_str()
    );
    insta::assert_snapshot!(redacted_csv(&reply.text));
}

#[tokio::test]
async fn bad_dates_are_a_400_before_any_byte() {
    let app = TestApp::new().await;
    let (subscription, product) = seed(&app).await;
    let path = format!(
        "/v1/subscriptions/{subscription}/products/{product}/events.csv?start_date=2025-01-01T00:00:00Z&end_date=2024-12-01T00:00:00Z"
    );
    let reply = app.call(Method::GET, &path, None).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text);
    assert_eq!(reply.json["code"], "invalid_request");
}

#[tokio::test]
async fn another_account_gets_404_on_every_export() {
    let app = TestApp::new().await;
    let (subscription, product) = seed(&app).await;
    let paths = [
        format!("/v1/subscriptions/{subscription}/products/{product}/events.csv"),
        format!("/v1/invoices/inv_nope/products/{product}/events.csv"),
        "/v1/invoices/inv_nope/events.zip".to_owned(),
    ];
    for path in &paths {
        let reply = app.call_as(Some(KEY_B), Method::GET, path, None).await;
        assert_eq!(
            reply.status,
            StatusCode::NOT_FOUND,
            "{path}: {}",
            reply.text
        );
        assert_eq!(reply.json["code"], "not_found", "{path}");
    }
}

/// A draft invoice for December; returns (invoice id, its number).
async fn invoice(app: &TestApp, subscription: &str) -> (String, String) {
    let path = format!("/v1/subscriptions/{subscription}/invoices");
    let body = json!({"at": "2024-12-15T00:00:00Z"});
    let reply = app.call(Method::POST, &path, Some(body)).await;
    assert!(reply.status.is_success(), "{}", reply.text);
    let field = |name: &str| reply.json[name].as_str().unwrap_or_default().to_owned();
    (field("id"), field("number"))
}

#[tokio::test]
async fn an_invoice_zip_unzips_into_the_product_csv() {
    let app = TestApp::new().await;
    let (subscription, product) = seed(&app).await;
    let (invoice, number) = invoice(&app, &subscription).await;
    let csv_path = format!("/v1/invoices/{invoice}/products/{product}/events.csv");
    let csv = app.call(Method::GET, &csv_path, None).await;
    assert_eq!(csv.status, StatusCode::OK, "{}", csv.text);
    assert_eq!(csv.text.lines().count(), 5, "{}", csv.text);
    let zip_path = format!("/v1/invoices/{invoice}/events.zip");
    let reply = app.call(Method::GET, &zip_path, None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.headers[header::CONTENT_TYPE], "application/zip");
    assert_eq!(
        reply.headers[header::CONTENT_DISPOSITION],
        format!("attachment; filename=\"events-{number}.zip\"").as_str()
    );
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(reply.bytes)).unwrap();
    assert_eq!(zip.len(), 1);
    let mut file = zip.by_index(0).unwrap();
    assert_eq!(file.name(), "API calls.csv");
    let mut text = String::new();
    std::io::Read::read_to_string(&mut file, &mut text).unwrap();
    assert_eq!(text, csv.text);
}

#[tokio::test]
async fn another_account_gets_404_on_an_existing_invoice() {
    let app = TestApp::new().await;
    let (subscription, product) = seed(&app).await;
    let (invoice, _) = invoice(&app, &subscription).await;
    for path in [
        format!("/v1/invoices/{invoice}/products/{product}/events.csv"),
        format!("/v1/invoices/{invoice}/events.zip"),
    ] {
        let reply = app.call_as(Some(KEY_B), Method::GET, &path, None).await;
        assert_eq!(
            reply.status,
            StatusCode::NOT_FOUND,
            "{path}: {}",
            reply.text
        );
        assert_eq!(reply.json["code"], "not_found", "{path}");
    }
}
