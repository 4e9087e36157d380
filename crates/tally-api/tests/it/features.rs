//! Features, entitlements and the usage-limit check through the API: the
//! shapes, the statuses, and a check that moves with every event.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{KEY_B, TestApp};

async fn created(app: &TestApp, path: &str, body: Value) -> Value {
    let reply = app.call(Method::POST, path, Some(body)).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{path}: {}", reply.text);
    reply.json
}

async fn put(app: &TestApp, path: &str, body: Value) -> Value {
    let reply = app.call(Method::PUT, path, Some(body)).await;
    assert_eq!(reply.status, StatusCode::OK, "{path}: {}", reply.text);
    reply.json
}

async fn get(app: &TestApp, path: &str) -> Value {
    let reply = app.call(Method::GET, path, None).await;
    assert_eq!(reply.status, StatusCode::OK, "{path}: {}", reply.text);
    reply.json
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_feature_is_created_patched_granted_and_resolved() {
    let app = TestApp::new().await;
    let seats = created(
        &app,
        "/v1/features",
        json!({"code": "seats", "name": "Seats", "value_type": "number",
               "resolution_strategy": "sum", "description": "per plan"}),
    )
    .await;
    assert_eq!(
        seats,
        json!({"code": "seats", "name": "Seats", "description": "per plan",
               "value_type": "number", "default_value": 0, "resolution_strategy": "sum",
               "aggregator_id": null, "aggregator_filter_id": null, "threshold_percents": [],
               "created_at": seats["created_at"], "updated_at": seats["updated_at"]})
    );
    created(
        &app,
        "/v1/features",
        json!({"code": "sso", "name": "SSO", "value_type": "boolean"}),
    )
    .await;
    let taken = app
        .call(
            Method::POST,
            "/v1/features",
            Some(json!({"code": "sso", "name": "SSO again", "value_type": "boolean"})),
        )
        .await;
    assert_eq!(taken.status, StatusCode::CONFLICT, "{}", taken.text);
    let invalid = app
        .call(
            Method::POST,
            "/v1/features",
            Some(json!({"code": "-x", "name": " ", "value_type": "number", "default_value": true})),
        )
        .await;
    assert_eq!(invalid.status, StatusCode::BAD_REQUEST);
    let paths: Vec<&str> = invalid.json["errors"]
        .as_array()
        .map(|errors| errors.iter().filter_map(|e| e["path"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        paths,
        ["/code", "/name", "/default_value"],
        "{}",
        invalid.text
    );

    let patched = app
        .call(
            Method::PATCH,
            "/v1/features/seats",
            Some(json!({"default_value": 2, "description": null})),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.text);
    assert_eq!(
        (&patched.json["default_value"], &patched.json["description"]),
        (&json!(2), &Value::Null)
    );
    let listed = get(&app, "/v1/features?take=1&skip=1").await;
    assert_eq!(listed["meta"]["total"], json!(2));
    assert_eq!(listed["data"][0]["code"], json!("sso"));
    let missing = app.call(Method::GET, "/v1/features/nope", None).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    // Another account sees none of them.
    let elsewhere = app
        .call_as(Some(KEY_B), Method::GET, "/v1/features/seats", None)
        .await;
    assert_eq!(elsewhere.status, StatusCode::NOT_FOUND);

    created(
        &app,
        "/v1/customers",
        json!({"external_id": "acme", "currency": "EUR"}),
    )
    .await;
    let mut products = Vec::new();
    for name in ["Starter", "Seat pack"] {
        let product = created(
            &app,
            "/v1/products",
            json!({"name": name, "type": "fee", "currency": "EUR",
                   "price_groups": [{"name": "fee", "price": {"type": "flat", "amount": "1000"}}]}),
        )
        .await;
        products.push(product["id"].as_str().unwrap().to_owned());
    }
    let granted = put(
        &app,
        &format!("/v1/products/{}/entitlements/seats", products[0]),
        json!({"value": 5}),
    )
    .await;
    assert_eq!(
        (
            &granted["product_id"],
            &granted["feature_code"],
            &granted["value"]
        ),
        (&json!(products[0]), &json!("seats"), &json!(5))
    );
    put(
        &app,
        &format!("/v1/products/{}/entitlements/seats", products[1]),
        json!({"value": "2.5"}),
    )
    .await;
    put(
        &app,
        &format!("/v1/products/{}/entitlements/sso", products[0]),
        json!({"value": true}),
    )
    .await;
    let wrong = app
        .call(
            Method::PUT,
            &format!("/v1/products/{}/entitlements/sso", products[0]),
            Some(json!({"value": 1})),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST, "{}", wrong.text);
    let no_feature = app
        .call(
            Method::PUT,
            &format!("/v1/products/{}/entitlements/nope", products[0]),
            Some(json!({"value": 1})),
        )
        .await;
    assert_eq!(no_feature.status, StatusCode::NOT_FOUND);
    let of_starter = get(&app, &format!("/v1/products/{}/entitlements", products[0])).await;
    assert_eq!(of_starter["entitlements"].as_array().unwrap().len(), 2);

    // Before a subscription: the defaults.
    let before = get(&app, "/v1/customers/acme/features").await;
    assert_eq!(
        before["features"]["seats"],
        json!({"value_type": "number", "value": 2, "source": "default", "product_ids": [],
               "expires_at": null, "aggregator_id": null})
    );
    created(
        &app,
        "/v1/subscriptions",
        json!({"customer_id": "acme", "product_ids": products,
               "starts_at": "2024-12-01T00:00:00Z",
               "billing_interval": {"period": "months", "count": 1}}),
    )
    .await;
    let features = get(&app, "/v1/customers/acme/features").await;
    assert_eq!(
        features["features"]["seats"],
        json!({"value_type": "number", "value": 7.5, "source": "product",
               "product_ids": products, "expires_at": null, "aggregator_id": null})
    );
    assert_eq!(features["features"]["sso"]["value"], json!(true));
    let before_start = get(&app, "/v1/customers/acme/features?at=2024-11-30").await;
    assert_eq!(
        before_start["features"]["seats"]["source"],
        json!("default")
    );

    let own = put(
        &app,
        "/v1/customers/acme/entitlements/sso",
        json!({"value": false, "reason": "suspended", "expires_at": "2030-01-01T00:00:00Z"}),
    )
    .await;
    assert_eq!(own["expires_at"], json!("2030-01-01T00:00:00.000Z"));
    let features = get(&app, "/v1/customers/acme/features").await;
    assert_eq!(
        (
            &features["features"]["sso"]["value"],
            &features["features"]["sso"]["source"]
        ),
        (&json!(false), &json!("customer"))
    );
    let overrides = get(&app, "/v1/customers/acme/entitlements").await;
    assert_eq!(overrides["entitlements"][0]["reason"], json!("suspended"));
    let removed = app
        .call(Method::DELETE, "/v1/customers/acme/entitlements/sso", None)
        .await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT);
    let again = app
        .call(Method::DELETE, "/v1/customers/acme/entitlements/sso", None)
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    let removed = app
        .call(
            Method::DELETE,
            &format!("/v1/products/{}/entitlements/seats", products[1]),
            None,
        )
        .await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT);
    let features = get(&app, "/v1/customers/acme/features").await;
    assert_eq!(features["features"]["seats"]["value"], json!(5));
    assert_eq!(features["features"]["sso"]["source"], json!("product"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_usage_limit_check_follows_every_event() {
    let app = TestApp::new().await;
    created(
        &app,
        "/v1/customers",
        json!({"external_id": "acme", "currency": "EUR"}),
    )
    .await;
    let aggregator = created(
        &app,
        "/v1/aggregators",
        json!({"name": "Calls", "event_type": "api_call", "operation": "count"}),
    )
    .await;
    let aggregator_id = aggregator["id"].as_str().unwrap();
    created(
        &app,
        "/v1/features",
        json!({"code": "api_calls", "name": "API calls", "value_type": "number",
               "default_value": 2, "aggregator_id": aggregator_id}),
    )
    .await;
    let unknown = app
        .call(
            Method::POST,
            "/v1/features",
            Some(
                json!({"code": "other", "name": "Other", "value_type": "number",
                        "aggregator_id": "agg_unknown"}),
            ),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND, "{}", unknown.text);

    let check = "/v1/customers/acme/features/api_calls/check";
    let fresh = get(&app, check).await;
    assert_eq!(
        fresh,
        json!({"code": "api_calls", "allowed": true, "limit": 2, "usage": 0, "remaining": 2,
               "quantity": null, "source": "default",
               "period_start": fresh["period_start"], "period_end": fresh["period_end"]})
    );
    for id in 1..=2 {
        let event = json!({"event_type": "api_call", "customer_id": "acme",
            "timestamp": fresh["period_start"], "record": {"id": id}});
        let reply = app.call(Method::POST, "/v1/events", Some(event)).await;
        assert!(reply.status.is_success(), "{}", reply.text);
        let now = get(&app, check).await;
        assert_eq!(
            now["usage"],
            json!(id),
            "the check reads the event just sent"
        );
    }
    let reached = get(&app, check).await;
    assert_eq!(
        (&reached["allowed"], &reached["remaining"]),
        (&json!(false), &json!(0))
    );
    let with_quantity = get(&app, &format!("{check}?quantity=0")).await;
    assert_eq!(with_quantity["allowed"], json!(true), "using 0 more fits");
    let bad = app
        .call(Method::GET, &format!("{check}?quantity=-1"), None)
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.text);
    let nobody = app
        .call(
            Method::GET,
            "/v1/customers/nobody/features/api_calls/check",
            None,
        )
        .await;
    assert_eq!(nobody.status, StatusCode::NOT_FOUND);
    // The aggregator cannot be deleted while the limit reads it.
    let delete = app
        .call(
            Method::DELETE,
            &format!("/v1/aggregators/{aggregator_id}"),
            None,
        )
        .await;
    assert_eq!(delete.status, StatusCode::CONFLICT, "{}", delete.text);
}
