//! Rollups (`crate::rollups`) against the evaluator: whatever the order of
//! writes, deletions, purges, registrations and backfill steps, every usage
//! read a ready rollup serves equals the pure evaluator over the raw events.

use std::sync::Arc;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::json;
use tally_aggregate::{Aggregator, AggregatorDef, AggregatorKind, Bucket, Window, bucket_bounds};
use tally_event::{EventType, Period, RecordId, Timestamp};

use super::fixtures::{at, event, new_account, new_customer, record};
use crate::evaluate::{evaluate_stream, series_stream};
use crate::events::{EventWindow, NewEvent};
use crate::ids::{AccountId, AggregatorFilterId, CustomerId};
use crate::rollups::{fingerprint, licensed_from_rollups, rolls_up, rollup_specs};
use crate::traits::Store;
use crate::versions::AsOf;

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;
const RECORDS: u8 = 8;
const CASES: u32 = 40;

/// The aggregators of the suite: every operation kind a rollup keeps
/// differently (counts, sums, extremes, distinct values, the latest value,
/// formulas with additive and extreme aggregates), with filters; then
/// licensed ones, whose rollups keep signed changes of each entity's life
/// (and a licensed `max`, which has none).
fn definitions() -> Vec<Aggregator> {
    let defs = [
        json!({"name": "calls", "event_type": "calls", "operation": "count",
               "filters": [{"id": "agf_a", "name": "a",
                            "where": {"property": "kind", "operator": "equals", "value": "a"}}]}),
        json!({"name": "units", "event_type": "calls", "operation": "sum", "property": "n",
               "where": {"property": "kind", "operator": "in", "value": ["a", "b"]}}),
        json!({"name": "peak", "event_type": "calls", "operation": "max", "property": "n",
               "filters": [{"id": "agf_b", "name": "b",
                            "where": {"property": "kind", "operator": "equals", "value": "b"}}]}),
        json!({"name": "low", "event_type": "calls", "operation": "min", "property": "n"}),
        json!({"name": "kinds", "event_type": "calls", "operation": "unique_count", "property": "n"}),
        json!({"name": "last", "event_type": "calls", "operation": "latest", "property": "n"}),
        json!({"name": "mean", "event_type": "calls", "operation": "avg", "property": "n"}),
        json!({"name": "f", "event_type": "calls", "operation": "formula",
               "formula": "sum(n) + max(n) * 2 - count(*)"}),
        json!({"name": "seats", "event_type": "calls", "type": "licensed", "operation": "count",
               "where": {"property": "kind", "operator": "in", "value": ["a", "b"]},
               "filters": [{"id": "agf_c", "name": "a",
                            "where": {"property": "kind", "operator": "equals", "value": "a"}}]}),
        json!({"name": "seat units", "event_type": "calls", "type": "licensed",
               "operation": "sum", "property": "n"}),
        json!({"name": "seat kinds", "event_type": "calls", "type": "licensed",
               "operation": "unique_count", "property": "n"}),
        json!({"name": "seat mean", "event_type": "calls", "type": "licensed",
               "operation": "avg", "property": "n"}),
        json!({"name": "seat formula", "event_type": "calls", "type": "licensed",
               "operation": "formula", "formula": "sum(n) * 3 - count(*) + avg(n)"}),
        json!({"name": "seat peak", "event_type": "calls", "type": "licensed",
               "operation": "max", "property": "n"}),
    ];
    defs.into_iter()
        .map(|def| {
            let def: AggregatorDef = serde_json::from_value(def).unwrap();
            Aggregator::compile(&def).unwrap()
        })
        .collect()
}

/// One upsert: record, customer, minute, `n` (none, a number or a string), kind.
type Item = (u8, u8, i64, Option<i8>, u8);

#[derive(Debug, Clone)]
enum Step {
    Upsert(Vec<Item>),
    Delete(Vec<u8>),
    Purge(u8),
    /// Registers the rollups of one aggregator of [`definitions`].
    Register(usize),
    /// Runs this many backfill steps of two events each.
    Backfill(u8),
    /// Drops the rollups of one aggregator (if registered), keeping the
    /// others: their shared rows keep the dropped entry until rewritten.
    Drop(usize),
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    let aggregators = definitions().len();
    let n = prop_oneof![
        1 => Just(None),
        1 => Just(Some(-100i8)),
        6 => (-5i8..20).prop_map(Some),
    ];
    let item = (0..RECORDS, 0u8..2, 0i64..(5 * 60), n, 0u8..3);
    let step = prop_oneof![
        6 => prop::collection::vec(item, 1..5).prop_map(Step::Upsert),
        1 => prop::collection::vec(0..RECORDS, 1..3).prop_map(Step::Delete),
        1 => (0..RECORDS).prop_map(Step::Purge),
        2 => (0..aggregators).prop_map(Step::Register),
        2 => (1u8..4).prop_map(Step::Backfill),
        1 => (0..aggregators).prop_map(Step::Drop),
    ];
    prop::collection::vec(step, 1..14)
}

