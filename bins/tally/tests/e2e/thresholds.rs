//! A usage threshold through the real server: 16 clients ingesting at once
//! cross it, and the receiver gets exactly one signed
//! `usage.threshold_crossed` for it.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use axum::http::{Method, StatusCode};
use futures::future::join_all;
use serde_json::{Value, json};

use crate::receiver::{Mode, Receiver};
use crate::server::Server;

const CLIENTS: u32 = 16;
/// Loopback receivers allowed, and webhook work looked for often.
const FLAGS: &[&str] = &["--webhooks-allow-private-urls", "--webhooks-poll-ms", "50"];
/// Generous: the machines running the tests are shared.
const DEADLINE: Duration = Duration::from_secs(120);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixteen_clients_cross_a_threshold_and_it_is_announced_once() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("tally.db").display());
    let receiver = Receiver::start(Mode::Ok).await;
    let server = Server::start_with(&url, FLAGS);
    server
        .webhook_endpoint(&receiver, "usage.threshold_crossed")
        .await;
    let (status, body) = server
        .call(
            Method::POST,
            "/v1/customers",
            Some(&json!({"external_id": "acme", "currency": "EUR"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // `ten` is crossed by the first wave; `sixty` only by the second, so its
    // announcement says every write of the first wave was evaluated.
    let (status, body) = server
        .call(
            Method::POST,
            "/v1/aggregators",
            Some(
                &json!({"name": "calls", "event_type": "api_call", "operation": "count",
                "thresholds": [{"name": "ten", "threshold_value": 10},
                               {"name": "sixty", "threshold_value": 60}]}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    // Now: thresholds watch the current period (the calendar month of a
    // customer without subscription).
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    for wave in 0..2 {
        let writes = (0..CLIENTS).map(|client| {
            let events: Vec<Value> = (0..2)
                .map(|n| {
                    json!({"event_type": "api_call", "customer_id": "acme",
                           "timestamp": now_ms,
                           "record": {"id": format!("{wave}-{client}-{n}")}})
                })
                .collect();
            let server = &server;
            async move {
                server
                    .call(Method::POST, "/v1/events/batch", Some(&json!(events)))
                    .await
            }
        });
        for (status, body) in join_all(writes).await {
            assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        }
    }

    let start = Instant::now();
    let by_threshold = loop {
        let mut by_threshold: HashMap<String, Vec<String>> = HashMap::new();
        for request in receiver.received() {
            let body = request.json();
            let name = body["payload"]["data"]["threshold"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            by_threshold.entry(name).or_default().push(request.id);
        }
        if by_threshold.contains_key("sixty") {
            break by_threshold;
        }
        assert!(start.elapsed() < DEADLINE, "no crossing of sixty announced");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let (status, page) = server
        .call(Method::GET, "/v1/webhooks/messages?take=100", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let kinds: Vec<&str> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["payload"]["event_type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["usage.threshold_crossed"; 2], "{page:#}");
    assert_eq!(by_threshold["ten"].len(), 1, "{by_threshold:?}");
    assert_eq!(by_threshold["sixty"].len(), 1, "{by_threshold:?}");
    assert!(receiver.received().iter().all(|r| r.verified), "signed");
    let crossed = receiver
        .received()
        .into_iter()
        .map(|r| r.json())
        .find(|body| body["payload"]["data"]["threshold"]["name"] == "ten")
        .unwrap();
    assert_eq!(crossed["payload"]["event_type"], "usage.threshold_crossed");
    assert_eq!(crossed["payload"]["data"]["customer_external_id"], "acme");
    assert!(server.stop().success(), "a graceful stop exits 0");
}

/// A crossing whose evaluation a SIGKILL may have cut short (the events are
/// acknowledged, the evaluation runs after) is announced after a restart,
/// and still once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crossing_survives_a_kill_9_after_the_write() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("tally.db").display());
    let receiver = Receiver::start(Mode::Ok).await;
    let server = Server::start_with(&url, FLAGS);
    server
        .webhook_endpoint(&receiver, "usage.threshold_crossed")
        .await;
    let (status, body) = server
        .call(
            Method::POST,
            "/v1/aggregators",
            Some(
                &json!({"name": "calls", "event_type": "api_call", "operation": "count",
                "thresholds": [{"name": "five", "threshold_value": 5}]}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let events: Vec<Value> = (0..5)
        .map(|n| {
            json!({"event_type": "api_call", "customer_id": "acme", "timestamp": now_ms,
                   "record": {"id": n}})
        })
        .collect();
    let (status, body) = server
        .call(Method::POST, "/v1/events/batch", Some(&json!(events)))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    server.kill();

    let server = Server::start_with(&url, FLAGS);
    let start = Instant::now();
    while receiver.received().is_empty() {
        assert!(
            start.elapsed() < DEADLINE,
            "the crossing was never announced"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, page) = server
        .call(Method::GET, "/v1/webhooks/messages?take=100", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["meta"]["total"], 1, "announced once: {page:#}");
    let received: std::collections::HashSet<String> =
        receiver.received().into_iter().map(|r| r.id).collect();
    assert_eq!(received.len(), 1);
    assert!(server.stop().success(), "a graceful stop exits 0");
}
