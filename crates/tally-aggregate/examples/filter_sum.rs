//! Aggregation on its own: filter a slice of usage events and sum one property.
//!
//! An AI platform bills the tokens of its large and medium models, except failed
//! requests. The aggregator below sums `tokens` over January's `completion` events
//! that pass its `where` filter; the program prints what every event contributed and
//! checks the quantity against the value worked out by hand.
//!
//! Run it with `cargo run -p tally-aggregate --example filter_sum`; it exits with a
//! non-zero status if any result differs from the expected one.

use std::process::ExitCode;

use rust_decimal::Decimal;
use serde_json::json;
use tally_aggregate::{Aggregator, AggregatorDef, Contribution, SkipReason};
use tally_event::{Event, Period, Timestamp, ValidationConfig, parse_event};

fn main() -> ExitCode {
    // The definition as the API would receive it.
    let def: AggregatorDef = serde_json::from_value(json!({
        "name": "Billable tokens",
        "event_type": "completion",
        "operation": "sum",
        "property": "tokens",
        "unit_name": "token",
        "where": {"conditional": "and", "fields": [
            {"property": "model", "operator": "in", "value": ["large", "medium"]},
            {"property": "status", "operator": "not_equals", "value": "error"}
        ]}
    }))
    .expect("the definition has the shape of an AggregatorDef");
    let aggregator = match Aggregator::compile(&def) {
        Ok(aggregator) => aggregator,
        Err(errors) => {
            for error in errors {
                eprintln!("definition error at {}: {}", error.path, error.message);
            }
            return ExitCode::FAILURE;
        }
    };

    let january = Period::new(at("2024-01-01T00:00:00Z"), at("2024-02-01T00:00:00Z"))
        .expect("January starts before it ends");
    // Each event with the contribution worked out by hand, and why.
    let cases = [
        (
            event(
                "c1",
                "completion",
                "2024-01-02T09:00:00Z",
                json!({"model": "large", "tokens": 1200, "status": "ok"}),
            ),
            Contribution::Counts(dec("1200")),
            "selected",
        ),
        (
            event(
                "c2",
                "completion",
                "2024-01-05T14:30:00Z",
                json!({"model": "small", "tokens": 300, "status": "ok"}),
            ),
            Contribution::NotMatched,
            "model not billed",
        ),
        (
            event(
                "c3",
                "completion",
                "2024-01-09T08:15:00Z",
                json!({"model": "medium", "tokens": 450.5, "status": "ok"}),
            ),
            Contribution::Counts(dec("450.5")),
            "selected",
        ),
        (
            event(
                "c4",
                "completion",
                "2024-01-12T17:45:00Z",
                json!({"model": "large", "tokens": 800, "status": "error"}),
            ),
            Contribution::NotMatched,
            "failed request",
        ),
        (
            event(
                "c5",
                "completion",
                "2024-01-20T11:00:00Z",
                json!({"model": "large", "status": "ok"}),
            ),
            Contribution::Skipped(SkipReason::Missing),
            "selected, no tokens",
        ),
        (
            // not_equals keeps a missing status: the event is not an error.
            event(
                "c6",
                "completion",
                "2024-01-31T23:59:59.999Z",
                json!({"model": "medium", "tokens": 49.5}),
            ),
            Contribution::Counts(dec("49.5")),
            "selected, no status",
        ),
        (
            // A string is not a number: the event is selected but cannot be summed.
            event(
                "c8",
                "completion",
                "2024-01-25T16:20:00Z",
                json!({"model": "large", "tokens": "1200", "status": "ok"}),
            ),
            Contribution::Skipped(SkipReason::NotNumeric),
            "selected, tokens is text",
        ),
        (
            event(
                "c7",
                "completion",
                "2024-02-01T00:00:00Z",
                json!({"model": "large", "tokens": 5000, "status": "ok"}),
            ),
            Contribution::NotMatched,
            "February: after the period",
        ),
        (
            event(
                "e1",
                "embedding",
                "2024-01-15T10:00:00Z",
                json!({"model": "large", "tokens": 999, "status": "ok"}),
            ),
            Contribution::NotMatched,
            "another event type",
        ),
    ];

    let mut accumulator = aggregator
        .accumulator(aggregator.window(january), None)
        .expect("no named filter is asked for");
    let mut all_ok = true;
    println!(
        "{:<4} {:<26} {:<28} {:<28} why",
        "id", "timestamp", "contribution", "expected"
    );
    for (event, expected, why) in &cases {
        let got = accumulator.push(event);
        let ok = got == *expected;
        all_ok &= ok;
        println!(
            "{:<4} {:<26} {:<28} {:<28} {why}{}",
            event.record.id().as_str(),
            event.timestamp.to_string(),
            describe(&got),
            describe(expected),
            if ok { "" } else { "  <- MISMATCH" },
        );
    }

    let result = match accumulator.finish() {
        Ok(result) => result,
        Err(error) => {
            eprintln!("evaluation failed: {error}");
            return ExitCode::FAILURE;
        }
    };
    // 1200 + 450.5 + 49.5, from c1, c3 and c6.
    let expected_tokens = dec("1700");
    let expected_events = 3;
    println!();
    all_ok &= check(
        "billable tokens",
        result.quantity.to_string(),
        expected_tokens.to_string(),
    );
    all_ok &= check(
        "events behind the sum",
        result.event_count.to_string(),
        expected_events.to_string(),
    );
    all_ok &= check(
        "skipped: tokens missing",
        result.diagnostics.skipped_missing.to_string(),
        "1".to_owned(),
    );
    all_ok &= check(
        "skipped: tokens not a number",
        result.diagnostics.skipped_not_numeric.to_string(),
        "1".to_owned(),
    );

    if all_ok {
        ExitCode::SUCCESS
    } else {
        eprintln!("some results differ from the expected values");
        ExitCode::FAILURE
    }
}

/// Prints one result beside its expected value; true when they agree.
fn check(label: &str, got: String, expected: String) -> bool {
    let ok = got == expected;
    let verdict = if ok { "ok" } else { "MISMATCH" };
    println!("{label:<30} {got:>8}  (expected {expected:>8})  {verdict}");
    ok
}

fn describe(contribution: &Contribution) -> String {
    match contribution {
        Contribution::NotMatched => "not selected".to_owned(),
        Contribution::Skipped(SkipReason::Missing) => "skipped: missing".to_owned(),
        Contribution::Skipped(SkipReason::NotNumeric) => "skipped: not a number".to_owned(),
        Contribution::Counts(amount) => format!("counts {amount}"),
        Contribution::Behind => "behind the quantity".to_owned(),
        Contribution::Repeat => "repeated value".to_owned(),
    }
}

/// An event built the way a server receives it: wire JSON through `parse_event`.
fn event(id: &str, event_type: &str, timestamp: &str, mut record: serde_json::Value) -> Event {
    record["id"] = json!(id);
    let wire = json!({
        "customer_id": "acme",
        "event_type": event_type,
        "timestamp": timestamp,
        "record": record,
    });
    // Validation bounds future timestamps by "now"; any instant after the events will do.
    let now = at("2024-03-01T00:00:00Z");
    match parse_event(&wire, &ValidationConfig::default(), now) {
        Ok(parsed) => parsed.event,
        Err(errors) => panic!("event {id} is invalid: {errors:?}"),
    }
}

fn at(text: &str) -> Timestamp {
    Timestamp::parse(text).expect("a valid RFC 3339 timestamp")
}

fn dec(text: &str) -> Decimal {
    text.parse().expect("a decimal literal")
}
