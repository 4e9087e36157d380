//! Versions through the API: `unchanged`, stale history, deletion that keeps
//! history, the history endpoint and the purge.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::TestApp;

fn seat(timestamp: &str, plan: &str) -> Value {
    json!({"customer_id": "acme", "event_type": "seats", "timestamp": timestamp,
           "record": {"id": "s1", "plan": plan}})
}

async fn ingest(app: &TestApp, event: Value) -> String {
    let reply = app.call(Method::POST, "/v1/events", Some(event)).await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.text);
    reply.json["outcome"].as_str().unwrap().to_owned()
}

async fn history(app: &TestApp) -> (StatusCode, Value) {
    let reply = app
        .call(
            Method::GET,
            "/v1/events/history?event_type=seats&record_id=s1",
            None,
        )
        .await;
    (reply.status, reply.json)
}

fn statuses(history: &Value) -> Vec<(i64, String, String)> {
    history["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["seq"].as_i64().unwrap(),
                v["status"].as_str().unwrap().to_owned(),
                v["event"]["record"]["plan"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn every_version_is_kept_and_shown() {
    let app = TestApp::new().await;
    assert_eq!(
        ingest(&app, seat("2024-12-01T00:00:00Z", "a")).await,
        "created"
    );
    assert_eq!(
        ingest(&app, seat("2024-12-01T00:00:00Z", "a")).await,
        "unchanged"
    );
    assert_eq!(
        ingest(&app, seat("2024-12-03T00:00:00Z", "b")).await,
        "updated"
    );
    assert_eq!(
        ingest(&app, seat("2024-12-02T00:00:00Z", "c")).await,
        "stale"
    );

    let (status, body) = history(&app).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let expected = [
        (1, "superseded", "a"),
        (2, "current", "b"),
        (3, "stale", "c"),
    ];
    let expected: Vec<_> = expected
        .iter()
        .map(|(s, st, p)| (*s, st.to_string(), p.to_string()))
        .collect();
    assert_eq!(statuses(&body), expected);
    assert_eq!(body["data"][0]["current_until"], json!(2));
    // One id for every version of the event.
    let id = &body["data"][0]["event"]["id"];
    assert!(
        body["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|v| v["event"]["id"] == *id)
    );

    // Deletion: no current version, history kept and marked.
    let delete = json!({"matching": "record_ids", "event_type": "seats", "record_ids": ["s1"]});
    let reply = app
        .call(Method::DELETE, "/v1/events", Some(delete.clone()))
        .await;
    assert_eq!(reply.json, json!({"deleted": 1}));
    let listed = app
        .call(Method::GET, "/v1/events?event_type=seats", None)
        .await;
    assert_eq!(listed.json["meta"]["total"], json!(0), "{}", listed.text);
    let (_, body) = history(&app).await;
    assert!(
        statuses(&body)
            .iter()
            .all(|(_, status, _)| status == "deleted")
    );
    assert!(
        body["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|v| v["deleted_at"] == json!(4))
    );

    // The purge erases it all.
    let reply = app
        .call(Method::POST, "/v1/events/purge", Some(delete))
        .await;
    assert_eq!(
        (reply.status, reply.json.clone()),
        (StatusCode::OK, json!({"purged": 1}))
    );
    let (status, body) = history(&app).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
}

#[tokio::test]
async fn history_and_purge_check_their_input() {
    let app = TestApp::new().await;
    let reply = app
        .call(
            Method::GET,
            "/v1/events/history?event_type=bad%20type&record_id=",
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text);
    let paths: Vec<&str> = reply.json["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["/event_type", "/record_id"]);
    let purge = json!({"matching": "everything", "record_ids": []});
    let reply = app
        .call(Method::POST, "/v1/events/purge", Some(purge))
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text);
    let codes: Vec<&str> = reply.json["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["invalid_value", "required"]);
}
