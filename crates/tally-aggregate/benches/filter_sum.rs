//! Events/s through filter + sum over 1,000,000 in-memory events whose records have
//! 25 properties. Run with `cargo bench -p tally-aggregate --bench filter_sum`.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Instant;

use rust_decimal::Decimal;
use serde_json::json;
use tally_aggregate::{Aggregator, AggregatorDef, Window, evaluate};
use tally_event::{CustomerRef, Event, EventType, Period, Record, RecordId, Timestamp, Value};

const EVENTS: usize = 1_000_000;
const RUNS: usize = 7;
const JAN_2024_MS: i64 = 1_704_067_200_000;

fn record(i: usize) -> Record {
    let mut props = BTreeMap::new();
    props.insert("id".to_owned(), Value::Number(Decimal::from(i)));
    let regions = ["eu", "us", "apac", "latam"];
    props.insert(
        "region".to_owned(),
        Value::String(regions[i % 4].to_owned()),
    );
    let status = if i % 10 == 0 { "trial" } else { "active" };
    props.insert("status".to_owned(), Value::String(status.to_owned()));
    // cents with two decimals, e.g. 12.34
    props.insert(
        "amount".to_owned(),
        Value::Number(Decimal::new((i % 10_000) as i64, 2)),
    );
    if i % 50 == 0 {
        props.insert(
            "deleted_at".to_owned(),
            Value::String("2024-01-02".to_owned()),
        );
    }
    for k in props.len()..25 {
        props.insert(
            format!("attr_{k:02}"),
            Value::Number(Decimal::from(k * i % 97)),
        );
    }
    Record::from_trusted_parts(RecordId::from_integer(i as i128), props)
}

fn events() -> Vec<Event> {
    let event_type = EventType::parse("api_call").unwrap();
    let customer = CustomerRef::parse("cus_bench").unwrap();
    (0..EVENTS)
        .map(|i| Event {
            event_type: event_type.clone(),
            customer: customer.clone(),
            // spread over 31 days
            timestamp: Timestamp::from_millis(JAN_2024_MS + (i as i64 % 31) * 86_400_000).unwrap(),
            record: record(i),
        })
        .collect()
}

fn main() {
    let def: AggregatorDef = serde_json::from_value(json!({
        "name": "revenue", "event_type": "api_call", "operation": "sum", "property": "amount",
        "where": {"conditional": "and", "fields": [
            {"property": "region", "operator": "in", "value": ["eu", "us"]},
            {"property": "status", "operator": "equals", "value": "active"},
            {"property": "deleted_at", "operator": "is_null"}]}
    }))
    .unwrap();
    let aggregator = Aggregator::compile(&def).unwrap();
    let start = Timestamp::from_millis(JAN_2024_MS).unwrap();
    let end = Timestamp::from_millis(JAN_2024_MS + 31 * 86_400_000).unwrap();
    let window = Window::Range(Period::new(start, end).unwrap());

    let built = Instant::now();
    let events = events();
    println!("built {EVENTS} events in {:.2?}", built.elapsed());

    let mut rates = Vec::with_capacity(RUNS);
    for run in 0..RUNS {
        let started = Instant::now();
        let result = evaluate(&aggregator, window, None, black_box(&events)).unwrap();
        let elapsed = started.elapsed();
        let rate = EVENTS as f64 / elapsed.as_secs_f64();
        println!(
            "run {run}: {elapsed:.2?}, {rate:.0} events/s, quantity {}, {} events behind it",
            result.quantity, result.event_count
        );
        rates.push(rate);
    }
    rates.sort_by(f64::total_cmp);
    println!(
        "filter + sum over {EVENTS} events: median {:.0} events/s, best {:.0} events/s",
        rates[RUNS / 2],
        rates[RUNS - 1]
    );
}
