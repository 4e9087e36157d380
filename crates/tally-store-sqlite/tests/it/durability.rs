//! An acknowledged upsert survives `kill -9` of the writing process.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use tally_event::{EventKey, EventType, RecordId};
use tally_store::{AccountId, EventQuery, EventStore};
use tally_store_sqlite::SqliteStore;

const BATCH: u64 = 50;
/// Acks to read before the kill: enough that the child is mid-stream.
const ACKS_BEFORE_KILL: usize = 20;

#[tokio::test]
async fn acknowledged_events_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("durable.db");
    let mut child = Command::new(env!("CARGO_BIN_EXE_tally-sqlite-durability-writer"))
        .arg(&path)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
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
