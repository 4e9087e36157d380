//! The real `tally serve` process and a small HTTP client for it.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};

use axum::body::Bytes;
use axum::http::{Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

use crate::receiver::Receiver;

/// The key the server registers at start (`TALLY_BOOTSTRAP_API_KEY`).
pub const KEY: &str = "tally_sk_endtoendendtoendendtoendendtoendendt";

/// A running `tally serve` on a free loopback port; killed if still running when
/// dropped.
pub struct Server {
    child: Child,
    pub base: String,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl Server {
    /// A webhook endpoint at `receiver` for `event_type`; the receiver then
    /// checks every signature with the endpoint's secret. Answers the
    /// endpoint as created.
    pub async fn webhook_endpoint(&self, receiver: &Receiver, event_type: &str) -> Value {
        let body = serde_json::json!({"url": receiver.url("/hooks"), "event_types": [event_type]});
        let (status, endpoint) = self
            .call(Method::POST, "/v1/webhooks/endpoints", Some(&body))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{endpoint}");
        receiver.verify_with(endpoint["secret"].as_str().unwrap());
        endpoint
    }

    /// Starts the binary and waits for its "listening" line. Settings come only
    /// from the flags and the bootstrap key, never from the caller's environment.
    pub fn start(database_url: &str) -> Server {
        Self::start_with(database_url, &[])
    }

    /// Like [`Server::start`], with more `serve` flags.
    pub fn start_with(database_url: &str, flags: &[&str]) -> Server {
        Self::start_with_env(database_url, flags, &[])
    }

    /// Like [`Server::start_with`], with environment variables.
    pub fn start_with_env(database_url: &str, flags: &[&str], env: &[(&str, &str)]) -> Server {
        let mut command = Command::new(env!("CARGO_BIN_EXE_tally"));
        command.envs(env.iter().copied());
        for (name, _) in std::env::vars().filter(|(name, _)| name.starts_with("TALLY_")) {
            command.env_remove(name);
        }
        let mut child = command
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--database-url",
                database_url,
            ])
            .args(flags)
            .env("TALLY_BOOTSTRAP_API_KEY", KEY)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut base = None;
        for line in BufReader::new(stdout).lines() {
            let line = line.unwrap();
            if let Some(address) = line.strip_prefix("tally listening on ") {
                base = Some(address.to_owned());
                break;
            }
        }
        let base = base.unwrap_or_else(|| panic!("tally serve exited before listening"));
        let client = Client::builder(TokioExecutor::new()).build_http();
        Server {
            child,
            base,
            client,
        }
    }

    /// A request with the bootstrap key; the JSON body of the answer.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        self.call_as(KEY, method, path, body).await
    }

    /// A request with any key.
    pub async fn call_as(
        &self,
        key: &str,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        let mut request = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header(header::AUTHORIZATION, format!("Bearer {key}"));
        let bytes = match body {
            Some(body) => {
                request = request.header(header::CONTENT_TYPE, "application/json");
                Bytes::from(body.to_string())
            }
            None => Bytes::new(),
        };
        let response = self
            .client
            .request(request.body(Full::new(bytes)).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, json)
    }

    /// The `host:port` the server listens on.
    pub fn address(&self) -> &str {
        self.base.trim_start_matches("http://")
    }

    /// SIGKILL (`kill -9`): the process ends at once, wherever it is.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM, then the exit status: a graceful stop exits 0.
    pub fn stop(mut self) -> ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(sent.success());
        self.child.wait().unwrap()
    }
}

/// Runs a `tally` command to completion; its standard output.
pub fn tally(args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_tally"))
        .args(args)
        .env_remove("TALLY_DATABASE_URL")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "tally {args:?}: {stderr}");
    String::from_utf8(output.stdout).unwrap()
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
