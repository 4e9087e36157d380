//! Ingestion throughput through the real router, in process (no sockets), on a
//! SQLite file (WAL, `synchronous=FULL`): events per second
//! (docs/PERFORMANCE.md, "Batch ingestion" and "Group commit").
//!
//! ```sh
//! cargo run --release -p tally --example ingest_bench -- batch 100
//! cargo run --release -p tally --example ingest_bench -- single 20000 64
//! cargo run --release -p tally --example ingest_bench -- store 100
//! ```
//!
//! - `batch N [C]`: N requests `POST /v1/events/batch` of 1000 events, C at a
//!   time (default 2: parsing overlaps writing on the second core).
//! - `single N [C]`: N requests `POST /v1/events` of one event, C at a time
//!   (default 64), which the group commit shares transactions between.
//! - `store N`: the same N × 1000 events, already validated, written with
//!   `upsert_events` 1000 at a time: the store's own rate, the ceiling of
//!   `batch`.
//!
//! Every event has a fresh key, 25 record properties (`id`, strings, integers,
//! decimals, a boolean) and one of 10 customers. Building request bodies is
//! not timed; everything from the request to the response body is.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use futures::{StreamExt, stream};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tally_api::{ApiConfig, AppState, RateLimitConfig};
use tally_billing::Billing;
use tally_event::{Timestamp, ValidationConfig, parse_event};
use tally_store::{
    Account, AccountId, ApiKey, ApiKeyHash, ApiKeyId, CustomerId, EventId, NewEvent, Store,
};
use tower::ServiceExt;

const KEY: &str = "tally_sk_benchbenchbenchbenchbenchbenchbenchbench";
const PER_BATCH: usize = 1_000;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mode = args.first().map_or("batch", String::as_str).to_owned();
    let count: usize = args.get(1).map_or(Ok(50), |n| n.parse())?;
    let default_concurrency = if mode == "single" { 64 } else { 2 };
    let concurrency: usize = args.get(2).map_or(Ok(default_concurrency), |n| n.parse())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(&mode, count, concurrency))
}

/// One event of the benchmark: 25 properties, `id` included.
fn event(n: usize) -> Value {
    let mut record = serde_json::Map::new();
    record.insert("id".into(), json!(format!("rec-{n}")));
    for k in 0..8 {
        record.insert(format!("label_{k}"), json!(format!("value {k} of {n}")));
        record.insert(format!("count_{k}"), json!(n % 1000 + k));
    }
    for k in 0..7 {
        record.insert(format!("amount_{k}"), json!(format!("{}.{k}5", n % 97)));
    }
    record.insert("billable".into(), json!(n % 2 == 0));
    json!({
        "customer_id": format!("customer-{}", n % 10),
        "event_type": "api_call",
        "timestamp": 1_734_000_000_000_i64 + i64::try_from(n).unwrap_or(0),
        "record": Value::Object(record),
    })
}

async fn run(mode: &str, count: usize, concurrency: usize) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let store: Arc<dyn Store> = Arc::new(tally_store_sqlite::SqliteStore::open_url(&url).await?);
    let now = Timestamp::parse("2025-01-01T00:00:00Z")?;
    let account = AccountId::random();
    store
        .create_account(&Account {
            id: account.clone(),
            name: "bench".into(),
            settings: json!({}),
            created_at: now,
        })
        .await?;
    store
        .create_api_key(&ApiKey {
            id: ApiKeyId::random(),
            account_id: account.clone(),
            hash: ApiKeyHash::of_secret(KEY),
            created_at: now,
        })
        .await?;
    let config = ApiConfig {
        rate_limit: RateLimitConfig {
            per_second: u32::MAX,
            burst: u32::MAX,
        },
        ..ApiConfig::default()
    };
    let billing = Billing::new(Arc::clone(&store));
    let app = tally_api::router(AppState::new(billing, config));

    let (events, elapsed) = match mode {
        "batch" => {
            let bodies: Vec<String> = (0..count)
                .map(|b| {
                    let batch: Vec<Value> =
                        (0..PER_BATCH).map(|i| event(b * PER_BATCH + i)).collect();
                    Value::Array(batch).to_string()
                })
                .collect();
            println!(
                "{count} batches of {PER_BATCH} events, {:.1} KiB each, {concurrency} at a time",
                bodies[0].len() as f64 / 1024.0
            );
            let started = Instant::now();
            send_all(&app, "/v1/events/batch", bodies, concurrency).await?;
            (count * PER_BATCH, started.elapsed())
        }
        "single" => {
            let bodies: Vec<String> = (0..count).map(|n| event(n).to_string()).collect();
            println!("{count} single events, {concurrency} at a time");
            let started = Instant::now();
            send_all(&app, "/v1/events", bodies, concurrency).await?;
            (count, started.elapsed())
        }
        "store" => {
            let config = ValidationConfig::default();
            let customers: Vec<CustomerId> = (0..10).map(|_| CustomerId::random()).collect();
            let batches: Vec<Vec<NewEvent>> = (0..count)
                .map(|b| {
                    (0..PER_BATCH)
                        .map(|i| {
                            let n = b * PER_BATCH + i;
                            let parsed = parse_event(&event(n), &config, now).expect("valid");
                            NewEvent {
                                id: EventId::random(),
                                event_type: parsed.event.event_type,
                                customer_id: customers[n % 10].clone(),
                                timestamp: parsed.event.timestamp,
                                record: parsed.event.record,
                                ingested_at: now,
                            }
                        })
                        .collect()
                })
                .collect();
            println!("{count} store upserts of {PER_BATCH} events");
            let started = Instant::now();
            for batch in &batches {
                store.upsert_events(&account, batch).await?;
            }
            (count * PER_BATCH, started.elapsed())
        }
        other => anyhow::bail!("unknown mode {other}: batch, single or store"),
    };
    let secs = elapsed.as_secs_f64();
    println!(
        "{mode}: {events} events in {secs:.2} s: {:.0} events/s",
        events as f64 / secs
    );
    Ok(())
}

/// Sends every body, `concurrency` at a time; every answer must be 202 with
/// no failed event.
async fn send_all(
    app: &axum::Router,
    path: &str,
    bodies: Vec<String>,
    concurrency: usize,
) -> anyhow::Result<()> {
    let results: Vec<anyhow::Result<()>> = stream::iter(bodies)
        .map(|body| {
            let app = app.clone();
            let path = path.to_owned();
            tokio::spawn(async move {
                let request = Request::post(path)
                    .header(header::AUTHORIZATION, format!("Bearer {KEY}"))
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(Body::from(body))?;
                let response = app.oneshot(request).await?;
                let status = response.status();
                let bytes = response.into_body().collect().await?.to_bytes();
                anyhow::ensure!(
                    status == StatusCode::ACCEPTED,
                    "{status}: {}",
                    String::from_utf8_lossy(&bytes)
                );
                anyhow::ensure!(
                    !bytes.windows(16).any(|w| w == b"\"events_failed\":")
                        || bytes.ends_with(b"\"events_failed\":[]}"),
                    "some events failed: {}",
                    String::from_utf8_lossy(&bytes[..bytes.len().min(500)])
                );
                Ok(())
            })
        })
        .buffer_unordered(concurrency)
        .map(|joined| joined.map_err(anyhow::Error::from).and_then(|r| r))
        .collect()
        .await;
    results.into_iter().collect()
}
