//! Rollups through the API: an aggregator shows its backfill, and usage read
//! through the API is the same before (events scanned) and after (rollups).

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::TestApp;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aggregator_shows_its_backfill_and_usage_is_unchanged_by_it() {
    let app = TestApp::new().await;
    let customer = json!({"external_id": "acme-42", "currency": "EUR"});
    let created = app
        .call(Method::POST, "/v1/customers", Some(customer))
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let events: Vec<Value> = (0..60)
        .map(|n| {
            json!({"customer_id": "acme-42", "event_type": "transfer",
            "timestamp": format!("2024-12-{:02}T{:02}:{:02}:00Z", 1 + n % 20, n % 24, n % 60),
            "record": {"id": n, "gb": n % 7, "region": if n % 3 == 0 { "eu" } else { "us" }}})
        })
        .collect();
    let batch = app
        .call(Method::POST, "/v1/events/batch", Some(json!(events)))
        .await;
    assert_eq!(batch.status, StatusCode::ACCEPTED, "{}", batch.text);

    // Created after its events: it builds from them.
    let aggregator = app
        .call(
            Method::POST,
            "/v1/aggregators",
            Some(
                json!({"name": "GB", "event_type": "transfer", "operation": "sum",
                "property": "gb", "filters": [{"name": "EU",
                "where": {"property": "region", "operator": "equals", "value": "eu"}}]}),
            ),
        )
        .await;
    assert_eq!(
        aggregator.status,
        StatusCode::CREATED,
        "{}",
        aggregator.text
    );
    let id = aggregator.json["id"].as_str().unwrap().to_owned();
    let filter = aggregator.json["filters"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let usage = |filter: Option<&str>| {
        let query = filter
            .map(|f| format!("&aggregator_filter_id={f}"))
            .unwrap_or_default();
        format!(
            "/v1/customers/acme-42/usage/{id}?start_date=2024-12-02T10:30:00Z&end_date=2024-12-19T00:00:00Z{query}"
        )
    };
    let scanned = app.call(Method::GET, &usage(None), None).await;
    let scanned_eu = app.call(Method::GET, &usage(Some(&filter)), None).await;
    assert_eq!(scanned.status, StatusCode::OK, "{}", scanned.text);

    app.billing.finish_backfills().await.unwrap();
    let shown = app
        .call(Method::GET, &format!("/v1/aggregators/{id}"), None)
        .await;
    assert_eq!(
        shown.json["usage_rollup"],
        json!({"status": "ready", "backfilled_events": 60})
    );
    let served = app.call(Method::GET, &usage(None), None).await;
    let served_eu = app.call(Method::GET, &usage(Some(&filter)), None).await;
    assert_eq!(served.json, scanned.json);
    assert_eq!(served_eu.json, scanned_eu.json);
    assert_ne!(served.json["total"], served_eu.json["total"]);

    // A changed definition builds a new rollup; the old one is dropped.
    let changed = app
        .call(
            Method::PUT,
            &format!("/v1/aggregators/{id}"),
            Some(
                json!({"name": "Transfers", "event_type": "transfer", "operation": "count",
                "filters": [{"id": filter, "name": "EU",
                "where": {"property": "region", "operator": "equals", "value": "eu"}}]}),
            ),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.text);
    app.billing.finish_backfills().await.unwrap();
    let shown = app
        .call(Method::GET, &format!("/v1/aggregators/{id}"), None)
        .await;
    assert_eq!(shown.json["usage_rollup"]["status"], "ready");
    let counted = app.call(Method::GET, &usage(None), None).await;
    assert_eq!(
        counted.json["count"], counted.json["total"],
        "{}",
        counted.text
    );

    // A licensed count keeps a rollup of its entities' lives; a licensed
    // maximum cannot (an extreme does not cancel) and keeps none.
    let seats = app
        .call(
            Method::POST,
            "/v1/aggregators",
            Some(
                json!({"name": "Seats", "event_type": "seat", "operation": "count",
                "type": "licensed"}),
            ),
        )
        .await;
    let status = &seats.json["usage_rollup"]["status"];
    assert!(status == "ready" || status == "building", "{}", seats.text);
    let peak = app
        .call(
            Method::POST,
            "/v1/aggregators",
            Some(
                json!({"name": "Peak seats", "event_type": "seat", "operation": "max",
                "property": "n", "type": "licensed"}),
            ),
        )
        .await;
    assert_eq!(
        peak.json["usage_rollup"],
        json!({"status": "none", "backfilled_events": 0})
    );
}
