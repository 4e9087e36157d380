//! Operations, windows, named filters, clamping and per-event contributions.

use serde_json::json;
use tally_aggregate::{
    AggregateResult, Aggregator, Contribution, EvalError, SkipReason, Window, evaluate,
};
use tally_event::Event;

use crate::support::{aggregator, dec, event, period};

fn calls() -> Vec<Event> {
    vec![
        event(
            "api_call",
            "2024-01-01T00:00:00Z",
            json!({"id": 1, "ms": 120, "region": "eu"}),
        ),
        event(
            "api_call",
            "2024-01-10T00:00:00Z",
            json!({"id": 2, "ms": 80.5, "region": "us"}),
        ),
        event(
            "api_call",
            "2024-01-10T00:00:00Z",
            json!({"id": 3, "ms": -20, "region": "eu"}),
        ),
        event(
            "api_call",
            "2024-01-20T00:00:00Z",
            json!({"id": 4, "ms": null, "region": "eu"}),
        ),
        event(
            "api_call",
            "2024-01-21T00:00:00Z",
            json!({"id": 5, "ms": "fast", "region": "us"}),
        ),
        event(
            "api_call",
            "2024-01-22T00:00:00Z",
            json!({"id": 6, "region": "us"}),
        ),
        // outside the period, and another type
        event(
            "api_call",
            "2024-02-01T00:00:00Z",
            json!({"id": 7, "ms": 1000}),
        ),
        event(
            "login",
            "2024-01-05T00:00:00Z",
            json!({"id": 8, "ms": 1000}),
        ),
    ]
}

fn agg(operation: &str, property: Option<&str>) -> Aggregator {
    aggregator(json!({
        "name": "latency", "event_type": "api_call", "operation": operation,
        "property": property, "type": "metered", "allow_negative_values": true,
        "filters": [{"id": "agf_eu", "name": "europe", "where":
            {"property": "region", "operator": "equals", "value": "eu"}}]
    }))
}

fn january() -> Window {
    Window::Range(period("2024-01-01T00:00:00Z", "2024-02-01T00:00:00Z"))
}

fn run(aggregator: &Aggregator, filter: Option<&str>) -> AggregateResult {
    evaluate(aggregator, january(), filter, &calls()).unwrap()
}

/// (quantity, event_count, skipped_missing, skipped_not_numeric)
fn summary(result: &AggregateResult) -> (String, u64, u64, u64) {
    let d = &result.diagnostics;
    (
        result.quantity.to_string(),
        result.event_count,
        d.skipped_missing,
        d.skipped_not_numeric,
    )
}

#[test]
fn every_operation_over_a_metered_period() {
    let s = |text: &str| text.to_owned();
    let cases = [
        ("count", None, (s("6"), 6, 0, 0)),
        ("sum", Some("ms"), (s("180.5"), 3, 2, 1)),
        ("min", Some("ms"), (s("-20"), 3, 2, 1)),
        ("max", Some("ms"), (s("120"), 3, 2, 1)),
        (
            "avg",
            Some("ms"),
            (s("60.166666666666666666666666667"), 3, 2, 1),
        ),
        ("unique_count", Some("region"), (s("2"), 2, 0, 0)),
        ("unique_count", Some("ms"), (s("4"), 4, 2, 0)),
        // ids 2 and 3 share the latest numeric timestamp; the greater id wins
        ("latest", Some("ms"), (s("-20"), 3, 2, 1)),
    ];
    for (operation, property, expected) in cases {
        let result = run(&agg(operation, property), None);
        assert_eq!(summary(&result), expected, "{operation} {property:?}");
        assert_eq!(result.diagnostics.matched_events, 6, "{operation}");
    }
}

#[test]
fn named_filter_narrows_the_aggregator() {
    let result = run(&agg("sum", Some("ms")), Some("agf_eu"));
    assert_eq!(summary(&result), ("100".to_owned(), 2, 1, 0));
    let err = evaluate(&agg("count", None), january(), Some("agf_nope"), &calls()).unwrap_err();
    assert_eq!(
        err,
        EvalError::UnknownFilter {
            id: "agf_nope".into()
        }
    );
}

