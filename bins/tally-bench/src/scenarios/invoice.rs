//! Invoicing: a month of mixed events over many customers, loaded through the
//! library; each customer subscribes to three usage products (one per event
//! type, so every event is billed); then one invoice per subscription over
//! HTTP, several at once; then the same again through the batch endpoint,
//! 1 000 subscriptions per request. Each run invoices its own fresh
//! subscriptions (one per customer again, twice), since a period is
//! invoiced only once.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, ensure};
use hyper::body::Bytes;
use hyper::{Method, StatusCode};
use serde_json::json;

use super::{PEAK_RSS, RSS_TARGET, data_set, peak, start_server};
use crate::Bench;
use crate::generate::{self, EVENT_TYPES, EventKind, Mix, bench_month};
use crate::load::load_sqlite;
use crate::parallel;
use crate::report::{Figure, Report, Unit};
use crate::setup;

pub async fn invoice(bench: &Bench, report: &mut Report) -> anyhow::Result<()> {
    let data = data_set(
        bench,
        3,
        bench.invoice_events,
        bench.subscriptions,
        Mix::Mixed,
    );
    eprintln!(
        "invoice: loading {} events of {} customers in one month",
        data.total, data.customers
    );
    let db = bench.path("invoice.db");
    crate::report::remove_sqlite(&db);
    let loaded = Instant::now();
    let stored = load_sqlite(&db, &data).await?;
    ensure!(
        stored == data.total,
        "loaded {stored} of {} events",
        data.total
    );
    eprintln!("    loaded in {:.1} s", loaded.elapsed().as_secs_f64());
    let api_calls = data.count_of(EventKind::ApiCall);
    let (server, target, mut conn) = start_server(bench, &db).await?;
    let products = Arc::new(setup::products(&mut conn, &EVENT_TYPES).await?);
    // The aggregators were made after the events: their rollups are built
    // first (every event is read by exactly one of them).
    let backfill = setup::wait_for_rollups(&mut conn).await?.as_secs_f64();
    eprintln!("    rollups built in {backfill:.1} s");
    report.add(Figure::new(
        "invoice",
        &format!("backfill of 3 aggregators over {} events", data.total),
        Unit::EventsPerSecond,
        vec![data.total as f64 / backfill],
    ));
    let customers = data.customers as usize;
    let at_instant = generate::iso(bench_month().0 + chrono::Duration::days(14));
    let at = Bytes::from(json!({ "at": at_instant }).to_string());
    let (mut times, mut batch_times, mut peaks) = (vec![], vec![], vec![]);
    for run in 0..bench.runs {
        let subscriptions = subscribe_all(bench, &target, &data, &products).await?;
        let conns = parallel::connect(&target, bench.invoice_connections).await?;
        let (api_product, at) = (products[0].clone(), at.clone());
        let started = Instant::now();
        let (quantities, _) = parallel::run(conns, customers, move |mut conn, i| {
            let path = format!("/v1/subscriptions/{}/invoices", subscriptions[i]);
            let (api_product, at) = (api_product.clone(), at.clone());
            async move {
                let reply = conn
                    .send(Method::POST, &path, Some(at))
                    .await?
                    .expect(StatusCode::CREATED, "create invoice")?;
                let calls = api_call_quantity(&reply.json("invoice")?, &api_product)?;
                Ok((conn, calls))
            }
        })
        .await?;
        let seconds = started.elapsed().as_secs_f64();
        let invoiced: u64 = quantities.iter().sum();
        ensure!(
            quantities.len() == customers && invoiced == api_calls,
            "invoice run {run}: {} invoices billing {invoiced} api calls, expected {customers} and {api_calls}",
            quantities.len()
        );
        eprintln!("    run {run}: {customers} invoices in {seconds:.2} s");
        times.push(seconds);

        let subscriptions = subscribe_all(bench, &target, &data, &products).await?;
        let chunks: Vec<Vec<String>> = subscriptions
            .chunks(BATCH_INVOICES)
            .map(<[String]>::to_vec)
            .collect();
        let chunks = Arc::new(chunks);
        let conns = parallel::connect(&target, bench.invoice_connections).await?;
        let (api_product, at_text) = (products[0].clone(), at_instant.clone());
        let started = Instant::now();
        let (counted, _) = parallel::run(conns, chunks.len(), move |mut conn, i| {
            let body =
                Bytes::from(json!({"subscription_ids": chunks[i], "at": at_text}).to_string());
            let api_product = api_product.clone();
            async move {
                let reply = conn
                    .send(Method::POST, "/v1/invoices/batch", Some(body))
                    .await?
                    .expect(StatusCode::OK, "create invoices")?
                    .json("batch")?;
                let mut counted = (0, 0);
                for item in reply["data"].as_array().context("batch without data")? {
                    ensure!(item["status"] == 201, "batch item refused: {item}");
                    counted.0 += 1;
                    counted.1 += api_call_quantity(&item["invoice"], &api_product)?;
                }
                Ok((conn, counted))
            }
        })
        .await?;
        let seconds = started.elapsed().as_secs_f64();
        let (created, invoiced) = counted
            .iter()
            .fold((0, 0), |(n, calls), (m, more)| (n + m, calls + more));
        ensure!(
            created == customers && invoiced == api_calls,
            "batch run {run}: {created} invoices billing {invoiced} api calls, expected {customers} and {api_calls}"
        );
        eprintln!(
            "    run {run}: {customers} invoices in batches of {BATCH_INVOICES} in {seconds:.2} s"
        );
        batch_times.push(seconds);
        peaks.push(peak(&server));
    }
    report.check("invoice", "invoices created per run", customers as u64);
    report.check("invoice", "api calls billed per run", api_calls);
    report.add(
        Figure::new(
            "invoice",
            &format!("{customers} invoices over {} events", data.total),
            Unit::Seconds,
            times,
        )
        .target("≤ 10 s for 10 000 over 10 000 000"),
    );
    report.add(
        Figure::new(
            "invoice",
            &format!(
                "{customers} invoices over {} events, {BATCH_INVOICES} per batch request",
                data.total
            ),
            Unit::Seconds,
            batch_times,
        )
        .target("≤ 10 s for 10 000 over 10 000 000"),
    );
    report.add(Figure::new("invoice", PEAK_RSS, Unit::Bytes, peaks).target(RSS_TARGET));
    server.stop().await?;
    bench.discard(&db);
    Ok(())
}