/// Random interleavings of creates, updates moving events across hours and
/// customers, stale and unchanged events, deletions, purges, aggregators
/// registered before and after their data and partial backfills: after
/// every step, `aggregate` and `time_series` (served by the ready rollups)
/// equal the evaluator over the raw events, for aligned and clipped windows.
pub async fn rollups_agree_with_evaluator(store: &Arc<dyn Store>) {
    let handle = tokio::runtime::Handle::current();
    let config = Config {
        cases: CASES,
        failure_persistence: None,
        ..Config::default()
    };
    let failure = tokio::task::block_in_place(|| {
        TestRunner::new(config)
            .run(&steps(), |steps| handle.block_on(check_steps(store, steps)))
            .err()
            .map(|failure| failure.to_string())
    });
    if let Some(failure) = failure {
        panic!("rollups and evaluator disagree: {failure}");
    }
}

fn record_id(record: u8) -> RecordId {
    RecordId::parse(&format!("r{record}")).unwrap()
}

fn calls() -> EventType {
    EventType::parse("calls").unwrap()
}

fn new_event(customers: &[CustomerId], &(r, c, minute, n, kind): &Item) -> NewEvent {
    let n = match n {
        None => json!(null),
        Some(-100) => json!("many"),
        Some(n) => json!(n),
    };
    let kind = ["a", "b", "c"][usize::from(kind)];
    let rec = record(record_id(r).as_str(), json!({"n": n, "kind": kind}));
    event(
        "calls",
        &customers[usize::from(c)],
        at(minute * MINUTE),
        rec,
    )
}

async fn check_steps(store: &Arc<dyn Store>, steps: Vec<Step>) -> Result<(), TestCaseError> {
    let account = new_account(store).await;
    let customers = [
        new_customer(store, &account, "alice").await,
        new_customer(store, &account, "bob").await,
    ];
    let aggregators = definitions();
    let mut registered = Vec::new();
    for step in &steps {
        match step {
            Step::Upsert(items) => {
                let events: Vec<NewEvent> =
                    items.iter().map(|i| new_event(&customers, i)).collect();
                store.upsert_events(&account, &events).await.unwrap();
            }
            Step::Delete(records) => {
                let ids: Vec<RecordId> = records.iter().map(|r| record_id(*r)).collect();
                store.delete_events(&account, &calls(), &ids).await.unwrap();
            }
            Step::Purge(r) => {
                store
                    .purge_events(&account, &calls(), &[record_id(*r)])
                    .await
                    .unwrap();
            }
            Step::Register(index) => {
                let specs = rollup_specs(&aggregators[*index]);
                store.register_rollups(&account, &specs).await.unwrap();
                registered.push(*index);
            }
            Step::Backfill(times) => {
                for _ in 0..*times {
                    store.backfill_rollups(2).await.unwrap();
                }
            }
            Step::Drop(index) => {
                registered.retain(|r| r != index);
                let keep: Vec<String> = registered
                    .iter()
                    .flat_map(|r| rollup_specs(&aggregators[*r]))
                    .map(|spec| spec.fingerprint)
                    .collect();
                store.retain_rollups(&account, &keep).await.unwrap();
            }
        }
        for index in &registered {
            check_reads(store, &account, &customers, &aggregators[*index], step).await?;
        }
    }
    // Once every backfill is done, every registered rollup serves reads.
    while store.backfill_rollups(50).await.unwrap() {}
    for index in &registered {
        let aggregator = &aggregators[*index];
        if !rolls_up(aggregator) {
            continue;
        }
        let cells = store
            .rollup_cells(
                &account,
                &fingerprint(aggregator, None),
                None,
                (0, i64::MAX),
            )
            .await
            .unwrap();
        prop_assert!(
            cells.is_some(),
            "{} is not ready after the backfill",
            aggregator.name()
        );
        check_reads(store, &account, &customers, aggregator, &Step::Backfill(0)).await?;
        if aggregator.kind() == AggregatorKind::Licensed {
            // Served by the rollup, not by a fallback to the events.
            let end = at(3 * HOUR);
            let window = Window::Before(end);
            let as_of = AsOf::for_window(EventWindow::Before(end), None);
            let served = licensed_from_rollups(
                store.as_ref(),
                &account,
                aggregator,
                None,
                &customers[0],
                window,
                as_of,
            )
            .await
            .unwrap();
            prop_assert!(served.is_some(), "{} is not served", aggregator.name());
        }
    }
    Ok(())
}

