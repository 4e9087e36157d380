//! One log line per request: method, path, request id, status and latency,
//! as text or as JSON.

use std::io::Write;
use std::sync::{Arc, Mutex};

use axum::http::Method;
use serde_json::Value;

use crate::support::TestApp;

/// Log output kept in memory.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn lines(&self) -> Vec<String> {
        let text = String::from_utf8(self.0.lock().unwrap().clone()).unwrap();
        text.lines().map(str::to_owned).collect()
    }
}

/// Two requests: a health check and an unauthenticated call.
async fn two_requests() {
    let app = TestApp::new().await;
    app.call_as(None, Method::GET, "/healthz", None).await;
    app.call_as(None, Method::GET, "/v1/customers", None).await;
}

#[tokio::test]
async fn each_request_logs_one_line_with_its_method_path_status_and_id() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    two_requests().await;
    let requests: Vec<String> = captured
        .lines()
        .into_iter()
        .filter(|line| line.contains("request status="))
        .collect();
    assert_eq!(requests.len(), 2, "{requests:#?}");
    assert!(requests[0].contains("method=GET"), "{}", requests[0]);
    assert!(requests[0].contains("path=/healthz"), "{}", requests[0]);
    assert!(requests[0].contains("request_id=req_"), "{}", requests[0]);
    assert!(requests[0].contains("status=200"), "{}", requests[0]);
    assert!(requests[0].contains("latency_ms="), "{}", requests[0]);
    assert!(
        requests[1].contains("path=/v1/customers"),
        "{}",
        requests[1]
    );
    assert!(requests[1].contains("status=401"), "{}", requests[1]);
}

#[tokio::test]
async fn json_logs_carry_the_same_fields() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    two_requests().await;
    let requests: Vec<Value> = captured
        .lines()
        .iter()
        .map(|line| serde_json::from_str::<Value>(line).unwrap())
        .filter(|line| line["fields"]["message"] == "request")
        .collect();
    assert_eq!(requests.len(), 2, "{requests:#?}");
    assert_eq!(requests[0]["fields"]["status"], 200);
    assert!(requests[0]["fields"]["latency_ms"].is_u64());
    assert_eq!(requests[0]["span"]["method"], "GET");
    assert_eq!(requests[0]["span"]["path"], "/healthz");
    assert!(
        requests[0]["span"]["request_id"]
            .as_str()
            .unwrap()
            .starts_with("req_")
    );
    assert_eq!(requests[1]["fields"]["status"], 401);
}
