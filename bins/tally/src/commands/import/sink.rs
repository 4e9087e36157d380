//! Where batches go: a database through `Billing::ingest_batch`, or a server
//! through `POST /v1/events/batch`. Either answers per event: an outcome for
//! each accepted one, the problems of each refused one.

use std::time::Duration;

use anyhow::{Context, bail};
use axum::body::Bytes;
use axum::http::{Request, StatusCode, Uri, header};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Deserialize;
use tally_billing::Billing;
use tally_store::{AccountId, ApiKeyHash};

use super::events::{Events, Form};
use super::rejects::Problem;

/// Retries of one batch the server refused for now (503, 429): an hour of
/// `Retry-After: 1`.
const MAX_BUSY_RETRIES: u32 = 3_600;
/// The wait when a 503 or 429 names none.
const DEFAULT_RETRY_WAIT: Duration = Duration::from_secs(1);
/// Retries of one batch that met a connection error, a second apart, then
/// more: a restarting server comes back; an absent one fails the import,
/// which a later run resumes.
const MAX_NETWORK_RETRIES: u32 = 5;

/// The answer to one batch.
#[derive(Debug, Default)]
pub struct Answer {
    /// The outcome of each accepted event (`created`, `updated`, …).
    pub outcomes: Vec<String>,
    /// Each refused event's index in the batch, and its problems.
    pub refused: Vec<(usize, Vec<Problem>)>,
}

pub enum Sink {
    Store {
        billing: Billing,
        account: AccountId,
    },
    Http(HttpSink),
}

impl Sink {
    /// The account named `account` in the database at `url`, which must exist.
    pub async fn store(url: &str, account: &str) -> anyhow::Result<Sink> {
        let store = tally_engine::open_existing_store(url).await?;
        let found = store
            .find_account_by_name(account)
            .await?
            .with_context(|| {
                format!("no account named {account}: create it with `tally keys create --account {account}`")
            })?;
        Ok(Sink::Store {
            billing: Billing::new(store),
            account: found.id,
        })
    }

    /// The form of events this destination takes.
    pub fn form(&self) -> Form {
        match self {
            Sink::Store { .. } => Form::Values,
            Sink::Http(_) => Form::Array,
        }
    }

    pub async fn send(&self, events: &Events) -> anyhow::Result<Answer> {
        match self {
            Sink::Store { billing, account } => {
                let Some(values) = events.values() else {
                    bail!("events read in a form the database does not take");
                };
                let outcome = billing
                    .ingest_batch(account, values)
                    .await
                    .context("ingestion failed")?;
                Ok(Answer {
                    outcomes: outcome
                        .accepted
                        .iter()
                        .map(|accepted| accepted.event.outcome.as_str().to_owned())
                        .collect(),
                    refused: outcome
                        .rejected
                        .iter()
                        .map(|rejected| {
                            (
                                rejected.index,
                                rejected.errors.iter().map(Problem::from).collect(),
                            )
                        })
                        .collect(),
                })
            }
            Sink::Http(http) => {
                let Some(body) = events.body() else {
                    bail!("events read in a form the server does not take");
                };
                http.send(Bytes::from(body)).await
            }
        }
    }
}

/// A server's batch endpoint, with an API key.
pub struct HttpSink {
    client: Client<HttpConnector, Full<Bytes>>,
    endpoint: Uri,
    key: String,
}

impl HttpSink {
    /// `base` is `http://host:port`, with a path prefix if a proxy adds one.
    pub fn new(base: &str, key: &str) -> anyhow::Result<HttpSink> {
        let endpoint = format!("{}/v1/events/batch", base.trim_end_matches('/'));
        let endpoint: Uri = endpoint
            .parse()
            .with_context(|| format!("--url {base} is not a URL"))?;
        if endpoint.scheme_str() != Some("http") {
            bail!("--url {base}: only http:// is supported (put TLS in a proxy in front of it)");
        }
        Ok(HttpSink {
            client: Client::builder(TokioExecutor::new()).build_http(),
            endpoint,
            key: key.to_owned(),
        })
    }

    /// The server and the key's hash (never the key), for the state file.
    pub fn describe(&self) -> String {
        format!("{} key {}", self.endpoint, ApiKeyHash::of_secret(&self.key))
    }

    /// Posts a JSON array of events.
    async fn send(&self, body: Bytes) -> anyhow::Result<Answer> {
        let (status, answer) = self.post(body).await?;
        if status != StatusCode::ACCEPTED {
            let text = String::from_utf8_lossy(&answer);
            bail!("{} answered {status}: {text}", self.endpoint);
        }
        let answer: BatchAnswer = serde_json::from_slice(&answer)
            .with_context(|| format!("unexpected answer from {}", self.endpoint))?;
        Ok(Answer::from(answer))
    }

    /// Posts `body`, again after `Retry-After` on 503 and 429, and again after
    /// a connection error; the final status and body.
    async fn post(&self, body: Bytes) -> anyhow::Result<(StatusCode, Bytes)> {
        let (mut busy, mut failed) = (0, 0);
        loop {
            let request = Request::post(&self.endpoint)
                .header(header::AUTHORIZATION, format!("Bearer {}", self.key))
                .header(header::CONTENT_TYPE, "application/json")
                .body(Full::new(body.clone()))
                .context("cannot build the request")?;
            let response = match self.client.request(request).await {
                Ok(response) => response,
                Err(error) if failed < MAX_NETWORK_RETRIES => {
                    failed += 1;
                    tracing::debug!(%error, "batch request failed, retrying");
                    tokio::time::sleep(DEFAULT_RETRY_WAIT * failed).await;
                    continue;
                }
                Err(error) => {
                    return Err(error).with_context(|| format!("cannot reach {}", self.endpoint));
                }
            };
            let status = response.status();
            let busy_now = status == StatusCode::SERVICE_UNAVAILABLE
                || status == StatusCode::TOO_MANY_REQUESTS;
            let wait = retry_after(response.headers()).unwrap_or(DEFAULT_RETRY_WAIT);
            let answer = response
                .into_body()
                .collect()
                .await
                .with_context(|| format!("cannot read the answer of {}", self.endpoint))?
                .to_bytes();
            if !busy_now || busy >= MAX_BUSY_RETRIES {
                return Ok((status, answer));
            }
            busy += 1;
            tokio::time::sleep(wait).await;
        }
    }
}

/// `Retry-After` in seconds (the form Tally sends), at most a minute.
fn retry_after(headers: &axum::http::HeaderMap) -> Option<Duration> {
    let seconds: u64 = headers
        .get(header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(seconds.min(60)))
}

/// The parts of a batch answer the import reads; the rest (ids, warnings,
/// the refused events echoed) is skipped without being built.
#[derive(Deserialize)]
struct BatchAnswer {
    events_created: Vec<Created>,
    events_failed: Vec<Failed>,
}

#[derive(Deserialize)]
struct Created {
    outcome: String,
}

#[derive(Deserialize)]
struct Failed {
    index: usize,
    errors: Vec<FieldError>,
}

#[derive(Deserialize)]
struct FieldError {
    path: String,
    code: String,
    message: String,
}

impl From<BatchAnswer> for Answer {
    fn from(answer: BatchAnswer) -> Answer {
        Answer {
            outcomes: answer
                .events_created
                .into_iter()
                .map(|created| created.outcome)
                .collect(),
            refused: answer
                .events_failed
                .into_iter()
                .map(|failed| {
                    let errors = failed
                        .errors
                        .into_iter()
                        .map(|e| Problem::new(&e.path, &e.code, e.message))
                        .collect();
                    (failed.index, errors)
                })
                .collect(),
        }
    }
}
