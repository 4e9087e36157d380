//! Webhooks through the real server: messages pending or in the middle of an
//! attempt when the server is killed with SIGKILL are all delivered after a
//! restart on the same database (at least once each), signed.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::receiver::{Mode, Receiver};
use crate::server::Server;

const MESSAGES: usize = 6;
/// Generous: the machines running the tests are shared.
const DEADLINE: Duration = Duration::from_secs(120);

/// Fast retries, a short attempt timeout (so a short lease: 2 × 3 s + 5 s),
/// and loopback receivers allowed.
const FLAGS: &[&str] = &[
    "--webhooks-allow-private-urls",
    "--webhooks-timeout-ms",
    "3000",
    "--webhooks-backoff-base-ms",
    "200",
    "--webhooks-backoff-max-ms",
    "1000",
    "--webhooks-poll-ms",
    "50",
    "--webhooks-endpoint-concurrency",
    "3",
];

async fn wait_until<T>(what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(start.elapsed() < DEADLINE, "still not {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn messages(server: &Server) -> Vec<Value> {
    let (status, page) = server
        .call(Method::GET, "/v1/webhooks/messages?take=100", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page["data"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_survive_a_kill_9_mid_delivery() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("tally.db").display());
    // The receiver takes requests and answers none: attempts are in flight
    // (their messages `delivering`) when the server dies.
    let receiver = Receiver::start(Mode::Silent).await;
    let server = Server::start_with(&url, FLAGS);
    server
        .webhook_endpoint(&receiver, "event.price_calculated")
        .await;
    for n in 0..MESSAGES {
        let event = json!({"customer_id": "acme", "event_type": "api_call",
                           "timestamp": "2024-12-02T00:00:00Z", "record": {"id": n}});
        let (status, body) = server
            .call(Method::POST, "/v1/events/prices", Some(&event))
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    }
    wait_until("attempted", async || {
        (!receiver.received().is_empty()).then_some(())
    })
    .await;
    let before = messages(&server).await;
    assert!(
        before.iter().any(|m| m["status"] == "delivering"),
        "an attempt in flight: {before:#?}"
    );
    server.kill();

    receiver.set_mode(Mode::Ok);
    let server = Server::start_with(&url, FLAGS);
    let delivered = wait_until("delivered after the restart", async || {
        let all = messages(&server).await;
        let done = all.len() == MESSAGES && all.iter().all(|m| m["status"] == "succeeded");
        done.then_some(all)
    })
    .await;
    assert!(server.stop().success(), "a graceful stop exits 0");

    let received = receiver.received();
    assert!(received.iter().all(|r| r.verified), "every request signed");
    let ids: HashSet<&str> = received.iter().map(|r| r.id.as_str()).collect();
    for message in &delivered {
        let id = message["id"].as_str().unwrap();
        assert!(ids.contains(id), "{id} never reached the receiver");
        let last = message["attempts"]
            .as_array()
            .unwrap()
            .last()
            .unwrap()
            .clone();
        assert_eq!(last["status_code"], 200, "{message}");
    }
}

/// Two servers on one PostgreSQL database deliver every message, each
/// exactly once when every attempt succeeds: their claims never take one
/// message twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_on_postgres_deliver_each_message_once() {
    const COUNT: usize = 24;
    let database = crate::postgres::database_url();
    let receiver = Receiver::start(Mode::Ok).await;
    let first = Server::start_with(&database.url, FLAGS);
    let second = Server::start_with(&database.url, FLAGS);
    first
        .webhook_endpoint(&receiver, "event.price_calculated")
        .await;
    for n in 0..COUNT {
        let server = if n % 2 == 0 { &first } else { &second };
        let event = json!({"customer_id": "acme", "event_type": "api_call",
                           "timestamp": "2024-12-02T00:00:00Z", "record": {"id": n}});
        let (status, body) = server
            .call(Method::POST, "/v1/events/prices", Some(&event))
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    }
    let delivered = wait_until("delivered", async || {
        let all = messages(&first).await;
        let done = all.len() == COUNT && all.iter().all(|m| m["status"] == "succeeded");
        done.then_some(all)
    })
    .await;
    assert!(first.stop().success());
    assert!(second.stop().success());
    let received = receiver.received();
    assert!(received.iter().all(|r| r.verified));
    let ids: HashSet<&str> = received.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids.len(), COUNT, "every message reached the receiver");
    assert_eq!(received.len(), COUNT, "none twice");
    for message in &delivered {
        assert_eq!(
            message["attempts"].as_array().unwrap().len(),
            1,
            "{message}"
        );
    }
}

/// An `https` endpoint gets its message over TLS, the receiver's certificate
/// checked against the roots the server trusts (`SSL_CERT_FILE`: a test CA).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_endpoints_are_delivered_over_tls() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("tally.db").display());
    let receiver = Receiver::start_tls(Mode::Ok, test_acceptor()).await;
    let ca = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/e2e/tls/ca.pem");
    let server = Server::start_with_env(&url, FLAGS, &[("SSL_CERT_FILE", ca)]);
    let endpoint = server
        .webhook_endpoint(&receiver, "event.price_calculated")
        .await;
    assert!(
        endpoint["url"]
            .as_str()
            .unwrap()
            .starts_with("https://127.0.0.1:")
    );
    let event = json!({"customer_id": "acme", "event_type": "api_call",
                       "timestamp": "2024-12-02T00:00:00Z", "record": {"id": 1}});
    let (status, body) = server
        .call(Method::POST, "/v1/events/prices", Some(&event))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let delivered = wait_until("delivered", async || {
        let all = messages(&server).await;
        let done = all.len() == 1 && all[0]["status"] == "succeeded";
        done.then_some(all)
    })
    .await;
    assert!(server.stop().success());
    let received = receiver.received();
    assert_eq!(received.len(), 1);
    assert!(received[0].verified);
    assert_eq!(received[0].id, delivered[0]["id"].as_str().unwrap());
}

/// The receiver's side: the test certificate for 127.0.0.1 (tls/README.md).
fn test_acceptor() -> tokio_rustls::TlsAcceptor {
    use tokio_rustls::rustls::ServerConfig;
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/e2e/tls");
    let certs = CertificateDer::pem_file_iter(format!("{dir}/server.pem"))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(format!("{dir}/server.key")).unwrap();
    #[allow(deprecated)]
    let provider = std::sync::Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config))
}
