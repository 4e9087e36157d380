//! One big customer: a month of `api_call` events, loaded through the library
//! before the server starts; then its usage (`usage`) and the CSV of its
//! events (`export`) over HTTP, on one database when both run.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use hyper::{Method, StatusCode};
use serde_json::json;

use super::{PEAK_RSS, RSS_TARGET, data_set, peak, start_server};
use crate::Bench;
use crate::generate::{self, EventKind, Mix, bench_month, iso};
use crate::http::{Conn, drain_counting_lines};
use crate::load::load_sqlite;
use crate::report::{Figure, Report, Unit};
use crate::server::Server;
use crate::setup;

/// How often the server's memory is sampled during an export.
const RSS_SAMPLE_EVERY: Duration = Duration::from_millis(10);

pub async fn usage_and_export(
    bench: &Bench,
    report: &mut Report,
    usage: bool,
    export: bool,
) -> anyhow::Result<()> {
    let data = data_set(
        bench,
        2,
        bench.customer_events,
        1,
        Mix::Only(EventKind::ApiCall),
    );
    eprintln!(
        "usage/export: loading {} api_call events of one customer in one month",
        data.total
    );
    let db = bench.path("customer.db");
    crate::report::remove_sqlite(&db);
    let loaded = Instant::now();
    if bench.history_events > 0 {
        // Other customers' events, stored first: the history the usage
        // customer's month is read in.
        let history = data_set(
            bench,
            20,
            bench.history_events,
            1_000,
            Mix::Only(EventKind::ApiCall),
        );
        eprintln!(
            "    first {} events of 1 000 other customers",
            history.total
        );
        let stored = load_sqlite(&db, &history).await?;
        ensure!(
            stored == history.total,
            "loaded {stored} of {} history events",
            history.total
        );
    }
    let stored = load_sqlite(&db, &data).await?;
    ensure!(
        stored == data.total,
        "loaded {stored} of {} events",
        data.total
    );
    eprintln!("    loaded in {:.1} s", loaded.elapsed().as_secs_f64());
    let (server, _target, mut conn) = start_server(bench, &db).await?;
    let customer = generate::customer_external_id(data.seed, 0);
    if usage {
        measure_usage(bench, report, &server, &mut conn, &customer, data.total).await?;
    }
    if export {
        measure_export(bench, report, &server, &mut conn, &customer, data.total).await?;
    }
    server.stop().await?;
    bench.discard(&db);
    Ok(())
}

fn month_query() -> String {
    let (start, end) = bench_month();
    format!("start_date={}&end_date={}", iso(start), iso(end))
}

/// The operations whose customer-month usage is measured: (name, definition).
fn usage_aggregators() -> Vec<(&'static str, serde_json::Value)> {
    let base = |operation: &str| json!({"name": operation, "event_type": "api_call", "operation": operation});
    let with = |operation: &str, property: &str| {
        let mut def = base(operation);
        def["property"] = json!(property);
        def
    };
    let mut formula = base("formula");
    formula["formula"] = json!("sum(duration_ms) / 1000 + count(*) * 2");
    // Every call an entity alive from its timestamp on: the month's licensed
    // count is the entities before its end, read from signed cells.
    let mut licensed = base("count");
    licensed["type"] = json!("licensed");
    licensed["name"] = json!("licensed count");
    vec![
        ("count", base("count")),
        ("sum", with("sum", "duration_ms")),
        ("max", with("max", "duration_ms")),
        ("unique_count", with("unique_count", "endpoint")),
        ("formula", formula),
        ("licensed count", licensed),
    ]
}

