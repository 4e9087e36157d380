//! Invariants over random events, filters and formulas.

use std::collections::BTreeMap;

use proptest::prelude::*;
use rust_decimal::Decimal;
use serde_json::{Value as Json, json};
use tally_aggregate::{
    Aggregator, Condition, Filter, Formula, Literal, Operator, Window, evaluate,
};
use tally_event::{CustomerRef, Event, EventType, Record, RecordId, Scalar, Timestamp, Value};
use tally_testkit::{FilterConfig, filter};

use crate::support::period;

const PROPS: [&str; 3] = ["x", "y", "missing"];

fn decimal() -> impl Strategy<Value = Decimal> {
    (-50i64..50, 0u32..3).prop_map(|(n, scale)| Decimal::new(n, scale))
}

fn text() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["a", "b", "ab", "10", "9", ""]).prop_map(str::to_owned)
}

fn scalar() -> impl Strategy<Value = Scalar> {
    prop_oneof![
        any::<bool>().prop_map(Scalar::Bool),
        decimal().prop_map(Scalar::Number),
        text().prop_map(Scalar::String),
    ]
}

/// A property value; `None` leaves the property out.
fn value() -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        1 => Just(None),
        1 => Just(Some(Value::Null)),
        1 => any::<bool>().prop_map(|b| Some(Value::Bool(b))),
        4 => decimal().prop_map(|n| Some(Value::Number(n))),
        2 => text().prop_map(|s| Some(Value::String(s))),
        1 => prop::collection::vec(scalar(), 0..3).prop_map(|a| Some(Value::Array(a))),
    ]
}

fn events() -> impl Strategy<Value = Vec<Event>> {
    let one = (value(), value(), 0i64..40, prop::bool::weighted(0.9));
    prop::collection::vec(one, 0..40).prop_map(|rows| {
        rows.into_iter()
            .enumerate()
            .map(|(i, (x, y, day, own_type))| {
                let id = RecordId::from_integer(i as i128);
                let mut props = BTreeMap::new();
                props.insert("id".to_owned(), Value::Number(Decimal::from(i)));
                for (key, value) in [("x", x), ("y", y)] {
                    if let Some(value) = value {
                        props.insert(key.to_owned(), value);
                    }
                }
                Event {
                    event_type: EventType::parse(if own_type { "e" } else { "other" }).unwrap(),
                    customer: CustomerRef::parse("cus_p").unwrap(),
                    // 2024-01-01 plus `day` days: some fall after the window
                    timestamp: Timestamp::from_millis(1_704_067_200_000 + day * 86_400_000)
                        .unwrap(),
                    record: Record::from_trusted_parts(id, props),
                }
            })
            .collect()
    })
}

/// Filters over `x`, `y` and a property no event has, comparing with the events'
/// own small values so that conditions hold often.
fn filters(operators: &[Operator]) -> FilterConfig {
    FilterConfig {
        properties: PROPS.map(str::to_owned).to_vec(),
        operators: operators.to_vec(),
        strings: text().boxed(),
        numbers: decimal().boxed(),
        depth: 3,
    }
}

fn tree(operators: &[Operator]) -> impl Strategy<Value = Filter> {
    filter(&filters(operators))
}

fn literal() -> impl Strategy<Value = Literal> {
    tally_testkit::literal(&filters(&Operator::ALL))
}

/// The negation of a tree built from operators that have one.
fn negate(filter: &Filter) -> Filter {
    match filter {
        Filter::All(children) => Filter::Any(children.iter().map(negate).collect()),
        Filter::Any(children) => Filter::All(children.iter().map(negate).collect()),
        Filter::Condition(c) => {
            let op = match c.op {
                Operator::Equals => Operator::NotEquals,
                Operator::NotEquals => Operator::Equals,
                Operator::In => Operator::NotIn,
                Operator::NotIn => Operator::In,
                Operator::IsNull => Operator::IsNotNull,
                Operator::IsNotNull => Operator::IsNull,
                other => panic!("{other:?} has no negation"),
            };
            Filter::Condition(Condition { op, ..c.clone() })
        }
    }
}

const NEGATABLE: [Operator; 6] = [
    Operator::Equals,
    Operator::NotEquals,
    Operator::In,
    Operator::NotIn,
    Operator::IsNull,
    Operator::IsNotNull,
];

fn window() -> Window {
    Window::Range(period("2024-01-01T00:00:00Z", "2024-01-31T00:00:00Z"))
}

fn aggregator(
    operation: &str,
    property: Option<&str>,
    formula: Option<&str>,
    where_: Option<Json>,
) -> Aggregator {
    let def = json!({
        "name": "p", "event_type": "e", "operation": operation, "property": property,
        "formula": formula, "where": where_, "allow_negative_values": true
    });
    Aggregator::compile(&serde_json::from_value(def).unwrap()).unwrap()
}

fn sum_where(events: &[Event], filter: Option<&Filter>) -> Decimal {
    let agg = aggregator("sum", Some("y"), None, filter.map(Filter::to_json));
    evaluate(&agg, window(), None, events).unwrap().quantity
}

fn count_where(events: &[Event], filter: &Filter) -> u64 {
    let agg = aggregator("count", None, None, Some(filter.to_json()));
    evaluate(&agg, window(), None, events).unwrap().event_count
}

