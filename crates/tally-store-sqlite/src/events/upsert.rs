//! The event upsert, batched: a few multi-row statements per transaction
//! instead of one round trip per event.
//!
//! Every statement of a SQLite connection is a round trip to sqlx's worker
//! thread, so the upsert avoids one per event. In one write transaction
//! (`BEGIN IMMEDIATE`: no other writer, in this process or another, can change
//! the rows meanwhile) it
//!
//! 1. interns the batch's accounts, event types and customers (`interned`),
//!    reads each account's last sequence number and the current version of
//!    every distinct key, many keys per
//!    `SELECT … WHERE (type_num, record_id) IN (VALUES …)`;
//! 2. plans the batch with `tally_store::plan_upserts`, the rule every store
//!    follows (outcomes, sequence numbers, which versions stop being current);
//! 3. marks the superseded versions (`UPDATE … FROM (VALUES …)`), inserts the
//!    new versions with multi-row `INSERT`s and stores the last sequence numbers.
//!
//! Statements hold at most [`MAX_ROWS`] rows; a shorter remainder is split into
//! powers of two, so only a few distinct statements exist and sqlx's statement
//! cache keeps them all prepared.

use std::collections::HashMap;

use sqlx::{Sqlite, SqliteConnection};
use tally_event::EventKey;
use tally_store::{
    AccountId, EventSeq, NewEvent, PlannedVersion, StoreResult, StoredEvent, Superseded,
    UpsertResult, plan_upserts,
};

use tally_store::rollups::RollupCompiler;

use super::EVENT_COLUMNS;
use super::interned::Interned;
use crate::error::db_err;
use crate::rows::EventRow;

/// Most rows in one statement (at most 10 parameters each, far under SQLite's
/// 32 766 parameters).
const MAX_ROWS: usize = 256;

const INSERT_HEAD: &str = "INSERT INTO event_versions \
(account_num, type_num, record_id, seq, id, customer_num, ts, record, ingested_at, current_until) \
VALUES ";
/// The record arrives as JSON text and is stored as JSONB.
const INSERT_ROW: &str = "(?, ?, ?, ?, ?, ?, ?, jsonb(?), ?, ?)";

const CURRENT_ROW: &str = "(?, ?)";

const SUPERSEDE_HEAD: &str = "UPDATE event_versions SET current_until = v.column4 FROM (VALUES ";
const SUPERSEDE_ROW: &str = "(?, ?, ?, ?)";
const SUPERSEDE_TAIL: &str = ") AS v WHERE event_versions.type_num = v.column1 \
AND event_versions.record_id = v.column2 AND event_versions.seq = v.column3 \
AND event_versions.current_until IS NULL";

const LAST_SEQ: &str = "SELECT last_seq FROM event_sequences WHERE account_id = ?";
const STORE_SEQ: &str = "INSERT INTO event_sequences (account_id, last_seq) VALUES (?, ?) \
ON CONFLICT (account_id) DO UPDATE SET last_seq = excluded.last_seq";

/// `SELECT … WHERE current_until IS NULL AND (type_num, record_id) IN (VALUES `
/// (the rows' type numbers tell their accounts).
fn current_head() -> String {
    format!(
        "SELECT v.type_num, {EVENT_COLUMNS} FROM event_versions AS v \
         WHERE v.current_until IS NULL AND (v.type_num, v.record_id) IN (VALUES "
    )
}

/// A current version with its event type's number (its key is in the version).
#[derive(sqlx::FromRow)]
struct CurrentRow {
    type_num: i64,
    #[sqlx(flatten)]
    version: EventRow,
}

/// Sizes of the statements for `n` rows: `MAX_ROWS` while it fits, then the
/// binary digits of the remainder.
pub(crate) fn statement_sizes(n: usize) -> Vec<usize> {
    let mut sizes = vec![MAX_ROWS; n / MAX_ROWS];
    let rest = n % MAX_ROWS;
    let mut bit = MAX_ROWS;
    while bit > 0 {
        if rest & bit != 0 {
            sizes.push(bit);
        }
        bit >>= 1;
    }
    sizes
}

/// `head` + `row` × `n` joined by commas + `tail`.
pub(crate) fn repeated(head: &str, row: &str, n: usize, tail: &str) -> String {
    let mut sql = String::with_capacity(head.len() + (row.len() + 2) * n + tail.len());
    sql.push_str(head);
    for index in 0..n {
        if index > 0 {
            sql.push_str(", ");
        }
        sql.push_str(row);
    }
    sql.push_str(tail);
    sql
}

