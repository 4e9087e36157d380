//! The property every backend must hold: for random events, filters and
//! aggregators, `aggregate` and `time_series` give what the pure evaluator gives
//! over the same current events (the same result, or the same error).

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::TryStreamExt;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use rust_decimal::Decimal;
use serde_json::{Value as Json, json};
use tally_aggregate::{
    AggregateResult, Aggregator, AggregatorDef, AggregatorKind, Bucket, EvalError, Window,
    bucket_bounds, evaluate, time_series,
};
use tally_event::{Event, EventKey, EventType, Period, Timestamp, upsert_outcome};

use super::fixtures::{at, event, new_account, new_customer, record};
use crate::error::{StoreError, StoreResult};
use crate::evaluate::eval_error;
use crate::events::{EventQuery, EventWindow, NewEvent, StoredEvent};
use crate::ids::{AggregatorFilterId, CustomerId};
use crate::page::SortOrder;
use crate::traits::Store;

/// Cases per run: each opens an account and writes up to 60 events.
const CASES: u32 = 48;
const DAY: i64 = 86_400_000;

/// A JSON number from its text: `5`, `5.0` and `5.00` stay distinct texts of one
/// value (the workspace's `serde_json` keeps numbers exact).
fn number(text: &str) -> Json {
    serde_json::from_str(text).expect("a JSON number")
}

/// Equal values at different scales, negatives, zero written three ways.
const NUMBERS: [&str; 12] = [
    "5", "5.0", "5.00", "-5", "-5.0", "0", "0.0", "-0.00", "0.1", "1.50", "-2.25", "10",
];

/// Strings whose byte order differs from a locale's order: case, accents,
/// digits, a prefix of another.
const STRINGS: [&str; 10] = [
    "pro", "Pro", "PRO", "pr", "team", "Team", "é", "e", "Zeta", "10",
];

fn amount() -> impl Strategy<Value = Option<Json>> {
    prop_oneof![
        1 => Just(None),
        1 => Just(Some(Json::Null)),
        1 => (-50i64..200).prop_map(|n| Some(json!(n))),
        // Exact decimals with two places, parsed as JSON numbers (arbitrary precision).
        1 => (0i64..10_000).prop_map(|n| Some(number(&format!("{}.{:02}", n / 100, n % 100)))),
        2 => proptest::sample::select(&NUMBERS[..]).prop_map(|n| Some(number(n))),
        1 => Just(Some(json!("lots"))),
        1 => Just(Some(json!(true))),
    ]
}

fn plan() -> impl Strategy<Value = Option<Json>> {
    prop_oneof![
        1 => Just(None),
        3 => proptest::sample::select(&STRINGS[..]).prop_map(|s| Some(json!(s))),
        1 => proptest::sample::select(&NUMBERS[..]).prop_map(|n| Some(number(n))),
        1 => Just(Some(json!(["pro", "beta"]))),
        1 => Just(Some(json!(["Pro", "é"]))),
    ]
}

