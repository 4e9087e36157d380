//! Reading one customer's month at scale: builds a SQLite file holding
//! `--events` events of one customer in one month (plus a tenth as many of other
//! customers, and 25 properties per record) once, then times `aggregate` for
//! several aggregators, with and without filters, and prints the median, min and
//! max of `--runs` repetitions.
//!
//! `cargo run --release -p tally-store-sqlite --example usage_scale -- --events 1000000 [--runs 5] [--dir DIR] [--full] [--only NAME]`
//!
//! `--full` also times the whole-record read (`stream_events` into the
//! evaluator), the way `aggregate` read before, and checks both answers agree.
//!
//! The file is kept (`DIR/usage-<events>.db`, default the system temp dir) and
//! reused by later runs.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use futures::TryStreamExt;
use serde_json::json;
use tally_aggregate::{AggregateResult, Aggregator, AggregatorDef, Window};
use tally_event::{EventType, Period, Timestamp, record_from_stored_json};
use tally_store::{AccountId, AggregatorFilterId, CustomerId, EventId, EventStore, NewEvent};
use tally_store_sqlite::SqliteStore;

/// 2026-01-01T00:00:00Z and the month after it.
const MONTH_START_MS: i64 = 1_767_225_600_000;
const MONTH_MS: i64 = 31 * 24 * 3_600_000;
const BATCH: usize = 5_000;

struct Args {
    events: usize,
    runs: usize,
    dir: PathBuf,
    /// Also time reading whole records (the reference answer, checked equal).
    full: bool,
    /// Only the cases whose name contains this.
    only: String,
}

fn args() -> Args {
    let mut parsed = Args {
        events: 1_000_000,
        runs: 5,
        dir: std::env::temp_dir(),
        full: false,
        only: String::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--full" {
            parsed.full = true;
            continue;
        }
        let value = it.next().unwrap_or_default();
        match flag.as_str() {
            "--events" => parsed.events = value.parse().unwrap_or(parsed.events),
            "--runs" => parsed.runs = value.parse().unwrap_or(parsed.runs),
            "--dir" => parsed.dir = PathBuf::from(value),
            "--only" => parsed.only = value,
            other => eprintln!("ignored argument {other}"),
        }
    }
    parsed
}

fn ids() -> (AccountId, CustomerId, CustomerId) {
    let id = |p: &str| format!("{p}_bench0000000000000000000");
    (
        AccountId::parse(&id("acc")).expect("account id"),
        CustomerId::parse(&id("cus")).expect("customer id"),
        CustomerId::parse("cus_other000000000000000000").expect("customer id"),
    )
}

/// Event `i` of a customer: 25 properties, amounts both integer and decimal.
fn event(i: usize, customer: &CustomerId, count: usize) -> NewEvent {
    let step = MONTH_MS / i64::try_from(count.max(1)).unwrap_or(1);
    let at = MONTH_START_MS + i64::try_from(i).unwrap_or(0) * step;
    let mut record = json!({
        "id": format!("{}-{i:08}", &customer.as_str()[4..9]),
        "tokens": (i % 1000) as u64 + 1,
        "cost": format!("{}.{:02}", i % 97, i % 100).parse::<serde_json::Value>().unwrap_or_default(),
        "region": (["eu", "us", "ap", "sa"][i % 4]),
        "model": (["small", "medium", "large"][i % 3]),
        "cached": i % 5 == 0,
        "user": format!("user_{}", i % 5_000),
    });
    if let Some(object) = record.as_object_mut() {
        for extra in 0..18 {
            object.insert(
                format!("attr_{extra:02}"),
                json!(format!("value {extra} {}", i % 13)),
            );
        }
    }
    NewEvent {
        id: EventId::random(),
        event_type: EventType::parse("llm_call").expect("event type"),
        customer_id: customer.clone(),
        timestamp: Timestamp::from_millis(at).expect("timestamp"),
        record: record_from_stored_json(&record).expect("record"),
        ingested_at: Timestamp::from_millis(at).expect("timestamp"),
    }
}

async fn fill(store: &SqliteStore, events: usize) {
    let (account, customer, other) = ids();
    let started = Instant::now();
    for (who, count) in [(&customer, events), (&other, events / 10)] {
        for start in (0..count).step_by(BATCH) {
            let batch: Vec<NewEvent> = (start..(start + BATCH).min(count))
                .map(|i| event(i, who, count))
                .collect();
            store.upsert_events(&account, &batch).await.expect("upsert");
        }
    }
    eprintln!("filled in {:.1?}", started.elapsed());
}

