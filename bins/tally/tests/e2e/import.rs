//! `tally import --url`: events sent through a running server's batch
//! endpoint, interrupted and resumed, then read back through the API.

use std::path::Path;
use std::process::{Command, Output};

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::server::{KEY, Server};

/// `tally import FILE --url BASE` with the key in `TALLY_API_KEY`, as a
/// script would pass it.
fn import(base: &str, key: &str, file: &Path, flags: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tally"))
        .args(["import", file.to_str().unwrap(), "--url", base])
        .args(flags)
        .env("TALLY_API_KEY", key)
        .env_remove("TALLY_DATABASE_URL")
        .output()
        .unwrap()
}

fn event(id: &str, customer: &str, event_type: &str) -> String {
    json!({"event_type": event_type, "customer_id": customer,
        "timestamp": "2024-12-20T16:04:11Z", "record": {"id": id, "ms": 7}})
    .to_string()
}

#[tokio::test]
async fn import_through_a_server_resumes_and_the_api_sees_every_event() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("tally.db").display());
    let server = Server::start(&url);
    let lines = [
        event("a1", "c1", "api_call"),
        event("a2", "c2", "api_call"),
        event("a3", "c1", "api call"),
        event("a4", "c2", "api_call"),
        event("a5", "c1", "api_call"),
        event("a6", "c3", "api_call"),
    ];
    let file = dir.path().join("events.ndjson");
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();

    let refused = import(&server.base, "tally_sk_wrong", &file, &[]);
    assert_eq!(refused.status.code(), Some(2), "{refused:?}");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("401"), "{stderr}");

    let flags = ["--batch-size", "2", "--stop-after-batches", "2"];
    let stopped = import(&server.base, KEY, &file, &flags);
    assert_eq!(stopped.status.code(), Some(2), "{stopped:?}");
    assert!(dir.path().join("events.ndjson.import-state").exists());
    let resumed = import(&server.base, KEY, &file, &["--batch-size", "2"]);
    assert_eq!(resumed.status.code(), Some(1), "{resumed:?}");
    assert_eq!(
        String::from_utf8_lossy(&resumed.stdout).lines().next(),
        Some("6 events: 5 accepted (5 created, 0 updated, 0 unchanged, 0 stale), 1 refused")
    );
    assert!(!dir.path().join("events.ndjson.import-state").exists());
    let rejects = std::fs::read_to_string(dir.path().join("events.ndjson.rejects.ndjson")).unwrap();
    let rejects: Vec<Value> = rejects
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(rejects.len(), 1, "{rejects:?}");
    assert_eq!(rejects[0]["line"], 3);
    assert_eq!(rejects[0]["errors"][0]["code"], "invalid_characters");
    assert_eq!(rejects[0]["event"]["record"]["id"], "a3");

    let (status, page) = server.call(Method::GET, "/v1/events?take=100", None).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["meta"]["total"], 5, "{page}");
    let mut ids: Vec<&str> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| event["record"]["id"].as_str().unwrap())
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, ["a1", "a2", "a4", "a5", "a6"]);
    let (_, customers) = server.call(Method::GET, "/v1/customers", None).await;
    assert_eq!(customers["meta"]["total"], 3, "{customers}");

    // CSV through the server: rows become events as into a database.
    let csv = dir.path().join("more.csv");
    std::fs::write(
        &csv,
        "event_type,customer_id,timestamp,id,zip\n\
         api_call,c4,2024-12-21T10:00:00Z,b1,01234\n",
    )
    .unwrap();
    let output = import(&server.base, KEY, &csv, &["--text", "record.zip"]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let (_, page) = server
        .call(Method::GET, "/v1/events?record_id__in=b1", None)
        .await;
    assert_eq!(
        page["data"][0]["record"],
        json!({"id": "b1", "zip": "01234"})
    );
    assert!(server.stop().success());
}
