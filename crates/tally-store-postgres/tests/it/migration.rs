//! Migration 0002 (event versions) on a database that a v1 server wrote:
//! every event becomes the first, current version of its key, numbered per
//! account in ingestion order, and the rest of the data is untouched.

use std::path::Path;

use futures::TryStreamExt;
use rust_decimal::Decimal;
use serde_json::json;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgPool, PgPoolOptions};
use tally_event::{EventKey, EventType, Period, Timestamp, UpsertOutcome, record_from_stored_json};
use tally_store::{
    Account, AccountId, AccountStore, AsOf, Customer, CustomerId, CustomerStore, CustomerType,
    EventId, EventQuery, EventSeq, EventStore, EventWindow, Invoice, InvoiceId, InvoiceNumber,
    InvoiceStatus, InvoiceStore, NewEvent, NewInvoice, PageRequest, StoredEvent, VersionStatus,
};
use tally_store_postgres::PgStore;

use crate::harness::{TestDatabase, fresh_database};

/// The migration a v1 database has applied.
const V1_MIGRATION: &str = "0001_initial.sql";

fn at(ms: i64) -> Timestamp {
    Timestamp::from_millis(ms).unwrap()
}

/// A database migrated with 0001 only, through sqlx's migrator (so the
/// store's own migrator later finds 0001 recorded with its checksum, as on a
/// real v1 database), and a pool on it.
async fn v1_database() -> (TestDatabase, PgPool) {
    let db = fresh_database().await;
    let dir = tempfile::tempdir().unwrap();
    let source = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(V1_MIGRATION);
    std::fs::copy(source, dir.path().join(V1_MIGRATION)).unwrap();
    let v1 = Migrator::new(dir.path()).await.unwrap();
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .connect_with(db.options.clone())
        .await
        .unwrap();
    v1.run(&pool).await.unwrap();
    (db, pool)
}

/// An event as v1 stored it: one row per key, with its ingestion time.
struct V1Event {
    account: AccountId,
    event: StoredEvent,
}

fn v1_event(
    account: &AccountId,
    customer: &CustomerId,
    (event_type, record_id): (&str, &str),
    ts: i64,
    ingested_at: i64,
) -> V1Event {
    // Exact decimals, a string, an array: the JSONB record reads back as sent.
    let amount: serde_json::Value = serde_json::from_str("0.1").unwrap();
    let record = json!({"id": record_id, "amount": amount, "plan": "pro", "tags": ["a", 1]});
    V1Event {
        account: account.clone(),
        event: StoredEvent {
            id: EventId::random(),
            event_type: EventType::parse(event_type).unwrap(),
            customer_id: customer.clone(),
            timestamp: at(ts),
            record: record_from_stored_json(&record).unwrap(),
            ingested_at: at(ingested_at),
            // What the migration must assign; v1 had no sequence.
            seq: EventSeq::ZERO,
        },
    }
}

async fn insert_v1_event(pool: &PgPool, v1: &V1Event) {
    let e = &v1.event;
    sqlx::query(
        "INSERT INTO events (account_id, event_type, record_id, id, customer_id, ts, record, \
         ingested_at) VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8)",
    )
    .bind(v1.account.as_str())
    .bind(e.event_type.as_str())
    .bind(e.record_id().as_str())
    .bind(e.id.as_str())
    .bind(e.customer_id.as_str())
    .bind(e.timestamp.as_millis())
    .bind(e.record.to_json_string())
    .bind(e.ingested_at.as_millis())
    .execute(pool)
    .await
    .unwrap();
}

async fn insert_v1_account(pool: &PgPool, account: &Account) {
    sqlx::query(
        "INSERT INTO accounts (id, name, settings, created_at) VALUES ($1, $2, $3::json, $4)",
    )
    .bind(account.id.as_str())
    .bind(&account.name)
    .bind(account.settings.to_string())
    .bind(account.created_at.as_millis())
    .execute(pool)
    .await
    .unwrap();
}

