//! Runs every scenario of `fixtures/aggregate/*.json`.
//!
//! A scenario holds events in the wire form, applied in order with the upsert rule
//! (as a store would keep them), and cases: an aggregator definition, a period, an
//! optional named filter id, and the expected quantity, event count and diagnostics
//! (or the expected evaluation error message).

use std::collections::BTreeMap;
use std::path::Path;

use rust_decimal::Decimal;
use serde_json::Value as Json;
use tally_aggregate::{Aggregator, evaluate};
use tally_event::{Event, EventKey, upsert_outcome};

use crate::support::{def, period, wire_event};

fn fixtures_dir() -> &'static Path {
    Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/aggregate"
    ))
}

/// The events a store would hold after ingesting them in order.
fn current_versions(events: &[Json]) -> Vec<Event> {
    let mut stored: BTreeMap<EventKey, Event> = BTreeMap::new();
    for json in events {
        let event = wire_event(json);
        let key = event.key();
        let outcome = upsert_outcome(
            stored.get(&key).map(|e| (e.timestamp, e)),
            (event.timestamp, &event),
        );
        if outcome.is_written() {
            stored.insert(key, event);
        }
    }
    stored.into_values().collect()
}

fn decimal(json: &Json) -> Decimal {
    match json {
        Json::String(s) => s.parse().unwrap(),
        Json::Number(n) => n.to_string().parse().unwrap(),
        other => panic!("not a quantity: {other}"),
    }
}

fn run_case(file: &str, events: &[Event], case: &Json) {
    let name = format!("{file}: {}", case["name"].as_str().unwrap_or("unnamed"));
    let aggregator = Aggregator::compile(&def(case["aggregator"].clone()))
        .unwrap_or_else(|e| panic!("{name}: {e:?}"));
    let p = &case["period"];
    let period = period(p["start"].as_str().unwrap(), p["end"].as_str().unwrap());
    let window = aggregator.window(period);
    let filter = case.get("filter_id").and_then(Json::as_str);
    let outcome = evaluate(&aggregator, window, filter, events);
    if let Some(message) = case.get("expected_error") {
        let err = outcome.expect_err(&name);
        assert_eq!(err.to_string(), message.as_str().unwrap(), "{name}");
        return;
    }
    let result = outcome.unwrap_or_else(|e| panic!("{name}: {e}"));
    let expected = &case["expected"];
    assert_eq!(
        result.quantity,
        decimal(&expected["quantity"]),
        "{name}: quantity"
    );
    assert_eq!(
        Some(result.event_count),
        expected["event_count"].as_u64(),
        "{name}: event_count"
    );
    for (key, actual) in [
        ("skipped_missing", result.diagnostics.skipped_missing),
        (
            "skipped_not_numeric",
            result.diagnostics.skipped_not_numeric,
        ),
    ] {
        if let Some(want) = expected.get(key) {
            assert_eq!(Some(actual), want.as_u64(), "{name}: {key}");
        }
    }
}

#[test]
fn every_fixture_scenario() {
    let mut files: Vec<_> = std::fs::read_dir(fixtures_dir())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    let mut cases = 0;
    for path in &files {
        let text = std::fs::read_to_string(path).unwrap();
        let scenario: Json = serde_json::from_str(&text).unwrap();
        let file = path.file_name().unwrap().to_string_lossy();
        let events = current_versions(scenario["events"].as_array().unwrap());
        for case in scenario["cases"].as_array().unwrap() {
            run_case(&file, &events, case);
            cases += 1;
        }
    }
    assert!(
        files.len() >= 4 && cases >= 40,
        "{} files, {cases} cases",
        files.len()
    );
}
