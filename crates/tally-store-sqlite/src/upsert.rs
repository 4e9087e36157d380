//! The event upsert, batched: a few multi-row statements per transaction
//! instead of one round trip per event.
//!
//! Every statement of a SQLite connection is a round trip to sqlx's worker
//! thread, so the upsert avoids one per event. In one write transaction
//! (`BEGIN IMMEDIATE`: no other writer, in this process or another, can change
//! the rows meanwhile) it
//!
//! 1. reads the stored (id, timestamp) of every distinct key, many keys per
//!    `SELECT … WHERE (account_id, event_type, record_id) IN (VALUES …)`;
//! 2. applies the upsert rule in input order in memory, which gives every
//!    outcome and id (a key repeated in the input sees its earlier occurrence,
//!    whether in the same group or an earlier one);
//! 3. writes the events that are not stale with multi-row
//!    `INSERT … ON CONFLICT DO UPDATE … WHERE excluded.ts >= events.ts`, rows in
//!    input order (SQLite applies the rows of one statement one after the
//!    other, so a repeated key updates the row its earlier occurrence wrote).
//!
//! Statements hold at most [`MAX_ROWS`] rows; a shorter remainder is split into
//! powers of two, so only a few distinct statements exist and sqlx's statement
//! cache keeps them all prepared.

use std::collections::HashMap;

use sqlx::{Sqlite, SqliteConnection};
use tally_event::UpsertOutcome;
use tally_store::{AccountId, EventId, NewEvent, StoreResult, UpsertResult};

use crate::error::db_err;

/// Most rows in one statement (8 or 3 parameters each, far under SQLite's
/// 32 766 parameters).
const MAX_ROWS: usize = 256;

pub(crate) const INSERT_HEAD: &str = "INSERT INTO events \
(account_id, event_type, record_id, id, customer_id, ts, record, ingested_at) VALUES ";
pub(crate) const INSERT_ROW: &str = "(?, ?, ?, ?, ?, ?, ?, ?)";
/// `revision` counts the updates of a row (read by nothing here, kept for
/// compatibility with rows written before the batched upsert).
pub(crate) const INSERT_TAIL: &str = " ON CONFLICT (account_id, event_type, record_id) DO UPDATE SET \
customer_id = excluded.customer_id, ts = excluded.ts, record = excluded.record, \
ingested_at = excluded.ingested_at, revision = events.revision + 1 \
WHERE excluded.ts >= events.ts";

const SELECT_HEAD: &str = "SELECT account_id, event_type, record_id, id, ts FROM events \
WHERE (account_id, event_type, record_id) IN (VALUES ";
const SELECT_ROW: &str = "(?, ?, ?)";

/// A key by borrowed parts: (account, event type, record id).
type Key<'a> = (&'a str, &'a str, &'a str);

/// What the transaction has stored under a key so far.
#[derive(Clone)]
struct Current {
    id: EventId,
    ts: i64,
}

/// One event of the flattened input, with its account.
struct Row<'a> {
    account: &'a AccountId,
    event: &'a NewEvent,
    /// The record as stored (JSON text).
    record: String,
}

impl<'a> Row<'a> {
    fn key(&self) -> Key<'a> {
        (
            self.account.as_str(),
            self.event.event_type.as_str(),
            self.event.record.id().as_str(),
        )
    }
}