/// A usage limit on the `count` aggregator, granted by a plan the customer
/// subscribes to; returns the check's path. The check reads the period
/// containing now, so the plan's period spans years: from the benchmark
/// month's start, it holds every event of the month (and reads them from
/// rollups, like a month would).
async fn usage_limit(
    conn: &mut Conn,
    customer: &str,
    count_aggregator: &str,
    events: u64,
) -> anyhow::Result<String> {
    let feature = json!({"code": "api_calls", "name": "API calls", "value_type": "number",
        "aggregator_id": count_aggregator});
    conn.send(Method::POST, "/v1/features", Some(body(&feature)))
        .await?
        .expect(StatusCode::CREATED, "feature")?;
    let plan = json!({"name": "Plan", "type": "fee", "currency": "EUR",
        "price_groups": [{"name": "fee", "price": {"type": "flat", "amount": "1000"}}]});
    let plan = setup::create(conn, "/v1/products", &plan).await?;
    let limit = json!({"value": events * 2});
    conn.send(
        Method::PUT,
        &format!("/v1/products/{plan}/entitlements/api_calls"),
        Some(body(&limit)),
    )
    .await?
    .expect(StatusCode::OK, "entitlement")?;
    let subscription = json!({"customer_id": customer, "product_ids": [plan],
        "starts_at": iso(bench_month().0), "billing_interval": {"period": "years", "count": 5},
        "currency": "EUR"});
    setup::create(conn, "/v1/subscriptions", &subscription).await?;
    Ok(format!("/v1/customers/{customer}/features/api_calls/check"))
}

fn body(json: &serde_json::Value) -> hyper::body::Bytes {
    hyper::body::Bytes::from(json.to_string())
}

/// The value at rank `q` (0..=1, nearest rank) of sorted `values`.
fn percentile(sorted: &[f64], q: f64) -> f64 {
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

async fn measure_usage(
    bench: &Bench,
    report: &mut Report,
    server: &Server,
    conn: &mut Conn,
    customer: &str,
    events: u64,
) -> anyhow::Result<()> {
    let aggregators = usage_aggregators();
    let mut paths = Vec::new();
    for (name, definition) in &aggregators {
        let id = setup::create(conn, "/v1/aggregators", definition).await?;
        let path = format!("/v1/customers/{customer}/usage/{id}?{}", month_query());
        if *name == "count" {
            let check = usage_limit(conn, customer, &id, events).await?;
            paths.push(("limit check", check));
        }
        paths.push((*name, path));
    }
    let stored = events + bench.history_events;
    let backfill = setup::wait_for_rollups(conn).await?.as_secs_f64();
    eprintln!(
        "usage: rollups of {} aggregators over {stored} events built in {backfill:.1} s",
        aggregators.len()
    );
    // Rollups built together read each event once: the rate is of events
    // stored, whatever the number of aggregators.
    report.add(Figure::new(
        "usage",
        &format!(
            "backfill of {} aggregators over {stored} stored events",
            aggregators.len()
        ),
        Unit::EventsPerSecond,
        vec![stored as f64 / backfill],
    ));
    eprintln!(
        "usage: {} aggregators over {events} events of one customer ({stored} stored), {} timed requests each per run",
        aggregators.len(),
        bench.usage_requests
    );
    let mut peaks = vec![0.0; bench.runs];
    for (name, path) in &paths {
        let (mut p50s, mut p99s) = (vec![], vec![]);
        for run_peak in peaks.iter_mut() {
            let mut times = Vec::new();
            for request in 0..=bench.usage_requests {
                let started = Instant::now();
                let reply = conn
                    .send(Method::GET, path, None)
                    .await?
                    .expect(StatusCode::OK, "usage")?;
                let ms = started.elapsed().as_secs_f64() * 1000.0;
                let body = reply.json("usage")?;
                if *name == "limit check" {
                    let usage = body["usage"].as_u64().context("check: no usage")?;
                    ensure!(
                        usage == events && body["allowed"] == json!(true),
                        "the limit check read {usage} of {events} events"
                    );
                    if request > 0 {
                        times.push(ms);
                    }
                    continue;
                }
                let count = body["count"].as_u64().context("usage: no count")?;
                if matches!(*name, "count" | "sum" | "formula" | "licensed count") {
                    ensure!(
                        count == events,
                        "{name} usage counted {count} of {events} events"
                    );
                }
                // The first request of a run warms the connection and caches.
                if request > 0 {
                    times.push(ms);
                }
            }
            times.sort_by(f64::total_cmp);
            p50s.push(percentile(&times, 0.5));
            p99s.push(percentile(&times, 0.99));
            *run_peak = f64::max(*run_peak, peak(server));
        }
        let what = if *name == "limit check" {
            format!("usage-limit check over the customer's {events} events, {stored} stored")
        } else {
            format!("usage of one customer-month, {name}, {stored} stored events")
        };
        report.add(Figure::new(
            "usage",
            &format!("{what}: p50"),
            Unit::Milliseconds,
            p50s,
        ));
        report.add(
            Figure::new("usage", &format!("{what}: p99"), Unit::Milliseconds, p99s)
                .target("≤ 5 ms p99"),
        );
    }
    report.check("usage", "events counted", events);
    report.add(Figure::new("usage", PEAK_RSS, Unit::Bytes, vec![peak(server)]).target(RSS_TARGET));
    Ok(())
}

/// Samples the server's resident memory until `stop`, keeping the highest.
fn sample_rss(
    server: &Server,
    stop: Arc<AtomicBool>,
) -> (Arc<AtomicU64>, tokio::task::JoinHandle<()>) {
    let highest = Arc::new(AtomicU64::new(0));
    let pid_memory = server.memory_reader();
    let task = {
        let highest = highest.clone();
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                if let Some(memory) = pid_memory() {
                    highest.fetch_max(memory.rss, Ordering::Relaxed);
                }
                tokio::time::sleep(RSS_SAMPLE_EVERY).await;
            }
        })
    };
    (highest, task)
}

