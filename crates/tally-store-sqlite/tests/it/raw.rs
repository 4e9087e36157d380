//! `SqliteStore::upsert_raw_rows`: the benchmark's raw insert writes rows the
//! store reads back as events, with the upsert rule of `upsert_events`.

use tally_event::{EventKey, EventType, RecordId, Timestamp};
use tally_store::{Account, AccountId, AccountStore, EventStore};
use tally_store_sqlite::{RawEventRow, SqliteStore};

fn row(record_id: &str, id: &str, ts: i64, amount: &str) -> RawEventRow {
    RawEventRow {
        event_type: "api_call".to_owned(),
        record_id: record_id.to_owned(),
        id: id.to_owned(),
        customer_id: "cus_raw1".to_owned(),
        timestamp_ms: ts,
        record_json: format!(r#"{{"amount":{amount},"id":"{record_id}"}}"#),
        ingested_at_ms: 1_700_000_000_000,
    }
}

#[tokio::test]
async fn raw_rows_are_upserted_like_events() {
    let store = SqliteStore::open_in_memory().await.unwrap();
    let account = Account {
        id: AccountId::random(),
        name: "raw".to_owned(),
        settings: serde_json::json!({}),
        created_at: Timestamp::from_millis(1_700_000_000_000).unwrap(),
    };
    let account = store.create_account(&account).await.unwrap().id;
    let rows = [
        row("r1", "evt_one", 1_000, "1.50"),
        row("r2", "evt_two", 2_000, "2"),
    ];
    assert_eq!(store.upsert_raw_rows(&account, &rows).await.unwrap(), 2);

    let key = EventKey {
        event_type: EventType::parse("api_call").unwrap(),
        record_id: RecordId::parse("r1").unwrap(),
    };
    let stored = store.get_event(&account, &key).await.unwrap();
    assert_eq!(stored.id.as_str(), "evt_one");
    assert_eq!(stored.customer_id.as_str(), "cus_raw1");
    assert_eq!(stored.timestamp.as_millis(), 1_000);
    assert_eq!(
        stored.record.to_json(),
        serde_json::json!({"amount": 1.50, "id": "r1"})
    );

    // An older row is stale and writes nothing; a newer one replaces the
    // record and keeps the stored id.
    let older = [row("r1", "evt_three", 500, "9")];
    assert_eq!(store.upsert_raw_rows(&account, &older).await.unwrap(), 0);
    let newer = [row("r1", "evt_four", 3_000, "7")];
    assert_eq!(store.upsert_raw_rows(&account, &newer).await.unwrap(), 1);
    let stored = store.get_event(&account, &key).await.unwrap();
    assert_eq!(
        (stored.id.as_str(), stored.timestamp.as_millis()),
        ("evt_one", 3_000)
    );
    assert_eq!(stored.record.to_json()["amount"], serde_json::json!(7));
}
