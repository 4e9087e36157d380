//! Partials (`tally_aggregate::rollup`) against the evaluator: for every
//! operation, adding the partials of any split of the events, and retracting
//! any of them again, finishes to what `evaluate` gives over the same events.

use std::collections::BTreeMap;

use proptest::prelude::*;
use rust_decimal::Decimal;
use tally_aggregate::{
    Aggregator, AggregatorDef, Partial, Retraction, RollupScope, Window, evaluate,
};
use tally_event::{CustomerRef, Event, EventType, Record, RecordId, Timestamp, Value};
use tally_testkit::{AggregatorConfig, FilterConfig, aggregator_def};

const JAN_1: i64 = 1_704_067_200_000;

fn value() -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        1 => Just(None),
        1 => Just(Some(Value::Null)),
        1 => any::<bool>().prop_map(|b| Some(Value::Bool(b))),
        6 => (-20i64..20, 0u32..3).prop_map(|(n, s)| Some(Value::Number(Decimal::new(n, s)))),
        1 => prop::sample::select(vec!["a", "b", "10"]).prop_map(|s| Some(Value::String(s.into()))),
    ]
}

fn events() -> impl Strategy<Value = Vec<Event>> {
    let one = (value(), value(), 0i64..72, prop::bool::weighted(0.9));
    prop::collection::vec(one, 0..30).prop_map(|rows| {
        rows.into_iter()
            .enumerate()
            .map(|(i, (amount, seats, hour, own_type))| {
                let mut props = BTreeMap::new();
                props.insert("id".to_owned(), Value::Number(Decimal::from(i)));
                for (key, value) in [("amount", amount), ("seats", seats)] {
                    if let Some(value) = value {
                        props.insert(key.to_owned(), value);
                    }
                }
                let event_type = if own_type { "api_call" } else { "other" };
                Event {
                    event_type: EventType::parse(event_type).unwrap(),
                    customer: CustomerRef::parse("cus_p").unwrap(),
                    // Several events share an hour, so `latest` meets ties.
                    timestamp: Timestamp::from_millis(JAN_1 + hour * 1_200_000).unwrap(),
                    record: Record::from_trusted_parts(RecordId::from_integer(i as i128), props),
                }
            })
            .collect()
    })
}

fn definition() -> impl Strategy<Value = AggregatorDef> {
    let config = AggregatorConfig {
        filters: FilterConfig {
            properties: vec!["amount".into(), "seats".into()],
            ..FilterConfig::default()
        },
        ..AggregatorConfig::default()
    };
    aggregator_def(&config).prop_map(|mut def| {
        // Partials are about the operation; licensed windows are the store's.
        def.kind = "metered".into();
        def
    })
}

fn everything() -> Window {
    let period = tally_event::Period::new(
        Timestamp::from_millis(JAN_1).unwrap(),
        Timestamp::from_millis(JAN_1 + 365 * 86_400_000).unwrap(),
    )
    .unwrap();
    Window::Range(period)
}

fn partial_of(scope: &RollupScope<'_>, event: &Event) -> Option<Partial> {
    scope.partial_of(&event.event_type, event.timestamp, &event.record)
}

fn sum(scope: &RollupScope<'_>, events: &[&Event]) -> Partial {
    let mut total = scope.empty();
    for event in events {
        if let Some(partial) = partial_of(scope, event) {
            total.add(&partial);
        }
    }
    total
}

/// The evaluator and the partial agree: same result, or the partial declines
/// (tainted) exactly when the evaluator fails.
fn agree(
    aggregator: &Aggregator,
    filter: Option<&str>,
    partial: &Partial,
    events: &[&Event],
) -> Result<(), TestCaseError> {
    let scope = aggregator.rollup_scope(filter).unwrap();
    let expected = evaluate(aggregator, everything(), filter, events.iter().copied());
    match (scope.finish(partial), expected) {
        (Ok(Some(got)), Ok(expected)) => prop_assert_eq!(got, expected),
        (Ok(None), Err(_)) => {}
        (Err(got), Err(expected)) => prop_assert_eq!(got, expected),
        (got, expected) => prop_assert!(false, "partial {got:?}, evaluator {expected:?}"),
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn partials_of_any_split_finish_like_the_evaluator(
        def in definition(),
        events in events(),
        cut in 0usize..30,
        use_filter in any::<bool>(),
    ) {
        let aggregator = Aggregator::compile(&def).unwrap();
        let filter = use_filter.then(|| def.filters.first().map(|f| f.id.clone())).flatten();
        let scope = aggregator.rollup_scope(filter.as_deref()).unwrap();
        let all: Vec<&Event> = events.iter().collect();
        let (left, right) = all.split_at(cut.min(all.len()));
        let mut partial = sum(&scope, left);
        let mut by_value = partial.clone();
        partial.add(&sum(&scope, right));
        by_value.absorb(sum(&scope, right));
        prop_assert_eq!(&by_value, &partial);
        // A partial survives being stored.
        let stored: Partial = serde_json::from_str(&serde_json::to_string(&partial).unwrap()).unwrap();
        prop_assert_eq!(&stored, &partial);
        agree(&aggregator, filter.as_deref(), &partial, &all)?;
    }

    #[test]
    fn retracting_events_finishes_like_the_evaluator_over_the_rest(
        def in definition(),
        events in events(),
        gone in prop::collection::vec(any::<bool>(), 30),
    ) {
        let aggregator = Aggregator::compile(&def).unwrap();
        let scope = aggregator.rollup_scope(None).unwrap();
        let all: Vec<&Event> = events.iter().collect();
        let mut partial = sum(&scope, &all);
        let mut exact = true;
        for (event, gone) in events.iter().zip(&gone) {
            if *gone && let Some(contribution) = partial_of(&scope, event) {
                exact &= partial.retract(&contribution) == Retraction::Exact;
            }
        }
        let rest: Vec<&Event> = events.iter().zip(&gone).filter(|(_, g)| !**g).map(|(e, _)| e).collect();
        if !exact {
            // What a store does: recompute from the events that remain.
            partial = sum(&scope, &rest);
        }
        agree(&aggregator, None, &partial, &rest)?;
    }
}

#[test]
fn equal_values_share_a_unique_key_and_types_do_not() {
    use tally_aggregate::rollup::unique_key;
    let number = |n, s| Value::Number(Decimal::new(n, s));
    assert_eq!(unique_key(&number(10, 1)), unique_key(&number(100, 2)));
    assert_ne!(
        unique_key(&number(1, 0)),
        unique_key(&Value::String("1".into()))
    );
    assert_ne!(
        unique_key(&Value::Bool(true)),
        unique_key(&Value::String("b:1".into()))
    );
}