fn aggregator(
    operation: &str,
    property: Option<&str>,
    where_: Option<serde_json::Value>,
) -> Aggregator {
    let def = AggregatorDef {
        name: format!("{operation} {}", property.unwrap_or("")),
        event_type: "llm_call".into(),
        operation: operation.into(),
        property: property.map(str::to_owned),
        formula: None,
        kind: "metered".into(),
        unit_name: None,
        allow_negative_values: false,
        where_,
        custom_event_name: None,
        exposed_event_keys: None,
        filters: Vec::new(),
        thresholds: Vec::new(),
    };
    Aggregator::compile(&def).expect("aggregator")
}

fn cases() -> Vec<(&'static str, Aggregator)> {
    let eu = json!({"conditional": "and", "fields": [
        {"property": "region", "operator": "equals", "value": "eu"}]});
    let big = json!({"conditional": "and", "fields": [
        {"property": "tokens", "operator": "greater_than", "value": 500}]});
    vec![
        ("count", aggregator("count", None, None)),
        (
            "sum tokens (integers)",
            aggregator("sum", Some("tokens"), None),
        ),
        ("sum cost (decimals)", aggregator("sum", Some("cost"), None)),
        ("max tokens", aggregator("max", Some("tokens"), None)),
        (
            "unique_count user",
            aggregator("unique_count", Some("user"), None),
        ),
        (
            "count where region = eu",
            aggregator("count", None, Some(eu.clone())),
        ),
        (
            "sum tokens where region = eu",
            aggregator("sum", Some("tokens"), Some(eu)),
        ),
        (
            "sum cost where tokens > 500",
            aggregator("sum", Some("cost"), Some(big)),
        ),
    ]
}

fn summary(mut times: Vec<Duration>) -> String {
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    format!(
        "median {:>8.1} ms  min {:>8.1} ms  max {:>8.1} ms",
        ms(times[times.len() / 2]),
        ms(times[0]),
        ms(times[times.len() - 1])
    )
}

#[tokio::main]
async fn main() {
    let args = args();
    let path = args.dir.join(format!("usage-{}.db", args.events));
    let fresh = !path.exists();
    let store = SqliteStore::open(&path).await.expect("open store");
    if fresh {
        fill(&store, args.events).await;
    }
    let (account, customer, _) = ids();
    let period = Period::new(
        Timestamp::from_millis(MONTH_START_MS).expect("start"),
        Timestamp::from_millis(MONTH_START_MS + MONTH_MS).expect("end"),
    )
    .expect("period");
    let window = Window::Range(period);
    let no_filter: Option<&AggregatorFilterId> = None;
    println!(
        "{} events of one customer in {}",
        args.events,
        path.display()
    );
    for (name, aggregator) in cases().into_iter().filter(|(n, _)| n.contains(&args.only)) {
        let mut lean = Vec::with_capacity(args.runs);
        let mut full = Vec::with_capacity(args.runs);
        let mut quantity = None;
        for _ in 0..args.runs.max(1) {
            let started = Instant::now();
            let result = store
                .aggregate(&account, &aggregator, no_filter, &customer, window)
                .await
                .expect("aggregate");
            lean.push(started.elapsed());
            if args.full {
                let started = Instant::now();
                let reference = full_records(&store, &aggregator, window).await;
                full.push(started.elapsed());
                assert_eq!(reference, result, "{name}");
            }
            quantity = Some((result.quantity, result.event_count));
        }
        let (quantity, events) = quantity.unwrap_or_default();
        println!(
            "{name:<30} aggregate    {}  = {quantity} over {events} events",
            summary(lean)
        );
        if args.full {
            println!("{:<30} full records {}", "", summary(full));
        }
    }
    store.close().await;
}

/// The way `aggregate` read before: every whole record of the window, decoded
/// and pushed into the evaluator.
async fn full_records(
    store: &SqliteStore,
    aggregator: &Aggregator,
    window: Window,
) -> AggregateResult {
    let (account, customer, _) = ids();
    let mut accumulator = aggregator.accumulator(window, None).expect("accumulator");
    let mut events =
        store.stream_events(&account, &customer, aggregator.event_type(), window.into());
    while let Some(event) = events.try_next().await.expect("event") {
        accumulator.push(&event.to_event().expect("event"));
    }
    accumulator.finish().expect("result")
}
