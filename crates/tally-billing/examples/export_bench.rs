//! A CSV export of N events through the whole billing pipeline (scope, the
//! consumption plan (its totals from the usage read, then one pass that also
//! gathers the record keys), the attributed rows, the CSV writer), over a store that generates its events as they are read,
//! so that neither a database nor a store in memory weighs on the numbers.
//! Reports rows per second and resident memory (docs/PERFORMANCE.md, "CSV
//! export").
//!
//! ```sh
//! cargo run --release -p tally-billing --example export_bench -- 1000000
//! ```
//!
//! `-- 1000000 --writer-only` times the CSV writer alone: rows built in
//! memory (one record reused) go through `Sheet` into a buffer drained every
//! chunk; no store, no pricing.
//!
//! Resident memory (`VmRSS`) is sampled at every 64 KiB chunk; its peak
//! during the export, against its value before, is the export's footprint.
//! Run it with two sizes to compare: flat memory means the same peak.

#[path = "../tests/it/counting.rs"]
mod counting;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use futures::sink;
use serde_json::json;
use tally_billing::{Billing, DateRange, FixedClock, Ids};
use tally_event::Timestamp;
use tally_store::{Account, AccountId, AccountStore};

use counting::CountingStore;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let events: usize = match std::env::args().nth(1) {
        Some(text) => text.parse()?,
        None => 1_000_000,
    };
    if std::env::args().any(|arg| arg == "--writer-only") {
        return writer_only(events);
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(events))
}

async fn run(events: usize) -> Result<(), Box<dyn std::error::Error>> {
    let store = Arc::new(CountingStore::default());
    let account = AccountId::random();
    let now = Timestamp::parse("2024-01-31T12:00:00Z")?;
    store
        .create_account(&Account {
            id: account.clone(),
            name: "bench".into(),
            settings: json!({}),
            created_at: now,
        })
        .await?;
    let clock = Arc::new(FixedClock::new(now));
    let billing = Billing::with_parts(store.clone(), clock, Arc::new(Ids::seeded(1)));
    let (subscription, product) = catalog(&billing, &account).await?;
    store.synthetic_events.store(events, Ordering::SeqCst);
    let rss_before = rss_kib()?;
    let started = Instant::now();
    let range = DateRange::new("2024-01-01T00:00:00Z", "2024-02-01T00:00:00Z");
    let scope = billing
        .subscription_scope(&account, &subscription, &range)
        .await?;
    let export = billing.product_csv(&account, &scope, &product).await?;
    let prepared = started.elapsed();
    let mut bytes = 0u64;
    let mut peak = rss_before;
    let rows = {
        let counting = sink::unfold(&mut bytes, |total, chunk: Vec<u8>| async move {
            *total += chunk.len() as u64;
            Ok::<_, std::convert::Infallible>(total)
        });
        let mut counting = std::pin::pin!(counting);
        let mut sample = |_rows: u64| peak = peak.max(rss_kib().unwrap_or(0));
        export.write_to(&mut counting, &mut sample).await?
    };
    let total = started.elapsed();
    let written = (total - prepared).as_secs_f64();
    println!("rows {rows}, csv {:.1} MB", bytes as f64 / 1e6);
    println!("prepare (the plan) {:.2} s", prepared.as_secs_f64());
    println!(
        "write (rows) {written:.2} s = {:.0} rows/s",
        rows as f64 / written
    );
    println!(
        "end to end {:.2} s = {:.0} rows/s",
        total.as_secs_f64(),
        rows as f64 / total.as_secs_f64()
    );
    println!(
        "rss before export {} KiB, peak during export {} KiB",
        rss_before, peak
    );
    Ok(())
}

/// A customer, a `sum` aggregator, a graduated product, a monthly subscription.
async fn catalog(
    billing: &Billing,
    account: &AccountId,
) -> Result<(String, String), Box<dyn std::error::Error>> {
    let customer = serde_json::from_value(json!({"external_id": "bench", "currency": "EUR"}))?;
    billing.create_customer(account, &customer).await?;
    let definition = serde_json::from_value(json!({"name": "Units", "event_type": "api_call",
        "operation": "sum", "property": "units", "custom_event_name": "call {record.id}"}))?;
    let aggregator = billing.create_aggregator(account, &definition).await?;
    let product = serde_json::from_value(json!({"name": "Units", "type": "usage",
        "aggregator_id": aggregator.id, "currency": "EUR", "price_groups": [{"name": "units",
        "price": {"type": "graduated", "tiers": [{"up_to": "100000", "unit_amount": "0.5"},
            {"up_to": null, "unit_amount": "0.125"}]}}]}))?;
    let product = billing.create_product(account, &product).await?;
    let subscription = serde_json::from_value(json!({"customer_id": "bench",
        "product_ids": [product.id], "starts_at": "2024-01-01T00:00:00Z",
        "billing_interval": {"period": "months", "count": 1}, "currency": "EUR"}))?;
    let subscription = billing.create_subscription(account, &subscription).await?;
    Ok((subscription.id.to_string(), product.id.to_string()))
}

fn writer_only(events: usize) -> Result<(), Box<dyn std::error::Error>> {
    use tally_billing::export::{ChunkBuffer, ExportRow, KeySet, Layout, Sheet};
    let record = serde_json::from_value::<serde_json::Value>(json!({"id": 1, "units": 3,
        "endpoint": "/v1/users", "region": "eu"}))?;
    let parsed = tally_event::parse_event(
        &json!({"customer_id": "bench", "event_type": "api_call",
            "timestamp": "2024-01-01T00:00:00Z", "record": record}),
        &tally_event::ValidationConfig::default(),
        Timestamp::parse("2024-01-02T00:00:00Z")?,
    )
    .map_err(|errors| format!("{errors:?}"))?;
    let record = parsed.event.record;
    let mut keys = KeySet::new();
    keys.add(&record);
    let buffer = ChunkBuffer::new();
    let mut sheet = Sheet::new(buffer.clone(), Layout::new(None, keys, false, 2))?;
    let (rss_before, mut peak, mut bytes) = (rss_kib()?, 0, 0u64);
    let started = Instant::now();
    let start = Timestamp::parse("2024-01-01T00:00:00Z")?.as_millis();
    for n in 0..events {
        let id = format!("evt_{n:022}");
        sheet.write_row(&ExportRow {
            event_id: &id,
            timestamp: Timestamp::from_millis(start + n as i64)?,
            name: "/v1/users call",
            record: &record,
            price_group: "units",
            quantity: Some(rust_decimal::Decimal::from(n % 5 + 1)),
            amount: (n % 7) as i64,
            currency: "EUR",
        })?;
        if let Some(chunk) = buffer.take_full() {
            bytes += chunk.len() as u64;
            peak = peak.max(rss_kib()?);
        }
    }
    sheet.finish()?;
    bytes += buffer.take_all().len() as u64;
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "writer only: rows {events}, csv {:.1} MB, {elapsed:.2} s = {:.0} rows/s",
        bytes as f64 / 1e6,
        events as f64 / elapsed
    );
    println!(
        "rss before {} MiB, peak while writing {} MiB",
        rss_before / 1024,
        peak / 1024
    );
    Ok(())
}

/// Resident memory of this process, from /proc (Linux).
fn rss_kib() -> Result<u64, Box<dyn std::error::Error>> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"));
    let kib = line
        .and_then(|line| line.split_whitespace().nth(1))
        .unwrap_or("0");
    Ok(kib.parse()?)
}
