//! End to end: the real `tally serve` binary on SQLite and on PostgreSQL, fed
//! the seed payloads over HTTP and read back through the usage endpoints.

mod connections;
mod export;
mod import;
mod postgres;
mod purge;
#[allow(dead_code)]
#[path = "../../../../crates/tally-webhooks/tests/it/receiver.rs"]
mod receiver;
mod server;
mod thresholds;
mod webhooks;

use std::path::PathBuf;

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use server::Server;

fn sample_events() -> Vec<Value> {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/events/sample.ndjson");
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

async fn create(server: &Server, path: &str, body: Value) -> Value {
    let (status, json) = server.call(Method::POST, path, Some(&body)).await;
    assert_eq!(status, StatusCode::CREATED, "{path}: {json}");
    json
}

/// The catalog of the walkthrough; returns the aggregator ids by name.
async fn set_up_catalog(server: &Server) -> Value {
    create(
        server,
        "/v1/customers",
        json!({"external_id": "cus_CrqwefTRWBWRT", "name": "Acme"}),
    )
    .await;
    let calls = create(
        server,
        "/v1/aggregators",
        json!({"name": "API calls", "event_type": "api_call",
        "operation": "count", "custom_event_name": "{record.id} ({record.durationInMs} ms)",
        "filters": [{"name": "verified", "where": {"conditional": "and", "fields": [
            {"property": "isVerified", "operator": "equals", "value": true}]}}]}),
    )
    .await;
    let duration = create(
        server,
        "/v1/aggregators",
        json!({"name": "Duration", "event_type": "api_call",
        "operation": "sum", "property": "durationInMs"}),
    )
    .await;
    let storage = create(
        server,
        "/v1/aggregators",
        json!({"name": "Storage", "event_type": "storage.gb_hours",
        "operation": "sum", "property": "gigabytes"}),
    )
    .await;
    let product = create(
        server,
        "/v1/products",
        json!({"name": "API calls", "type": "usage",
        "aggregator_id": calls["id"], "currency": "EUR", "price_groups": [{"name": "verified",
        "aggregator_filter_id": calls["filters"][0]["id"], "price": {"type": "volume", "tiers": [
            {"up_to": "1000", "unit_amount": "2", "flat_amount": "0"},
            {"up_to": null, "unit_amount": "1.5", "flat_amount": "500"}]}}]}),
    )
    .await;
    create(
        server,
        "/v1/subscriptions",
        json!({"customer_id": "cus_CrqwefTRWBWRT",
        "product_ids": [product["id"]], "starts_at": "2024-12-01T00:00:00Z",
        "billing_interval": {"period": "months", "count": 1}, "tax_rate": "20", "currency": "EUR"}),
    )
    .await;
    json!({"calls": calls["id"], "verified": calls["filters"][0]["id"], "duration": duration["id"],
        "storage": storage["id"]})
}

async fn ingest_seed_events(server: &Server) {
    let events = sample_events();
    let (status, json) = server
        .call(Method::POST, "/v1/events/batch", Some(&json!(events)))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{json}");
    assert_eq!(json["events_failed"], json!([]));
    let outcomes: Vec<&str> = json["events_created"]
        .as_array()
        .unwrap()
        .iter()
        .map(|created| created["outcome"].as_str().unwrap())
        .collect();
    // Lines 3 and 4 are two versions of one `users` record.
    assert_eq!(
        outcomes,
        [
            "created", "created", "created", "updated", "created", "created", "created"
        ]
    );
    // The seed 003 event again, identical: nothing stored, nothing changed.
    let (status, json) = server
        .call(Method::POST, "/v1/events", Some(&events[4]))
        .await;
    assert_eq!(
        (status, json["outcome"].as_str()),
        (StatusCode::ACCEPTED, Some("unchanged"))
    );
}

/// What the usage endpoints must say about the seed events.
async fn check_usage(server: &Server, ids: &Value) {
    let december = "start_date=2024-12-01T00:00:00Z&end_date=2025-01-01T00:00:00Z";
    let customer = "/v1/customers/cus_CrqwefTRWBWRT/usage";
    let (calls, duration) = (
        ids["calls"].as_str().unwrap(),
        ids["duration"].as_str().unwrap(),
    );
    let (_, usage) = server
        .call(Method::GET, &format!("{customer}/{calls}?{december}"), None)
        .await;
    assert_eq!(
        (usage["total"].clone(), usage["count"].clone()),
        (json!(2), json!(2)),
        "{usage}"
    );
    let (_, usage) = server
        .call(
            Method::GET,
            &format!("{customer}/{duration}?{december}"),
            None,
        )
        .await;
    assert_eq!(usage["total"], json!(150), "{usage}");
    let path = format!(
        "{customer}/{calls}/events?{december}&aggregator_filter_id={}",
        ids["verified"].as_str().unwrap()
    );
    let (status, page) = server.call(Method::GET, &path, None).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["meta"], json!({"total": 1, "taken": 1, "skipped": 0}));
    assert_eq!(page["data"][0]["name"], "D32NAA8 (32 ms)");
    assert_eq!(page["data"][0]["timestamp"], "2024-12-20T16:04:11.000Z");
    assert_eq!(
        page["data"][0]["payload"],
        json!({"id": "D32NAA8", "durationInMs": 32, "isVerified": true})
    );
    // 2024-03-01T00:00:00+01:00 is still February in UTC; the sum stays exact.
    let storage = ids["storage"].as_str().unwrap();
    let february = "start_date=2024-02-01&end_date=2024-03-01";
    let path = format!("/v1/customers/acme-42/usage/{storage}?{february}");
    let (_, usage) = server.call(Method::GET, &path, None).await;
    assert_eq!(usage["total"].to_string(), "1523.75", "{usage}");
}