/// Sizes of the statements for `n` rows: `MAX_ROWS` while it fits, then the
/// binary digits of the remainder.
fn statement_sizes(n: usize) -> Vec<usize> {
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
fn repeated(head: &str, row: &str, n: usize, tail: &str) -> String {
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

/// Upserts every group, in order, on the transaction's connection; results per
/// group. The caller begins and commits.
pub(crate) async fn upsert_groups(
    conn: &mut SqliteConnection,
    groups: &[(&AccountId, &[NewEvent])],
) -> StoreResult<Vec<Vec<UpsertResult>>> {
    let rows: Vec<Row<'_>> = groups
        .iter()
        .flat_map(|&(account, events)| {
            events.iter().map(move |event| Row {
                account,
                event,
                record: event.record.to_json_string(),
            })
        })
        .collect();
    let mut current = stored_state(conn, &rows).await?;

    let mut results = Vec::with_capacity(groups.len());
    let mut written: Vec<&Row<'_>> = Vec::with_capacity(rows.len());
    let mut next = rows.iter();
    for (_, events) in groups {
        let mut group_results = Vec::with_capacity(events.len());
        for row in next.by_ref().take(events.len()) {
            let ts = row.event.timestamp.as_millis();
            let slot = current.entry(row.key()).or_insert(None);
            let result = match slot {
                None => {
                    *slot = Some(Current {
                        id: row.event.id.clone(),
                        ts,
                    });
                    UpsertResult {
                        event_id: row.event.id.clone(),
                        outcome: UpsertOutcome::Created,
                    }
                }
                Some(stored) if ts >= stored.ts => {
                    stored.ts = ts;
                    UpsertResult {
                        event_id: stored.id.clone(),
                        outcome: UpsertOutcome::Updated,
                    }
                }
                Some(stored) => UpsertResult {
                    event_id: stored.id.clone(),
                    outcome: UpsertOutcome::Stale,
                },
            };
            if result.outcome.is_written() {
                written.push(row);
            }
            group_results.push(result);
        }
        results.push(group_results);
    }
    write_rows(conn, &written).await?;
    Ok(results)
}

/// The stored (id, ts) of every distinct key of `rows` (`None`: no event).
async fn stored_state<'a>(
    conn: &mut SqliteConnection,
    rows: &[Row<'a>],
) -> StoreResult<HashMap<Key<'a>, Option<Current>>> {
    let mut state: HashMap<Key<'a>, Option<Current>> = HashMap::with_capacity(rows.len());
    let mut distinct: Vec<Key<'a>> = Vec::with_capacity(rows.len());
    for row in rows {
        if state.insert(row.key(), None).is_none() {
            distinct.push(row.key());
        }
    }
    let mut keys = distinct.as_slice();
    for size in statement_sizes(distinct.len()) {
        let (chunk, rest) = keys.split_at(size);
        keys = rest;
        let sql = repeated(SELECT_HEAD, SELECT_ROW, size, ")");
        let mut query = sqlx::query_as::<Sqlite, (String, String, String, String, i64)>(&sql);
        for (account, event_type, record_id) in chunk {
            query = query.bind(*account).bind(*event_type).bind(*record_id);
        }
        let found = query.fetch_all(&mut *conn).await.map_err(db_err("event"))?;
        // Found rows borrow from the statement's results, not from `rows`:
        // they find their key through this chunk's keys.
        let asked: HashMap<Key<'_>, Key<'a>> = chunk.iter().map(|key| (*key, *key)).collect();
        for (account, event_type, record_id, id, ts) in &found {
            let found_key = (account.as_str(), event_type.as_str(), record_id.as_str());
            if let Some(key) = asked.get(&found_key) {
                let id = crate::rows::id(id, EventId::parse)?;
                state.insert(*key, Some(Current { id, ts: *ts }));
            }
        }
    }
    Ok(state)
}

/// Inserts or updates `rows` in order.
async fn write_rows(conn: &mut SqliteConnection, rows: &[&Row<'_>]) -> StoreResult<()> {
    let mut rest = rows;
    for size in statement_sizes(rows.len()) {
        let (chunk, tail) = rest.split_at(size);
        rest = tail;
        let sql = repeated(INSERT_HEAD, INSERT_ROW, size, INSERT_TAIL);
        let mut query = sqlx::query::<Sqlite>(&sql);
        for row in chunk {
            let event = row.event;
            query = query
                .bind(row.account.as_str())
                .bind(event.event_type.as_str())
                .bind(event.record.id().as_str())
                .bind(event.id.as_str())
                .bind(event.customer_id.as_str())
                .bind(event.timestamp.as_millis())
                .bind(row.record.as_str())
                .bind(event.ingested_at.as_millis());
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

    // The key lookup must seek the (account_id, event_type, record_id) unique
    // index per key: a scan would read the whole table for every upsert.
    #[tokio::test]
    async fn the_key_lookup_seeks_the_unique_index() {
        let store = SqliteStore::open_url("sqlite::memory:").await.unwrap();
        let sql = format!(
            "EXPLAIN QUERY PLAN {}",
            repeated(SELECT_HEAD, SELECT_ROW, 2, ")")
        );
        let mut query = sqlx::query_as::<Sqlite, (i64, i64, i64, String)>(&sql);
        for value in ["acc", "calls", "r1", "acc", "calls", "r2"] {
            query = query.bind(value);
        }
        let plan: Vec<String> = query
            .fetch_all(&store.reader)
            .await
            .unwrap()
            .into_iter()
            .map(|row| row.3)
            .collect();
        let plan = plan.join("; ");
        assert!(plan.contains("USING INDEX"), "{plan}");
        assert!(!plan.contains("SCAN events"), "{plan}");
    }
}
