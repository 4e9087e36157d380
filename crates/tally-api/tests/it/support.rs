//! The in-process test server: the real router over a `MemoryStore` with two
//! accounts, a fixed clock and seeded ids, plus request and redaction helpers.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::Value;
use tally_api::{ApiConfig, AppState, router};
use tally_billing::{Billing, FixedClock, Ids, IngestQueueConfig};
use tally_event::Timestamp;
use tally_store::{Account, AccountId, ApiKey, ApiKeyHash, ApiKeyId, MemoryStore, Store};
use tower::ServiceExt;

/// Account A's key: most tests act as A.
pub const KEY_A: &str = "tally_sk_accountAaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
/// Account B's key: it must see none of A's objects.
pub const KEY_B: &str = "tally_sk_accountBbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
/// "Now" for every test: after the seed events (December 2024).
pub const NOW: &str = "2024-12-21T00:00:00Z";

pub struct TestApp {
    /// The whole server; the browser tests serve it on a loopback port.
    pub router: Router,
    /// The service behind the router (a clone), to act beside requests.
    pub billing: Billing,
    /// Account A, whose key is [`KEY_A`].
    pub account_a: AccountId,
    /// The service's clock, stopped at [`NOW`] until a test moves it.
    pub clock: Arc<FixedClock>,
}

/// A response, its body parsed as JSON when it is JSON.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub json: Value,
    pub text: String,
    /// The body as received (a ZIP, for instance).
    pub bytes: Vec<u8>,
}

impl TestApp {
    pub async fn new() -> Self {
        Self::with_config(ApiConfig::default()).await
    }

    pub async fn with_config(config: ApiConfig) -> Self {
        Self::with_queue(config, IngestQueueConfig::default()).await
    }

    /// With other ingestion queue bounds.
    pub async fn with_queue(config: ApiConfig, queue: IngestQueueConfig) -> Self {
        let store = Arc::new(MemoryStore::new());
        let now = Timestamp::parse(NOW).unwrap();
        let mut accounts = Vec::new();
        for (name, key) in [("a", KEY_A), ("b", KEY_B)] {
            accounts.push(add_account(store.as_ref(), name, key, now).await);
        }
        let clock = Arc::new(FixedClock::new(now));
        let billing = Billing::with_parts(store, clock.clone(), Arc::new(Ids::seeded(7)))
            .with_ingest_queue(queue);
        TestApp {
            router: router(AppState::new(billing.clone(), config)),
            billing,
            account_a: accounts.swap_remove(0),
            clock,
        }
    }

    pub async fn send(&self, request: Request<Body>) -> Reply {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            json,
            text,
            bytes: bytes.to_vec(),
        }
    }

    /// A JSON request as account A.
    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        self.send(request(method, path, Some(KEY_A), body)).await
    }

    /// A JSON request with any key (or none).
    pub async fn call_as(
        &self,
        key: Option<&str>,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Reply {
        self.send(request(method, path, key, body)).await
    }
}

async fn add_account(store: &dyn Store, name: &str, key: &str, now: Timestamp) -> AccountId {
    let account = Account {
        id: AccountId::random(),
        name: name.to_owned(),
        settings: Value::Null,
        created_at: now,
    };
    store.create_account(&account).await.unwrap();
    let key = ApiKey {
        id: ApiKeyId::random(),
        account_id: account.id,
        hash: ApiKeyHash::of_secret(key),
        created_at: now,
    };
    store.create_api_key(&key).await.unwrap();
    key.account_id
}

pub fn request(
    method: Method,
    path: &str,
    key: Option<&str>,
    body: Option<Value>,
) -> Request<Body> {
    let mut builder = Request::builder().method(method).uri(path);
    if let Some(key) = key {
        builder = builder.header(header::AUTHORIZATION, format!("Bearer {key}"));
    }
    match body {
        Some(body) => builder
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .unwrap(),
        None => builder.body(Body::empty()).unwrap(),
    }
}

const ID_PREFIXES: [&str; 11] = [
    "cus", "agg", "agf", "itm", "grp", "sub", "evt", "cal", "acc", "key", "inv",
];

/// The body with generated ids (`cus_` + 22 base62) and creation times replaced
/// by placeholders, as pretty JSON for a snapshot.
pub fn redacted(reply: &Reply) -> String {
    let mut json = reply.json.clone();
    redact(&mut json);
    let body = serde_json::to_string_pretty(&json).unwrap();
    format!("status: {}\n{body}", reply.status.as_u16())
}

fn redact(value: &mut Value) {
    match value {
        Value::String(text) => {
            if let Some(prefix) = generated_id_prefix(text) {
                *text = format!("[{prefix}]");
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact),
        Value::Object(map) => {
            for (key, item) in map.iter_mut() {
                if matches!(key.as_str(), "created_at" | "ingested_at") && item.is_string() {
                    *item = Value::String("[time]".into());
                } else if key == "usage_rollup" {
                    // Moved by the backfill task, whenever it runs.
                    *item = Value::String("[rollup]".into());
                } else {
                    redact(item);
                }
            }
        }
        _ => {}
    }
}

fn generated_id_prefix(text: &str) -> Option<&'static str> {
    let (prefix, rest) = text.split_once('_')?;
    let prefix = ID_PREFIXES.iter().find(|p| **p == prefix)?;
    (rest.len() == 22 && rest.bytes().all(|b| b.is_ascii_alphanumeric())).then_some(prefix)
}
