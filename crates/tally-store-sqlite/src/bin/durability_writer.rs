//! Test helper for the kill -9 durability test: upserts batches of events into
//! the database at `argv[1]` and prints `ack <batch>` after each
//! `upsert_events` returned `Ok`, until killed. Not a user-facing tool.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::ExitCode;

use tally_event::{EventType, Record, RecordId, Timestamp, Value};
use tally_store::{Account, AccountId, AccountStore, CustomerId, EventId, EventStore, NewEvent};
use tally_store_sqlite::SqliteStore;

/// Events per batch; the parent checks `batch * BATCH + i` for each acked batch.
const BATCH: u64 = 50;
const ACCOUNT: &str = "acc_durability";
const CUSTOMER: &str = "cus_durability";

fn new_event(n: u64) -> Option<NewEvent> {
    let id = RecordId::parse(&format!("e{n}")).ok()?;
    let mut properties = BTreeMap::new();
    properties.insert("id".to_owned(), Value::String(id.as_str().to_owned()));
    properties.insert("n".to_owned(), Value::Number(n.into()));
    let at = Timestamp::from_millis(1_704_067_200_000 + i64::try_from(n).ok()?).ok()?;
    Some(NewEvent {
        id: EventId::random(),
        event_type: EventType::parse("durable").ok()?,
        customer_id: CustomerId::parse(CUSTOMER).ok()?,
        timestamp: at,
        record: Record::from_trusted_parts(id, properties),
        ingested_at: at,
    })
}

async fn run(path: &str) -> Result<(), String> {
    let store = SqliteStore::open(path).await.map_err(|e| e.to_string())?;
    let account = AccountId::parse(ACCOUNT).map_err(|e| e.to_string())?;
    let at = Timestamp::from_millis(0).map_err(|e| e.to_string())?;
    let record = Account {
        id: account.clone(),
        name: "durability".into(),
        settings: serde_json::json!({}),
        created_at: at,
    };
    store
        .create_account(&record)
        .await
        .map_err(|e| e.to_string())?;
    let mut stdout = std::io::stdout();
    for batch in 0.. {
        let events = (batch * BATCH..(batch + 1) * BATCH)
            .map(new_event)
            .collect::<Option<Vec<_>>>()
            .ok_or("event out of range")?;
        store
            .upsert_events(&account, &events)
            .await
            .map_err(|e| e.to_string())?;
        // Only now is the batch acknowledged.
        writeln!(stdout, "ack {batch}").map_err(|e| e.to_string())?;
        stdout.flush().map_err(|e| e.to_string())?;
    }
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: tally-sqlite-durability-writer DATABASE");
        return ExitCode::FAILURE;
    };
    match run(&path).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("durability writer: {err}");
            ExitCode::FAILURE
        }
    }
}