/// (customer index, event type, record id, timestamp ms, amount, plan)
type RawEvent = (usize, &'static str, u8, i64, Option<Json>, Option<Json>);

/// A few instants, day boundaries and their neighbours among them: events share
/// timestamps (so `latest` breaks ties by record id, and an upsert meets an
/// equal timestamp), and windows cut between them.
const INSTANTS: [i64; 9] = [
    0,
    DAY - 1,
    DAY,
    3 * DAY,
    3 * DAY + 1,
    7 * DAY,
    7 * DAY + 1,
    12 * DAY,
    19 * DAY,
];

fn raw_event() -> impl Strategy<Value = RawEvent> {
    (
        0usize..2,
        prop_oneof![3 => Just("calls"), 1 => Just("other")],
        0u8..16,
        prop_oneof![
            3 => proptest::sample::select(&INSTANTS[..]),
            1 => 0i64..(20 * DAY),
        ],
        amount(),
        plan(),
    )
}

fn literal() -> impl Strategy<Value = Json> {
    prop_oneof![
        4 => proptest::sample::select(&STRINGS[..]).prop_map(|s| json!(s)),
        1 => Just(json!("Z")),
        1 => Just(json!("a")),
        3 => proptest::sample::select(&NUMBERS[..]).prop_map(number),
        1 => Just(json!(20.5)),
        1 => Just(json!(true)),
    ]
}

fn condition() -> impl Strategy<Value = Json> {
    let property = prop_oneof![2 => Just("amount"), 3 => Just("plan"), 1 => Just("absent")];
    let unary = prop_oneof![Just("is_null"), Just("is_not_null")];
    let binary = prop_oneof![
        Just("equals"),
        Just("not_equals"),
        Just("greater_than"),
        Just("greater_than_or_equal"),
        Just("lower_than"),
        Just("lowerThanOrEqual"),
        Just("contains"),
        Just("starts_with"),
    ];
    let list = prop_oneof![Just("in"), Just("not_in")];
    prop_oneof![
        1 => (property.clone(), unary).prop_map(|(p, op)| json!({"property": p, "operator": op})),
        3 => (property.clone(), binary, literal()).prop_map(|(p, op, v)| {
            let v = match op {
                "contains" | "starts_with" if !v.is_string() => json!("pr"),
                "equals" | "not_equals" => v,
                // Order comparisons take numbers or strings.
                _ if v.is_boolean() => json!(5),
                _ => v,
            };
            json!({"property": p, "operator": op, "value": v})
        }),
        1 => (property, list, prop::collection::vec(literal(), 0..3))
            .prop_map(|(p, op, v)| json!({"property": p, "operator": op, "value": v})),
    ]
}

fn where_tree() -> impl Strategy<Value = Option<Json>> {
    let conditional = prop_oneof![Just("and"), Just("or")];
    let leaf = || {
        (
            prop_oneof![Just("and"), Just("or")],
            prop::collection::vec(condition(), 0..3),
        )
            .prop_map(|(c, fields)| json!({"conditional": c, "fields": fields}))
    };
    let nested = (
        conditional,
        prop::collection::vec(leaf(), 1..3),
        condition(),
    )
        .prop_map(|(c, mut fields, extra)| {
            fields.push(extra);
            json!({"conditional": c, "fields": fields})
        });
    prop_oneof![Just(None), leaf().prop_map(Some), nested.prop_map(Some)]
}

fn definition() -> impl Strategy<Value = (AggregatorDef, bool)> {
    let operation = prop_oneof![
        Just(("count", None, None)),
        Just(("sum", Some("amount"), None)),
        Just(("min", Some("amount"), None)),
        Just(("max", Some("amount"), None)),
        Just(("avg", Some("amount"), None)),
        Just(("latest", Some("amount"), None)),
        Just(("unique_count", Some("plan"), None)),
        Just((
            "formula",
            None,
            Some("greatest(sum(amount) - 10, 0) + count(*)")
        )),
        // Divides by zero (an evaluation error) when nothing matches.
        Just(("formula", None, Some("sum(amount) / count(*)"))),
    ];
    let kind = prop_oneof![Just("metered"), Just("licensed")];
    (
        operation,
        kind,
        any::<bool>(),
        where_tree(),
        where_tree(),
        any::<bool>(),
    )
        .prop_map(
            |((op, property, formula), kind, negative, where_, named, use_named)| {
                let def = AggregatorDef {
                    name: "random".into(),
                    event_type: "calls".into(),
                    operation: op.into(),
                    property: property.map(str::to_owned),
                    formula: formula.map(str::to_owned),
                    kind: kind.into(),
                    unit_name: None,
                    allow_negative_values: negative,
                    where_,
                    custom_event_name: None,
                    exposed_event_keys: None,
                    filters: vec![tally_aggregate::AggregatorFilterDef {
                        id: FILTER_ID.into(),
                        name: "named".into(),
                        where_: named,
                    }],
                    thresholds: Vec::new(),
                };
                (def, use_named)
            },
        )
}

const FILTER_ID: &str = "agf_conformance";

type Case = (Vec<RawEvent>, (AggregatorDef, bool), usize, (i64, i64));

fn case() -> impl Strategy<Value = Case> {
    (
        prop::collection::vec(raw_event(), 0..60),
        definition(),
        0usize..2,
        (0i64..20, 1i64..10),
    )
}

/// Where trees covering every operator on string, boolean, null, array and
/// missing values, each evaluated by the backend and by the evaluator over one
/// fixed set of events (the deterministic companion of the proptest).
pub async fn aggregates_on_fixed_filters(store: &Arc<dyn Store>) {
    let account = new_account(store).await;
    let alice = new_customer(store, &account, "alice").await;
    let values = [
        json!({"plan": "pro", "amount": 1.5}),
        json!({"plan": "team", "amount": 2}),
        json!({"plan": "Pro", "flag": true}),
        json!({"plan": null, "flag": false, "amount": "x"}),
        json!({"plan": ["pro", "beta"], "amount": 12345678901234567890.25}),
        json!({"plan": 5, "amount": 0.1}),
        json!({"pl.an": "dot", "amount": 0.2}),
        json!({}),
    ];
    let events: Vec<NewEvent> = values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            event(
                "calls",
                &alice,
                at(i as i64 * 1_000),
                record(&format!("f{i}"), v.clone()),
            )
        })
        .collect();
    store.upsert_events(&account, &events).await.unwrap();
    let current: Vec<Event> = events.iter().map(|e| e.to_event().unwrap()).collect();
    let conditions = [
        json!({"property": "plan", "operator": "equals", "value": "pro"}),
        json!({"property": "plan", "operator": "not_equals", "value": "pro"}),
        json!({"property": "plan", "operator": "in", "value": ["team", "Pro", true]}),
        json!({"property": "plan", "operator": "not_in", "value": ["team", "pro"]}),
        json!({"property": "plan", "operator": "is_null"}),
        json!({"property": "plan", "operator": "is_not_null"}),
        json!({"property": "flag", "operator": "equals", "value": false}),
        json!({"property": "flag", "operator": "not_equals", "value": true}),
        json!({"property": "plan", "operator": "contains", "value": "pro"}),
        json!({"property": "plan", "operator": "starts_with", "value": "P"}),
        json!({"property": "amount", "operator": "greater_than", "value": 1}),
        json!({"property": "pl.an", "operator": "equals", "value": "dot"}),
        json!({"property": "plan", "operator": "in", "value": []}),
    ];
    for condition in conditions {
        for conditional in ["and", "or"] {
            let tree = json!({"conditional": conditional, "fields": [condition.clone(),
                {"property": "absent", "operator": "is_null"}]});
            for operation in [("count", None), ("sum", Some("amount"))] {
                let def = fixed_definition(operation, tree.clone());
                let aggregator = Aggregator::compile(&def).unwrap();
                let window = aggregator.window(Period::new(at(0), at(DAY)).unwrap());
                let expected = evaluate(&aggregator, window, None, &current).unwrap();
                let got = store
                    .aggregate(&account, &aggregator, None, &alice, window)
                    .await;
                assert_eq!(got.unwrap(), expected, "{operation:?} where {tree}");
            }
        }
    }
}

