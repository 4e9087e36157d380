//! An acknowledged upsert survives `kill -9` of the writing process, and so
//! do the rollups written with it.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::json;
use tally_aggregate::{Aggregator, AggregatorDef};
use tally_event::{EventKey, EventType, Period, RecordId, Timestamp};
use tally_store::rollups::fingerprint;
use tally_store::{AccountId, AsOf, CustomerId, EventQuery, EventStore, evaluate_stream};
use tally_store_sqlite::SqliteStore;

const BATCH: u64 = 50;
/// Acks to read before the kill: enough that the child is mid-stream.
const ACKS_BEFORE_KILL: usize = 20;

/// Runs the writer on `path` (with rollups of `aggregators` when given)
/// until it acknowledged [`ACKS_BEFORE_KILL`] batches, then kills it with
/// SIGKILL; returns the acknowledged batches.
fn write_then_kill(path: &Path, aggregators: Option<&str>) -> Vec<u64> {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tally-sqlite-durability-writer"));
    command.arg(path).args(aggregators).stdout(Stdio::piped());
    let mut child = command.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut acked = Vec::new();
    for line in BufReader::new(stdout).lines().take(ACKS_BEFORE_KILL) {
        let line = line.unwrap();
        let batch: u64 = line.strip_prefix("ack ").unwrap().parse().unwrap();
        acked.push(batch);
    }
    assert_eq!(acked.len(), ACKS_BEFORE_KILL, "the writer stopped early");
    // SIGKILL: no destructor, no checkpoint, no flush beyond what commit did.
    child.kill().unwrap();
    child.wait().unwrap();
    acked
}

#[tokio::test]
async fn acknowledged_events_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("durable.db");
    let acked = write_then_kill(&path, None);

    let store = SqliteStore::open(&path).await.unwrap();
    let account = AccountId::parse("acc_durability").unwrap();
    let event_type = EventType::parse("durable").unwrap();
    let last = *acked.last().unwrap();
    for n in 0..(last + 1) * BATCH {
        let key = EventKey {
            event_type: event_type.clone(),
            record_id: RecordId::parse(&format!("e{n}")).unwrap(),
        };
        let stored = store.get_event(&account, &key).await;
        assert!(stored.is_ok(), "acknowledged event e{n} lost: {stored:?}");
    }
    let total = store
        .list_events(&account, &EventQuery::default())
        .await
        .unwrap()
        .total;
    assert!(total >= (last + 1) * BATCH, "{total} events after the kill");
    assert_eq!(total % BATCH, 0, "a batch is all or nothing");
}

/// Rollups are written in the transaction of the events they sum: after a
/// kill during ingestion (and during a backfill), the reopened database's
/// rollups, their backfill finished, still equal the evaluator over the raw
/// events, for every aggregator and window.
#[tokio::test]
async fn rollups_survive_sigkill() {
    let definitions = json!([
        {"name": "count", "event_type": "durable", "operation": "count"},
        {"name": "sum", "event_type": "durable", "operation": "sum", "property": "n"},
        {"name": "max", "event_type": "durable", "operation": "max", "property": "n"},
        {"name": "unique", "event_type": "durable", "operation": "unique_count", "property": "n"},
        {"name": "formula", "event_type": "durable", "operation": "formula",
         "formula": "sum(n) - min(n) + count(*)"},
        {"name": "licensed", "event_type": "durable", "type": "licensed",
         "operation": "sum", "property": "n"}
    ]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rollups.db");
    write_then_kill(&path, Some(&definitions.to_string()));

    let store = SqliteStore::open(&path).await.unwrap();
    // The backfill resumes from its stored cursor.
    while store.backfill_rollups(BATCH).await.unwrap() {}
    let account = AccountId::parse("acc_durability").unwrap();
    let customer = CustomerId::parse("cus_durability").unwrap();
    let event_type = EventType::parse("durable").unwrap();
    let at = |ms: i64| Timestamp::from_millis(1_704_067_200_000 + ms).unwrap();
    let windows = [
        Period::new(at(0), at(400 * 3_600_000)).unwrap(),
        Period::new(at(1_234_567), at(7_654_321)).unwrap(),
    ];
    let definitions: Vec<AggregatorDef> = serde_json::from_value(definitions).unwrap();
    for definition in &definitions {
        let aggregator = Aggregator::compile(definition).unwrap();
        let key = fingerprint(&aggregator, None);
        let cells = store
            .rollup_cells(&account, &key, None, (0, i64::MAX))
            .await
            .unwrap();
        assert!(
            cells.is_some_and(|c| !c.is_empty()),
            "{} has no ready rollup",
            definition.name
        );
        for period in windows {
            // A licensed period is read as billing reads it: each entity as
            // of the end (on the hour for the first window, served by the
            // rollup; off the hour for the second, scanned).
            let window = aggregator.window(period);
            let as_of = AsOf::for_window(window.into(), None);
            let served = store
                .aggregate_as_of(&account, &aggregator, None, &customer, window, as_of)
                .await
                .unwrap();
            let events = store.stream_events_as_of(
                &account,
                Some(&customer),
                &event_type,
                window.into(),
                as_of,
            );
            let scanned = evaluate_stream(events, &aggregator, None, window)
                .await
                .unwrap();
            assert_eq!(served, scanned, "{} over {period:?}", definition.name);
            assert!(scanned.event_count > 0);
        }
    }
}
