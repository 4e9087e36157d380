//! The load generator's HTTP/1 client: one kept-alive connection per task, so
//! the number of connections is exactly what the flags say.
//!
//! A `503` (the ingest queue is full, the database is busy) or a `429` is
//! retried after its `Retry-After`, and counted.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, bail};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST, RETRY_AFTER};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Retries of one request before giving up.
const MAX_RETRIES: u32 = 1_000;
/// The wait when a retryable answer names none.
const DEFAULT_RETRY_WAIT: Duration = Duration::from_millis(50);

/// Where and as whom to connect.
#[derive(Debug, Clone)]
pub struct Target {
    pub addr: SocketAddr,
    pub key: String,
}

/// An answer with its body read.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub body: Bytes,
}

impl Reply {
    /// The body as JSON, or an error naming the request.
    pub fn json(&self, what: &str) -> anyhow::Result<serde_json::Value> {
        serde_json::from_slice(&self.body)
            .with_context(|| format!("{what}: the answer is not JSON"))
    }

    /// Fails unless the status is `expected`.
    pub fn expect(self, expected: StatusCode, what: &str) -> anyhow::Result<Reply> {
        if self.status != expected {
            bail!(
                "{what}: expected {expected}, got {}: {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            );
        }
        Ok(self)
    }
}

/// One keep-alive connection.
pub struct Conn {
    target: Target,
    authority: String,
    sender: SendRequest<Full<Bytes>>,
    /// Answers retried (503, 429) since the connection opened.
    pub retries: u64,
}

impl Conn {
    pub async fn open(target: &Target) -> anyhow::Result<Conn> {
        let sender = handshake(target.addr).await?;
        Ok(Conn {
            authority: target.addr.to_string(),
            target: target.clone(),
            sender,
            retries: 0,
        })
    }

    /// Sends a request, retrying 503 and 429, and reads the whole body.
    pub async fn send(
        &mut self,
        method: Method,
        path: &str,
        body: Option<Bytes>,
    ) -> anyhow::Result<Reply> {
        let response = self.send_head(method, path, body).await?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .with_context(|| format!("{path}: cannot read the answer"))?
            .to_bytes();
        Ok(Reply { status, body })
    }

    /// Sends a request, retrying 503 and 429, and returns the answer with its
    /// body still to read (a streamed export).
    pub async fn send_head(
        &mut self,
        method: Method,
        path: &str,
        body: Option<Bytes>,
    ) -> anyhow::Result<Response<hyper::body::Incoming>> {
        for _ in 0..=MAX_RETRIES {
            let response = self.round_trip(method.clone(), path, body.clone()).await?;
            let status = response.status();
            if status != StatusCode::SERVICE_UNAVAILABLE && status != StatusCode::TOO_MANY_REQUESTS
            {
                return Ok(response);
            }
            self.retries += 1;
            let wait = retry_after(&response).unwrap_or(DEFAULT_RETRY_WAIT);
            // Read the refusal so the connection can carry the retry.
            let _ = response.into_body().collect().await;
            tokio::time::sleep(wait).await;
        }
        bail!("{path}: still refused after {MAX_RETRIES} retries")
    }

    async fn round_trip(
        &mut self,
        method: Method,
        path: &str,
        body: Option<Bytes>,
    ) -> anyhow::Result<Response<hyper::body::Incoming>> {
        // A connection the server closed is opened again, once.
        if self.sender.ready().await.is_err() {
            self.sender = handshake(self.target.addr).await?;
        }
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(HOST, &self.authority)
            .header(AUTHORIZATION, format!("Bearer {}", self.target.key));
        if body.is_some() {
            request = request.header(CONTENT_TYPE, "application/json");
        }
        let request = request
            .body(Full::new(body.unwrap_or_default()))
            .context("cannot build a request")?;
        self.sender
            .send_request(request)
            .await
            .with_context(|| format!("{path}: request failed"))
    }
}

async fn handshake(addr: SocketAddr) -> anyhow::Result<SendRequest<Full<Bytes>>> {
    let stream = TcpStream::connect(addr)
        .await
        .with_context(|| format!("cannot connect to {addr}"))?;
    stream.set_nodelay(true)?;
    let (mut sender, connection) = http1::handshake(TokioIo::new(stream))
        .await
        .context("http handshake failed")?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    sender.ready().await.context("connection not ready")?;
    Ok(sender)
}

/// `Retry-After` in seconds (the only form Tally sends).
fn retry_after<B>(response: &Response<B>) -> Option<Duration> {
    let seconds: f64 = response
        .headers()
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds.min(60.0)))
}

/// Reads a streamed body to its end: bytes and CSV records (CRLF line ends;
/// the generated data has no line breaks inside cells).
pub async fn drain_counting_lines(
    response: Response<hyper::body::Incoming>,
) -> anyhow::Result<(u64, u64)> {
    let mut body = response.into_body();
    let (mut bytes, mut lines) = (0u64, 0u64);
    while let Some(frame) = body.frame().await {
        let frame = frame.context("the export stopped before its end")?;
        if let Some(data) = frame.data_ref() {
            bytes += data.len() as u64;
            lines += data.iter().filter(|&&b| b == b'\n').count() as u64;
        }
    }
    Ok((bytes, lines))
}
