//! Exports the CSV of one product over N events stored in a SQLite file, and
//! reports rows per second and resident memory (docs/PERFORMANCE.md, "CSV
//! export").
//!
//! ```sh
//! cargo run --release -p tally --example export_sqlite_bench -- 1000000
//! ```
//!
//! The events (one customer, `api_call`, records of 4 keys, one month) are
//! ingested first, through the billing service in batches of 5000; that part
//! is not timed. The export is then prepared (the consumption plan: its totals
//! from the usage read, served by the rollups, then one pass that also
//! gathers the record keys) and written (the rows)
//! into a sink that counts bytes and drops them. Resident memory (`VmRSS`) is
//! sampled at every 64 KiB chunk: its peak during the export, against its
//! value before, is the export's footprint.

use std::sync::Arc;
use std::time::Instant;

use futures::sink;
use serde_json::{Value, json};
use tally_billing::{Billing, DateRange, ProductInput, SubscriptionInput};
use tally_event::Timestamp;
use tally_store::{Account, AccountId, Store};

const BATCH: usize = 5_000;

fn main() -> anyhow::Result<()> {
    let events: usize = match std::env::args().nth(1) {
        Some(text) => text.parse()?,
        None => 1_000_000,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(events))
}

async fn run(events: usize) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let store: Arc<dyn Store> = Arc::new(tally_store_sqlite::SqliteStore::open_url(&url).await?);
    let account = AccountId::random();
    store
        .create_account(&Account {
            id: account.clone(),
            name: "bench".into(),
            settings: json!({}),
            created_at: Timestamp::parse("2024-01-01T00:00:00Z")?,
        })
        .await?;
    let billing = Billing::new(store);
    let subscription = catalog(&billing, &account).await?;
    let started = Instant::now();
    ingest(&billing, &account, events).await?;
    println!(
        "ingested {events} events in {:.1} s (not part of the result)",
        started.elapsed().as_secs_f64()
    );
    export(&billing, &account, &subscription).await
}

/// A customer, a `sum` aggregator, a graduated product, a monthly subscription.
async fn catalog(billing: &Billing, account: &AccountId) -> anyhow::Result<String> {
    let customer = serde_json::from_value(json!({"external_id": "bench", "currency": "EUR"}))?;
    billing.create_customer(account, &customer).await?;
    let definition = serde_json::from_value(json!({"name": "Units", "event_type": "api_call",
        "operation": "sum", "property": "units", "custom_event_name": "{record.endpoint} call"}))?;
    let aggregator = billing.create_aggregator(account, &definition).await?;
    let product: ProductInput = serde_json::from_value(json!({"name": "Units", "type": "usage",
        "aggregator_id": aggregator.id, "currency": "EUR", "price_groups": [{"name": "units",
        "price": {"type": "graduated", "tiers": [{"up_to": "100000", "unit_amount": "0.5"},
            {"up_to": null, "unit_amount": "0.125"}]}}]}))?;
    let product = billing.create_product(account, &product).await?;
    let subscription: SubscriptionInput = serde_json::from_value(json!({"customer_id": "bench",
        "product_ids": [product.id], "starts_at": "2024-01-01T00:00:00Z",
        "billing_interval": {"period": "months", "count": 1}, "currency": "EUR"}))?;
    Ok(billing
        .create_subscription(account, &subscription)
        .await?
        .id
        .to_string())
}

async fn ingest(billing: &Billing, account: &AccountId, events: usize) -> anyhow::Result<()> {
    let start = Timestamp::parse("2024-01-01T00:00:00Z")?.as_millis();
    let mut batch: Vec<Value> = Vec::with_capacity(BATCH);
    for n in 0..events {
        let at = start + (n as i64) * 2_000;
        let endpoint = ["/v1/users", "/v1/orders"][n % 2];
        let region = ["eu", "us", "apac"][n % 3];
        batch.push(
            json!({"customer_id": "bench", "event_type": "api_call", "timestamp": at,
            "record": {"id": n, "units": n % 5 + 1, "endpoint": endpoint,
                "region": region}}),
        );
        if batch.len() == BATCH || n + 1 == events {
            let outcome = billing.ingest_batch(account, &batch).await?;
            anyhow::ensure!(outcome.rejected.is_empty(), "rejected events");
            batch.clear();
        }
    }
    Ok(())
}

async fn export(billing: &Billing, account: &AccountId, subscription: &str) -> anyhow::Result<()> {
    let rss_before = rss_kib()?;
    let started = Instant::now();
    let range = DateRange::new("2024-01-01T00:00:00Z", "2024-02-01T00:00:00Z");
    let scope = billing
        .subscription_scope(account, subscription, &range)
        .await?;
    let product_id = scope.products[0].product.id.to_string();
    let export = billing.product_csv(account, &scope, &product_id).await?;
    let prepared = started.elapsed();
    let mut bytes = 0u64;
    let mut peak = rss_before;
    let rows = {
        let counting = sink::unfold(&mut bytes, |total, chunk: Vec<u8>| async move {
            *total += chunk.len() as u64;
            Ok::<_, std::io::Error>(total)
        });
        let mut counting = std::pin::pin!(counting);
        let mut sample = |_rows: u64| peak = peak.max(rss_kib().unwrap_or(0));
        export.write_to(&mut counting, &mut sample).await?
    };
    let total = started.elapsed();
    let written = total - prepared;
    println!("rows {rows}, csv {:.1} MB", bytes as f64 / 1e6);
    println!("prepare (the plan) {:.2} s", prepared.as_secs_f64());
    println!(
        "write (rows) {:.2} s = {:.0} rows/s",
        written.as_secs_f64(),
        rows as f64 / written.as_secs_f64()
    );
    println!(
        "end to end {:.2} s = {:.0} rows/s",
        total.as_secs_f64(),
        rows as f64 / total.as_secs_f64()
    );
    println!(
        "rss before export {} MiB, peak during export {} MiB",
        rss_before / 1024,
        peak / 1024
    );
    Ok(())
}

/// Resident memory of this process, from /proc (Linux).
fn rss_kib() -> anyhow::Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"));
    let kib = line
        .and_then(|line| line.split_whitespace().nth(1))
        .unwrap_or("0");
    Ok(kib.parse()?)
}