async fn insert_v1_customer(pool: &PgPool, account: &AccountId, c: &Customer) {
    sqlx::query(
        "INSERT INTO customers (account_id, id, external_id, name, type, currency, tax_rate, \
         created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(account.as_str())
    .bind(c.id.as_str())
    .bind(&c.external_id)
    .bind(&c.name)
    .bind(c.customer_type.as_str())
    .bind(&c.currency)
    .bind(c.tax_rate)
    .bind(c.created_at.as_millis())
    .execute(pool)
    .await
    .unwrap();
}

/// An invoice and its account's counter, as v1's create_invoice left them.
async fn insert_v1_invoice(pool: &PgPool, account: &AccountId, invoice: &Invoice) {
    sqlx::query("INSERT INTO invoice_sequences (account_id, last_number) VALUES ($1, $2)")
        .bind(account.as_str())
        .bind(i64::try_from(invoice.number.0).unwrap())
        .execute(pool)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO invoices (account_id, id, number, subscription_id, customer_id, status, \
         period_start, period_end, currency, lines, totals, created_at) \
         VALUES ($1, $2, $3, NULL, $4, $5, $6, $7, $8, $9::json, $10::json, $11)",
    )
    .bind(account.as_str())
    .bind(invoice.id.as_str())
    .bind(i64::try_from(invoice.number.0).unwrap())
    .bind(invoice.customer_id.as_str())
    .bind(invoice.status.as_str())
    .bind(invoice.period.start().as_millis())
    .bind(invoice.period.end().as_millis())
    .bind(&invoice.currency)
    .bind(invoice.lines.to_string())
    .bind(invoice.totals.to_string())
    .bind(invoice.created_at.as_millis())
    .execute(pool)
    .await
    .unwrap();
}

fn customer(external_id: &str) -> Customer {
    Customer {
        id: CustomerId::random(),
        external_id: Some(external_id.to_owned()),
        name: Some(format!("{external_id} Inc.")),
        customer_type: CustomerType::Corporate,
        currency: Some("EUR".into()),
        tax_rate: Some(Decimal::new(2_000, 4)),
        created_at: at(100),
    }
}

fn new_invoice(customer: &CustomerId) -> NewInvoice {
    NewInvoice {
        id: InvoiceId::random(),
        subscription_id: None,
        customer_id: customer.clone(),
        status: InvoiceStatus::Draft,
        period: Period::new(at(0), at(86_400_000)).unwrap(),
        currency: "EUR".into(),
        lines: json!([{"description": "calls", "amount": "1.2345678901234567e+19"}]),
        totals: json!({"total": "12.50"}),
        known_seq: None,
        basis: None,
        created_at: at(2_000),
    }
}

/// The v1 events with the seq the migration must give them: per account, in
/// (ingested_at, event type, record id) order, ids compared as bytes.
fn expected_seqs(events: &mut [V1Event]) {
    events.sort_by(|a, b| {
        let order = |v: &V1Event| {
            (
                v.account.as_str().to_owned(),
                v.event.ingested_at,
                v.event.event_type.as_str().to_owned(),
                v.event.record_id().as_str().to_owned(),
            )
        };
        order(a).cmp(&order(b))
    });
    let mut previous: Option<(AccountId, i64)> = None;
    for v1 in events.iter_mut() {
        let seq = match &previous {
            Some((account, seq)) if *account == v1.account => seq + 1,
            _ => 1,
        };
        v1.event.seq = EventSeq::new(seq).unwrap();
        previous = Some((v1.account.clone(), seq));
    }
}

/// The v1 event of `account` with this key.
fn find<'e>(
    events: &'e [V1Event],
    account: &AccountId,
    event_type: &str,
    record_id: &str,
) -> &'e StoredEvent {
    events
        .iter()
        .find(|v| {
            v.account == *account
                && v.event.event_type.as_str() == event_type
                && v.event.record_id().as_str() == record_id
        })
        .map(|v| &v.event)
        .unwrap_or_else(|| panic!("no v1 event ({event_type}, {record_id})"))
}

