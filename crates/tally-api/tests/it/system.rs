//! `/healthz`, `/metrics` and `/openapi.json`.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{KEY_A, TestApp, redacted};

#[tokio::test]
async fn healthz_answers_without_a_key() {
    let app = TestApp::new().await;
    let reply = app.call_as(None, Method::GET, "/healthz", None).await;
    insta::assert_snapshot!("healthz", redacted(&reply));
}

#[tokio::test]
async fn metrics_count_requests_and_ingested_events() {
    let app = TestApp::new().await;
    let event = json!({"event_type": "api_call", "record": {"id": 1}, "customer_id": "acme",
        "timestamp": "2024-12-20T16:04:11Z"});
    app.call(Method::POST, "/v1/events", Some(event.clone()))
        .await;
    app.call(Method::POST, "/v1/events", Some(event)).await;
    app.call(Method::GET, "/v1/customers/nobody", None).await;
    let reply = app.call_as(None, Method::GET, "/metrics", None).await;
    assert_eq!(reply.status, StatusCode::OK);
    let text = reply.text;
    for expected in [
        "tally_http_requests_total{route=\"/v1/events\",method=\"POST\",status=\"202\"} 2",
        "tally_http_requests_total{route=\"/v1/customers/{id}\",method=\"GET\",status=\"404\"} 1",
        "tally_http_request_duration_seconds_count{route=\"/v1/events\"} 2",
        "tally_events_ingested_total{outcome=\"created\"} 1",
        "tally_events_ingested_total{outcome=\"unchanged\"} 1",
        // Both requests were answered, so nothing is left in the queue.
        "tally_ingest_queue_events 0",
        "tally_ingest_queue_capacity_events 50000",
    ] {
        assert!(text.contains(expected), "missing {expected} in\n{text}");
    }
}

async fn document(app: &TestApp) -> Value {
    let reply = app.call_as(None, Method::GET, "/openapi.json", None).await;
    assert_eq!(reply.status, StatusCode::OK);
    reply.json
}

#[tokio::test]
async fn the_openapi_document_parses_as_openapi_3_1() {
    let app = TestApp::new().await;
    let json = document(&app).await;
    assert_eq!(json["openapi"], "3.1.0");
    let parsed: utoipa::openapi::OpenApi = serde_json::from_value(json.clone()).unwrap();
    assert_eq!(parsed.info.title, "Tally");
    assert_eq!(
        json["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    // Every $ref points at a schema that exists.
    let text = json.to_string();
    for reference in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
        let name = reference.split('"').next().unwrap();
        assert!(
            json["components"]["schemas"].get(name).is_some(),
            "dangling $ref {name}"
        );
    }
}

/// Every operation of the document, as `METHOD /path`.
fn operations(json: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for (path, item) in json["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            out.push(format!("{} {path}", method.to_uppercase()));
        }
    }
    out.sort();
    out
}

/// The routes of docs/API.md this server implements, as `METHOD /path`.
fn served_operations() -> Vec<String> {
    let served = [
        "POST /v1/events",
        "POST /v1/events/batch",
        "GET /v1/events",
        "DELETE /v1/events",
        "GET /v1/events/history",
        "POST /v1/events/purge",
        "POST /v1/events/simulate-prices",
        "POST /v1/events/prices",
        "GET /v1/customers/{id}/usage",
        "POST /v1/customers/{id}/portal_sessions",
        "GET /v1/customers/{id}/usage/{aggregator_id}",
        "GET /v1/customers/{id}/usage/{aggregator_id}/events",
        "GET /v1/aggregators/{id}/usage/timeseries",
        "GET /v1/invoices/{id}/products/{product_id}/events.csv",
        "GET /v1/subscriptions/{id}/products/{product_id}/events.csv",
        "GET /v1/invoices/{id}/events.zip",
        "POST /v1/subscriptions/{id}/invoices",
        "POST /v1/invoices/batch",
        "GET /v1/invoices",
        "GET /v1/invoices/{id}",
        "POST /v1/invoices/{id}/finalize",
        "GET /v1/subscriptions/{id}/consumption",
        "GET /v1/invoices/{id}/consumption",
        "GET /v1/invoices/{id}/changes",
        "GET /v1/settings",
        "PATCH /v1/settings",
        "POST /v1/features",
        "GET /v1/features",
        "GET /v1/features/{code}",
        "PATCH /v1/features/{code}",
        "GET /v1/products/{id}/entitlements",
        "PUT /v1/products/{id}/entitlements/{feature_code}",
        "DELETE /v1/products/{id}/entitlements/{feature_code}",
        "GET /v1/customers/{id}/entitlements",
        "PUT /v1/customers/{id}/entitlements/{feature_code}",
        "DELETE /v1/customers/{id}/entitlements/{feature_code}",
        "GET /v1/customers/{id}/features",
        "GET /v1/customers/{id}/features/{feature_code}/check",
        "POST /v1/webhooks/endpoints",
        "GET /v1/webhooks/endpoints",
        "GET /v1/webhooks/endpoints/{id}",
        "PATCH /v1/webhooks/endpoints/{id}",
        "DELETE /v1/webhooks/endpoints/{id}",
        "GET /v1/webhooks/messages",
        "POST /v1/webhooks/messages/{id}/retry",
        "GET /healthz",
        "GET /metrics",
        "GET /openapi.json",
    ];
    let crud = ["customers", "aggregators", "products", "subscriptions"].map(|resource| {
        [
            format!("POST /v1/{resource}"),
            format!("GET /v1/{resource}"),
            format!("GET /v1/{resource}/{{id}}"),
            format!("PUT /v1/{resource}/{{id}}"),
            format!("DELETE /v1/{resource}/{{id}}"),
        ]
    });
    served
        .iter()
        .map(|s| s.to_string())
        .chain(crud.into_iter().flatten())
        .collect()
}

