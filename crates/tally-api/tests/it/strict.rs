//! Strict input: unknown fields in a body and unknown query parameters are
//! refused with their path (`unknown_field`, and the closest known name when
//! one is close); usage endpoints honour `aggregator_filter_id`.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{Reply, TestApp};

fn errors(reply: &Reply) -> Vec<(String, String, String)> {
    reply.json["errors"]
        .as_array()
        .unwrap_or(&Vec::new())
        .iter()
        .map(|e| {
            (
                e["path"].as_str().unwrap_or_default().to_owned(),
                e["code"].as_str().unwrap_or_default().to_owned(),
                e["message"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

async fn refused(
    app: &TestApp,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Vec<(String, String, String)> {
    let reply = app.call(method, path, body).await;
    assert_eq!(
        reply.status,
        StatusCode::BAD_REQUEST,
        "{path}: {}",
        reply.text
    );
    errors(&reply)
}

#[tokio::test]
async fn a_misspelled_field_is_refused_with_its_path_and_the_right_name() {
    let app = TestApp::new().await;
    let aggregator = app
        .call(
            Method::POST,
            "/v1/aggregators",
            Some(json!({"name": "Calls", "event_type": "api_call", "operation": "count"})),
        )
        .await;
    let product = json!({"name": "Calls", "type": "usage", "aggregator_id": aggregator.json["id"],
        "currency": "EUR", "max_amout": "1000",
        "price_groups": [{"name": "all", "price": {"type": "per_unit", "unit_amount": "2"}}]});
    let problems = refused(&app, Method::POST, "/v1/products", Some(product)).await;
    assert_eq!(problems.len(), 1);
    assert_eq!(
        (problems[0].0.as_str(), problems[0].1.as_str()),
        ("/max_amout", "unknown_field")
    );
    assert!(
        problems[0].2.contains("did you mean `max_amount`"),
        "{problems:?}"
    );

    // Inside an array: the group's path.
    let group = json!({"name": "Calls", "type": "usage", "aggregator_id": aggregator.json["id"],
        "currency": "EUR",
        "price_groups": [{"name": "all", "prise": {"type": "per_unit", "unit_amount": "2"}}]});
    let problems = refused(&app, Method::POST, "/v1/products", Some(group)).await;
    assert_eq!(problems[0].0, "/price_groups/0/prise");
    assert!(
        problems[0].2.contains("did you mean `price`"),
        "{problems:?}"
    );

    // `filter` for `where` would have counted every event.
    let aggregator = json!({"name": "Calls", "event_type": "api_call", "operation": "count",
        "filter": {"conditional": "and", "fields": []}});
    let problems = refused(&app, Method::POST, "/v1/aggregators", Some(aggregator)).await;
    assert_eq!(
        (problems[0].0.as_str(), problems[0].1.as_str()),
        ("/filter", "unknown_field")
    );

    let customer = json!({"external_id": "acme-42", "tax_rte": "20"});
    let problems = refused(&app, Method::POST, "/v1/customers", Some(customer)).await;
    assert_eq!(problems[0].0, "/tax_rte");
    assert!(
        problems[0].2.contains("did you mean `tax_rate`"),
        "{problems:?}"
    );
    // Nothing was created by the refused requests.
    let customers = app.call(Method::GET, "/v1/customers", None).await;
    assert_eq!(customers.json["meta"]["total"], 0);
}

#[tokio::test]
async fn unknown_query_parameters_are_refused_all_at_once() {
    let app = TestApp::new().await;
    let problems = refused(
        &app,
        Method::GET,
        "/v1/invoices?limit=5&cursor=abc&take=2",
        None,
    )
    .await;
    let paths: Vec<&str> = problems.iter().map(|p| p.0.as_str()).collect();
    assert_eq!(paths, ["/limit", "/cursor"]);
    assert!(problems.iter().all(|p| p.1 == "unknown_field"));
    let problems = refused(&app, Method::GET, "/v1/customers?tak=5", None).await;
    assert!(
        problems[0].2.contains("did you mean `take`"),
        "{problems:?}"
    );
    // Declared parameters still work.
    let ok = app
        .call(Method::GET, "/v1/invoices?take=2&skip=0", None)
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
}

#[tokio::test]
async fn usage_honours_the_aggregator_filter() {
    let app = TestApp::new().await;
    app.call(
        Method::POST,
        "/v1/customers",
        Some(json!({"external_id": "acme-42"})),
    )
    .await;
    let calls = app
        .call(
            Method::POST,
            "/v1/aggregators",
            Some(
                json!({"name": "Calls", "event_type": "api_call", "operation": "count",
                "filters": [{"name": "verified", "where": {"conditional": "and", "fields": [
                    {"property": "verified", "operator": "equals", "value": true}]}}]}),
            ),
        )
        .await;
    let other = app
        .call(
            Method::POST,
            "/v1/aggregators",
            Some(
                json!({"name": "Other", "event_type": "api_call", "operation": "count",
                "filters": [{"name": "any", "where": {"conditional": "and", "fields": []}}]}),
            ),
        )
        .await;
    for (id, verified) in [("a", true), ("b", false), ("c", true)] {
        app.call(
            Method::POST,
            "/v1/events",
            Some(json!({"customer_id": "acme-42", "event_type": "api_call",
                "timestamp": "2024-12-20T10:00:00Z", "record": {"id": id, "verified": verified}})),
        )
        .await;
    }
    let calls_id = calls.json["id"].as_str().unwrap();
    let verified = calls.json["filters"][0]["id"].as_str().unwrap();
    let foreign = other.json["filters"][0]["id"].as_str().unwrap();
    let total = |query: String| {
        let path = format!("/v1/customers/acme-42/usage/{calls_id}?{query}");
        let app = &app;
        async move { app.call(Method::GET, &path, None).await }
    };
    assert_eq!(total(String::new()).await.json["total"], 3);
    let narrowed = total(format!("aggregator_filter_id={verified}")).await;
    assert_eq!(narrowed.json["total"], 2, "{}", narrowed.text);
    // Another aggregator's filter is a mistake in the request (400); a filter
    // no aggregator has names nothing (404).
    let wrong = total(format!("aggregator_filter_id={foreign}")).await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST, "{}", wrong.text);
    assert_eq!(errors(&wrong)[0].1, "filter_of_another_aggregator");
    let missing = total("aggregator_filter_id=agf_nobodyhasthisfilter00".to_owned()).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND, "{}", missing.text);
    assert_eq!(errors(&missing)[0].1, "unknown_filter");

    // Every aggregator's usage, narrowed to the one owning the filter.
    let all = app
        .call(
            Method::GET,
            &format!("/v1/customers/acme-42/usage?aggregator_filter_id={verified}"),
            None,
        )
        .await;
    assert_eq!(all.status, StatusCode::OK, "{}", all.text);
    let listed = all.json.as_array().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["aggregator_id"], calls_id);
    assert_eq!(listed[0]["total"], 2);
    let nobody = app
        .call(
            Method::GET,
            "/v1/customers/acme-42/usage?aggregator_filter_id=agf_nobodyhasthisfilter00",
            None,
        )
        .await;
    assert_eq!(nobody.status, StatusCode::NOT_FOUND, "{}", nobody.text);
}

#[tokio::test]
async fn a_duplicate_external_id_is_a_409_naming_the_field() {
    let app = TestApp::new().await;
    let body = json!({"external_id": "acme-42"});
    let first = app
        .call(Method::POST, "/v1/customers", Some(body.clone()))
        .await;
    assert_eq!(first.status, StatusCode::CREATED);
    let second = app.call(Method::POST, "/v1/customers", Some(body)).await;
    assert_eq!(second.status, StatusCode::CONFLICT, "{}", second.text);
    assert_eq!(second.json["code"], "conflict");
    assert_eq!(
        errors(&second),
        [(
            "/external_id".to_owned(),
            "already_exists".to_owned(),
            "a customer with external_id `acme-42` already exists".to_owned()
        )]
    );
    assert!(!second.text.contains("UNIQUE"), "{}", second.text);
    // Renaming another customer to a taken external id: the same answer.
    app.call(
        Method::POST,
        "/v1/customers",
        Some(json!({"external_id": "globex"})),
    )
    .await;
    let renamed = app
        .call(
            Method::PUT,
            "/v1/customers/globex",
            Some(json!({"external_id": "acme-42"})),
        )
        .await;
    assert_eq!(renamed.status, StatusCode::CONFLICT, "{}", renamed.text);
    assert_eq!(errors(&renamed)[0].0, "/external_id");
}

#[tokio::test]
async fn a_wrong_type_names_the_field_and_the_expected_type_in_plain_words() {
    let app = TestApp::new().await;
    let customer = json!({"external_id": "acme-42", "tax_rate": true});
    let problems = refused(&app, Method::POST, "/v1/customers", Some(customer)).await;
    assert_eq!(problems[0].0, "/tax_rate");
    assert_eq!(
        problems[0].2,
        "expected a decimal number (a JSON number or a numeric string), got boolean `true`"
    );
    // Every wrong type and unknown field of a body at once, items by their
    // index as sent.
    let product = json!({"name": 7, "type": "usage", "currency": "EUR", "max_amout": 5,
        "price_groups": [{"name": "a", "price": {"type": "flat", "amount": "1"}}, {"name": []},
                         {"name": "c", "price": {"type": "flat", "amount": "1"}}, {"name": false}]});
    let mut paths: Vec<String> = refused(&app, Method::POST, "/v1/products", Some(product))
        .await
        .into_iter()
        .map(|(path, _, _)| path)
        .collect();
    paths.sort();
    assert_eq!(
        paths,
        [
            "/max_amout",
            "/name",
            "/price_groups/1/name",
            "/price_groups/3/name"
        ]
    );
    // A body is an object: serde would read a struct from an array too.
    for body in [json!([null, null]), json!("acme"), json!(null)] {
        let problems = refused(&app, Method::POST, "/v1/customers", Some(body.clone())).await;
        assert_eq!(problems[0].0, "", "{body}");
        assert_eq!(problems[0].1, "invalid_type", "{body}");
    }
}

#[tokio::test]
async fn settings_are_read_and_changed_over_the_api() {
    let app = TestApp::new().await;
    let read = app.call(Method::GET, "/v1/settings", None).await;
    assert_eq!(
        read.json,
        json!({"pii_policy": "warn", "max_future_skew_ms": 86_400_000, "auto_create_customers": true})
    );
    let changed = app
        .call(
            Method::PATCH,
            "/v1/settings",
            Some(json!({"auto_create_customers": false, "pii_policy": "mask"})),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.text);
    assert_eq!(changed.json["auto_create_customers"], false);
    // The change applies at once: an unknown customer is now refused.
    let event = app
        .call(
            Method::POST,
            "/v1/events",
            Some(json!({"customer_id": "nobody", "event_type": "api_call",
                "timestamp": "2024-12-20T10:00:00Z", "record": {"id": "x"}})),
        )
        .await;
    assert_eq!(event.status, StatusCode::NOT_FOUND, "{}", event.text);
    assert_eq!(errors(&event)[0].1, "customer_not_found");
    // Every problem at once; nothing written.
    let problems = refused(
        &app,
        Method::PATCH,
        "/v1/settings",
        Some(json!({"pii_polcy": "off", "max_future_skew_ms": -1})),
    )
    .await;
    let paths: Vec<&str> = problems.iter().map(|p| p.0.as_str()).collect();
    assert_eq!(
        paths,
        ["/pii_polcy"],
        "unknown keys are refused before values are read"
    );
    let bad_value = refused(
        &app,
        Method::PATCH,
        "/v1/settings",
        Some(json!({"max_future_skew_ms": -1, "pii_policy": "loud"})),
    )
    .await;
    assert_eq!(bad_value.len(), 2, "{bad_value:?}");
    let beyond = json!({"max_future_skew_ms": u64::MAX});
    let beyond = refused(&app, Method::PATCH, "/v1/settings", Some(beyond)).await;
    assert_eq!(beyond[0].1, "out_of_range", "{beyond:?}");
    let whole = json!({"max_future_skew_ms": 3_600_000.0});
    let whole = app.call(Method::PATCH, "/v1/settings", Some(whole)).await;
    assert_eq!(
        whole.json["max_future_skew_ms"], 3_600_000,
        "{}",
        whole.text
    );
    // null puts a setting back to its default.
    let reset = app
        .call(
            Method::PATCH,
            "/v1/settings",
            Some(json!({"pii_policy": null})),
        )
        .await;
    assert_eq!(reset.json["pii_policy"], "warn");
    assert_eq!(reset.json["auto_create_customers"], false);
}

/// One parser for every date input: a date, a date-time with or without an
/// offset, or epoch milliseconds; one code when none fits.
#[tokio::test]
async fn every_date_input_takes_the_same_forms() {
    let app = TestApp::new().await;
    app.call(
        Method::POST,
        "/v1/customers",
        Some(json!({"external_id": "acme-42"})),
    )
    .await;
    let calls = app
        .call(
            Method::POST,
            "/v1/aggregators",
            Some(json!({"name": "Calls", "event_type": "api_call", "operation": "count"})),
        )
        .await;
    let product = app
        .call(
            Method::POST,
            "/v1/products",
            Some(
                json!({"name": "Calls", "type": "usage", "aggregator_id": calls.json["id"],
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
                json!({"customer_id": "acme-42", "product_ids": [product.json["id"]],
                "starts_at": "2024-11-01", "currency": "EUR"}),
            ),
        )
        .await;
    assert_eq!(
        subscription.status,
        StatusCode::CREATED,
        "{}",
        subscription.text
    );
    assert_eq!(subscription.json["starts_at"], "2024-11-01T00:00:00.000Z");
    let invoice = app
        .call(
            Method::POST,
            &format!(
                "/v1/subscriptions/{}/invoices",
                subscription.json["id"].as_str().unwrap()
            ),
            Some(json!({"at": "2024-11-15"})),
        )
        .await;
    assert_eq!(invoice.status, StatusCode::CREATED, "{}", invoice.text);
    assert_eq!(invoice.json["period_starts_at"], "2024-11-01T00:00:00.000Z");
    // Epoch milliseconds in a query: 2024-11-01 and 2024-12-01.
    let usage = app
        .call(
            Method::GET,
            &format!(
                "/v1/customers/acme-42/usage/{}?start_date=1730419200000&end_date=1733011200000",
                calls.json["id"].as_str().unwrap()
            ),
            None,
        )
        .await;
    assert_eq!(usage.status, StatusCode::OK, "{}", usage.text);
    assert_eq!(usage.json["period_start"], "2024-11-01T00:00:00.000Z");
    assert_eq!(usage.json["period_end"], "2024-12-01T00:00:00.000Z");
    // The same code for the same mistake, in a query and in a body.
    let in_query = refused(
        &app,
        Method::GET,
        &format!(
            "/v1/customers/acme-42/usage/{}?start_date=yesterday",
            calls.json["id"].as_str().unwrap()
        ),
        None,
    )
    .await;
    let in_body = refused(
        &app,
        Method::POST,
        &format!(
            "/v1/subscriptions/{}/invoices",
            subscription.json["id"].as_str().unwrap()
        ),
        Some(json!({"at": "yesterday"})),
    )
    .await;
    assert_eq!(in_query[0].1, "invalid_timestamp");
    assert_eq!(in_body[0].1, "invalid_timestamp");
    assert_eq!(in_query[0].2, in_body[0].2, "one message");
}
