//! The formula language: the examples of the issue, hand-checked, and each construct.

use serde_json::json;
use tally_aggregate::formula::FormulaErrorKind;
use tally_aggregate::{AggregateResult, EvalError, Formula, Window, evaluate};
use tally_event::Event;

use crate::support::{aggregator, dec, event, period};

fn window() -> Window {
    Window::Range(period("2024-01-01T00:00:00Z", "2024-02-01T00:00:00Z"))
}

fn run(formula: &str, events: &[Event]) -> Result<AggregateResult, EvalError> {
    let agg = aggregator(json!({
        "name": "f", "event_type": "usage", "operation": "formula", "formula": formula,
        "allow_negative_values": true
    }));
    evaluate(&agg, window(), None, events)
}

fn quantity(formula: &str, events: &[Event]) -> String {
    run(formula, events)
        .unwrap_or_else(|e| panic!("{formula}: {e}"))
        .quantity
        .to_string()
}

fn usage(records: Vec<serde_json::Value>) -> Vec<Event> {
    records
        .into_iter()
        .map(|r| event("usage", "2024-01-10T00:00:00Z", r))
        .collect()
}

#[test]
fn minutes_over_an_allowance() {
    // 30000 + 25000 + 1500 = 56500 minutes; 56500 - 50000 = 6500.
    let events = usage(vec![
        json!({"id": 1, "totalMinutes": 30000}),
        json!({"id": 2, "totalMinutes": 25000}),
        json!({"id": 3, "totalMinutes": 1500}),
    ]);
    assert_eq!(
        quantity("greatest(sum(totalMinutes) - 50000, 0)", &events),
        "6500"
    );
    // under the allowance: 30000 - 50000 < 0, so 0
    assert_eq!(
        quantity("greatest(sum(totalMinutes) - 50000, 0)", &events[..1]),
        "0"
    );
}

#[test]
fn seats_capped_at_a_thousand() {
    let events = usage(vec![
        json!({"id": 1, "seats": 40}),
        json!({"id": 2, "seats": 1200}),
    ]);
    assert_eq!(quantity("least(max(seats), 1000)", &events), "1000");
    assert_eq!(quantity("least(max(seats), 1000)", &events[..1]), "40");
}

#[test]
fn amount_minus_a_fee_per_one_off() {
    // 1000 + 2000 + 700 = 3700; two one_off events: 3700 - 2 × 500 = 2700.
    let events = usage(vec![
        json!({"id": 1, "totalAmount": 1000, "type": "one_off"}),
        json!({"id": 2, "totalAmount": 2000, "type": "recurring"}),
        json!({"id": 3, "totalAmount": 700, "type": "one_off"}),
        json!({"id": 4, "totalAmount": null}),
    ]);
    let formula = "sum(totalAmount) - sum(if(type = 'one_off', 500, 0))";
    let result = run(formula, &events).unwrap();
    assert_eq!(result.quantity, dec("2700"));
    assert_eq!(result.event_count, 4);
    assert_eq!(result.diagnostics.skipped_missing, 1);
}

#[test]
fn live_entities_are_all_minus_deleted() {
    // 4 events, 1 with a deleted_at: 4 - 1 = 3.
    let events = usage(vec![
        json!({"id": 1, "deleted_at": null}),
        json!({"id": 2, "deleted_at": "2024-01-05"}),
        json!({"id": 3}),
        json!({"id": 4, "deleted_at": null}),
    ]);
    assert_eq!(quantity("count(*) - count(deleted_at)", &events), "3");
}