#[tokio::test]
async fn a_v1_database_migrates_in_place() {
    let (db, pool) = v1_database().await;
    let accounts = [AccountId::random(), AccountId::random()];
    let quiet = AccountId::random();
    let alice = customer("alice");
    let bob = customer("bob");
    let (a, b) = (&accounts[0], &accounts[1]);
    let mut events = vec![
        v1_event(a, &alice.id, ("calls", "r2"), 5_000, 1_000),
        v1_event(a, &alice.id, ("calls", "r1"), 6_000, 1_000),
        v1_event(a, &bob.id, ("mails", "r1"), 4_000, 1_000),
        v1_event(a, &alice.id, ("calls", "r3"), 9_000, 500),
        // Byte order puts "B" before "a"; the test database's collation would not.
        v1_event(a, &alice.id, ("calls", "a"), 7_000, 2_000),
        v1_event(a, &bob.id, ("calls", "B"), 7_000, 2_000),
        v1_event(b, &alice.id, ("calls", "r1"), 3_000, 3_000),
    ];
    let account = Account {
        id: a.clone(),
        name: "acme".into(),
        settings: json!({"pii": {"mode": "hash"}}),
        created_at: at(10),
    };
    insert_v1_account(&pool, &account).await;
    for c in [&alice, &bob] {
        insert_v1_customer(&pool, a, c).await;
    }
    let invoice = Invoice::from_new(&new_invoice(&alice.id), InvoiceNumber(1));
    insert_v1_invoice(&pool, a, &invoice).await;
    for v1 in &events {
        insert_v1_event(&pool, v1).await;
    }
    pool.close().await;

    let store = PgStore::connect_with(db.options.clone(), 4).await.unwrap();
    expected_seqs(&mut events);
    let seq_of =
        |event_type: &str, record_id: &str| find(&events, a, event_type, record_id).seq.get();
    assert_eq!(seq_of("calls", "r3"), 1, "ingested first");
    assert_eq!(seq_of("calls", "r1"), 2, "same ingestion time: by key");
    assert_eq!(seq_of("mails", "r1"), 4);
    assert_eq!(seq_of("calls", "B"), 5, "record ids compared as bytes");
    assert_eq!(seq_of("calls", "a"), 6);

    let gone: bool = sqlx::query_scalar("SELECT to_regclass('events') IS NULL")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert!(gone, "the v1 table is dropped");

    for v1 in &events {
        let key = v1.event.key();
        let read = store.get_event(&v1.account, &key).await.unwrap();
        assert_eq!(read, v1.event, "{key:?}");
        let history = store.event_history(&v1.account, &key).await.unwrap();
        assert_eq!(history.len(), 1, "{key:?}");
        assert_eq!(history[0].event, v1.event);
        assert_eq!(history[0].status(), VersionStatus::Current);
        let known = AsOf::known_at(v1.event.seq);
        let as_known = store
            .get_event_as_of(&v1.account, &key, known)
            .await
            .unwrap();
        assert_eq!(as_known.as_ref(), Some(&v1.event), "known from its own seq");
        let before = AsOf::known_at(EventSeq::new(v1.event.seq.get() - 1).unwrap());
        let unknown = store
            .get_event_as_of(&v1.account, &key, before)
            .await
            .unwrap();
        assert_eq!(unknown, None, "not known before its seq");
    }
    for account in &accounts {
        let mine: Vec<&StoredEvent> = events
            .iter()
            .filter(|v| v.account == *account)
            .map(|v| &v.event)
            .collect();
        let count = i64::try_from(mine.len()).unwrap();
        let latest = store.latest_seq(account).await.unwrap();
        assert_eq!(latest, EventSeq::new(count).unwrap());
        let query = EventQuery {
            page: PageRequest { take: 100, skip: 0 },
            ..EventQuery::default()
        };
        let listed = store.list_events(account, &query).await.unwrap();
        assert_eq!(listed.total, mine.len() as u64);
        let mut expected: Vec<StoredEvent> = mine.into_iter().cloned().collect();
        expected.sort_by(|x, y| {
            (x.timestamp, &x.event_type, x.record_id()).cmp(&(
                y.timestamp,
                &y.event_type,
                y.record_id(),
            ))
        });
        assert_eq!(listed.items, expected);
    }
    assert_eq!(store.latest_seq(&quiet).await.unwrap(), EventSeq::ZERO);

    let calls = EventType::parse("calls").unwrap();
    let window = EventWindow::Before(at(100_000));
    let streamed: Vec<String> = store
        .stream_events(a, &bob.id, &calls, window)
        .map_ok(|e| e.record_id().as_str().to_owned())
        .try_collect()
        .await
        .unwrap();
    assert_eq!(streamed, ["B"]);

    assert_eq!(store.get_account(a).await.unwrap(), account);
    assert_eq!(store.get_customer(a, &alice.id).await.unwrap(), alice);
    assert_eq!(store.get_customer(a, &bob.id).await.unwrap(), bob);
    assert_eq!(store.get_invoice(a, &invoice.id).await.unwrap(), invoice);
    let next = store
        .create_invoice(a, &new_invoice(&bob.id))
        .await
        .unwrap();
    assert_eq!(next.number, InvoiceNumber(2), "invoice numbering goes on");

    // The migrated history goes on from the account's count.
    let r1 = find(&events, a, "calls", "r1");
    let newer = NewEvent {
        id: EventId::random(),
        event_type: r1.event_type.clone(),
        customer_id: r1.customer_id.clone(),
        timestamp: at(r1.timestamp.as_millis() + 1),
        record: r1.record.clone(),
        ingested_at: at(10_000),
    };
    let result = store.upsert_events(a, &[newer]).await.unwrap();
    assert_eq!(result[0].outcome, UpsertOutcome::Updated);
    assert_eq!(result[0].event_id, r1.id, "the migrated id is the key's id");
    let key: EventKey = r1.key();
    let history = store.event_history(a, &key).await.unwrap();
    let seqs: Vec<_> = history
        .iter()
        .map(|v| (v.event.seq.get(), v.status()))
        .collect();
    assert_eq!(
        seqs,
        [
            (r1.seq.get(), VersionStatus::Superseded),
            (7, VersionStatus::Current)
        ]
    );
    assert_eq!(history[0].current_until, Some(EventSeq::new(7).unwrap()));
}