proptest! {
    #[test]
    fn count_is_the_number_of_matching_events(events in events(), filter in tree(&Operator::ALL)) {
        let expected = events
            .iter()
            .filter(|e| e.event_type.as_str() == "e" && window().contains(e.timestamp))
            .filter(|e| filter.matches(&e.record))
            .count() as u64;
        prop_assert_eq!(count_where(&events, &filter), expected);
        prop_assert_eq!(Filter::parse(&filter.to_json()).unwrap(), filter);
    }

    #[test]
    fn sums_over_disjoint_filters_add_up(events in events(), k in decimal(), lit in literal()) {
        let cond = |op: &str, value: Json| Filter::parse(&json!({"property": "x", "operator": op, "value": value})).unwrap();
        let k_json = tally_event::decimal_to_json(k);
        let (below, above) = (cond("lower_than", k_json.clone()), cond("greater_than_or_equal", k_json));
        let union = Filter::Any(vec![below.clone(), above.clone()]);
        prop_assert_eq!(sum_where(&events, Some(&below)) + sum_where(&events, Some(&above)), sum_where(&events, Some(&union)));
        // equals and not_equals split every event, missing and null ones included
        let (eq, ne) = (cond("equals", lit.to_json()), cond("not_equals", lit.to_json()));
        prop_assert_eq!(sum_where(&events, Some(&eq)) + sum_where(&events, Some(&ne)), sum_where(&events, None));
    }

    #[test]
    fn de_morgan_holds_for_and_or_and_the_negated_operators(events in events(), filter in tree(&NEGATABLE)) {
        let negated = negate(&filter);
        for event in &events {
            prop_assert_ne!(filter.matches(&event.record), negated.matches(&event.record));
        }
        let all = Filter::All(vec![]);
        prop_assert_eq!(count_where(&events, &filter) + count_where(&events, &negated), count_where(&events, &all));
    }

    #[test]
    fn formula_aggregates_equal_the_operations(events in events(), filter in tree(&Operator::ALL)) {
        let where_ = Some(filter.to_json());
        for (op, formula) in [("sum", "sum(x)"), ("avg", "avg(x)"), ("min", "min(x)"), ("max", "max(x)")] {
            let by_op = evaluate(&aggregator(op, Some("x"), None, where_.clone()), window(), None, &events).unwrap();
            let by_formula = evaluate(&aggregator("formula", None, Some(formula), where_.clone()), window(), None, &events).unwrap();
            prop_assert_eq!(by_op.quantity, by_formula.quantity, "{}", formula);
            prop_assert_eq!(&by_op.diagnostics, &by_formula.diagnostics, "{}", formula);
        }
        let count = evaluate(&aggregator("count", None, None, where_.clone()), window(), None, &events).unwrap();
        let formula = evaluate(&aggregator("formula", None, Some("count(*)"), where_), window(), None, &events).unwrap();
        prop_assert_eq!(count, formula);
    }

    #[test]
    fn filter_parse_never_panics(json in arbitrary_json()) {
        let _ = Filter::parse(&json);
        let def = json!({"name": "n", "event_type": "e", "operation": "count", "where": json});
        let _ = Aggregator::compile(&serde_json::from_value(def).unwrap());
    }

    #[test]
    fn formulas_never_panic(text in formula_text(), events in events()) {
        if let Ok(formula) = Formula::parse(&text) {
            let agg = aggregator("formula", None, Some(formula.source()), None);
            let _ = evaluate(&agg, window(), None, &events);
        }
    }

    #[test]
    fn any_text_parses_or_fails_cleanly(text in "\\PC{0,60}") {
        if let Err(err) = Formula::parse(&text) {
            prop_assert!(err.column >= 1 && err.column <= text.chars().count() + 1);
        }
    }
}

/// Random where-shaped JSON: objects with the right and wrong keys, any values.
fn arbitrary_json() -> impl Strategy<Value = Json> {
    let leaf = prop_oneof![
        Just(Json::Null),
        any::<bool>().prop_map(Json::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        "[a-z_A-Z]{0,12}".prop_map(Json::String),
        prop::sample::select(
            Operator::ALL
                .iter()
                .map(|o| o.as_str())
                .chain(["and", "or", "isNull", "1e400"])
                .collect::<Vec<_>>()
        )
        .prop_map(|s| json!(s)),
    ];
    leaf.prop_recursive(4, 40, 5, |inner| {
        let key = prop::sample::select(vec![
            "conditional",
            "fields",
            "property",
            "operator",
            "value",
            "other",
        ]);
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Json::Array),
            prop::collection::btree_map(key, inner, 0..4).prop_map(|m| Json::Object(
                m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
            )),
        ]
    })
}

/// Token soup from the formula language, mostly almost-valid.
fn formula_text() -> impl Strategy<Value = String> {
    let token = prop::sample::select(vec![
        "sum(",
        "count(",
        "avg(",
        "min(",
        "max(",
        "greatest(",
        "least(",
        "if(",
        "*",
        ")",
        ",",
        "x",
        "y",
        "missing",
        "0",
        "1",
        "2.5",
        "'a'",
        "null",
        "true",
        "and",
        "or",
        "not",
        "+",
        "-",
        "/",
        "=",
        "<",
        ">=",
        "!=",
        "(",
        "79228162514264337593543950335",
    ]);
    prop::collection::vec(token, 0..20).prop_map(|tokens| tokens.join(" "))
}
