//! A database of schema version 8 (event rows named by text, records as JSON
//! text) opens and is migrated to lean rows in place: every version keeps its
//! sequence, times, customer, record text and status, in both accounts, and
//! writing goes on from there.

use futures::TryStreamExt;
use sqlx::sqlite::SqliteConnectOptions;
use tally_event::{EventKey, EventType, RecordId, Timestamp, UpsertOutcome};
use tally_store::{
    AccountId, AsOf, CustomerId, EventQuery, EventStore, EventWindow, VersionStatus,
};
use tally_store_sqlite::SqliteStore;

const ACME: &str = "acc_AAAAAAAAAAAAAAAAAAAAAA";
const GLOBEX: &str = "acc_BBBBBBBBBBBBBBBBBBBBBB";
const ALICE: &str = "cus_AAAAAAAAAAAAAAAAAAAAAA";
const BOB: &str = "cus_BBBBBBBBBBBBBBBBBBBBBB";

/// One stored version as the version 8 store wrote it, and what reads must
/// see of it after the upgrade.
struct Row {
    account: &'static str,
    event_type: &'static str,
    record_id: &'static str,
    seq: i64,
    customer: &'static str,
    ts: i64,
    record: &'static str,
    current_until: Option<i64>,
    deleted_seq: Option<i64>,
    status: VersionStatus,
}