/// Upserts every group, in order, on the transaction's connection, and keeps
/// the rollups of their accounts; results per group. The caller begins and
/// commits.
pub(crate) async fn upsert_groups(
    conn: &mut SqliteConnection,
    compiler: &RollupCompiler,
    groups: &[(&AccountId, &[NewEvent])],
) -> StoreResult<Vec<Vec<UpsertResult>>> {
    let mut last_seq = HashMap::new();
    for &(account, _) in groups {
        if !last_seq.contains_key(account) {
            last_seq.insert(account, read_last_seq(conn, account).await?);
        }
    }
    let interned = Interned::of_groups(conn, groups).await?;
    let current = current_versions(conn, &interned, groups).await?;
    let plan = plan_upserts(groups, current, last_seq);
    supersede(conn, &interned, &plan.superseded).await?;
    insert_versions(conn, &interned, &plan.versions).await?;
    for (account, last) in &plan.last_seq {
        store_last_seq(conn, account, *last).await?;
    }
    super::rollups::apply_plan(conn, compiler, &plan).await?;
    Ok(plan.results)
}

/// The account's last sequence number (zero before its first event).
pub(crate) async fn read_last_seq(
    conn: &mut SqliteConnection,
    account: &AccountId,
) -> StoreResult<EventSeq> {
    let last: Option<i64> = sqlx::query_scalar(LAST_SEQ)
        .bind(account.as_str())
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_err("event"))?;
    last.map_or(Ok(EventSeq::ZERO), EventSeq::new)
}

/// Stores `last` as the account's last sequence number.
pub(crate) async fn store_last_seq(
    conn: &mut SqliteConnection,
    account: &AccountId,
    last: EventSeq,
) -> StoreResult<()> {
    sqlx::query(STORE_SEQ)
        .bind(account.as_str())
        .bind(last.get())
        .execute(&mut *conn)
        .await
        .map_err(db_err("event"))?;
    Ok(())
}

type Current<'a> = HashMap<(&'a AccountId, EventKey), Option<StoredEvent>>;

/// The current version of every distinct key of `groups` (`None`: no current
/// version).
async fn current_versions<'a>(
    conn: &mut SqliteConnection,
    interned: &Interned,
    groups: &[(&'a AccountId, &'a [NewEvent])],
) -> StoreResult<Current<'a>> {
    let mut current: Current<'a> = HashMap::new();
    let mut distinct: Vec<(&'a AccountId, EventKey)> = Vec::new();
    for &(account, events) in groups {
        for event in events {
            if current.insert((account, event.key()), None).is_none() {
                distinct.push((account, event.key()));
            }
        }
    }
    // The accounts of this batch, to find a found row's key by its text.
    let accounts: HashMap<&str, &'a AccountId> =
        groups.iter().map(|(a, _)| (a.as_str(), *a)).collect();
    let head = current_head();
    let mut keys = distinct.as_slice();
    for size in statement_sizes(distinct.len()) {
        let (chunk, rest) = keys.split_at(size);
        keys = rest;
        let sql = repeated(&head, CURRENT_ROW, size, ")");
        let mut query = sqlx::query_as::<Sqlite, CurrentRow>(&sql);
        for (account, key) in chunk {
            query = query
                .bind(interned.event_type(account, key.event_type.as_str())?)
                .bind(key.record_id.as_str());
        }
        let found = query.fetch_all(&mut *conn).await.map_err(db_err("event"))?;
        for row in found {
            let Some(account) = interned
                .account_of_type(row.type_num)
                .and_then(|account| accounts.get(account))
            else {
                continue;
            };
            let stored = StoredEvent::try_from(row.version)?;
            current.insert((*account, stored.key()), Some(stored));
        }
    }
    Ok(current)
}

