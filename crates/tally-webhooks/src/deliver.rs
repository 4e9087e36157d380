//! One attempt: a signed `POST` of a message to its endpoint.
//!
//! The connection is made to the addresses the URL's host resolves to now,
//! each checked against the private-address rule, so a name that was public
//! when the endpoint was saved and points inside the network later is
//! refused. One connection per attempt, HTTP/1.1, no redirect followed (a
//! 3xx is a failed attempt, as the Standard Webhooks specification has it).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::json;
use tally_billing::WebhookConfig;
use tally_billing::webhooks::{EndpointUrl, WebhookSecret};
use tally_event::Timestamp;
use tally_store::ClaimedMessage;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

/// How much of an answer's body is read (and dropped) before the
/// connection closes: receivers answer with little, and nothing of it is
/// kept.
pub const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// What an attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Report {
    /// The receiver's status, when it answered.
    pub status: Option<u16>,
    /// Why it failed, when it did.
    pub error: Option<String>,
    /// How long it took.
    pub duration: Duration,
}

impl Report {
    pub(crate) fn succeeded(&self) -> bool {
        self.error.is_none()
    }
}

/// The body every attempt of `message` posts, `sent_at` being the attempt's
/// start.
pub fn message_body(message: &ClaimedMessage, sent_at: Timestamp) -> Vec<u8> {
    let body = json!({
        "id": message.id.as_str(),
        "event_id": message.event_id.as_str(),
        "payload": {
            "event_type": message.event_type.as_str(),
            "data": message.data,
        },
        "sent_at": sent_at.to_rfc3339(),
    });
    body.to_string().into_bytes()
}

/// Posts `message` once, within `config.timeout`.
pub(crate) async fn attempt(
    message: &ClaimedMessage,
    config: &WebhookConfig,
    tls: &Tls,
    started_at: Timestamp,
) -> Report {
    let clock = Instant::now();
    let posted = post(message, config, tls, started_at);
    let outcome = tokio::time::timeout(config.timeout, posted).await;
    let (status, error) = match outcome {
        Err(_) => (
            None,
            Some(format!("timed out after {} ms", config.timeout.as_millis())),
        ),
        Ok(Err(error)) => (None, Some(error)),
        Ok(Ok(status)) if status.is_success() => (Some(status.as_u16()), None),
        Ok(Ok(status)) => (Some(status.as_u16()), Some(format!("answered {status}"))),
    };
    Report {
        status,
        error,
        duration: clock.elapsed(),
    }
}

async fn post(
    message: &ClaimedMessage,
    config: &WebhookConfig,
    tls: &Tls,
    sent_at: Timestamp,
) -> Result<StatusCode, String> {
    let allow_private = config.allow_private_urls;
    let url = EndpointUrl::parse(&message.url, allow_private).map_err(|e| e.to_string())?;
    let addresses = url
        .resolve(allow_private, config.timeout)
        .await
        .map_err(|e| e.to_string())?;
    let request = signed_request(message, &url, sent_at)?;
    let stream = connect(&addresses).await?;
    if !url.is_https() {
        return exchange(stream, request).await;
    }
    let connector = tls.connector()?;
    let name = ServerName::try_from(url.host()).map_err(|e| format!("tls server name: {e}"))?;
    let stream = connector
        .connect(name, stream)
        .await
        .map_err(|e| format!("tls: {e}").to_lowercase())?;
    exchange(stream, request).await
}

/// Sends `request` over `stream` (HTTP/1.1) and reads the answer's status
/// and a little of its body, so the receiver sees its answer taken; what it
/// says is not kept.
async fn exchange<S>(stream: S, request: Request<Full<Bytes>>) -> Result<StatusCode, String>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("http handshake: {e}"))?;
    let driver = tokio::spawn(connection);
    let result = match sender.send_request(request).await {
        Ok(response) => {
            let status = response.status();
            let _ = Limited::new(response.into_body(), MAX_ANSWER_BYTES)
                .collect()
                .await;
            Ok(status)
        }
        Err(error) => Err(format!("request: {error}")),
    };
    driver.abort();
    result
}

/// The TLS client of `https` deliveries: the machine's root certificates
/// (`SSL_CERT_FILE` or `SSL_CERT_DIR` when set, else the system's store),
/// read once when the worker starts, and ring's primitives.
pub(crate) struct Tls(Result<TlsConnector, String>);

impl Tls {
    pub(crate) fn load() -> Tls {
        let found = rustls_native_certs::load_native_certs();
        let mut roots = RootCertStore::empty();
        let (added, _) = roots.add_parsable_certificates(found.certs);
        if added == 0 {
            let reason = "no trusted root certificate on this machine (install ca-certificates, \
                          or set SSL_CERT_FILE)";
            return Tls(Err(reason.to_owned()));
        }
        // rustls marks ring's provider deprecated for its lack of
        // post-quantum key exchange; its alternative (aws-lc-rs) is a C and
        // CMake build (docs/decisions.md, "Webhooks").
        #[allow(deprecated)]
        let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map(|builder| builder.with_root_certificates(roots).with_no_client_auth())
            .map_err(|e| format!("tls setup: {e}"));
        Tls(config.map(|config| TlsConnector::from(Arc::new(config))))
    }

    fn connector(&self) -> Result<&TlsConnector, String> {
        self.0.as_ref().map_err(Clone::clone)
    }
}

async fn connect(addresses: &[SocketAddr]) -> Result<TcpStream, String> {
    let mut last = String::from("no address");
    for address in addresses {
        match TcpStream::connect(address).await {
            Ok(stream) => return Ok(stream),
            Err(error) => last = format!("connect to {address}: {error}"),
        }
    }
    Err(last.to_lowercase())
}

fn signed_request(
    message: &ClaimedMessage,
    url: &EndpointUrl,
    sent_at: Timestamp,
) -> Result<Request<Full<Bytes>>, String> {
    let secret = WebhookSecret::parse(&message.secret).map_err(|e| format!("secret: {e}"))?;
    let body = message_body(message, sent_at);
    let timestamp = sent_at.as_millis().div_euclid(1000);
    let signature = secret.sign(message.id.as_str(), timestamp, &body);
    let target = match url.url().query() {
        Some(query) => format!("{}?{query}", url.url().path()),
        None => url.url().path().to_owned(),
    };
    let host = match url.url().port() {
        Some(port) => format!("{}:{port}", url.url().host_str().unwrap_or_default()),
        None => url.url().host_str().unwrap_or_default().to_owned(),
    };
    Request::post(target)
        .header("host", host)
        .header("content-type", "application/json")
        .header(
            "user-agent",
            concat!("tally-webhooks/", env!("CARGO_PKG_VERSION")),
        )
        .header("webhook-id", message.id.as_str())
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| format!("request: {e}"))
}