#[test]
fn each_construct() {
    let events = usage(vec![
        json!({"id": 1, "a": 10, "b": 4, "s": "x", "flag": true}),
        json!({"id": 2, "a": 2, "b": 0, "s": "y", "flag": false}),
    ]);
    let cases = [
        ("1 + 2 * 3", "7"),
        ("(1 + 2) * 3", "9"),
        ("10 - 4 - 3", "3"),
        ("12 / 4 / 3", "1"),
        ("-sum(a) + 1", "-11"),
        ("- -2", "2"),
        ("avg(a)", "6"),
        ("min(a) + max(a)", "12"),
        ("count(b)", "2"),
        ("count(*)", "2"),
        ("sum(a * b)", "40"),
        ("sum(if(flag, a, 0))", "10"),
        ("sum(if(not flag, a, 0))", "2"),
        ("sum(if(a > 5 and b > 1, 1, 0))", "1"),
        ("sum(if(a > 5 or b > 1, 1, 0))", "1"),
        ("sum(if(a >= 10, 1, 0)) + sum(if(a <= 2, 10, 0))", "11"),
        (
            "sum(if(a < 10, 1, 0)) + sum(if(a != 10, 10, 0)) + sum(if(a <> 2, 100, 0))",
            "111",
        ),
        ("sum(if(s = 'x', 1, 0)) + sum(if(s == 'y', 10, 0))", "11"),
        ("sum(if(missing = null, 1, 0))", "2"),
        ("sum(if(s = 1, 1, 0))", "0"),
        ("greatest(1, null, 3)", "3"),
        ("least(5, 2.5)", "2.5"),
        ("greatest(null)", "0"),
        ("sum(if(b = 0, 0, a / b))", "2.5"),
        ("sum(\"a\")", "12"),
        ("SUM(a) + Count(*)", "14"),
        ("sum(if(true and not false, 1, 0))", "2"),
        ("0.1 + 0.2", "0.3"),
    ];
    for (formula, expected) in cases {
        assert_eq!(quantity(formula, &events), expected, "{formula}");
    }
}

#[test]
fn division_by_zero_and_overflow_are_errors() {
    let events = usage(vec![json!({"id": 1, "a": 1, "b": 0})]);
    assert_eq!(
        run("sum(a) / 0", &events),
        Err(EvalError::DivisionByZero { column: 8 })
    );
    assert_eq!(
        run("sum(a / b)", &events),
        Err(EvalError::DivisionByZero { column: 7 })
    );
    let max = rust_decimal::Decimal::MAX.to_string();
    assert_eq!(
        run(&format!("{max} + 1"), &events),
        Err(EvalError::Overflow)
    );
    assert_eq!(
        run(&format!("{max} * 2"), &events),
        Err(EvalError::Overflow)
    );
    assert_eq!(
        run("sum(a) > 0", &events),
        Err(EvalError::FormulaNotNumeric)
    );
    assert_eq!(run("'text'", &events), Err(EvalError::FormulaNotNumeric));
}

#[test]
fn null_and_non_numbers_are_skipped_with_a_reason() {
    let events = usage(vec![
        json!({"id": 1, "a": 5}),
        json!({"id": 2, "a": "five"}),
        json!({"id": 3}),
        json!({"id": 4, "a": ["x"]}),
    ]);
    let result = run("sum(a) + count(a)", &events).unwrap();
    assert_eq!(result.quantity, dec("8"));
    assert_eq!(result.diagnostics.skipped_missing, 1);
    assert_eq!(result.diagnostics.skipped_not_numeric, 2);
    // arithmetic with null is null; with a string, not a number
    let result = run("sum(a + 1)", &events).unwrap();
    assert_eq!(result.quantity, dec("6"));
    assert_eq!(result.diagnostics.skipped_not_numeric, 2);
}

#[test]
fn parse_errors_point_at_the_column() {
    let cases = [
        ("sum(x", 6, FormulaErrorKind::Syntax),
        ("sum(x) +", 9, FormulaErrorKind::Syntax),
        ("sum(x) $ 2", 8, FormulaErrorKind::Syntax),
        ("1 < 2 < 3", 7, FormulaErrorKind::Syntax),
        ("sum('a)", 5, FormulaErrorKind::Syntax),
        ("sum(x) 2", 8, FormulaErrorKind::Syntax),
        ("", 1, FormulaErrorKind::Syntax),
        ("x + 1", 1, FormulaErrorKind::Invalid),
        ("sum(sum(x))", 5, FormulaErrorKind::Invalid),
        ("median(x)", 1, FormulaErrorKind::Invalid),
        ("greatest()", 1, FormulaErrorKind::Invalid),
        ("if(1, 2)", 1, FormulaErrorKind::Invalid),
        ("sum(*)", 5, FormulaErrorKind::Invalid),
        ("sum(a, b)", 1, FormulaErrorKind::Invalid),
        (
            "1 + 99999999999999999999999999999999",
            5,
            FormulaErrorKind::Syntax,
        ),
    ];
    for (text, column, kind) in cases {
        let err = Formula::parse(text).unwrap_err();
        assert_eq!((err.column, err.kind), (column, kind), "{text}: {err}");
    }
    let deep = format!("{}1{}", "(".repeat(200), ")".repeat(200));
    assert!(Formula::parse(&deep).is_err());
    assert!(Formula::parse(&"-".repeat(10_000)).is_err());
}