/// Numbers a shortcut could get wrong (scales, exponents, integers past 64
/// bits, the largest `Decimal`, negative zero), next to strings, booleans,
/// arrays, nulls and missing values, under filters on other properties: every
/// operation gives the evaluator's answer, or its error (the sum overflows).
pub async fn aggregates_read_exact_numbers(store: &Arc<dyn Store>) {
    let account = new_account(store).await;
    let alice = new_customer(store, &account, "alice").await;
    let amounts = [
        "1.10",
        "1e3",
        "2.5E-3",
        "-0.00",
        "12345678901234567890",
        "-9223372036854775809",
        "0.0000000000000000000000000001",
        "7",
        "-7",
        "3",
    ];
    let mut values: Vec<Json> = amounts
        .iter()
        .enumerate()
        .map(|(i, n)| json!({"amount": number(n), "plan": (["pro", "team"][i % 2]), "n": i}))
        .collect();
    values.extend([
        json!({"amount": "12", "plan": "pro"}),
        json!({"amount": true, "plan": "team"}),
        json!({"amount": null, "plan": "pro"}),
        json!({"amount": [1, 2], "plan": "pro"}),
        json!({"plan": "pro", "other": 1}),
        json!({"amount": 5, "plan": "x\"y", "pl.an": "dot"}),
    ]);
    let large = json!({"amount": number("79228162514264337593543950335"), "plan": "big"});
    let events = |values: &[Json]| -> Vec<NewEvent> {
        values
            .iter()
            .enumerate()
            .map(|(i, v)| {
                event(
                    "calls",
                    &alice,
                    at(i as i64 * 1_000),
                    record(&format!("x{i}"), v.clone()),
                )
            })
            .collect()
    };
    let trees = [
        None,
        Some(json!({"conditional": "and", "fields": [
            {"property": "plan", "operator": "equals", "value": "pro"}]})),
        Some(json!({"conditional": "or", "fields": [
            {"property": "n", "operator": "greater_than", "value": 4},
            {"property": "plan", "operator": "is_null"}]})),
        Some(json!({"conditional": "and", "fields": [
            {"property": "plan", "operator": "not_in", "value": ["team", "big"]}]})),
        // A key SQL paths cannot spell.
        Some(json!({"conditional": "and", "fields": [
            {"property": "pl\"an", "operator": "is_null"}]})),
    ];
    let operations = [
        ("count", None),
        ("sum", Some("amount")),
        ("min", Some("amount")),
        ("max", Some("amount")),
        ("avg", Some("amount")),
        ("latest", Some("amount")),
        ("unique_count", Some("amount")),
        ("unique_count", Some("plan")),
    ];
    let mut written = events(&values);
    for round in 0..2 {
        if round == 1 {
            // The largest `Decimal` makes every sum overflow.
            values.push(large.clone());
            written = events(&values);
        }
        store.upsert_events(&account, &written).await.unwrap();
        let current: Vec<Event> = written.iter().map(|e| e.to_event().unwrap()).collect();
        for tree in &trees {
            for operation in operations {
                let mut def = fixed_definition(operation, json!(null));
                def.where_ = tree.clone();
                let aggregator = Aggregator::compile(&def).unwrap();
                let window = aggregator.window(Period::new(at(0), at(DAY)).unwrap());
                let expected = evaluate(&aggregator, window, None, &current).map_err(eval_error);
                let got = store
                    .aggregate(&account, &aggregator, None, &alice, window)
                    .await;
                let what = format!("{operation:?} where {tree:?}");
                match (expected, got) {
                    (Ok(expected), Ok(got)) => assert_eq!(got, expected, "{what}"),
                    (Err(expected), Err(got)) => {
                        assert!(same_error(&expected, &got), "{what}: {got:?}")
                    }
                    (expected, got) => panic!("{what}: expected {expected:?}, got {got:?}"),
                }
            }
        }
    }
}