async fn measure_export(
    bench: &Bench,
    report: &mut Report,
    server: &Server,
    conn: &mut Conn,
    customer: &str,
    events: u64,
) -> anyhow::Result<()> {
    eprintln!(
        "export: CSV of {events} events (graduated price), {} runs",
        bench.runs
    );
    let products = setup::products(conn, &[EventKind::ApiCall]).await?;
    let subscription = setup::create(
        conn,
        "/v1/subscriptions",
        &setup::subscription_body(customer, &products),
    )
    .await?;
    let path = format!(
        "/v1/subscriptions/{subscription}/products/{}/events.csv?{}",
        products[0],
        month_query()
    );
    let (mut rates, mut rss, mut peaks) = (vec![], vec![], vec![]);
    for run in 0..bench.runs {
        let stop = Arc::new(AtomicBool::new(false));
        let (highest, sampler) = sample_rss(server, stop.clone());
        let started = Instant::now();
        let response = conn.send_head(Method::GET, &path, None).await?;
        ensure!(
            response.status() == StatusCode::OK,
            "export: status {}",
            response.status()
        );
        let (bytes, lines) = drain_counting_lines(response).await?;
        let seconds = started.elapsed().as_secs_f64();
        stop.store(true, Ordering::Relaxed);
        let _ = sampler.await;
        let rows = lines.saturating_sub(1);
        ensure!(
            rows == events,
            "export wrote {rows} rows for {events} events"
        );
        eprintln!(
            "    run {run}: {rows} rows, {:.1} MB in {seconds:.2} s",
            bytes as f64 / 1e6
        );
        rates.push(rows as f64 / seconds);
        rss.push(highest.load(Ordering::Relaxed) as f64);
        peaks.push(peak(server));
    }
    report.check("export", "csv rows per run", events);
    report.add(
        Figure::new("export", "CSV export", Unit::RowsPerSecond, rates)
            .target("≥ 1 000 000 rows/s"),
    );
    report.add(
        Figure::new(
            "export",
            "server RSS during the export (sampled)",
            Unit::Bytes,
            rss,
        )
        .target("flat, ≤ 228 MB"),
    );
    report.add(Figure::new("export", PEAK_RSS, Unit::Bytes, peaks).target(RSS_TARGET));
    Ok(())
}