#[test]
fn negative_results_are_clamped_unless_allowed() {
    let mut def = agg("min", Some("ms")).def().clone();
    def.allow_negative_values = false;
    let clamped = Aggregator::compile(&def).unwrap();
    let result = run(&clamped, None);
    assert_eq!(result.quantity, dec("0"));
    assert_eq!(result.diagnostics.clamped_from, Some(dec("-20")));
    assert_eq!(
        run(&agg("min", Some("ms")), None).diagnostics.clamped_from,
        None
    );
}

/// What a store computing quantities in SQL reuses: the evaluator's finishing
/// (normalize, clamp) and its named filter lookup.
#[test]
fn finish_quantity_and_named_filter_are_the_evaluators() {
    let mut diagnostics = tally_aggregate::Diagnostics::default();
    let allowed = agg("min", Some("ms"));
    let finished = allowed.finish_quantity(dec("-2.50"), &mut diagnostics);
    assert_eq!(finished.to_string(), "-2.5");
    assert_eq!(diagnostics.clamped_from, None);
    let mut def = allowed.def().clone();
    def.allow_negative_values = false;
    let clamped = Aggregator::compile(&def).unwrap();
    let finished = clamped.finish_quantity(dec("5.00"), &mut diagnostics);
    assert_eq!(finished.to_string(), "5");
    assert_eq!(diagnostics.clamped_from, None);
    assert_eq!(
        clamped.finish_quantity(dec("-2.50"), &mut diagnostics),
        dec("0")
    );
    assert_eq!(
        diagnostics.clamped_from.map(|d| d.to_string()).as_deref(),
        Some("-2.5")
    );

    assert!(clamped.named_filter("agf_eu").unwrap().is_some());
    assert_eq!(
        clamped.named_filter("agf_nope"),
        Err(EvalError::UnknownFilter {
            id: "agf_nope".into()
        })
    );
}

#[test]
fn empty_input_gives_zero_for_every_operation() {
    for (operation, property) in [
        ("count", None),
        ("sum", Some("ms")),
        ("min", Some("ms")),
        ("max", Some("ms")),
        ("avg", Some("ms")),
        ("unique_count", Some("ms")),
        ("latest", Some("ms")),
    ] {
        let result = evaluate(&agg(operation, property), january(), None, &[]).unwrap();
        assert_eq!(summary(&result), ("0".to_owned(), 0, 0, 0), "{operation}");
    }
}

#[test]
fn licensed_reads_everything_before_the_end() {
    let seats = aggregator(json!({
        "name": "seats", "event_type": "api_call", "operation": "count", "type": "licensed"
    }));
    let window = seats.window(period("2024-01-15T00:00:00Z", "2024-02-01T00:00:00Z"));
    assert_eq!(
        window,
        Window::Before(crate::support::at("2024-02-01T00:00:00Z"))
    );
    let result = evaluate(&seats, window, None, &calls()).unwrap();
    assert_eq!(result.quantity, dec("6"));
}

#[test]
fn latest_does_not_depend_on_order() {
    let latest = agg("latest", Some("ms"));
    let mut events = calls();
    let forward = evaluate(&latest, january(), None, &events).unwrap();
    events.reverse();
    let backward = evaluate(&latest, january(), None, &events).unwrap();
    assert_eq!(forward, backward);
}

#[test]
fn sum_overflow_is_an_error() {
    let big = tally_event::Value::Number(rust_decimal::Decimal::MAX);
    let events: Vec<Event> = (0..2)
        .map(|i| {
            let mut e = event("api_call", "2024-01-02T00:00:00Z", json!({"id": i}));
            let mut props = e.record.properties().clone();
            props.insert("ms".into(), big.clone());
            e.record = tally_event::Record::from_trusted_parts(e.record.id().clone(), props);
            e
        })
        .collect();
    let err = evaluate(&agg("sum", Some("ms")), january(), None, &events).unwrap_err();
    assert_eq!(err, EvalError::Overflow);
}