/// Text compares by bytes whatever the database's collation, as Rust's `str`
/// does ("A" < "B" < "Z" < "a" < "ab" < "f" < "é"): record ids order lists and
/// streams, and string filters order property values, exactly as the evaluator
/// does. A linguistic collation orders each of these differently.
pub async fn strings_compare_by_bytes(store: &Arc<dyn Store>) {
    let account = new_account(store).await;
    let alice = new_customer(store, &account, "alice").await;
    let ids = ["é", "a", "Z", "f", "B", "ab", "A"];
    let events: Vec<NewEvent> = ids
        .iter()
        .map(|id| event("calls", &alice, at(1_000), record(id, json!({"plan": id}))))
        .collect();
    store.upsert_events(&account, &events).await.unwrap();
    let mut by_bytes = ids.to_vec();
    by_bytes.sort_unstable();
    assert_eq!(by_bytes, ["A", "B", "Z", "a", "ab", "f", "é"]);

    for order in [SortOrder::Asc, SortOrder::Desc] {
        let query = EventQuery {
            order,
            ..EventQuery::default()
        };
        let listed = store.list_events(&account, &query).await.unwrap();
        let mut got: Vec<&str> = listed
            .items
            .iter()
            .map(|e| e.record_id().as_str())
            .collect();
        if order == SortOrder::Desc {
            got.reverse();
        }
        assert_eq!(
            got, by_bytes,
            "list_events {order:?} orders record ids by bytes"
        );
    }
    let window = EventWindow::Before(at(DAY));
    let calls = EventType::parse("calls").unwrap();
    let streamed: Vec<StoredEvent> = store
        .stream_events(&account, &alice, &calls, window)
        .try_collect()
        .await
        .unwrap();
    let got: Vec<&str> = streamed.iter().map(|e| e.record_id().as_str()).collect();
    assert_eq!(got, by_bytes, "stream_events orders record ids by bytes");

    let current: Vec<Event> = events.iter().map(|e| e.to_event().unwrap()).collect();
    let comparisons = [
        ("lower_than", "b", 5),
        ("lowerThanOrEqual", "B", 2),
        ("greater_than", "Z", 4),
        ("greater_than_or_equal", "a", 4),
        ("greater_than", "e", 2),
    ];
    for (operator, value, matching) in comparisons {
        let tree = json!({"conditional": "and",
            "fields": [{"property": "plan", "operator": operator, "value": value}]});
        for operation in [("count", None), ("unique_count", Some("plan"))] {
            let aggregator =
                Aggregator::compile(&fixed_definition(operation, tree.clone())).unwrap();
            let window = aggregator.window(Period::new(at(0), at(DAY)).unwrap());
            let expected = evaluate(&aggregator, window, None, &current).unwrap();
            assert_eq!(
                expected.quantity,
                Decimal::from(matching),
                "{operator} {value:?} by bytes"
            );
            let got = store
                .aggregate(&account, &aggregator, None, &alice, window)
                .await;
            assert_eq!(
                got.unwrap(),
                expected,
                "{operation:?}: plan {operator} {value:?}"
            );
        }
    }
}

