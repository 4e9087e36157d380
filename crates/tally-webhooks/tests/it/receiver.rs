//! A webhook receiver on 127.0.0.1, over HTTP or HTTPS: it verifies each
//! request's signature, keeps what it received, and answers as told (200,
//! 500, slowly, or never).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tally_billing::webhooks::WebhookSecret;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// How the receiver answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// 200 at once.
    Ok,
    /// 500 at once.
    Fail,
    /// 200 after this long.
    Slow(Duration),
    /// Reads the request and never answers.
    Silent,
}

/// One request as received.
#[derive(Debug, Clone)]
pub struct Received {
    pub id: String,
    pub timestamp: i64,
    pub signature: String,
    pub body: Vec<u8>,
    /// Whether the signature verified with the receiver's secret.
    pub verified: bool,
}

impl Received {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("a json body")
    }
}

#[derive(Clone)]
pub struct Receiver {
    scheme: &'static str,
    pub address: SocketAddr,
    secret: Arc<Mutex<Option<WebhookSecret>>>,
    mode: Arc<Mutex<Mode>>,
    received: Arc<Mutex<Vec<Received>>>,
    open: Arc<AtomicUsize>,
    most_open: Arc<AtomicUsize>,
}

impl Receiver {
    /// Plain HTTP.
    pub async fn start(mode: Mode) -> Receiver {
        Self::serve(mode, None).await
    }

    /// HTTPS, with the certificate `acceptor` presents.
    #[allow(dead_code)]
    pub async fn start_tls(mode: Mode, acceptor: TlsAcceptor) -> Receiver {
        Self::serve(mode, Some(acceptor)).await
    }

    async fn serve(mode: Mode, tls: Option<TlsAcceptor>) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let receiver = Receiver {
            scheme: if tls.is_some() { "https" } else { "http" },
            address: listener.local_addr().unwrap(),
            secret: Arc::default(),
            mode: Arc::new(Mutex::new(mode)),
            received: Arc::default(),
            open: Arc::default(),
            most_open: Arc::default(),
        };
        let serving = receiver.clone();
        tokio::spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                let this = serving.clone();
                let tls = tls.clone();
                tokio::spawn(async move {
                    match tls {
                        None => this.serve_connection(stream).await,
                        Some(acceptor) => {
                            if let Ok(stream) = acceptor.accept(stream).await {
                                this.serve_connection(stream).await;
                            }
                        }
                    }
                });
            }
        });
        receiver
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}://{}{path}", self.scheme, self.address)
    }

    async fn serve_connection<S>(self, stream: S)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let service = service_fn(move |request| {
            let this = self.clone();
            async move { Ok::<_, Infallible>(this.answer(request).await) }
        });
        let _ = http1::Builder::new()
            .serve_connection(TokioIo::new(stream), service)
            .await;
    }

    pub fn verify_with(&self, secret: &str) {
        *self.secret.lock().unwrap() = Some(WebhookSecret::parse(secret).unwrap());
    }

    pub fn set_mode(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// The most requests it was answering at once.
    pub fn most_open(&self) -> usize {
        self.most_open.load(Ordering::SeqCst)
    }

    async fn answer(&self, request: Request<Incoming>) -> Response<Full<Bytes>> {
        let open = self.open.fetch_add(1, Ordering::SeqCst) + 1;
        self.most_open.fetch_max(open, Ordering::SeqCst);
        let header = |name: &str| {
            request
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        let (id, signature) = (header("webhook-id"), header("webhook-signature"));
        let timestamp: i64 = header("webhook-timestamp").parse().unwrap_or(-1);
        let body = request
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec();
        let verified = self
            .secret
            .lock()
            .unwrap()
            .as_ref()
            .is_some_and(|secret| secret.verify(&id, timestamp, &body, &signature));
        self.received.lock().unwrap().push(Received {
            id,
            timestamp,
            signature,
            body,
            verified,
        });
        let mode = *self.mode.lock().unwrap();
        let status = match mode {
            Mode::Ok => StatusCode::OK,
            Mode::Fail => StatusCode::INTERNAL_SERVER_ERROR,
            Mode::Slow(wait) => {
                tokio::time::sleep(wait).await;
                StatusCode::OK
            }
            Mode::Silent => std::future::pending().await,
        };
        self.open.fetch_sub(1, Ordering::SeqCst);
        Response::builder()
            .status(status)
            .body(Full::new(Bytes::from_static(b"{}")))
            .unwrap()
    }
}
