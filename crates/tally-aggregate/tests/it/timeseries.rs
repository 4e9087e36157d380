//! Time series: UTC buckets covering the range, empty ones included.

use serde_json::json;
use tally_aggregate::{
    AggregateResult, Bucket, EvalError, SeriesAccumulator, bucket_bounds, evaluate, time_series,
};
use tally_event::Event;

use crate::support::{aggregator, at, event, period};

fn events() -> Vec<Event> {
    vec![
        event("seat", "2023-12-20T00:00:00Z", json!({"id": 1, "n": 1})),
        event("seat", "2024-01-01T05:00:00Z", json!({"id": 2, "n": 2})),
        event("seat", "2024-01-01T23:59:59.999Z", json!({"id": 3, "n": 3})),
        event("seat", "2024-01-03T00:00:00Z", json!({"id": 4, "n": 4})),
        event("seat", "2024-02-29T12:00:00Z", json!({"id": 5, "n": 5})),
        event("seat", "2024-03-01T00:00:00Z", json!({"id": 6, "n": 6})),
    ]
}

fn quantities(series: &[(tally_event::Timestamp, AggregateResult)]) -> Vec<(String, String)> {
    series
        .iter()
        .map(|(start, result)| (start.to_string(), result.quantity.to_string()))
        .collect()
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[test]
fn metered_days_include_empty_buckets_and_add_up() {
    let sum =
        aggregator(json!({"name": "s", "event_type": "seat", "operation": "sum", "property": "n"}));
    let range = period("2024-01-01T00:00:00Z", "2024-01-04T00:00:00Z");
    let series = time_series(&sum, range, Bucket::Day, None, &events()).unwrap();
    assert_eq!(
        quantities(&series),
        pairs(&[
            ("2024-01-01T00:00:00.000Z", "5"),
            ("2024-01-02T00:00:00.000Z", "0"),
            ("2024-01-03T00:00:00.000Z", "4"),
        ])
    );
    assert_eq!(series[1].1.event_count, 0);
    let whole = evaluate(&sum, sum.window(range), None, &events()).unwrap();
    let total: rust_decimal::Decimal = series.iter().map(|(_, r)| r.quantity).sum();
    assert_eq!(total, whole.quantity);
}

#[test]
fn months_follow_the_calendar_and_the_range_is_clipped() {
    let count = aggregator(json!({"name": "c", "event_type": "seat", "operation": "count"}));
    let range = period("2024-01-01T05:00:00Z", "2024-03-01T00:00:00Z");
    let series = time_series(&count, range, Bucket::Month, None, &events()).unwrap();
    assert_eq!(
        quantities(&series),
        pairs(&[
            ("2024-01-01T00:00:00.000Z", "3"),
            ("2024-02-01T00:00:00.000Z", "1")
        ])
    );
}

#[test]
fn bucket_bounds_are_the_series_buckets_clipped_to_the_range() {
    let range = period("2024-01-01T05:00:00Z", "2024-03-01T00:00:00Z");
    let bounds: Vec<(String, String)> = bucket_bounds(range, Bucket::Month)
        .unwrap()
        .into_iter()
        .map(|(start, end)| (start.to_string(), end.to_string()))
        .collect();
    assert_eq!(
        bounds,
        pairs(&[
            ("2024-01-01T00:00:00.000Z", "2024-02-01T00:00:00.000Z"),
            ("2024-02-01T00:00:00.000Z", "2024-03-01T00:00:00.000Z"),
        ])
    );
    let short = period("2024-01-01T05:00:00Z", "2024-01-02T12:00:00Z");
    let days = bucket_bounds(short, Bucket::Day).unwrap();
    assert_eq!(days.len(), 2);
    assert_eq!(days[1].1, at("2024-01-02T12:00:00Z"));
}

#[test]
fn hours_start_on_the_hour() {
    let count = aggregator(json!({"name": "c", "event_type": "seat", "operation": "count"}));
    let range = period("2024-01-01T04:30:00Z", "2024-01-01T07:00:00Z");
    let series = time_series(&count, range, Bucket::Hour, None, &events()).unwrap();
    assert_eq!(
        quantities(&series),
        pairs(&[
            ("2024-01-01T04:00:00.000Z", "0"),
            ("2024-01-01T05:00:00.000Z", "1"),
            ("2024-01-01T06:00:00.000Z", "0"),
        ])
    );
}

#[test]
fn licensed_buckets_hold_the_entities_alive_at_their_end() {
    let seats = aggregator(json!({
        "name": "seats", "event_type": "seat", "operation": "max", "property": "n", "type": "licensed"
    }));
    let range = period("2024-01-01T00:00:00Z", "2024-01-04T00:00:00Z");
    let series = time_series(&seats, range, Bucket::Day, None, &events()).unwrap();
    assert_eq!(
        quantities(&series),
        pairs(&[
            ("2024-01-01T00:00:00.000Z", "3"),
            ("2024-01-02T00:00:00.000Z", "3"),
            ("2024-01-03T00:00:00.000Z", "4"),
        ])
    );
    // each bucket equals a licensed evaluation of a period ending there
    for (start, result) in &series {
        let end = at(&start.to_string()).as_millis() + 86_400_000;
        let window =
            tally_aggregate::Window::Before(tally_event::Timestamp::from_millis(end).unwrap());
        assert_eq!(evaluate(&seats, window, None, &events()).unwrap(), *result);
    }
}

#[test]
fn too_many_buckets_is_an_error() {
    let count = aggregator(json!({"name": "c", "event_type": "seat", "operation": "count"}));
    let range = period("1970-01-01T00:00:00Z", "2024-01-01T00:00:00Z");
    let err = time_series(&count, range, Bucket::Hour, None, &events()).unwrap_err();
    assert_eq!(
        err,
        EvalError::TooManyBuckets {
            max: tally_aggregate::MAX_BUCKETS
        }
    );
    assert!(time_series(&count, range, Bucket::Month, None, &events()).is_ok());
}

/// Pushed one at a time, in any order, events give the same series; metered
/// events before the range count nowhere, so readers may leave them out.
#[test]
fn series_accumulator_matches_time_series_in_any_order() {
    let range = period("2024-01-01T00:00:00Z", "2024-03-02T00:00:00Z");
    for definition in [
        json!({"name": "s", "event_type": "seat", "operation": "sum", "property": "n"}),
        json!({"name": "l", "event_type": "seat", "operation": "count", "type": "licensed"}),
    ] {
        let aggregator = aggregator(definition);
        let whole = time_series(&aggregator, range, Bucket::Day, None, &events()).unwrap();
        let mut series = SeriesAccumulator::new(&aggregator, range, Bucket::Day, None).unwrap();
        for event in events().iter().rev() {
            series.push(event);
        }
        assert_eq!(series.finish().unwrap(), whole);
    }
    let sum =
        aggregator(json!({"name": "s", "event_type": "seat", "operation": "sum", "property": "n"}));
    let in_range: Vec<Event> = events()
        .into_iter()
        .filter(|e| e.timestamp >= range.start())
        .collect();
    assert_eq!(
        time_series(&sum, range, Bucket::Month, None, &in_range).unwrap(),
        time_series(&sum, range, Bucket::Month, None, &events()).unwrap(),
    );
}
