//! Test helper for the kill -9 durability test: upserts batches of events into
//! the database at `argv[1]` and prints `ack <batch>` after each
//! `upsert_events` returned `Ok`, until killed. With `argv[2]`, a JSON array
//! of aggregator definitions, it keeps their rollups: registered first,
//! backfilled a step after each batch, and each batch also updates ten
//! events of the one before, moving them two hours on. Not a user-facing
//! tool.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::ExitCode;

use tally_aggregate::{Aggregator, AggregatorDef};
use tally_event::{EventType, Record, RecordId, Timestamp, Value};
use tally_store::rollups::rollup_specs;
use tally_store::{Account, AccountId, AccountStore, CustomerId, EventId, EventStore, NewEvent};
use tally_store_sqlite::SqliteStore;

/// Events per batch; the parent checks `batch * BATCH + i` for each acked batch.
const BATCH: u64 = 50;
const ACCOUNT: &str = "acc_durability";
const CUSTOMER: &str = "cus_durability";

/// Event `n` (version `v`): 97 s apart, so batches span many hours.
fn new_event(n: u64, v: u64) -> Option<NewEvent> {
    let id = RecordId::parse(&format!("e{n}")).ok()?;
    let mut properties = BTreeMap::new();
    properties.insert("id".to_owned(), Value::String(id.as_str().to_owned()));
    properties.insert("n".to_owned(), Value::Number((n * (v + 1) % 1000).into()));
    let offset = i64::try_from(n * 97_000 + v * 7_200_000).ok()?;
    let at = Timestamp::from_millis(1_704_067_200_000 + offset).ok()?;
    Some(NewEvent {
        id: EventId::random(),
        event_type: EventType::parse("durable").ok()?,
        customer_id: CustomerId::parse(CUSTOMER).ok()?,
        timestamp: at,
        record: Record::from_trusted_parts(id, properties),
        ingested_at: at,
    })
}

async fn run(path: &str, definitions: Option<&str>) -> Result<(), String> {
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
    if let Some(definitions) = definitions {
        let definitions: Vec<AggregatorDef> =
            serde_json::from_str(definitions).map_err(|e| e.to_string())?;
        for definition in &definitions {
            let aggregator = Aggregator::compile(definition).map_err(|e| format!("{e:?}"))?;
            store
                .register_rollups(&account, &rollup_specs(&aggregator))
                .await
                .map_err(|e| e.to_string())?;
        }
    }
    let mut stdout = std::io::stdout();
    for batch in 0.. {
        let updates = (batch.max(1) - 1) * BATCH..(batch.max(1) - 1) * BATCH + 10;
        let updates = updates.filter(|_| batch > 0 && definitions.is_some());
        let events = (batch * BATCH..(batch + 1) * BATCH)
            .map(|n| new_event(n, 0))
            .chain(updates.map(|n| new_event(n, 1)))
            .collect::<Option<Vec<_>>>()
            .ok_or("event out of range")?;
        store
            .upsert_events(&account, &events)
            .await
            .map_err(|e| e.to_string())?;
        // Only now is the batch acknowledged.
        writeln!(stdout, "ack {batch}").map_err(|e| e.to_string())?;
        stdout.flush().map_err(|e| e.to_string())?;
        if definitions.is_some() {
            store
                .backfill_rollups(BATCH)
                .await
                .map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: tally-sqlite-durability-writer DATABASE [AGGREGATORS]");
        return ExitCode::FAILURE;
    };
    let definitions = std::env::args().nth(2);
    match run(&path, definitions.as_deref()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("durability writer: {err}");
            ExitCode::FAILURE
        }
    }
}
