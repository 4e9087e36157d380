//! One log line per request: method, path, request id, status and latency,
//! as text or as JSON. A test binary of its own: the subscriber it installs
//! must see every request, and no other test's.

use std::io::Write;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::Request;
use serde_json::Value;
use tally_api::{ApiConfig, AppState, router};
use tally_billing::Billing;
use tally_store::MemoryStore;
use tower::ServiceExt;

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

/// A health check, an unauthenticated call and a portal link.
async fn some_requests() {
    let app = router(AppState::new(
        Billing::new(Arc::new(MemoryStore::new())),
        ApiConfig::default(),
    ));
    for path in [
        "/healthz",
        "/v1/customers",
        "/portal/c2VjcmV0.dG9rZW4/invoices/inv_1",
    ] {
        let request = Request::get(path).body(Body::empty()).unwrap();
        app.clone().oneshot(request).await.unwrap();
    }
}

#[tokio::test]
async fn each_request_logs_one_line_as_text_or_json() {
    let text = Captured::default();
    let writer = text.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    {
        let _guard = tracing::subscriber::set_default(subscriber);
        some_requests().await;
    }
    let requests: Vec<String> = text
        .lines()
        .into_iter()
        .filter(|line| line.contains("request status="))
        .collect();
    assert_eq!(requests.len(), 3, "{:#?}", text.lines());
    // A portal link's token is a credential: the log shows `{token}` instead.
    assert!(
        requests[2].contains("path=/portal/{token}/invoices/inv_1"),
        "{}",
        requests[2]
    );
    assert!(
        !text.lines().concat().contains("c2VjcmV0"),
        "{:#?}",
        text.lines()
    );
    for expected in [
        "method=GET",
        "path=/healthz",
        "request_id=req_",
        "status=200",
        "latency_ms=",
    ] {
        assert!(
            requests[0].contains(expected),
            "{expected}: {}",
            requests[0]
        );
    }
    assert!(
        requests[1].contains("path=/v1/customers"),
        "{}",
        requests[1]
    );
    assert!(requests[1].contains("status=401"), "{}", requests[1]);

    let json = Captured::default();
    let writer = json.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_writer(move || writer.clone())
        .finish();
    {
        let _guard = tracing::subscriber::set_default(subscriber);
        some_requests().await;
    }
    let requests: Vec<Value> = json
        .lines()
        .iter()
        .map(|line| serde_json::from_str::<Value>(line).unwrap())
        .filter(|line| line["fields"]["message"] == "request")
        .collect();
    assert_eq!(requests.len(), 3, "{requests:#?}");
    assert_eq!(
        requests[2]["span"]["path"],
        "/portal/{token}/invoices/inv_1"
    );
    assert_eq!(requests[0]["fields"]["status"], 200);
    assert!(requests[0]["fields"]["latency_ms"].is_u64());
    assert_eq!(requests[0]["span"]["method"], "GET");
    assert_eq!(requests[0]["span"]["path"], "/healthz");
    let id = requests[0]["span"]["request_id"].as_str().unwrap();
    assert!(id.starts_with("req_"), "{id}");
    assert_eq!(requests[1]["fields"]["status"], 401);
}
