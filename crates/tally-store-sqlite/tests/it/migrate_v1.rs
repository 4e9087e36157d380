//! A database of the first schema (one row per key, rewritten in place) opens
//! and is migrated in place: its events become first versions, numbered per
//! account in the order they were stored, and nothing else changes.

use futures::TryStreamExt;
use tally_event::{EventKey, EventType, RecordId};
use tally_store::{
    AccountId, AccountStore, AsOf, CustomerId, CustomerStore, EventSeq, EventStore, EventWindow,
    InvoiceId, InvoiceStore, VersionStatus,
};
use tally_store_sqlite::SqliteStore;

const ACME: &str = "acc_AAAAAAAAAAAAAAAAAAAAAA";
const GLOBEX: &str = "acc_BBBBBBBBBBBBBBBBBBBBBB";
const ALICE: &str = "cus_AAAAAAAAAAAAAAAAAAAAAA";

/// Creates a v1 database at `path` (only the first migration) with two
/// accounts, a customer, an invoice and events, as the v1 store wrote them.
async fn v1_database(path: &std::path::Path) {
    let pool = crate::database_at_version(path, 1).await;
    let statements = [
        format!("INSERT INTO accounts VALUES ('{ACME}', 'acme', '{{}}', 0)"),
        format!("INSERT INTO accounts VALUES ('{GLOBEX}', 'globex', '{{}}', 0)"),
        format!(
            "INSERT INTO customers VALUES ('{ACME}', '{ALICE}', 'alice', 'Alice', 'corporate', \
             'EUR', '20', 0)"
        ),
        format!(
            "INSERT INTO invoices VALUES ('{ACME}', 'inv_AAAAAAAAAAAAAAAAAAAAAA', 1, NULL, \
             '{ALICE}', 'finalized', 0, 1000, 'EUR', '[]', '{{}}', 5, 6)"
        ),
        // Stored out of key order: the sequence follows ingested_at.
        event_row(
            ACME,
            "calls",
            "r2",
            "evt_AAAAAAAAAAAAAAAAAAAAA2",
            20,
            r#"{"id":"r2","n":2}"#,
            200,
        ),
        event_row(
            ACME,
            "calls",
            "r1",
            "evt_AAAAAAAAAAAAAAAAAAAAA1",
            10,
            r#"{"id":"r1","n":1.50}"#,
            100,
        ),
        event_row(
            ACME,
            "seats",
            "r1",
            "evt_AAAAAAAAAAAAAAAAAAAAA3",
            30,
            r#"{"id":"r1"}"#,
            300,
        ),
        event_row(
            GLOBEX,
            "calls",
            "r1",
            "evt_BBBBBBBBBBBBBBBBBBBBB1",
            40,
            r#"{"id":"r1"}"#,
            50,
        ),
    ];
    for statement in statements {
        sqlx::query(&statement).execute(&pool).await.unwrap();
    }
    pool.close().await;
}

fn event_row(
    account: &str,
    event_type: &str,
    record_id: &str,
    id: &str,
    ts: i64,
    record: &str,
    ingested_at: i64,
) -> String {
    format!(
        "INSERT INTO events (account_id, event_type, record_id, id, customer_id, ts, record, \
         ingested_at) VALUES ('{account}', '{event_type}', '{record_id}', '{id}', '{ALICE}', \
         {ts}, '{record}', {ingested_at})"
    )
}

fn key(event_type: &str, record_id: &str) -> EventKey {
    EventKey {
        event_type: EventType::parse(event_type).unwrap(),
        record_id: RecordId::parse(record_id).unwrap(),
    }
}

#[tokio::test]
async fn a_v1_database_is_migrated_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v1.db");
    v1_database(&path).await;
    let store = SqliteStore::open(&path).await.unwrap();
    let acme = AccountId::parse(ACME).unwrap();
    let globex = AccountId::parse(GLOBEX).unwrap();

    let expected = [
        (
            &acme,
            "calls",
            "r1",
            "evt_AAAAAAAAAAAAAAAAAAAAA1",
            1,
            serde_json::json!({"id": "r1", "n": 1.50}),
        ),
        (
            &acme,
            "calls",
            "r2",
            "evt_AAAAAAAAAAAAAAAAAAAAA2",
            2,
            serde_json::json!({"id": "r2", "n": 2}),
        ),
        (
            &acme,
            "seats",
            "r1",
            "evt_AAAAAAAAAAAAAAAAAAAAA3",
            3,
            serde_json::json!({"id": "r1"}),
        ),
        (
            &globex,
            "calls",
            "r1",
            "evt_BBBBBBBBBBBBBBBBBBBBB1",
            1,
            serde_json::json!({"id": "r1"}),
        ),
    ];
    for (account, event_type, record_id, id, seq, record) in &expected {
        let key = key(event_type, record_id);
        let stored = store.get_event(account, &key).await.unwrap();
        assert_eq!(stored.id.as_str(), *id);
        assert_eq!(stored.seq, EventSeq::new(*seq).unwrap(), "{key:?}");
        assert_eq!(stored.customer_id.as_str(), ALICE);
        assert_eq!(stored.record.to_json(), *record);
        let history = store.event_history(account, &key).await.unwrap();
        assert_eq!(history.len(), 1);
        assert_eq!(history[0].status(), VersionStatus::Current);
    }
    assert_eq!(
        store.latest_seq(&acme).await.unwrap(),
        EventSeq::new(3).unwrap()
    );
    assert_eq!(
        store.latest_seq(&globex).await.unwrap(),
        EventSeq::new(1).unwrap()
    );
    let calls = EventType::parse("calls").unwrap();
    let streamed: Vec<_> = store
        .stream_events_as_of(
            &acme,
            None,
            &calls,
            EventWindow::Before(tally_event::Timestamp::from_millis(100).unwrap()),
            AsOf::known_at(EventSeq::new(1).unwrap()),
        )
        .try_collect()
        .await
        .unwrap();
    assert_eq!(
        streamed.len(),
        1,
        "as of sequence 1, only the first stored event"
    );

    // The rest of the database is untouched.
    assert_eq!(store.list_accounts().await.unwrap().len(), 2);
    let alice = store
        .get_customer(&acme, &CustomerId::parse(ALICE).unwrap())
        .await
        .unwrap();
    assert_eq!(alice.external_id.as_deref(), Some("alice"));
    let invoice = store
        .get_invoice(
            &acme,
            &InvoiceId::parse("inv_AAAAAAAAAAAAAAAAAAAAAA").unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(invoice.number.0, 1);

    // New events continue each account's sequence.
    let new = tally_store::conformance::event(
        "calls",
        &alice.id,
        tally_event::Timestamp::from_millis(60).unwrap(),
        tally_store::conformance::record("r9", serde_json::json!({})),
    );
    store.upsert_events(&globex, &[new]).await.unwrap();
    assert_eq!(
        store.latest_seq(&globex).await.unwrap(),
        EventSeq::new(2).unwrap()
    );
}