const fn row(
    account: &'static str,
    (event_type, record_id): (&'static str, &'static str),
    (seq, customer, ts): (i64, &'static str, i64),
    record: &'static str,
    (current_until, deleted_seq): (Option<i64>, Option<i64>),
    status: VersionStatus,
) -> Row {
    Row {
        account,
        event_type,
        record_id,
        seq,
        customer,
        ts,
        record,
        current_until,
        deleted_seq,
        status,
    }
}

/// Superseded, stale, deleted and current versions; numbers whose text must
/// survive (trailing zeros, exponents, past 64 bits), escapes and non-ASCII
/// text; the same event type, record id and customer id in two accounts.
const ROWS: [Row; 7] = [
    row(
        ACME,
        ("calls", "r1"),
        (1, ALICE, 10),
        r#"{"id":"r1","n":1.50}"#,
        (Some(2), None),
        VersionStatus::Superseded,
    ),
    row(
        ACME,
        ("calls", "r1"),
        (2, BOB, 20),
        r#"{"id":"r1","n":1e3,"s":"é \"quoted\" \\ end"}"#,
        (None, None),
        VersionStatus::Current,
    ),
    row(
        ACME,
        ("calls", "r2"),
        (3, ALICE, 30),
        r#"{"id":"r2","flag":true,"none":null}"#,
        (Some(4), Some(4)),
        VersionStatus::Deleted,
    ),
    row(
        ACME,
        ("calls", "r3"),
        (5, ALICE, 50),
        r#"{"id":"r3","tags":["a","b"]}"#,
        (None, None),
        VersionStatus::Current,
    ),
    row(
        ACME,
        ("calls", "r3"),
        (6, ALICE, 40),
        r#"{"id":"r3","tags":[]}"#,
        (Some(6), None),
        VersionStatus::Stale,
    ),
    row(
        ACME,
        ("seats", "r1"),
        (7, ALICE, 5),
        r#"{"id":"r1"}"#,
        (None, None),
        VersionStatus::Current,
    ),
    row(
        GLOBEX,
        ("calls", "r1"),
        (1, ALICE, 10),
        r#"{"id":"r1","big":1234567890123456789012345678.000}"#,
        (None, None),
        VersionStatus::Current,
    ),
];

/// Creates a database of schema version 8 (the first eight migrations) at
/// `path` holding [`ROWS`].
async fn v8_database(path: &std::path::Path) {
    let pool = crate::database_at_version(path, 8).await;
    for (index, row) in ROWS.iter().enumerate() {
        sqlx::query(
            "INSERT INTO event_versions (account_id, event_type, record_id, seq, id, \
             customer_id, ts, record, ingested_at, current_until, deleted_seq) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(row.account)
        .bind(row.event_type)
        .bind(row.record_id)
        .bind(row.seq)
        .bind(event_id(index))
        .bind(row.customer)
        .bind(row.ts)
        .bind(row.record)
        .bind(1_000 + row.seq)
        .bind(row.current_until)
        .bind(row.deleted_seq)
        .execute(&pool)
        .await
        .unwrap();
    }
    sqlx::query("INSERT INTO event_sequences VALUES (?, 7), (?, 1)")
        .bind(ACME)
        .bind(GLOBEX)
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
}

fn event_id(index: usize) -> String {
    format!("evt_AAAAAAAAAAAAAAAAAAAAA{index}")
}

fn key(event_type: &str, record_id: &str) -> EventKey {
    EventKey {
        event_type: EventType::parse(event_type).unwrap(),
        record_id: RecordId::parse(record_id).unwrap(),
    }
}

/// The record the version 8 store read from `text` (numbers as exact decimals).
fn as_read(text: &str) -> tally_event::Record {
    let json = serde_json::from_str(text).unwrap();
    tally_event::record_from_stored_json(&json).unwrap()
}

fn at(ms: i64) -> Timestamp {
    Timestamp::from_millis(ms).unwrap()
}

#[tokio::test]
async fn a_v8_database_is_migrated_to_lean_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v8.db");
    v8_database(&path).await;
    let store = SqliteStore::open(&path).await.unwrap();
    let acme = AccountId::parse(ACME).unwrap();
    let globex = AccountId::parse(GLOBEX).unwrap();

    // The stored text itself, not only its value: `1.50` stays `1.50`.
    let raw = sqlx::SqlitePool::connect_with(SqliteConnectOptions::new().filename(&path))
        .await
        .unwrap();

    // Every version, read back per key, in sequence order.
    for (index, expected) in ROWS.iter().enumerate() {
        let text: String =
            sqlx::query_scalar("SELECT json(record) FROM event_versions WHERE id = ?")
                .bind(event_id(index))
                .fetch_one(&raw)
                .await
                .unwrap();
        assert_eq!(text, expected.record, "row {index}");
        let account = AccountId::parse(expected.account).unwrap();
        let history = store
            .event_history(&account, &key(expected.event_type, expected.record_id))
            .await
            .unwrap();
        let version = history
            .iter()
            .find(|v| v.event.seq.get() == expected.seq)
            .unwrap_or_else(|| panic!("row {index} lost"));
        let event = &version.event;
        assert_eq!(event.id.as_str(), event_id(index), "row {index}");
        assert_eq!(event.customer_id.as_str(), expected.customer, "row {index}");
        assert_eq!(event.timestamp, at(expected.ts), "row {index}");
        assert_eq!(event.ingested_at, at(1_000 + expected.seq), "row {index}");
        assert_eq!(event.record, as_read(expected.record), "row {index}");
        assert_eq!(version.status(), expected.status, "row {index}");
        let seqs: Vec<i64> = history.iter().map(|v| v.event.seq.get()).collect();
        assert!(seqs.is_sorted(), "row {index}: {seqs:?}");
    }

    // Current reads: the account-wide list and one customer's stream.
    let current = store
        .list_events(&acme, &EventQuery::default())
        .await
        .unwrap();
    let mut listed: Vec<(&str, &str)> = current
        .items
        .iter()
        .map(|e| (e.event_type.as_str(), e.record_id().as_str()))
        .collect();
    listed.sort_unstable();
    assert_eq!(listed, [("calls", "r1"), ("calls", "r3"), ("seats", "r1")]);
    let calls = EventType::parse("calls").unwrap();
    let alice = CustomerId::parse(ALICE).unwrap();
    let window = EventWindow::Before(at(1_000));
    let streamed: Vec<_> = store
        .stream_events_as_of(&acme, Some(&alice), &calls, window, AsOf::CURRENT)
        .try_collect()
        .await
        .unwrap();
    let ids: Vec<&str> = streamed.iter().map(|e| e.record_id().as_str()).collect();
    assert_eq!(ids, ["r3"], "r1 moved to Bob, r2 is deleted");

    // As of sequence 1, before the move; as of 3, after it, before the deletion.
    for (known_at, expected) in [(1, ("r1", 1)), (3, ("r2", 3))] {
        let then: Vec<_> = store
            .stream_events_as_of(
                &acme,
                Some(&alice),
                &calls,
                window,
                AsOf::known_at(tally_store::EventSeq::new(known_at).unwrap()),
            )
            .try_collect()
            .await
            .unwrap();
        let seen: Vec<(&str, i64)> = then
            .iter()
            .map(|e| (e.record_id().as_str(), e.seq.get()))
            .collect();
        assert_eq!(seen, [expected], "as of {known_at}");
    }

    // Writing goes on: sequences continue, names already interned are reused
    // and new ones are added.
    let resend = tally_store::conformance::event(
        "calls",
        &alice,
        at(60),
        tally_store::conformance::record("r1", serde_json::json!({"n": 2})),
    );
    let fresh = tally_store::conformance::event(
        "storage",
        &CustomerId::parse("cus_CCCCCCCCCCCCCCCCCCCCCC").unwrap(),
        at(60),
        tally_store::conformance::record("r1", serde_json::json!({})),
    );
    let results = store
        .upsert_events(&globex, &[resend, fresh])
        .await
        .unwrap();
    let outcomes: Vec<UpsertOutcome> = results.iter().map(|r| r.outcome).collect();
    assert_eq!(outcomes, [UpsertOutcome::Updated, UpsertOutcome::Created]);
    assert_eq!(store.latest_seq(&globex).await.unwrap().get(), 3);
    let globex_calls = store
        .event_history(&globex, &key("calls", "r1"))
        .await
        .unwrap();
    assert_eq!(globex_calls.len(), 2);
    assert_eq!(
        store
            .event_history(&acme, &key("calls", "r1"))
            .await
            .unwrap()
            .len(),
        2,
        "the other account's key is untouched"
    );
}
