//! The batch upsert.
//!
//! `ON CONFLICT DO UPDATE` cannot touch one row twice in a statement, and the
//! trait applies a batch in order, so a key repeated in the batch must see its
//! earlier occurrence. The batch is therefore split into rounds: round `k` holds
//! the `k`-th occurrence of every key, so each round has distinct keys and runs
//! as one statement, and rounds run in order in one transaction. A batch without
//! repeats (the usual case) is one statement.

use std::collections::HashMap;

use sqlx::Transaction;
use sqlx::postgres::{PgPool, Postgres};
use tally_event::UpsertOutcome;
use tally_store::{
    AccountId, EventGroup, EventId, NewEvent, StoreError, StoreResult, UpsertResult,
};

use super::sql;
use crate::map_sqlx_error;
use crate::rows::parse;

type Key = (String, String);

#[derive(sqlx::FromRow)]
struct Returned {
    event_type: String,
    record_id: String,
    id: String,
    inserted: bool,
}

#[derive(sqlx::FromRow)]
struct StoredId {
    event_type: String,
    record_id: String,
    id: String,
}

pub(super) async fn upsert_events(
    pool: &PgPool,
    account: &AccountId,
    events: &[NewEvent],
) -> StoreResult<Vec<UpsertResult>> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let mut tx = pool.begin().await.map_err(map_sqlx_error)?;
    let results = upsert_in(&mut tx, account, events).await?;
    // Committed (and, with the server's default synchronous_commit, durable)
    // before any outcome is reported.
    tx.commit().await.map_err(map_sqlx_error)?;
    Ok(results)
}

/// Every group in one transaction, in order: a group's statements run after
/// the previous group's, so it sees their rows.
pub(super) async fn upsert_event_groups(
    pool: &PgPool,
    groups: &[EventGroup],
) -> StoreResult<Vec<Vec<UpsertResult>>> {
    let mut tx = pool.begin().await.map_err(map_sqlx_error)?;
    let mut results = Vec::with_capacity(groups.len());
    for group in groups {
        results.push(upsert_in(&mut tx, &group.account, &group.events).await?);
    }
    tx.commit().await.map_err(map_sqlx_error)?;
    Ok(results)
}

/// One account's batch on an open transaction.
async fn upsert_in(
    tx: &mut Transaction<'static, Postgres>,
    account: &AccountId,
    events: &[NewEvent],
) -> StoreResult<Vec<UpsertResult>> {
    let mut results: Vec<Option<UpsertResult>> = vec![None; events.len()];
    for round in rounds(events) {
        let batch: Vec<&NewEvent> = round.iter().map(|&i| &events[i]).collect();
        let outcomes = upsert_round(tx, account, &batch).await?;
        for (&index, outcome) in round.iter().zip(outcomes) {
            results[index] = Some(outcome);
        }
    }
    results
        .into_iter()
        .map(|r| r.ok_or_else(|| StoreError::Internal("upsert lost an event".into())))
        .collect()
}

/// Indexes of `events` grouped so that no round repeats a key, in batch order.
fn rounds(events: &[NewEvent]) -> Vec<Vec<usize>> {
    let mut seen: HashMap<Key, usize> = HashMap::new();
    let mut rounds: Vec<Vec<usize>> = Vec::new();
    for (index, event) in events.iter().enumerate() {
        let occurrence = seen.entry(key_of(event)).or_insert(0);
        if rounds.len() <= *occurrence {
            rounds.push(Vec::new());
        }
        rounds[*occurrence].push(index);
        *occurrence += 1;
    }
    rounds
}

fn key_of(event: &NewEvent) -> Key {
    (
        event.event_type.as_str().to_owned(),
        event.record.id().as_str().to_owned(),
    )
}

/// Upserts events with distinct keys; outcomes in the order given.
async fn upsert_round(
    tx: &mut Transaction<'static, Postgres>,
    account: &AccountId,
    batch: &[&NewEvent],
) -> StoreResult<Vec<UpsertResult>> {
    let records: Vec<String> = batch.iter().map(|e| e.record.to_json_string()).collect();
    let returned: Vec<Returned> = sqlx::query_as(sql::UPSERT)
        .bind(account.as_str())
        .bind(column(batch, |e| e.event_type.as_str().to_owned()))
        .bind(column(batch, |e| e.record.id().as_str().to_owned()))
        .bind(column(batch, |e| e.id.as_str().to_owned()))
        .bind(column(batch, |e| e.customer_id.as_str().to_owned()))
        .bind(column(batch, |e| e.timestamp.as_millis()))
        .bind(records)
        .bind(column(batch, |e| e.ingested_at.as_millis()))
        .fetch_all(&mut **tx)
        .await
        .map_err(map_sqlx_error)?;
    let mut written: HashMap<Key, (String, UpsertOutcome)> = returned
        .into_iter()
        .map(|r| {
            let outcome = if r.inserted {
                UpsertOutcome::Created
            } else {
                UpsertOutcome::Updated
            };
            ((r.event_type, r.record_id), (r.id, outcome))
        })
        .collect();
    let stale = stale_ids(tx, account, batch, &written).await?;
    written.extend(stale);
    batch
        .iter()
        .map(|event| {
            let (id, outcome) = written
                .remove(&key_of(event))
                .ok_or_else(|| StoreError::Internal("upsert returned no row".into()))?;
            let event_id: EventId = parse(id, "events.id")?;
            Ok(UpsertResult { event_id, outcome })
        })
        .collect()
}

fn column<T>(batch: &[&NewEvent], f: impl Fn(&NewEvent) -> T) -> Vec<T> {
    batch.iter().map(|&e| f(e)).collect()
}

/// The stored ids of the events the round did not write (older than stored).
async fn stale_ids(
    tx: &mut Transaction<'static, Postgres>,
    account: &AccountId,
    batch: &[&NewEvent],
    written: &HashMap<Key, (String, UpsertOutcome)>,
) -> StoreResult<Vec<(Key, (String, UpsertOutcome))>> {
    let stale: Vec<Key> = batch
        .iter()
        .map(|e| key_of(e))
        .filter(|key| !written.contains_key(key))
        .collect();
    if stale.is_empty() {
        return Ok(Vec::new());
    }
    let (types, ids): (Vec<String>, Vec<String>) = stale.into_iter().unzip();
    let rows: Vec<StoredId> = sqlx::query_as(sql::STORED_IDS)
        .bind(account.as_str())
        .bind(types)
        .bind(ids)
        .fetch_all(&mut **tx)
        .await
        .map_err(map_sqlx_error)?;
    Ok(rows
        .into_iter()
        .map(|r| ((r.event_type, r.record_id), (r.id, UpsertOutcome::Stale)))
        .collect())
}