/// Marks stored versions as no longer current.
async fn supersede(
    conn: &mut SqliteConnection,
    interned: &Interned,
    rows: &[Superseded<'_>],
) -> StoreResult<()> {
    let mut rest = rows;
    for size in statement_sizes(rows.len()) {
        let (chunk, tail) = rest.split_at(size);
        rest = tail;
        let sql = repeated(SUPERSEDE_HEAD, SUPERSEDE_ROW, size, SUPERSEDE_TAIL);
        let mut query = sqlx::query::<Sqlite>(&sql);
        for row in chunk {
            query = query
                .bind(interned.event_type(row.account, row.key.event_type.as_str())?)
                .bind(row.key.record_id.as_str())
                .bind(row.seq.get())
                .bind(row.until.get());
        }
        let done = query.execute(&mut *conn).await.map_err(db_err("event"))?;
        // Each row names a current version read in this transaction: a miss
        // would leave its key with two current versions.
        if done.rows_affected() != chunk.len() as u64 {
            return Err(tally_store::StoreError::Internal(format!(
                "superseded {} of {} current versions",
                done.rows_affected(),
                chunk.len()
            )));
        }
    }
    Ok(())
}

/// Inserts the planned versions in order.
async fn insert_versions(
    conn: &mut SqliteConnection,
    interned: &Interned,
    versions: &[PlannedVersion<'_>],
) -> StoreResult<()> {
    let mut rest = versions;
    for size in statement_sizes(versions.len()) {
        let (chunk, tail) = rest.split_at(size);
        rest = tail;
        let sql = repeated(INSERT_HEAD, INSERT_ROW, size, "");
        let records: Vec<String> = chunk
            .iter()
            .map(|v| v.event.record.to_json_string())
            .collect();
        let mut query = sqlx::query::<Sqlite>(&sql);
        for (version, record) in chunk.iter().zip(&records) {
            let event = version.event;
            let account = version.account;
            query = query
                .bind(interned.account(account)?)
                .bind(interned.event_type(account, event.event_type.as_str())?)
                .bind(event.record.id().as_str())
                .bind(version.seq.get())
                .bind(version.id.as_str())
                .bind(interned.customer(account, &event.customer_id)?)
                .bind(event.timestamp.as_millis())
                .bind(record.as_str())
                .bind(event.ingested_at.as_millis())
                .bind(version.current_until.map(EventSeq::get));
        }
        query.execute(&mut *conn).await.map_err(db_err("event"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statement_sizes_cover_every_row_with_few_shapes() {
        for n in [0, 1, 2, 3, 255, 256, 257, 1000, 5000] {
            let sizes = statement_sizes(n);
            assert_eq!(sizes.iter().sum::<usize>(), n, "{n}");
            assert!(sizes.iter().all(|s| s.is_power_of_two() && *s <= MAX_ROWS));
        }
        assert_eq!(statement_sizes(1000), [256, 256, 256, 128, 64, 32, 8]);
        assert!(statement_sizes(0).is_empty());
    }

    #[test]
    fn repeated_rows_are_comma_separated() {
        assert_eq!(repeated("A ", "(?)", 3, " Z"), "A (?), (?), (?) Z");
    }
}

#[cfg(test)]
mod plan_tests {
    use super::*;
    use crate::open::SqliteStore;

    async fn plan(sql: &str, binds: &[&str]) -> String {
        let store = SqliteStore::open_url("sqlite::memory:").await.unwrap();
        let sql = format!("EXPLAIN QUERY PLAN {sql}");
        let mut query = sqlx::query_as::<Sqlite, (i64, i64, i64, String)>(&sql);
        for value in binds {
            query = query.bind(*value);
        }
        let plan: Vec<String> = query
            .fetch_all(&store.reader)
            .await
            .unwrap()
            .into_iter()
            .map(|row| row.3)
            .collect();
        plan.join("; ")
    }

    // The key lookup and the supersession must seek the key index per key: a
    // scan would read the whole table for every upsert.
    #[tokio::test]
    async fn key_lookups_seek_the_key_index() {
        let lookup = repeated(&current_head(), CURRENT_ROW, 2, ")");
        let lookup = plan(&lookup, &["1", "r1", "1", "r2"]).await;
        let key_index = "INDEX sqlite_autoindex_event_versions_1";
        assert!(lookup.contains(key_index), "{lookup}");
        assert!(!lookup.contains("SCAN event_versions"), "{lookup}");
        let update = repeated(SUPERSEDE_HEAD, SUPERSEDE_ROW, 1, SUPERSEDE_TAIL);
        let update = plan(&update, &["1", "r1", "1", "2"]).await;
        assert!(update.contains(key_index), "{update}");
        assert!(!update.contains("SCAN event_versions"), "{update}");
    }
}