fn windows() -> Vec<Period> {
    let period = |from: i64, to: i64| Period::new(at(from), at(to)).unwrap();
    vec![
        period(0, 5 * HOUR),
        period(30 * MINUTE, 4 * HOUR + 30 * MINUTE),
        period(HOUR, 2 * HOUR),
        period(10 * MINUTE, 20 * MINUTE),
    ]
}

async fn check_reads(
    store: &Arc<dyn Store>,
    account: &AccountId,
    customers: &[CustomerId],
    aggregator: &Aggregator,
    step: &Step,
) -> Result<(), TestCaseError> {
    let filters = std::iter::once(None).chain(
        aggregator
            .filters()
            .iter()
            .map(|f| Some(AggregatorFilterId::parse(&f.id).unwrap())),
    );
    if aggregator.kind() == AggregatorKind::Licensed {
        for filter in filters {
            check_licensed_reads(store, account, customers, aggregator, filter.as_ref(), step)
                .await?;
        }
        return Ok(());
    }
    for filter in filters {
        let filter = filter.as_ref();
        for period in windows() {
            for customer in customers {
                let window = Window::Range(period);
                let served = store
                    .aggregate(account, aggregator, filter, customer, window)
                    .await;
                let events =
                    store.stream_events(account, customer, &calls(), EventWindow::Range(period));
                let raw = evaluate_stream(events, aggregator, filter, window).await;
                prop_assert_eq!(
                    format!("{served:?}"),
                    format!("{raw:?}"),
                    "{} {:?} over {:?} after {:?}",
                    aggregator.name(),
                    filter,
                    period,
                    step
                );
            }
            for customer in [None, Some(&customers[0])] {
                let served = store
                    .time_series(account, aggregator, filter, customer, period, Bucket::Hour)
                    .await;
                let events = match customer {
                    Some(c) => {
                        store.stream_events(account, c, &calls(), EventWindow::Range(period))
                    }
                    None => {
                        store.stream_events_of_type(account, &calls(), EventWindow::Range(period))
                    }
                };
                let raw = series_stream(events, aggregator, period, Bucket::Hour, filter).await;
                prop_assert_eq!(
                    format!("{served:?}"),
                    format!("{raw:?}"),
                    "series of {} {:?} over {:?} after {:?}",
                    aggregator.name(),
                    filter,
                    period,
                    step
                );
            }
        }
    }
    Ok(())
}

/// Licensed reads as billing makes them (each entity as of the window's
/// end), served or not, against the evaluator over the versions the store
/// picks: periods ending on and off the hour, series of one customer and of
/// all.
async fn check_licensed_reads(
    store: &Arc<dyn Store>,
    account: &AccountId,
    customers: &[CustomerId],
    aggregator: &Aggregator,
    filter: Option<&AggregatorFilterId>,
    step: &Step,
) -> Result<(), TestCaseError> {
    let raw = |customer: Option<&CustomerId>, end: Timestamp| {
        let window = Window::Before(end);
        let as_of = AsOf::for_window(window.into(), None);
        let events = store.stream_events_as_of(account, customer, &calls(), window.into(), as_of);
        evaluate_stream(events, aggregator, filter, window)
    };
    for end in [HOUR, 2 * HOUR + 30 * MINUTE, 3 * HOUR, 5 * HOUR, 6 * HOUR] {
        let end = at(end);
        let window = Window::Before(end);
        let as_of = AsOf::for_window(window.into(), None);
        for customer in customers {
            let served = store
                .aggregate_as_of(account, aggregator, filter, customer, window, as_of)
                .await;
            let expected = raw(Some(customer), end).await;
            prop_assert_eq!(
                format!("{served:?}"),
                format!("{expected:?}"),
                "{} {:?} before {:?} after {:?}",
                aggregator.name(),
                filter,
                end,
                step
            );
        }
    }
    for (period, bucket) in windows()
        .into_iter()
        .flat_map(|period| [(period, Bucket::Hour), (period, Bucket::Day)])
    {
        for customer in [None, Some(&customers[0])] {
            let served = store
                .time_series(account, aggregator, filter, customer, period, bucket)
                .await;
            let mut expected = Vec::new();
            for (start, end) in bucket_bounds(period, bucket).unwrap() {
                expected.push((start, raw(customer, end).await.unwrap()));
            }
            prop_assert_eq!(
                format!("{served:?}"),
                format!("{:?}", Ok::<_, ()>(expected)),
                "series of {} {:?} over {:?} after {:?}",
                aggregator.name(),
                filter,
                period,
                step
            );
        }
    }
    Ok(())
}