#[test]
fn contributions_tell_what_each_event_does() {
    let events = calls();
    let sum = agg("sum", Some("ms"));
    let judged: Vec<Contribution> = events
        .iter()
        .map(|e| sum.contribution(e, january(), None).unwrap())
        .collect();
    assert_eq!(
        judged,
        vec![
            Contribution::Counts(dec("120")),
            Contribution::Counts(dec("80.5")),
            Contribution::Counts(dec("-20")),
            Contribution::Skipped(SkipReason::Missing),
            Contribution::Skipped(SkipReason::NotNumeric),
            Contribution::Skipped(SkipReason::Missing),
            Contribution::NotMatched,
            Contribution::NotMatched,
        ]
    );
    let count = agg("count", None);
    assert_eq!(
        count.contribution(&events[4], january(), None).unwrap(),
        Contribution::Counts(dec("1"))
    );
    let max = agg("max", Some("ms"));
    assert_eq!(
        max.contribution(&events[0], january(), None).unwrap(),
        Contribution::Behind
    );
}

#[test]
fn unique_count_push_marks_the_first_event_of_each_value() {
    let unique = agg("unique_count", Some("region"));
    let mut accumulator = unique.accumulator(january(), None).unwrap();
    let pushed: Vec<Contribution> = calls().iter().map(|e| accumulator.push(e)).collect();
    let one = Contribution::Counts(dec("1"));
    assert_eq!(
        pushed[..6],
        [
            one.clone(),
            one,
            Contribution::Repeat,
            Contribution::Repeat,
            Contribution::Repeat,
            Contribution::Repeat
        ]
    );
    assert_eq!(accumulator.finish().unwrap().event_count, 2);
}

#[test]
fn custom_event_name_renders_record_properties() {
    let users = aggregator(json!({
        "name": "users", "event_type": "users", "operation": "count",
        "custom_event_name": "{record.work_email} ({record.id}) {{{event_type}}}"
    }));
    let user = event(
        "users",
        "2024-01-01T00:00:00Z",
        json!({"id": 258, "work_email": "l@x.io"}),
    );
    assert_eq!(
        users.event_name(&user).as_deref(),
        Some("l@x.io (258) {users}")
    );
}

/// The events with only the properties the scope reads (and the id).
fn projected(events: &[Event], keep: &std::collections::BTreeSet<&str>) -> Vec<Event> {
    events
        .iter()
        .map(|e| {
            let properties = e
                .record
                .properties()
                .iter()
                .filter(|(k, _)| keep.contains(k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            Event {
                record: tally_event::Record::from_trusted_parts(e.record.id().clone(), properties),
                ..e.clone()
            }
        })
        .collect()
}

#[test]
fn read_properties_are_all_an_evaluation_reads() {
    for (operation, property) in [
        ("count", None),
        ("sum", Some("ms")),
        ("latest", Some("ms")),
        ("unique_count", Some("region")),
    ] {
        let aggregator = agg(operation, property);
        for filter in [None, Some("agf_eu")] {
            let scope = aggregator.scope(january(), filter).unwrap();
            let keep = scope.read_properties().unwrap();
            let expected: Vec<&str> = property
                .into_iter()
                .chain(filter.map(|_| "region"))
                .collect();
            assert_eq!(
                keep.iter()
                    .copied()
                    .collect::<std::collections::BTreeSet<_>>(),
                expected.into_iter().collect()
            );
            let lean = projected(&calls(), &keep);
            assert_eq!(
                evaluate(&aggregator, january(), filter, &lean),
                evaluate(&aggregator, january(), filter, &calls()),
                "{operation} {filter:?}"
            );
        }
    }
    let formula = aggregator(json!({
        "name": "f", "event_type": "api_call", "operation": "formula",
        "formula": "sum(ms) + count(*)", "type": "metered"
    }));
    assert_eq!(
        formula.scope(january(), None).unwrap().read_properties(),
        None
    );
}

#[test]
fn unread_events_count_only_without_filters() {
    let count = agg("count", None);
    let mut plain = count.accumulator(january(), None).unwrap();
    assert!(plain.push_unread(3));
    assert_eq!(plain.finish().unwrap().quantity, dec("3"));
    let mut filtered = count.accumulator(january(), Some("agf_eu")).unwrap();
    assert!(!filtered.push_unread(3));
    assert_eq!(filtered.finish().unwrap().quantity, dec("0"));
    let sum_ms = agg("sum", Some("ms"));
    let mut sum = sum_ms.accumulator(january(), None).unwrap();
    assert!(!sum.push_unread(3));
}
