//! Group commit checks: several accounts' batches in one `upsert_event_groups`
//! call behave exactly like `upsert_events` calls in the same order.

use std::sync::Arc;

use serde_json::json;
use tally_event::{EventKey, EventType, RecordId, UpsertOutcome};

use super::fixtures::{at, event, new_account, new_customer, record};
use crate::events::{EventGroup, NewEvent, UpsertResult};
use crate::ids::{AccountId, CustomerId};
use crate::traits::Store;

fn key(record_id: &str) -> EventKey {
    EventKey {
        event_type: EventType::parse("calls").unwrap(),
        record_id: RecordId::parse(record_id).unwrap(),
    }
}

fn outcomes(results: &[UpsertResult]) -> Vec<UpsertOutcome> {
    results.iter().map(|r| r.outcome).collect()
}

/// The same script of groups for two accounts, as (which account, events).
/// Account 0 sees r1 created, updated across groups, then stale; account 1
/// uses the same key, which is its own.
fn script(customers: [&CustomerId; 2]) -> Vec<(usize, Vec<NewEvent>)> {
    let [first, second] = customers;
    let calls = |customer: &CustomerId, ms: i64, id: &str, n: i64| {
        event("calls", customer, at(ms), record(id, json!({ "n": n })))
    };
    vec![
        (0, vec![calls(first, 1_000, "r1", 1)]),
        (1, vec![calls(second, 500, "r1", 2)]),
        (
            0,
            vec![calls(first, 2_000, "r1", 3), calls(first, 100, "r2", 4)],
        ),
        (0, vec![calls(first, 1_500, "r1", 5)]),
        (1, Vec::new()),
        (
            1,
            vec![calls(second, 400, "r1", 6), calls(second, 700, "r1", 7)],
        ),
    ]
}

/// A key repeated across groups sees the earlier group's row, accounts stay
/// apart, and the outcomes equal those of one `upsert_events` call per group.
pub async fn upsert_event_groups_in_order(store: &Arc<dyn Store>) {
    let grouped = [new_account(store).await, new_account(store).await];
    let one_by_one = [new_account(store).await, new_account(store).await];
    let grouped_customers = [
        new_customer(store, &grouped[0], "a").await,
        new_customer(store, &grouped[1], "b").await,
    ];
    let single_customers = [
        new_customer(store, &one_by_one[0], "a").await,
        new_customer(store, &one_by_one[1], "b").await,
    ];

    let groups: Vec<EventGroup> = script([&grouped_customers[0], &grouped_customers[1]])
        .into_iter()
        .map(|(which, events)| EventGroup {
            account: grouped[which].clone(),
            events,
        })
        .collect();
    let results = store.upsert_event_groups(&groups).await.unwrap();
    assert_eq!(results.len(), groups.len(), "one result list per group");
    for (group, result) in groups.iter().zip(&results) {
        assert_eq!(result.len(), group.events.len(), "one result per event");
    }
    let got: Vec<Vec<UpsertOutcome>> = results.iter().map(|r| outcomes(r)).collect();
    use UpsertOutcome::{Created, Stale, Updated};
    let expected = vec![
        vec![Created],
        vec![Created],
        vec![Updated, Created],
        vec![Stale],
        vec![],
        vec![Stale, Updated],
    ];
    assert_eq!(got, expected, "outcomes across groups");
    let first_id = &groups[0].events[0].id;
    assert_eq!(&results[0][0].event_id, first_id, "created keeps its id");
    assert_eq!(
        &results[2][0].event_id, first_id,
        "updated reports stored id"
    );
    assert_eq!(&results[3][0].event_id, first_id, "stale reports stored id");
    assert_eq!(
        results[1][0].event_id, groups[1].events[0].id,
        "the other account's r1 is its own event"
    );
    assert_eq!(results[5][1].event_id, groups[1].events[0].id);

    let stored = store.get_event(&grouped[0], &key("r1")).await.unwrap();
    assert_eq!(stored.timestamp, at(2_000));
    assert_eq!(stored.record, record("r1", json!({"n": 3})));
    let other = store.get_event(&grouped[1], &key("r1")).await.unwrap();
    assert_eq!(other.timestamp, at(700));
    assert_eq!(other.record, record("r1", json!({"n": 7})));

    // The same script, one call per group, on two fresh accounts.
    let mut sequential = Vec::new();
    for (which, events) in script([&single_customers[0], &single_customers[1]]) {
        let result = store
            .upsert_events(&one_by_one[which], &events)
            .await
            .unwrap();
        sequential.push(outcomes(&result));
    }
    assert_eq!(got, sequential, "groups behave as sequential calls");

    assert!(store.upsert_event_groups(&[]).await.unwrap().is_empty());
}

/// Many groups of the same accounts in one call (the shape of a busy group
/// commit), every event readable afterwards under its own account.
pub async fn upsert_event_groups_many(store: &Arc<dyn Store>) {
    let accounts: Vec<AccountId> = vec![new_account(store).await, new_account(store).await];
    let mut customers = Vec::new();
    for account in &accounts {
        customers.push(new_customer(store, account, "c").await);
    }
    let groups: Vec<EventGroup> = (0..40_i64)
        .map(|n| {
            let which = usize::try_from(n % 2).unwrap();
            let events = (0..5)
                .map(|k| {
                    let id = format!("g{n}-{k}");
                    event(
                        "calls",
                        &customers[which],
                        at(n),
                        record(&id, json!({"k": k})),
                    )
                })
                .collect();
            EventGroup {
                account: accounts[which].clone(),
                events,
            }
        })
        .collect();
    let results = store.upsert_event_groups(&groups).await.unwrap();
    assert!(
        results
            .iter()
            .flatten()
            .all(|r| r.outcome == UpsertOutcome::Created)
    );
    for group in &groups {
        let mine = &group.account;
        let theirs = accounts.iter().find(|a| *a != mine).unwrap();
        for new in &group.events {
            let stored = store.get_event(mine, &new.key()).await.unwrap();
            assert_eq!(stored.id, new.id);
            assert!(
                store.get_event(theirs, &new.key()).await.is_err(),
                "an event is stored under its group's account only"
            );
        }
    }
}
