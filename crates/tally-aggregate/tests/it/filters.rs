//! Every operator, its alias, and the typed comparison rules.

use serde_json::json;
use tally_aggregate::{Filter, Operator};

use crate::support::record;

/// A record with one property of each kind.
fn sample() -> tally_event::Record {
    record(&json!({
        "id": 1, "n": 10, "d": "2.50", "s": "premium plan", "b": true, "z": null,
        "tags": ["a", 3, false], "num_text": "10"
    }))
}

fn holds(condition: serde_json::Value) -> bool {
    let filter = Filter::parse(&condition).unwrap_or_else(|e| panic!("{condition}: {e:?}"));
    filter.matches(&sample())
}

fn check(cases: &[(serde_json::Value, bool)]) {
    for (condition, expected) in cases {
        assert_eq!(holds(condition.clone()), *expected, "{condition}");
    }
}

fn cond(property: &str, operator: &str, value: serde_json::Value) -> serde_json::Value {
    json!({"property": property, "operator": operator, "value": value})
}

#[test]
fn equals_and_not_equals_are_typed() {
    check(&[
        (cond("n", "equals", json!(10)), true),
        (cond("n", "equals", json!(10.000)), true),
        (cond("n", "equals", json!("10")), false),
        (cond("num_text", "equals", json!(10)), false),
        (cond("b", "equals", json!(true)), true),
        (cond("b", "equals", json!(1)), false),
        (cond("s", "equals", json!("premium plan")), true),
        (cond("missing", "equals", json!(null)), true),
        (cond("z", "equals", json!(null)), true),
        (cond("n", "equals", json!(null)), false),
        (cond("tags", "equals", json!("a")), false),
        (cond("n", "not_equals", json!(10)), false),
        (cond("n", "notEquals", json!(11)), true),
        (cond("missing", "not_equals", json!("x")), true),
        (cond("z", "not_equals", json!("x")), true),
        (cond("n", "not_equals", json!("10")), true),
        (cond("z", "not_equals", json!(null)), false),
    ]);
}

#[test]
fn order_operators_compare_numbers_by_value_and_strings_by_bytes() {
    check(&[
        (cond("n", "greater_than", json!(9.99)), true),
        (cond("n", "greaterThan", json!(10)), false),
        (cond("n", "greater_than_or_equal", json!(10)), true),
        (cond("n", "greaterThanOrEqual", json!(10.5)), false),
        (cond("n", "lower_than", json!(10.5)), true),
        (cond("n", "lowerThan", json!(10)), false),
        (cond("n", "lower_than_or_equal", json!(10)), true),
        (cond("n", "lowerThanOrEqual", json!(9)), false),
        // "10" < "9" bytewise; a number never orders against a string
        (cond("num_text", "lower_than", json!("9")), true),
        (cond("num_text", "lower_than", json!(100)), false),
        (cond("num_text", "greater_than_or_equal", json!(0)), false),
        (cond("s", "greater_than", json!("premium")), true),
        (cond("missing", "lower_than", json!(5)), false),
        (cond("missing", "greater_than_or_equal", json!(5)), false),
        (cond("b", "greater_than", json!("a")), false),
        (cond("tags", "lower_than", json!("z")), false),
    ]);
}

#[test]
fn null_operators_treat_missing_as_null() {
    check(&[
        (json!({"property": "z", "operator": "is_null"}), true),
        (json!({"property": "missing", "operator": "isNull"}), true),
        (
            json!({"property": "n", "operator": "is_null", "value": null}),
            false,
        ),
        (json!({"property": "n", "operator": "is_not_null"}), true),
        (json!({"property": "b", "operator": "isNotNull"}), true),
        (json!({"property": "z", "operator": "is_not_null"}), false),
        (
            json!({"property": "missing", "operator": "is_not_null"}),
            false,
        ),
    ]);
}

#[test]
fn in_and_not_in_use_typed_equality() {
    check(&[
        (cond("s", "in", json!(["basic", "premium plan"])), true),
        (cond("n", "in", json!(["10", 11])), false),
        (cond("n", "in", json!([1, 10.0])), true),
        (cond("n", "in", json!([])), false),
        (cond("missing", "in", json!(["a", null])), true),
        (cond("missing", "in", json!(["a"])), false),
        (cond("n", "not_in", json!([1, 2])), true),
        (cond("n", "notIn", json!([10])), false),
        (cond("missing", "not_in", json!(["a"])), true),
        (cond("z", "not_in", json!([null])), false),
        (cond("tags", "in", json!(["a"])), false),
    ]);
}

#[test]
fn contains_is_substring_or_membership() {
    check(&[
        (cond("s", "contains", json!("mium")), true),
        (cond("s", "contains", json!("Mium")), false),
        (cond("s", "contains", json!("")), true),
        (cond("tags", "contains", json!("a")), true),
        (cond("tags", "contains", json!(3.0)), true),
        (cond("tags", "contains", json!(false)), true),
        (cond("tags", "contains", json!("3")), false),
        (cond("tags", "contains", json!(true)), false),
        (cond("n", "contains", json!(1)), false),
        (cond("num_text", "contains", json!(1)), false),
        (cond("missing", "contains", json!("a")), false),
    ]);
}

#[test]
fn starts_with_is_a_byte_prefix() {
    check(&[
        (cond("s", "starts_with", json!("prem")), true),
        (cond("s", "startsWith", json!("premium plan")), true),
        (cond("s", "starts_with", json!("plan")), false),
        (cond("n", "starts_with", json!("1")), false),
        (cond("missing", "starts_with", json!("")), false),
    ]);
}

#[test]
fn trees_nest_and_empty_trees_are_neutral() {
    let tree = json!({"conditional": "and", "fields": [
        {"property": "n", "operator": "greater_than", "value": 5},
        {"conditional": "or", "fields": [
            {"property": "s", "operator": "equals", "value": "basic"},
            {"property": "b", "operator": "equals", "value": true}]}]});
    assert!(holds(tree));
    let tree = json!({"conditional": "or", "fields": [
        {"property": "n", "operator": "lower_than", "value": 5},
        {"conditional": "and", "fields": [
            {"property": "s", "operator": "equals", "value": "premium plan"},
            {"property": "b", "operator": "equals", "value": false}]}]});
    assert!(!holds(tree));
    assert!(holds(json!({"conditional": "and", "fields": []})));
    assert!(!holds(json!({"conditional": "or", "fields": []})));
}

#[test]
fn every_operator_has_both_spellings_and_round_trips() {
    for op in Operator::ALL {
        let value = match op {
            Operator::IsNull | Operator::IsNotNull => None,
            Operator::In | Operator::NotIn => Some(json!(["a", 1])),
            _ => Some(json!("a")),
        };
        let mut condition = json!({"property": "s", "operator": op.as_str()});
        if let Some(value) = value {
            condition["value"] = value;
        }
        let filter = Filter::parse(&condition).unwrap();
        assert_eq!(Filter::parse(&filter.to_json()).unwrap(), filter);
        let camel: String = op
            .as_str()
            .split('_')
            .enumerate()
            .map(|(i, part)| {
                if i == 0 {
                    part.to_owned()
                } else {
                    part[..1].to_uppercase() + &part[1..]
                }
            })
            .collect();
        condition["operator"] = json!(camel);
        assert_eq!(Filter::parse(&condition).unwrap(), filter, "{camel}");
    }
}