#[tokio::test]
async fn every_documented_operation_is_served_and_every_route_documented() {
    let app = TestApp::new().await;
    let json = document(&app).await;
    let operations = operations(&json);
    insta::assert_snapshot!("operations", operations.join("\n"));
    for operation in &operations {
        let (method, path) = operation.split_once(' ').unwrap();
        let path = path
            .replace("{aggregator_id}", "agg_x")
            .replace("{id}", "x");
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let reply = app
            .call_as(Some(KEY_A), method, &path, Some(json!({})))
            .await;
        let code = reply.json["code"].as_str().unwrap_or_default();
        assert!(
            code != "route_not_found" && code != "method_not_allowed",
            "{operation} is documented but not routed"
        );
    }
    // The converse: every route the API serves is documented.
    let expected = served_operations();
    for operation in &expected {
        assert!(
            operations.contains(operation),
            "{operation} is not documented"
        );
    }
    assert_eq!(operations.len(), expected.len(), "{operations:#?}");
}

/// Every `/v1` operation declares the answers any of them can give; those
/// taking a body also declare a body too large and one that is not JSON.
#[tokio::test]
async fn every_v1_operation_declares_its_common_answers() {
    let app = TestApp::new().await;
    let json = document(&app).await;
    assert_eq!(json["servers"][0]["url"], "/");
    let mut checked = 0;
    for (path, item) in json["paths"].as_object().unwrap() {
        if !path.starts_with("/v1/") {
            continue;
        }
        for (method, operation) in item.as_object().unwrap() {
            let responses = operation["responses"].as_object().unwrap();
            for status in ["400", "401", "429", "503"] {
                assert!(
                    responses.contains_key(status),
                    "{method} {path} lacks {status}"
                );
            }
            if operation.get("requestBody").is_some() {
                for status in ["413", "415"] {
                    assert!(
                        responses.contains_key(status),
                        "{method} {path} lacks {status}"
                    );
                }
            }
            checked += 1;
        }
    }
    assert!(checked > 40, "{checked} operations");
    // Closed sets of values are enums.
    let schemas = &json["components"]["schemas"];
    let operation_values = &schemas["Operation"]["enum"];
    assert!(
        operation_values
            .as_array()
            .is_some_and(|values| values.contains(&serde_json::json!("unique_count"))),
        "{operation_values}"
    );
    assert_eq!(
        schemas["ProductType"]["enum"],
        serde_json::json!(["usage", "fee"])
    );
    assert_eq!(
        schemas["IntervalPeriod"]["enum"],
        serde_json::json!(["days", "weeks", "months", "years"])
    );
}

