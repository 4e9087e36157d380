//! `RawBaseline`: the benchmark's physical reference writes every row it is
//! given into its minimal table, and refuses a duplicate key like any table
//! with that unique key.

use tally_store_sqlite::{RawBaseline, RawEventRow, SqliteOptions};

fn row(record_id: &str, customer: &str) -> RawEventRow {
    RawEventRow {
        account_id: "acc_raw".to_owned(),
        event_type: "api_call".to_owned(),
        record_id: record_id.to_owned(),
        id: format!("evt_{record_id}"),
        customer_id: customer.to_owned(),
        timestamp_ms: 1_000,
        record_json: format!(r#"{{"amount":1.50,"id":"{record_id}"}}"#),
        ingested_at_ms: 1_700_000_000_000,
    }
}

#[tokio::test]
async fn the_baseline_writes_every_row_in_one_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let baseline = RawBaseline::open(dir.path().join("raw.db"), &SqliteOptions::default())
        .await
        .unwrap();
    // More rows than one statement holds.
    let rows: Vec<RawEventRow> = (0..9_000)
        .map(|n| row(&format!("r{n}"), &format!("cus_{}", n % 7)))
        .collect();
    assert_eq!(baseline.insert(&rows).await.unwrap(), 9_000);
    assert_eq!(baseline.count().await.unwrap(), 9_000);

    // A repeated key fails the whole transaction: nothing of it is written.
    let again = [row("new", "cus_1"), row("r1", "cus_1")];
    assert!(baseline.insert(&again).await.is_err());
    assert_eq!(baseline.count().await.unwrap(), 9_000);
    baseline.close().await;
}
