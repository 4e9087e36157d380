//! Connection hygiene of the real server: header read and idle timeouts, the
//! cap on open connections, and failed keys limited per client address.
//!
//! Timeouts are configured small; the checks compare what happens on one
//! connection with another rather than measure time, and the only bounds
//! are generous ones that keep a broken server from hanging the test.

use std::time::Duration;

use axum::http::{Method, StatusCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

use crate::server::{KEY, Server};

/// Long enough for any healthy answer on a loaded machine.
const PATIENCE: Duration = Duration::from_secs(30);

const HEALTH: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: tally\r\n\r\n";

async fn connect(server: &Server) -> TcpStream {
    TcpStream::connect(server.address()).await.unwrap()
}

/// Reads until the server closes the connection (a reset counts).
async fn until_closed(stream: &mut TcpStream) {
    let mut sink = Vec::new();
    let _ = stream.read_to_end(&mut sink).await;
}

/// Reads a response head.
async fn response_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let read = stream.read(&mut byte).await.unwrap();
        assert_eq!(
            read,
            1,
            "closed mid-response: {}",
            String::from_utf8_lossy(&head)
        );
        head.push(byte[0]);
    }
    String::from_utf8(head).unwrap()
}

#[tokio::test]
async fn a_half_sent_header_or_a_silent_connection_is_closed_after_the_header_timeout() {
    let server = Server::start_with("memory:", &["--header-read-timeout-ms", "200"]);
    let mut half = connect(&server).await;
    half.write_all(b"GET /healthz HTTP/1.1\r\nHost: tal")
        .await
        .unwrap();
    let mut silent = connect(&server).await;
    let closed = timeout(PATIENCE, async {
        until_closed(&mut half).await;
        until_closed(&mut silent).await;
    });
    assert!(
        closed.await.is_ok(),
        "a connection without a full head stayed open"
    );
    // A full request in time is served.
    let mut whole = connect(&server).await;
    whole.write_all(HEALTH).await.unwrap();
    let head = timeout(PATIENCE, response_head(&mut whole)).await.unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
}

#[tokio::test]
async fn a_stalled_body_is_closed_after_the_idle_timeout() {
    let server = Server::start_with(
        "memory:",
        &["--header-read-timeout-ms", "0", "--idle-timeout-ms", "200"],
    );
    let mut stalled = connect(&server).await;
    let head = format!(
        "POST /v1/events HTTP/1.1\r\nHost: tally\r\nAuthorization: Bearer {KEY}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"event"
    );
    stalled.write_all(head.as_bytes()).await.unwrap();
    let closed = timeout(PATIENCE, until_closed(&mut stalled)).await;
    assert!(
        closed.is_ok(),
        "a connection that stopped sending stayed open"
    );
}

#[tokio::test]
async fn connections_over_the_cap_wait_for_one_to_close() {
    let server = Server::start_with("memory:", &["--max-connections", "2"]);
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut stream = connect(&server).await;
        stream.write_all(HEALTH).await.unwrap();
        let head = timeout(PATIENCE, response_head(&mut stream)).await.unwrap();
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        held.push(stream);
    }
    // Both are kept alive: a third connection is not served meanwhile.
    let mut third = connect(&server).await;
    third.write_all(HEALTH).await.unwrap();
    let mut byte = [0; 1];
    let early = timeout(Duration::from_millis(500), third.read(&mut byte)).await;
    assert!(early.is_err(), "a connection over the cap was served");
    drop(held.pop());
    let head = timeout(PATIENCE, response_head(&mut third)).await.unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
}

#[tokio::test]
async fn failed_keys_are_limited_per_client_address() {
    let server = Server::start_with("memory:", &["--auth-failure-limit", "2"]);
    for _ in 0..2 {
        let (status, _) = server
            .call_as("tally_sk_wrong", Method::GET, "/v1/customers", None)
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, body) = server.call(Method::GET, "/v1/customers", None).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["code"], "rate_limited");
}
