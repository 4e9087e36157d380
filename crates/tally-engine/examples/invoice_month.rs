//! The whole engine on SQLite: ingest a month of the seed events, invoice
//! January 2024, print each invoice line and what each event on it was
//! billed, and check that the amounts add up (exit code 1 when they do not).
//!
//! ```sh
//! cargo run -p tally-engine --example invoice_month
//! ```
//!
//! The events are `seed_events.ndjson` next to this file, a copy of
//! `fixtures/billing/seed_events.ndjson` (its README tells the story): users
//! of `acme-42` as entities, and API calls, some verified.

use std::process::ExitCode;

use futures::TryStreamExt;
use tally_engine::billing::{InvoiceLine, LineType, ProductConsumption};
use tally_engine::serde_json::{Value, from_value, json};
use tally_engine::{Engine, InvoiceView, Timestamp};

/// Compiled in, so the example runs from any directory.
const SEED_EVENTS: &str = include_str!("seed_events.ndjson");

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

#[tokio::main]
async fn main() -> Result<ExitCode> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("tally.db");
    let engine = Engine::sqlite(&path).await?;
    println!("database: {} (removed at exit)", path.display());

    let subscription = define_catalog(&engine).await?;
    ingest_seed(&engine).await?;

    let january = Timestamp::parse("2024-01-15T00:00:00Z")?;
    let invoice = engine
        .billing()
        .create_invoice(engine.account(), &subscription, Some(january))
        .await?;
    print_lines(&invoice);

    let mut mismatches = check_totals(&invoice);
    mismatches += explain_events(&engine, &invoice).await?;
    if mismatches > 0 {
        eprintln!("{mismatches} amounts do not add up");
        return Ok(ExitCode::FAILURE);
    }
    println!("every amount adds up");
    Ok(ExitCode::SUCCESS)
}

/// The catalog of the seed documents: live users billed per seat, verified
/// API calls at volume prices, and a platform fee. Returns the subscription
/// id.
async fn define_catalog(engine: &Engine) -> Result<String> {
    let (billing, acc) = (engine.billing(), engine.account());
    billing
        .create_customer(
            acc,
            &from_value(
                json!({"external_id": "acme-42", "name": "Acme", "currency": "EUR",
                "tax_rate": "20"}),
            )?,
        )
        .await?;

    let users = billing
        .create_aggregator(
            acc,
            &from_value(json!({"name": "Active users", "event_type": "users",
                "operation": "count", "type": "licensed", "unit_name": "user",
                "where": {"conditional": "and",
                    "fields": [{"property": "deleted_at", "operator": "is_null"}]},
                "custom_event_name": "{record.work_email} ({record.id})"}))?,
        )
        .await?;
    let calls = billing
        .create_aggregator(
            acc,
            &from_value(json!({"name": "API calls", "event_type": "api_call",
                "operation": "count", "unit_name": "call",
                "custom_event_name": "{record.id} ({record.durationInMs} ms)",
                "filters": [{"name": "verified", "where": {"conditional": "and", "fields": [
                    {"property": "isVerified", "operator": "equals", "value": true}]}}]}))?,
        )
        .await?;
    let verified = &calls.definition.filters[0].id;

    let seats = billing
        .create_product(
            acc,
            &from_value(
                json!({"name": "Seats", "type": "usage", "aggregator_id": users.id,
                "currency": "EUR", "price_groups": [{"name": "seat",
                    "price": {"type": "per_unit", "unit_amount": "500"}}]}),
            )?,
        )
        .await?;
    let api = billing
        .create_product(
            acc,
            &from_value(
                json!({"name": "API calls", "type": "usage", "aggregator_id": calls.id,
                "currency": "EUR", "price_groups": [{"name": "verified",
                    "aggregator_filter_id": verified,
                    "price": {"type": "volume", "tiers": [
                        {"up_to": "1000", "unit_amount": "2", "flat_amount": "0"},
                        {"up_to": null, "unit_amount": "1.5", "flat_amount": "500"}]}}]}),
            )?,
        )
        .await?;
    let fee = billing
        .create_product(
            acc,
            &from_value(
                json!({"name": "Platform fee", "type": "fee", "currency": "EUR",
                "price_groups": [{"name": "base", "price": {"type": "flat", "amount": "2900"}}]}),
            )?,
        )
        .await?;

    let subscription = billing
        .create_subscription(
            acc,
            &from_value(json!({"customer_id": "acme-42",
                "product_ids": [seats.id, api.id, fee.id],
                "starts_at": "2024-01-01T00:00:00Z",
                "billing_interval": {"period": "months", "count": 1}}))?,
        )
        .await?;
    Ok(subscription.id.to_string())
}

/// Every seed event in one batch, as `POST /v1/events/batch` would take them.
async fn ingest_seed(engine: &Engine) -> Result<()> {
    let events = SEED_EVENTS
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(tally_engine::serde_json::from_str)
        .collect::<std::result::Result<Vec<Value>, _>>()?;
    let outcome = engine
        .billing()
        .ingest_batch(engine.account(), &events)
        .await?;
    if let Some(rejected) = outcome.rejected.first() {
        return Err(format!(
            "seed event {} refused: {:?}",
            rejected.index, rejected.errors
        )
        .into());
    }
    println!("ingested {} events", outcome.accepted.len());
    Ok(())
}