fn fixed_definition(operation: (&str, Option<&str>), tree: Json) -> AggregatorDef {
    AggregatorDef {
        name: "fixed".into(),
        event_type: "calls".into(),
        operation: operation.0.into(),
        property: operation.1.map(str::to_owned),
        formula: None,
        kind: "metered".into(),
        unit_name: None,
        allow_negative_values: false,
        where_: Some(tree),
        custom_event_name: None,
        exposed_event_keys: None,
        filters: Vec::new(),
        thresholds: Vec::new(),
    }
}

/// Runs `CASES` random cases against `store`; panics with the minimal failing
/// case. Needs a multi-threaded runtime (the generated tests use one).
pub async fn aggregates_agree_with_evaluator(store: &Arc<dyn Store>) {
    let handle = tokio::runtime::Handle::current();
    let config = Config {
        cases: CASES,
        failure_persistence: None,
        ..Config::default()
    };
    // The failure (with the minimal case) is rendered inside the closure: proptest's
    // error type is too large to carry around.
    let failure = tokio::task::block_in_place(|| {
        TestRunner::new(config)
            .run(&case(), |case| handle.block_on(check_case(store, case)))
            .err()
            .map(|failure| failure.to_string())
    });
    if let Some(failure) = failure {
        panic!("backend and pure evaluator disagree: {failure}");
    }
}

fn to_new_event(raw: &RawEvent, customers: &[CustomerId]) -> NewEvent {
    let (customer, event_type, record_id, ms, amount, plan) = raw;
    let mut properties = serde_json::Map::new();
    if let Some(amount) = amount {
        properties.insert("amount".into(), amount.clone());
    }
    if let Some(plan) = plan {
        properties.insert("plan".into(), plan.clone());
    }
    let record = record(&format!("r{record_id}"), Json::Object(properties));
    event(event_type, &customers[*customer], at(*ms), record)
}

/// The current version of each key after applying the batch in order.
fn current(events: &[NewEvent]) -> BTreeMap<EventKey, NewEvent> {
    let mut stored: BTreeMap<EventKey, NewEvent> = BTreeMap::new();
    for e in events {
        let previous = stored.get(&e.key()).map(|s| (s.timestamp, s));
        if upsert_outcome(previous, (e.timestamp, e)).is_written() {
            stored.insert(e.key(), e.clone());
        }
    }
    stored
}