/// Subscriptions per batch request.
const BATCH_INVOICES: usize = 1_000;

/// One new subscription per customer to the three products; their ids in
/// customer order.
async fn subscribe_all(
    bench: &Bench,
    target: &crate::http::Target,
    data: &generate::DataSet,
    products: &Arc<Vec<String>>,
) -> anyhow::Result<Arc<Vec<String>>> {
    let conns = parallel::connect(target, bench.invoice_connections).await?;
    let (seed, products) = (data.seed, products.clone());
    let (ids, _) = parallel::run(conns, data.customers as usize, move |mut conn, c| {
        let body =
            setup::subscription_body(&generate::customer_external_id(seed, c as u64), &products);
        async move {
            let id = setup::create(&mut conn, "/v1/subscriptions", &body).await?;
            Ok((conn, id))
        }
    })
    .await?;
    Ok(Arc::new(ids))
}

/// The quantity an invoice bills on the API-call product: its calls.
fn api_call_quantity(invoice: &serde_json::Value, product: &str) -> anyhow::Result<u64> {
    let lines = invoice["line_items"]
        .as_array()
        .context("invoice without lines")?;
    let mut calls = 0;
    for line in lines
        .iter()
        .filter(|l| l["product_id"] == product && l["type"] == "usage")
    {
        let quantity = &line["quantity"];
        let text = quantity
            .as_str()
            .map_or_else(|| quantity.to_string(), str::to_owned);
        calls += text
            .parse::<u64>()
            .with_context(|| format!("api call quantity {text}"))?;
    }
    Ok(calls)
}