fn print_lines(invoice: &InvoiceView) {
    println!(
        "\n{} ({:?}) {} to {}, {}",
        invoice.number,
        invoice.status,
        invoice.period.start().to_rfc3339(),
        invoice.period.end().to_rfc3339(),
        invoice.currency
    );
    for line in &invoice.lines {
        let group = line.price_group.as_ref().map_or("", |group| &group.name);
        let quantity = line.quantity.map(|q| q.to_string()).unwrap_or_default();
        println!(
            "  {:<18} {:<13} {:<9} qty {:>4}  excl. tax {:>6}  tax {:>5}  total {:>6}",
            format!("{:?}", line.line_type),
            line.product_name,
            group,
            quantity,
            line.amount_excluding_tax,
            line.tax_amount,
            line.total_amount
        );
    }
    let totals = &invoice.totals;
    println!(
        "  {:<54} excl. tax {:>6}  tax {:>5}  total {:>6}",
        "totals", totals.amount_excluding_tax, totals.tax_amount, totals.total_amount
    );
}

/// The invoice's totals against the sum of its lines. Returns the number of
/// mismatches.
fn check_totals(invoice: &InvoiceView) -> usize {
    let sum = |amount: fn(&InvoiceLine) -> i64| invoice.lines.iter().map(amount).sum::<i64>();
    let checks = [
        (
            "amount excluding tax",
            invoice.totals.amount_excluding_tax,
            sum(|line| line.amount_excluding_tax),
        ),
        (
            "tax",
            invoice.totals.tax_amount,
            sum(|line| line.tax_amount),
        ),
        (
            "total",
            invoice.totals.total_amount,
            sum(|line| line.total_amount),
        ),
    ];
    checks
        .iter()
        .filter(|(what, total, lines)| mismatch(&format!("invoice {what}"), *total, *lines))
        .count()
}

/// Each usage line's events with their amounts, streamed from the store (no
/// page limit). Per price group, the events' amounts and the part no event
/// carries must add up to the invoice line. Returns the number of mismatches.
async fn explain_events(engine: &Engine, invoice: &InvoiceView) -> Result<usize> {
    let (billing, acc) = (engine.billing(), engine.account());
    let scope = billing.invoice_scope(acc, invoice.id.as_str()).await?;
    let mut mismatches = 0;
    for product_id in usage_products(invoice) {
        let product = billing.product_consumption(acc, &scope, product_id).await?;
        for (index, group) in product.groups.iter().enumerate() {
            println!(
                "\n{} / {} ({:?}): quantity {}, {} events",
                product.product.name,
                group.price_group.name,
                group.rule,
                group.quantity,
                group.events
            );
            let rows: Vec<_> = billing
                .consumption_rows(acc, &product, index)?
                .try_collect()
                .await?;
            for row in &rows {
                let quantity = row.quantity.map(|q| q.to_string()).unwrap_or_default();
                println!(
                    "  {}  {:<34} qty {:>2}  amount {:>4}",
                    row.event.timestamp.to_rfc3339(),
                    row.name,
                    quantity,
                    row.amount
                );
            }
            let attributed: i64 = rows.iter().map(|row| row.amount).sum();
            println!("  not carried by any event: {}", group.unattributed);
            let what = format!("{} / {}", product.product.name, group.price_group.name);
            if mismatch(&what, group.subtotal, attributed + group.unattributed) {
                mismatches += 1;
            }
            match line_amount(invoice, &product, index) {
                Some(line) if !mismatch(&format!("{what} line"), line, group.subtotal) => {}
                Some(_) => mismatches += 1,
                None => {
                    eprintln!("{what}: no invoice line");
                    mismatches += 1;
                }
            }
        }
    }
    Ok(mismatches)
}

/// The products of the invoice's usage lines, once each, in line order (fee
/// products have no events to explain).
fn usage_products(invoice: &InvoiceView) -> Vec<&str> {
    let mut products: Vec<&str> = Vec::new();
    for line in &invoice.lines {
        if line.line_type == LineType::Usage && !products.contains(&line.product_id.as_str()) {
            products.push(&line.product_id);
        }
    }
    products
}

/// The usage line of the invoice for one price group of a product.
fn line_amount(invoice: &InvoiceView, product: &ProductConsumption, group: usize) -> Option<i64> {
    let group_id = product.groups[group].price_group.id.to_string();
    invoice
        .lines
        .iter()
        .find(|line| {
            line.line_type == LineType::Usage
                && line.price_group.as_ref().is_some_and(|g| g.id == group_id)
        })
        .map(|line| line.amount_excluding_tax)
}

/// Reports `what` when `expected` and `actual` differ.
fn mismatch(what: &str, expected: i64, actual: i64) -> bool {
    if expected != actual {
        eprintln!("{what}: expected {expected}, found {actual}");
    }
    expected != actual
}
