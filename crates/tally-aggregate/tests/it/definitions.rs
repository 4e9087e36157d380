//! Definition errors: every problem at once, with paths and codes (snapshots).

use serde_json::json;
use tally_aggregate::{Aggregator, DefinitionError, Filter};

use crate::support::{aggregator, def};

fn errors(json: serde_json::Value) -> Vec<DefinitionError> {
    Aggregator::compile(&def(json)).unwrap_err()
}

#[test]
fn a_broken_aggregator_reports_every_problem() {
    insta::assert_json_snapshot!(errors(json!({
        "name": " ", "event_type": "api call", "operation": "median", "type": "prepaid",
        "property": "x", "formula": "sum(x)",
        "where": {"conditional": "xor", "fields": [
            {"property": "plan", "operator": "is", "value": "pro"},
            {"property": "plan", "operator": "in", "value": "pro"},
            {"property": "deleted_at", "operator": "is_null", "value": "now"},
            {"property": "", "operator": "equals"},
            {"property": "n", "operator": "greater_than", "value": true, "values": 1},
            {"property": "tags", "operator": "in", "value": [1, {"a": 1}, [2]]},
            {"property": "s", "operator": "starts_with", "value": 5},
            {"property": "s", "operator": "contains", "value": null},
            {"conditional": "and"},
            "not a condition"]},
        "custom_event_name": "{record.email",
        "exposed_event_keys": ["id", ""],
        "filters": [
            {"id": "agf_1", "name": "a", "where": {"property": "x", "operator": "isNull"}},
            {"id": "agf_1", "name": "", "where": {"conditional": "or", "fields": {}}},
            {"name": "no id"}]
    })));
}

#[test]
fn names_are_bounded_and_storable() {
    let long = "n".repeat(256);
    let found: Vec<(String, String)> = errors(json!({
        "name": long, "event_type": "api_call", "operation": "count",
        "filters": [{"id": "agf_1", "name": "a\u{0}b"}]
    }))
    .into_iter()
    .map(|error| (error.path, error.code.as_str().to_owned()))
    .collect();
    assert_eq!(
        found,
        [
            ("/name".to_owned(), "invalid_name".to_owned()),
            ("/filters/0/name".to_owned(), "invalid_name".to_owned()),
        ]
    );
    let longest = "n".repeat(255);
    let fits = def(json!({"name": longest, "event_type": "api_call", "operation": "count"}));
    assert!(Aggregator::compile(&fits).is_ok());
}

#[test]
fn operands_that_do_not_fit_the_operation() {
    insta::assert_json_snapshot!(errors(json!({
        "name": "a", "event_type": "api_call", "operation": "count", "property": "x"
    })));
    insta::assert_json_snapshot!(errors(json!({
        "name": "a", "event_type": "api_call", "operation": "sum", "formula": "sum(x)"
    })));
    insta::assert_json_snapshot!(errors(json!({
        "name": "a", "event_type": "api_call", "operation": "formula", "formula": "sum(x) + y"
    })));
    insta::assert_json_snapshot!(errors(json!({
        "name": "a", "event_type": "api_call", "operation": "formula"
    })));
    insta::assert_json_snapshot!(errors(json!({
        "name": "a", "event_type": "api_call", "operation": "formula", "formula": "sum(x) * (2"
    })));
}

#[test]
fn a_where_too_deep_is_refused() {
    let mut tree = json!({"property": "x", "operator": "is_null"});
    for _ in 0..40 {
        tree = json!({"conditional": "and", "fields": [tree]});
    }
    let errors = Filter::parse(&tree).unwrap_err();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].code.as_str(), "too_deep");
}

#[test]
fn definitions_round_trip_through_json() {
    let json = json!({
        "name": "Active users", "event_type": "users", "operation": "count",
        "property": null, "formula": null, "type": "licensed", "unit_name": "user",
        "allow_negative_values": false,
        "where": {"conditional": "and", "fields": [
            {"property": "deleted_at", "operator": "is_null"},
            {"property": "plan", "operator": "in", "value": ["pro", "team"]}]},
        "custom_event_name": "{record.work_email} ({record.id})",
        "exposed_event_keys": ["id", "work_email", "status"],
        "filters": [{"id": "agf_1", "name": "premium", "where": {"conditional": "and", "fields": [
            {"property": "status", "operator": "equals", "value": "premium"}]}}]
    });
    let compiled = aggregator(json.clone());
    assert_eq!(serde_json::to_value(compiled.def()).unwrap(), json);
    assert_eq!(compiled.filters()[0].id, "agf_1");
    assert_eq!(compiled.unit_name(), Some("user"));
    assert_eq!(compiled.exposed_event_keys().map(<[String]>::len), Some(3));
    // `type` defaults to metered
    let minimal = aggregator(json!({"name": "n", "event_type": "e", "operation": "count"}));
    assert_eq!(minimal.kind(), tally_aggregate::AggregatorKind::Metered);
}

#[test]
fn thresholds_are_checked_and_keyed_by_comparison_and_value() {
    let found: Vec<(String, &str)> = errors(json!({
        "name": "calls", "event_type": "api_call", "operation": "count",
        "thresholds": [
            {"name": "", "threshold_value": "ten", "comparison_operator": "lt"},
            {"name": "plan", "threshold_value": 1000},
            {"name": "plan again", "threshold_value": "1000.0", "comparison_operator": "gte"},
            {"name": "over", "threshold_value": 1000, "comparison_operator": "gt"}
        ]
    }))
    .into_iter()
    .map(|e| (e.path, e.code.as_str()))
    .collect();
    assert_eq!(
        found,
        [
            ("/thresholds/0/name".to_owned(), "missing_threshold_name"),
            (
                "/thresholds/0/threshold_value".to_owned(),
                "invalid_threshold_value"
            ),
            (
                "/thresholds/0/comparison_operator".to_owned(),
                "unknown_comparison"
            ),
            ("/thresholds/2".to_owned(), "duplicate_threshold"),
        ]
    );
    let compiled = aggregator(json!({
        "name": "calls", "event_type": "api_call", "operation": "count",
        "thresholds": [{"name": "plan", "threshold_value": "1000.50"},
                       {"name": "over", "threshold_value": 1000, "comparison_operator": "gt"}]
    }));
    let keys: Vec<String> = compiled.thresholds().iter().map(|t| t.key()).collect();
    assert_eq!(keys, ["gte:1000.5", "gt:1000"]);
    // Without thresholds, a stored definition reads and writes back as before.
    let plain = def(json!({"name": "calls", "event_type": "api_call", "operation": "count"}));
    assert!(
        serde_json::to_value(&plain)
            .unwrap()
            .get("thresholds")
            .is_none()
    );
}