async fn check_case(store: &Arc<dyn Store>, case: Case) -> Result<(), TestCaseError> {
    let (raw, (def, use_named), customer_index, (start_day, days)) = case;
    let account = new_account(store).await;
    let customers = [
        new_customer(store, &account, "alice").await,
        new_customer(store, &account, "bob").await,
    ];
    let events: Vec<NewEvent> = raw.iter().map(|r| to_new_event(r, &customers)).collect();
    store.upsert_events(&account, &events).await.unwrap();
    let batch = &events;
    let aggregator =
        Aggregator::compile(&def).map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
    let period = Period::new(at(start_day * DAY), at((start_day + days) * DAY)).unwrap();
    let window = aggregator.window(period);
    let customer = &customers[customer_index];
    let stored: Vec<NewEvent> = current(&events).into_values().collect();
    let all: Vec<Event> = stored.iter().map(|e| e.to_event().unwrap()).collect();
    let theirs: Vec<Event> = stored
        .iter()
        .zip(&all)
        .filter(|(e, _)| e.customer_id == *customer)
        .map(|(_, event)| event.clone())
        .collect();
    let filter_id = AggregatorFilterId::parse(FILTER_ID).unwrap();
    let filter = use_named.then_some(&filter_id);
    let named = filter.map(AggregatorFilterId::as_str);
    let expected = evaluate(&aggregator, window, named, &theirs);
    let got = store
        .aggregate(&account, &aggregator, filter, customer, window)
        .await;
    agree(expected, got, &format!("aggregate over {window:?}"))?;
    for (who, events) in [(Some(customer), &theirs), (None, &all)] {
        let expected = match aggregator.kind() {
            AggregatorKind::Metered => time_series(&aggregator, period, Bucket::Day, named, events),
            AggregatorKind::Licensed => licensed_series(batch, &aggregator, period, named, who),
        };
        let got = store
            .time_series(&account, &aggregator, filter, who, period, Bucket::Day)
            .await;
        agree(
            expected,
            got,
            &format!("daily series of {who:?} over {period:?}"),
        )?;
    }
    Ok(())
}

/// The versions a batch stores, in the order it stores them (an unchanged
/// event stores none; a stale one is kept as history).
fn stored_versions(events: &[NewEvent]) -> Vec<&NewEvent> {
    let mut current: BTreeMap<EventKey, &NewEvent> = BTreeMap::new();
    let mut versions = Vec::new();
    for e in events {
        let previous = current.get(&e.key()).map(|s| (s.timestamp, *s));
        let outcome = upsert_outcome(previous, (e.timestamp, e));
        if outcome.stores_version() {
            versions.push(e);
        }
        if outcome.is_written() {
            current.insert(e.key(), e);
        }
    }
    versions
}

/// A licensed series as the reference reads it: each day's bucket evaluates
/// every entity's version with the greatest timestamp before the bucket's
/// end (ties: the later version), counted for that version's customer.
fn licensed_series(
    batch: &[NewEvent],
    aggregator: &Aggregator,
    period: Period,
    named: Option<&str>,
    customer: Option<&CustomerId>,
) -> Result<Vec<(Timestamp, AggregateResult)>, EvalError> {
    let versions = stored_versions(batch);
    let mut series = Vec::new();
    for (start, end) in bucket_bounds(period, Bucket::Day)? {
        let mut valid: BTreeMap<EventKey, &NewEvent> = BTreeMap::new();
        for version in versions.iter().filter(|v| v.timestamp < end) {
            let replaces = valid
                .get(&version.key())
                .is_none_or(|held| version.timestamp >= held.timestamp);
            if replaces {
                valid.insert(version.key(), version);
            }
        }
        let events: Vec<Event> = valid
            .values()
            .filter(|v| customer.is_none_or(|c| v.customer_id == *c))
            .map(|v| v.to_event().unwrap())
            .collect();
        series.push((
            start,
            evaluate(aggregator, Window::Before(end), named, &events)?,
        ));
    }
    Ok(series)
}

/// The store's answer is the evaluator's: the same result, or the same error.
fn agree<T: PartialEq + std::fmt::Debug>(
    expected: Result<T, EvalError>,
    got: StoreResult<T>,
    what: &str,
) -> Result<(), TestCaseError> {
    match (expected.map_err(eval_error), got) {
        (Ok(expected), Ok(got)) => prop_assert_eq!(got, expected, "{}", what),
        (Err(expected), Err(got)) => prop_assert!(
            same_error(&expected, &got),
            "{what}: expected {expected:?}, got {got:?}"
        ),
        (expected, got) => prop_assert!(false, "{what}: expected {expected:?}, got {got:?}"),
    }
    Ok(())
}

/// The same kind of error with the same message (the evaluation error's code).
fn same_error(expected: &StoreError, got: &StoreError) -> bool {
    std::mem::discriminant(expected) == std::mem::discriminant(got)
        && expected.to_string() == got.to_string()
}
