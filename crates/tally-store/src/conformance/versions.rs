//! Versions: history kept, `unchanged`, deletion, purge, and the three reads
//! (current, as of a sequence, as of an instant), on fixed cases and against a
//! pure model of random histories.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::TryStreamExt;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::json;
use tally_event::{EventKey, EventType, RecordId, Timestamp, UpsertOutcome};

use super::fixtures::{at, event, new_account, new_customer, record};
use crate::events::{EventWindow, NewEvent, StoredEvent};
use crate::ids::{AccountId, CustomerId, EventId};
use crate::traits::Store;
use crate::versions::{AsOf, EventSeq, VersionStatus};

fn key(record_id: &str) -> EventKey {
    EventKey {
        event_type: EventType::parse("seats").unwrap(),
        record_id: RecordId::parse(record_id).unwrap(),
    }
}

fn seq(n: i64) -> EventSeq {
    EventSeq::new(n).unwrap()
}

async fn upsert(store: &Arc<dyn Store>, account: &AccountId, e: &NewEvent) -> UpsertOutcome {
    let results = store
        .upsert_events(account, std::slice::from_ref(e))
        .await
        .unwrap();
    results[0].outcome
}

async fn read(store: &Arc<dyn Store>, account: &AccountId, as_of: AsOf) -> Option<(i64, Json)> {
    store
        .get_event_as_of(account, &key("s1"), as_of)
        .await
        .unwrap()
        .map(|e| (e.seq.get(), e.record.to_json()))
}

type Json = serde_json::Value;

/// One key through create, unchanged, update, stale, delete and re-creation:
/// the outcomes, the sequence numbers, the history and the three reads.
pub async fn versions_and_history(store: &Arc<dyn Store>) {
    let account = new_account(store).await;
    let alice = new_customer(store, &account, "alice").await;
    assert_eq!(store.latest_seq(&account).await.unwrap(), EventSeq::ZERO);

    let v1 = event("seats", &alice, at(100), record("s1", json!({"plan": "a"})));
    let v2 = event("seats", &alice, at(300), record("s1", json!({"plan": "b"})));
    let v3 = event("seats", &alice, at(200), record("s1", json!({"plan": "c"})));
    assert_eq!(upsert(store, &account, &v1).await, UpsertOutcome::Created);
    assert_eq!(upsert(store, &account, &v1).await, UpsertOutcome::Unchanged);
    assert_eq!(
        store.latest_seq(&account).await.unwrap(),
        seq(1),
        "unchanged stores nothing"
    );
    assert_eq!(upsert(store, &account, &v2).await, UpsertOutcome::Updated);
    assert_eq!(upsert(store, &account, &v3).await, UpsertOutcome::Stale);
    assert_eq!(
        store.latest_seq(&account).await.unwrap(),
        seq(3),
        "stale is kept"
    );

    let plan = |p: &str| json!({"id": "s1", "plan": p});
    assert_eq!(
        read(store, &account, AsOf::CURRENT).await,
        Some((2, plan("b")))
    );
    assert_eq!(read(store, &account, AsOf::known_at(seq(0))).await, None);
    assert_eq!(
        read(store, &account, AsOf::known_at(seq(1))).await,
        Some((1, plan("a")))
    );
    assert_eq!(
        read(store, &account, AsOf::known_at(seq(3))).await,
        Some((2, plan("b")))
    );
    // Valid time: the stale version is what the seat was at 200..300.
    assert_eq!(read(store, &account, AsOf::valid_at(at(99))).await, None);
    assert_eq!(
        read(store, &account, AsOf::valid_at(at(150))).await,
        Some((1, plan("a")))
    );
    assert_eq!(
        read(store, &account, AsOf::valid_at(at(250))).await,
        Some((3, plan("c")))
    );
    assert_eq!(
        read(store, &account, AsOf::valid_at(at(300))).await,
        Some((2, plan("b")))
    );
    let before_stale = AsOf {
        known_at: Some(seq(2)),
        valid_at: Some(at(250)),
    };
    assert_eq!(
        read(store, &account, before_stale).await,
        Some((1, plan("a"))),
        "before the stale version arrived, 250 was still plan a"
    );

    let seats = EventType::parse("seats").unwrap();
    let ids = [RecordId::parse("s1").unwrap()];
    assert_eq!(
        store.delete_events(&account, &seats, &ids).await.unwrap(),
        1
    );
    assert_eq!(
        store.latest_seq(&account).await.unwrap(),
        seq(4),
        "a deletion takes a sequence"
    );
    assert_eq!(read(store, &account, AsOf::CURRENT).await, None);
    assert_eq!(
        read(store, &account, AsOf::valid_at(at(300))).await,
        None,
        "deleted: no state"
    );
    assert_eq!(
        read(store, &account, AsOf::known_at(seq(3))).await,
        Some((2, plan("b")))
    );
    let history = store.event_history(&account, &key("s1")).await.unwrap();
    let statuses: Vec<_> = history
        .iter()
        .map(|v| (v.event.seq.get(), v.status()))
        .collect();
    assert_eq!(
        statuses,
        [
            (1, VersionStatus::Deleted),
            (2, VersionStatus::Deleted),
            (3, VersionStatus::Deleted)
        ]
    );
    assert!(history.iter().all(|v| v.deleted_at == Some(seq(4))));
    assert!(
        history.iter().all(|v| v.event.id == v1.id),
        "one life, one id"
    );

    let again = event("seats", &alice, at(50), record("s1", json!({"plan": "d"})));
    assert_eq!(
        upsert(store, &account, &again).await,
        UpsertOutcome::Created
    );
    assert_eq!(
        read(store, &account, AsOf::CURRENT).await,
        Some((5, plan("d")))
    );
    assert_eq!(
        read(store, &account, AsOf::valid_at(at(300))).await,
        Some((5, plan("d"))),
        "the old life is gone from every current-knowledge read"
    );
    let history = store.event_history(&account, &key("s1")).await.unwrap();
    let statuses: Vec<_> = history.iter().map(|v| v.status()).collect();
    assert_eq!(statuses.last(), Some(&VersionStatus::Current));
    assert_eq!(
        history.last().unwrap().event.id,
        again.id,
        "a new life, a new id"
    );
    let before: Vec<_> = history[..3].iter().map(|v| v.status()).collect();
    assert_eq!(before, [VersionStatus::Deleted; 3]);

    let superseded = event("seats", &alice, at(60), record("s1", json!({"plan": "e"})));
    assert_eq!(
        upsert(store, &account, &superseded).await,
        UpsertOutcome::Updated
    );
    let history = store.event_history(&account, &key("s1")).await.unwrap();
    let tail: Vec<_> = history[3..].iter().map(|v| v.status()).collect();
    assert_eq!(tail, [VersionStatus::Superseded, VersionStatus::Current]);
    assert_eq!(history[3].current_until, Some(seq(6)));
}