/// A rollup registered over existing events builds, then serves; changing
/// the aggregator and retaining only the new fingerprint drops the old one.
pub async fn rollups_build_serve_and_retire(store: &Arc<dyn Store>) {
    let account = new_account(store).await;
    let alice = new_customer(store, &account, "alice").await;
    let events: Vec<NewEvent> = (0..30)
        .map(|i: i64| {
            let rec = record(&format!("e{i:02}"), json!({"n": i, "kind": "a"}));
            event("calls", &alice, at(i * 10 * MINUTE), rec)
        })
        .collect();
    store.upsert_events(&account, &events).await.unwrap();
    let aggregators = definitions();
    let units = &aggregators[1];
    let specs = rollup_specs(units);
    store.register_rollups(&account, &specs).await.unwrap();
    // Registering again changes nothing.
    store.register_rollups(&account, &specs).await.unwrap();
    let progress = store.rollup_progress(&account).await.unwrap();
    assert_eq!(progress.len(), 1, "{progress:?}");
    assert!(!progress[0].ready);
    let key = fingerprint(units, None);
    let hours = (0, i64::MAX);
    assert!(
        store
            .rollup_cells(&account, &key, None, hours)
            .await
            .unwrap()
            .is_none()
    );

    assert!(store.backfill_rollups(7).await.unwrap());
    let progress = store.rollup_progress(&account).await.unwrap();
    assert_eq!(
        (progress[0].ready, progress[0].backfilled_events),
        (false, 7)
    );
    while store.backfill_rollups(7).await.unwrap() {}
    let progress = store.rollup_progress(&account).await.unwrap();
    assert_eq!(
        (progress[0].ready, progress[0].backfilled_events),
        (true, 30)
    );

    let cells = store
        .rollup_cells(&account, &key, Some(&alice), hours)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(cells.len(), 5, "30 events, 10 minutes apart: 5 hours");
    let day = Period::new(at(0), at(24 * HOUR)).unwrap();
    let result = store
        .aggregate(&account, units, None, &alice, Window::Range(day))
        .await
        .unwrap();
    assert_eq!(result.quantity, (0..30).sum::<i64>().into());

    // An id named twice, in different chunks of a purge, leaves once.
    let twice = RecordId::parse("e05").unwrap();
    let mut ids = vec![twice.clone()];
    ids.extend((0..600).map(|i| RecordId::parse(&format!("missing{i}")).unwrap()));
    ids.push(twice);
    assert_eq!(
        store.purge_events(&account, &calls(), &ids).await.unwrap(),
        1
    );
    let purged = store
        .aggregate(&account, units, None, &alice, Window::Range(day))
        .await
        .unwrap();
    assert_eq!(purged.quantity, ((0..30).sum::<i64>() - 5).into());
    assert_eq!(purged.event_count, 29);
    let result = purged;

    // Another account sees none of it.
    let other = new_account(store).await;
    assert!(
        store
            .rollup_cells(&other, &key, None, hours)
            .await
            .unwrap()
            .is_none()
    );

    store.retain_rollups(&account, &[]).await.unwrap();
    assert!(store.rollup_progress(&account).await.unwrap().is_empty());
    assert!(
        store
            .rollup_cells(&account, &key, None, hours)
            .await
            .unwrap()
            .is_none()
    );
    let again = store
        .aggregate(&account, units, None, &alice, Window::Range(day))
        .await
        .unwrap();
    assert_eq!(again, result, "without rollups, reads scan the events");
}