async fn check_simulation(server: &Server) {
    let event = json!({"event_type": "api_call", "record": {"id": "D32NAC1", "isVerified": true},
        "customer_id": "cus_CrqwefTRWBWRT", "timestamp": "2024-12-20T19:00:00Z"});
    let (status, json) = server
        .call(
            Method::POST,
            "/v1/events/simulate-prices?include_tax=true",
            Some(&event),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{json}");
    let line = &json["result"][0];
    // One verified call so far: the second costs 2 cents in the first volume tier.
    assert_eq!(
        (
            line["amount_excluding_tax"].as_i64(),
            line["currency"].as_str()
        ),
        (Some(2), Some("EUR")),
        "{json}"
    );
    assert!(json["id"].as_str().unwrap().starts_with("cal_"));
}

/// The whole flow against a database URL, then a restart on the same data.
async fn exercise(database_url: &str) {
    let server = Server::start(database_url);
    let (status, _) = server.call(Method::GET, "/healthz", None).await;
    assert_eq!(status, StatusCode::OK);
    let ids = set_up_catalog(&server).await;
    ingest_seed_events(&server).await;
    check_usage(&server, &ids).await;
    check_simulation(&server).await;
    assert!(server.stop().success(), "a graceful stop exits 0");
    // Restarted on the same database, with the same key, the data is all there.
    let server = Server::start(database_url);
    check_usage(&server, &ids).await;
    assert!(server.stop().success());
}

#[tokio::test]
async fn seed_payloads_round_trip_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("tally.db").display());
    exercise(&url).await;
    check_other_account(&url).await;
}

/// `tally migrate` and `tally keys create` on the same database; the new
/// account's key works and sees none of the `default` account's data.
async fn check_other_account(url: &str) {
    let migrated = server::tally(&["migrate", "--database-url", url]);
    assert!(migrated.contains("is up to date"), "{migrated}");
    let key = server::tally(&[
        "keys",
        "create",
        "--account",
        "other",
        "--database-url",
        url,
    ]);
    let key = key.trim();
    assert!(key.starts_with("tally_sk_"), "{key}");
    let server = Server::start(url);
    let (status, page) = server
        .call_as(key, Method::GET, "/v1/customers", None)
        .await;
    assert_eq!(
        (status, page["meta"]["total"].as_u64()),
        (StatusCode::OK, Some(0))
    );
    let path = "/v1/customers/cus_CrqwefTRWBWRT";
    let (status, _) = server.call_as(key, Method::GET, path, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = server.call(Method::GET, path, None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(server.stop().success());
}

#[tokio::test]
async fn seed_payloads_round_trip_on_postgres() {
    let url = postgres::database_url();
    exercise(&url.url).await;
}