/// A purge erases every version of the keys it names, whatever the read; other
/// keys and their history stay.
pub async fn purge_erases_history(store: &Arc<dyn Store>) {
    let account = new_account(store).await;
    let alice = new_customer(store, &account, "alice").await;
    let events = [
        event(
            "seats",
            &alice,
            at(10),
            record("s1", json!({"email": "a@x.io"})),
        ),
        event(
            "seats",
            &alice,
            at(20),
            record("s1", json!({"email": "b@x.io"})),
        ),
        event("seats", &alice, at(15), record("s2", json!({}))),
    ];
    store.upsert_events(&account, &events).await.unwrap();
    let seats = EventType::parse("seats").unwrap();
    let ids = [RecordId::parse("s1").unwrap()];
    store.delete_events(&account, &seats, &ids).await.unwrap();
    let ids = [
        RecordId::parse("s1").unwrap(),
        RecordId::parse("nope").unwrap(),
    ];
    assert_eq!(store.purge_events(&account, &seats, &ids).await.unwrap(), 1);
    assert!(
        store
            .event_history(&account, &key("s1"))
            .await
            .unwrap()
            .is_empty()
    );
    for as_of in [
        AsOf::CURRENT,
        AsOf::known_at(seq(1)),
        AsOf::valid_at(at(20)),
    ] {
        let found = store
            .get_event_as_of(&account, &key("s1"), as_of)
            .await
            .unwrap();
        assert_eq!(found, None, "{as_of:?}");
    }
    let streamed: Vec<StoredEvent> = store
        .stream_events_as_of(
            &account,
            None,
            &seats,
            EventWindow::Before(at(1_000)),
            AsOf::known_at(seq(3)),
        )
        .try_collect()
        .await
        .unwrap();
    let ids: Vec<&str> = streamed.iter().map(|e| e.record_id().as_str()).collect();
    assert_eq!(ids, ["s2"]);
    assert_eq!(
        store
            .event_history(&account, &key("s2"))
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(store.purge_events(&account, &seats, &[]).await.unwrap(), 0);
}

// ---- the model -------------------------------------------------------------

/// One step of a random history.
#[derive(Debug, Clone)]
enum Step {
    /// An upsert: (record id, customer, timestamp, plan).
    Upsert(Vec<(u8, u8, i64, u8)>),
    /// A deletion of these record ids (one call).
    Delete(Vec<u8>),
    /// A purge of one record id.
    Purge(u8),
}

#[derive(Debug, Clone)]
struct ModelVersion {
    seq: i64,
    id: EventId,
    customer: usize,
    ts: i64,
    plan: u8,
    deleted_at: Option<i64>,
}

/// A straightforward reading of docs/storage.md, "Versions": every version in a
/// list, reads by their definitions, nothing shared with the stores' code.
#[derive(Debug, Default)]
struct Model {
    last_seq: i64,
    keys: BTreeMap<u8, Vec<ModelVersion>>,
}

impl Model {
    fn live(&self, record: u8) -> impl Iterator<Item = &ModelVersion> {
        self.keys
            .get(&record)
            .into_iter()
            .flatten()
            .filter(|v| v.deleted_at.is_none())
    }

    fn upsert(
        &mut self,
        record: u8,
        customer: usize,
        ts: i64,
        plan: u8,
        id: &EventId,
    ) -> UpsertOutcome {
        let current = self.live(record).max_by_key(|v| (v.ts, v.seq)).cloned();
        let (outcome, id) = match &current {
            None => (UpsertOutcome::Created, id.clone()),
            Some(c) if c.ts == ts && c.customer == customer && c.plan == plan => {
                return UpsertOutcome::Unchanged;
            }
            Some(c) if ts >= c.ts => (UpsertOutcome::Updated, c.id.clone()),
            Some(c) => (UpsertOutcome::Stale, c.id.clone()),
        };
        self.last_seq += 1;
        self.keys.entry(record).or_default().push(ModelVersion {
            seq: self.last_seq,
            id,
            customer,
            ts,
            plan,
            deleted_at: None,
        });
        outcome
    }

    fn delete(&mut self, records: &[u8]) -> u64 {
        let live: Vec<u8> = records
            .iter()
            .copied()
            .filter(|r| self.live(*r).next().is_some())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        if live.is_empty() {
            return 0;
        }
        self.last_seq += 1;
        for record in &live {
            for version in self.keys.get_mut(record).into_iter().flatten() {
                version.deleted_at.get_or_insert(self.last_seq);
            }
        }
        live.len() as u64
    }

    /// The version of `record` that `as_of` sees.
    fn read(
        &self,
        record: u8,
        known_at: Option<i64>,
        valid_at: Option<i64>,
    ) -> Option<&ModelVersion> {
        let known = |v: &&ModelVersion| {
            known_at.is_none_or(|s| v.seq <= s)
                && v.deleted_at.is_none_or(|d| known_at.is_some_and(|s| d > s))
        };
        self.keys
            .get(&record)?
            .iter()
            .filter(known)
            .filter(|v| valid_at.is_none_or(|t| v.ts <= t))
            .max_by_key(|v| (v.ts, v.seq))
    }
}

const RECORDS: u8 = 4;
const HISTORY_CASES: u32 = 40;

fn steps() -> impl Strategy<Value = Vec<Step>> {
    let item = (
        0..RECORDS,
        0u8..2,
        prop::sample::select(vec![0i64, 10, 20, 30]),
        0u8..2,
    );
    let step = prop_oneof![
        6 => prop::collection::vec(item, 1..4).prop_map(Step::Upsert),
        1 => prop::collection::vec(0..RECORDS, 1..3).prop_map(Step::Delete),
        1 => (0..RECORDS).prop_map(Step::Purge),
    ];
    prop::collection::vec(step, 1..16)
}

/// Random histories of upserts (created, updated, stale, unchanged, moves
/// between customers), deletions, re-creations and purges: every outcome,
/// and afterwards every read as of every sequence and several instants, of
/// every key and of each customer's streams, equals the model's.
pub async fn versions_agree_with_model(store: &Arc<dyn Store>) {
    let handle = tokio::runtime::Handle::current();
    let config = Config {
        cases: HISTORY_CASES,
        failure_persistence: None,
        ..Config::default()
    };
    let failure = tokio::task::block_in_place(|| {
        TestRunner::new(config)
            .run(&steps(), |steps| {
                handle.block_on(check_history(store, steps))
            })
            .err()
            .map(|failure| failure.to_string())
    });
    if let Some(failure) = failure {
        panic!("store and version model disagree: {failure}");
    }
}

fn record_id(record: u8) -> RecordId {
    RecordId::parse(&format!("k{record}")).unwrap()
}

async fn check_history(store: &Arc<dyn Store>, steps: Vec<Step>) -> Result<(), TestCaseError> {
    let account = new_account(store).await;
    let customers = [
        new_customer(store, &account, "alice").await,
        new_customer(store, &account, "bob").await,
    ];
    let seats = EventType::parse("seats").unwrap();
    let mut model = Model::default();
    for step in &steps {
        match step {
            Step::Upsert(items) => {
                let events: Vec<NewEvent> = items
                    .iter()
                    .map(|&(r, c, ts, plan)| {
                        let rec = record(record_id(r).as_str(), json!({"plan": plan}));
                        event("seats", &customers[c as usize], at(ts), rec)
                    })
                    .collect();
                let got = store.upsert_events(&account, &events).await.unwrap();
                for ((&(r, c, ts, plan), e), result) in items.iter().zip(&events).zip(&got) {
                    let expected = model.upsert(r, c as usize, ts, plan, &e.id);
                    prop_assert_eq!(result.outcome, expected, "upsert of k{} in {:?}", r, step);
                }
            }
            Step::Delete(records) => {
                let ids: Vec<RecordId> = records.iter().map(|r| record_id(*r)).collect();
                let got = store.delete_events(&account, &seats, &ids).await.unwrap();
                prop_assert_eq!(got, model.delete(records), "{:?}", step);
            }
            Step::Purge(r) => {
                let got = store
                    .purge_events(&account, &seats, &[record_id(*r)])
                    .await
                    .unwrap();
                let expected = u64::from(model.keys.remove(r).is_some());
                prop_assert_eq!(got, expected, "{:?}", step);
            }
        }
        prop_assert_eq!(
            store.latest_seq(&account).await.unwrap().get(),
            model.last_seq
        );
    }
    let instants = [None, Some(-1), Some(10), Some(15), Some(30)];
    let known = (0..=model.last_seq).map(Some).chain([None]);
    for known_at in known {
        for valid_at in instants {
            let as_of = AsOf {
                known_at: known_at.map(seq),
                valid_at: valid_at.map(at),
            };
            check_reads(
                store,
                &account,
                &customers,
                &model,
                as_of,
                (known_at, valid_at),
            )
            .await?;
        }
    }
    Ok(())
}

async fn check_reads(
    store: &Arc<dyn Store>,
    account: &AccountId,
    customers: &[CustomerId; 2],
    model: &Model,
    as_of: AsOf,
    (known_at, valid_at): (Option<i64>, Option<i64>),
) -> Result<(), TestCaseError> {
    let summary = |e: &StoredEvent| (e.record_id().as_str().to_owned(), e.seq.get(), e.id.clone());
    let mut expected_streams: [Vec<(Timestamp, String, i64, EventId)>; 2] = Default::default();
    for r in 0..RECORDS {
        let got = store
            .get_event_as_of(account, &key_of(r), as_of)
            .await
            .unwrap();
        let expected = model.read(r, known_at, valid_at);
        prop_assert_eq!(
            got.as_ref().map(summary),
            expected.map(|v| (record_id(r).as_str().to_owned(), v.seq, v.id.clone())),
            "k{} as of {:?}",
            r,
            as_of
        );
        if let (Some(got), Some(v)) = (&got, expected) {
            prop_assert_eq!(&got.customer_id, &customers[v.customer]);
            prop_assert_eq!(got.timestamp, at(v.ts));
            let id = record_id(r);
            prop_assert_eq!(&got.record, &record(id.as_str(), json!({"plan": v.plan})));
            expected_streams[v.customer].push((
                at(v.ts),
                id.as_str().to_owned(),
                v.seq,
                v.id.clone(),
            ));
        }
    }
    let seats = EventType::parse("seats").unwrap();
    let mut everyone: Vec<_> = expected_streams.iter().flatten().cloned().collect();
    everyone.sort();
    let whose = [Some(&customers[0]), Some(&customers[1]), None];
    for (customer, expected) in whose
        .into_iter()
        .zip(expected_streams.iter_mut().chain([&mut everyone]))
    {
        expected.sort();
        // The key's version is chosen first, then its timestamp tested: a
        // window that cuts the instants, and one that holds every version.
        let windows = [
            EventWindow::Range(tally_event::Period::new(at(10), at(30)).unwrap()),
            EventWindow::Before(at(31)),
        ];
        for window in windows {
            let want: Vec<_> = expected
                .iter()
                .filter(|(ts, ..)| window.contains(*ts))
                .map(|(_, r, s, id)| (r.clone(), *s, id.clone()))
                .collect();
            let got: Vec<StoredEvent> = store
                .stream_events_as_of(account, customer, &seats, window, as_of)
                .try_collect()
                .await
                .unwrap();
            let got: Vec<_> = got.iter().map(summary).collect();
            prop_assert_eq!(
                got,
                want,
                "stream of {:?} over {:?} as of {:?}",
                customer,
                window,
                as_of
            );
        }
    }
    Ok(())
}

fn key_of(record: u8) -> EventKey {
    EventKey {
        event_type: EventType::parse("seats").unwrap(),
        record_id: record_id(record),
    }
}