#[tokio::test]
async fn price_models_are_a_one_of_by_type() {
    let app = TestApp::new().await;
    let json = document(&app).await;
    let model = &json["components"]["schemas"]["PriceModelDef"];
    let variants = model["oneOf"].as_array().unwrap();
    assert_eq!(variants.len(), 6, "{model:#}");
    assert_eq!(model["discriminator"]["propertyName"], "type");
    let types: Vec<&Value> = variants
        .iter()
        .map(|v| &v["properties"]["type"]["enum"][0])
        .collect();
    assert_eq!(
        types,
        [
            "flat",
            "per_unit",
            "package",
            "graduated",
            "volume",
            "percentage"
        ]
        .map(|t| serde_json::json!(t))
        .iter()
        .collect::<Vec<_>>()
    );
    // The price group's `price` is that schema.
    let group = &json["components"]["schemas"]["PriceGroupRequest"]["properties"]["price"];
    assert_eq!(
        group["$ref"], "#/components/schemas/PriceModelDef",
        "{group:#}"
    );
}

#[tokio::test]
async fn a_where_tree_is_a_recursive_schema() {
    let app = TestApp::new().await;
    let json = document(&app).await;
    let schemas = &json["components"]["schemas"];
    let tree = &schemas["FilterTree"];
    assert_eq!(
        tree["properties"]["conditional"]["$ref"],
        "#/components/schemas/Conditional"
    );
    let field = &schemas["FilterField"];
    let refs: Vec<&str> = field["oneOf"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v["$ref"].as_str())
        .collect();
    assert!(
        refs.contains(&"#/components/schemas/FilterTree"),
        "{field:#}"
    );
    assert!(
        refs.contains(&"#/components/schemas/FilterCondition"),
        "{field:#}"
    );
    let aggregator_where = &schemas["AggregatorRequest"]["properties"]["where"];
    assert!(
        aggregator_where.to_string().contains("FilterTree"),
        "{aggregator_where:#}"
    );
}

/// Request schemas say what the server accepts: what it needs is required,
/// what it refuses is outside the schema.
#[tokio::test]
async fn request_schemas_state_what_the_server_accepts() {
    let app = TestApp::new().await;
    let json = document(&app).await;
    let schemas = &json["components"]["schemas"];
    let required = |name: &str| -> Vec<String> {
        let list = schemas[name]["required"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let mut names: Vec<String> = list
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect();
        names.sort();
        names
    };
    assert_eq!(
        required("EventInput"),
        ["customer_id", "event_type", "record", "timestamp"]
    );
    assert_eq!(schemas["EventInput"]["additionalProperties"], false);
    assert_eq!(
        schemas["EventRecord"]["required"],
        serde_json::json!(["id"])
    );
    assert_eq!(schemas["EventRecord"]["maxProperties"], 25);
    assert_eq!(
        required("AggregatorRequest"),
        ["event_type", "name", "operation"]
    );
    assert_eq!(
        required("ProductRequest"),
        ["currency", "name", "price_groups", "type"]
    );
    assert_eq!(
        required("SubscriptionRequest"),
        ["customer_id", "product_ids"]
    );
    assert_eq!(schemas["ProductIdList"]["uniqueItems"], true);
    assert_eq!(
        schemas["EventTypeText"]["pattern"],
        "^[A-Za-z0-9_.:-]{1,100}$"
    );
    assert!(
        schemas["CurrencyCode"]["enum"]
            .as_array()
            .is_some_and(|codes| codes.contains(&serde_json::json!("EUR"))),
        "{}",
        schemas["CurrencyCode"]
    );
    // Each price model takes only its own fields.
    for model in schemas["PriceModelDef"]["oneOf"].as_array().unwrap() {
        assert_eq!(model["additionalProperties"], false, "{model}");
    }
    // A batch is 1 to 5000 items, each checked on its own.
    let batch = &json["paths"]["/v1/events/batch"]["post"]["requestBody"]["content"]["application/json"]
        ["schema"];
    let batch = match batch["$ref"].as_str() {
        Some(reference) => &schemas[reference.trim_start_matches("#/components/schemas/")],
        None => batch,
    };
    assert_eq!(
        (batch["minItems"].clone(), batch["maxItems"].clone()),
        (1.into(), 5000.into())
    );
    // An id in the body that names nothing is a documented 404.
    let subscriptions = &json["paths"]["/v1/subscriptions"]["post"]["responses"];
    assert!(subscriptions.get("404").is_some(), "{subscriptions}");
    let listing = &json["paths"]["/v1/customers"]["get"]["responses"];
    assert!(listing.get("404").is_none(), "a plain list names nothing");
}
