//! The batch upsert: every group in one transaction.
//!
//! 1. Lock the sequence counter of each account the input writes in
//!    (`sql::LOCK_SEQUENCE`), in byte order of the account ids: two
//!    transactions naming the same accounts take the locks in the same order,
//!    so they queue instead of deadlocking, whatever process they run in.
//! 2. Read the current version of every key the input names, one statement
//!    per account.
//! 3. Plan with `tally_store::plan_upserts`, the one upsert rule of every
//!    backend: outcomes, sequence numbers, which rows to insert and which
//!    stored versions stop being current.
//! 4. Write the plan: end the superseded versions, insert the new ones, move
//!    the counters, and apply the changes to the accounts' rollups. The counter locks, held since step 1, guarantee that what
//!    step 2 read is still the state being written over.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use sqlx::Transaction;
use sqlx::postgres::{PgPool, Postgres};
use tally_event::EventKey;
use tally_store::{
    AccountId, EventSeq, NewEvent, PlannedVersion, StoreError, StoreResult, StoredEvent,
    Superseded, UpsertPlan, UpsertResult, plan_upserts,
};

use tally_store::rollups::RollupCompiler;

use super::{EventRow, lock_sequence, sql};
use crate::map_sqlx_error;

/// New versions per `INSERT` statement: bounds the size of one message to the
/// server when a large batch arrives.
const INSERT_CHUNK: usize = 5_000;

/// One account's events, applied in order after the groups before it.
pub(super) type Group<'a> = (&'a AccountId, &'a [NewEvent]);

/// The current version of every key the input names that has one.
type Current<'a> = HashMap<(&'a AccountId, EventKey), Option<StoredEvent>>;

/// An account's distinct keys, as (event type, record id).
type Keys<'a> = BTreeSet<(&'a str, &'a str)>;

/// Each account's last sequence number, as locked.
type LastSeqs<'a> = HashMap<&'a AccountId, EventSeq>;

/// Upserts `groups` in one transaction; results per group, in input order.
pub(super) async fn upsert_groups(
    pool: &PgPool,
    compiler: &RollupCompiler,
    groups: &[Group<'_>],
) -> StoreResult<Vec<Vec<UpsertResult>>> {
    if groups.iter().all(|(_, events)| events.is_empty()) {
        return Ok(vec![Vec::new(); groups.len()]);
    }
    let mut tx = pool.begin().await.map_err(map_sqlx_error)?;
    let (current, locked) = read_state(&mut tx, groups).await?;
    let plan = plan_upserts(groups, current, locked.clone());
    write_plan(&mut tx, &plan, &locked).await?;
    super::rollups::apply_plan(&mut tx, compiler, &plan).await?;
    // Committed (and, with the server's default synchronous_commit, durable)
    // before any outcome is reported.
    tx.commit().await.map_err(map_sqlx_error)?;
    Ok(plan.results)
}

/// Locks every account's counter (in byte order) and reads the current
/// versions of the keys the groups name.
async fn read_state<'a>(
    tx: &mut Transaction<'static, Postgres>,
    groups: &[Group<'a>],
) -> StoreResult<(Current<'a>, LastSeqs<'a>)> {
    let mut current = Current::new();
    let mut locked = LastSeqs::new();
    for (account, keys) in keys_by_account(groups) {
        locked.insert(account, lock_sequence(tx, account).await?);
        for stored in current_versions(tx, account, &keys).await? {
            current.insert((account, stored.key()), Some(stored));
        }
    }
    Ok((current, locked))
}

/// The distinct keys of each account that has events, accounts in byte order
/// of their ids (the lock order).
fn keys_by_account<'a>(groups: &[Group<'a>]) -> Vec<(&'a AccountId, Keys<'a>)> {
    let mut accounts: BTreeMap<&'a str, (&'a AccountId, Keys<'a>)> = BTreeMap::new();
    for &(account, events) in groups {
        if events.is_empty() {
            continue;
        }
        let (_, keys) = accounts
            .entry(account.as_str())
            .or_insert_with(|| (account, BTreeSet::new()));
        keys.extend(
            events
                .iter()
                .map(|e| (e.event_type.as_str(), e.record.id().as_str())),
        );
    }
    accounts.into_values().collect()
}

/// The current versions of `keys` (event type, record id) in one statement.
async fn current_versions(
    tx: &mut Transaction<'static, Postgres>,
    account: &AccountId,
    keys: &Keys<'_>,
) -> StoreResult<Vec<StoredEvent>> {
    let (types, record_ids): (Vec<&str>, Vec<&str>) = keys.iter().copied().unzip();
    let rows: Vec<EventRow> = sqlx::query_as(sql::CURRENT_VERSIONS)
        .bind(account.as_str())
        .bind(types)
        .bind(record_ids)
        .fetch_all(&mut **tx)
        .await
        .map_err(map_sqlx_error)?;
    rows.into_iter().map(StoredEvent::try_from).collect()
}

/// Writes what the plan decided, on the transaction holding the counter locks.
async fn write_plan(
    tx: &mut Transaction<'static, Postgres>,
    plan: &UpsertPlan<'_>,
    locked: &LastSeqs<'_>,
) -> StoreResult<()> {
    supersede(tx, &plan.superseded).await?;
    for chunk in plan.versions.chunks(INSERT_CHUNK) {
        insert_versions(tx, chunk).await?;
    }
    set_sequences(tx, &plan.last_seq, locked).await
}

/// Ends the stored versions the plan replaced. Each must still be current: a
/// row that is not means the state changed under the lock, and the
/// transaction is abandoned rather than leaving a key with two current
/// versions.
async fn supersede(
    tx: &mut Transaction<'static, Postgres>,
    superseded: &[Superseded<'_>],
) -> StoreResult<()> {
    if superseded.is_empty() {
        return Ok(());
    }
    let done = sqlx::query(sql::SUPERSEDE)
        .bind(column(superseded, |s| s.account.as_str()))
        .bind(column(superseded, |s| s.key.event_type.as_str()))
        .bind(column(superseded, |s| s.key.record_id.as_str()))
        .bind(column(superseded, |s| s.seq.get()))
        .bind(column(superseded, |s| s.until.get()))
        .execute(&mut **tx)
        .await
        .map_err(map_sqlx_error)?;
    if done.rows_affected() != superseded.len() as u64 {
        return Err(StoreError::Internal(format!(
            "upsert expected to supersede {} current versions, found {}",
            superseded.len(),
            done.rows_affected()
        )));
    }
    Ok(())
}

/// Inserts planned versions with one statement.
async fn insert_versions(
    tx: &mut Transaction<'static, Postgres>,
    versions: &[PlannedVersion<'_>],
) -> StoreResult<()> {
    let records: Vec<String> = column(versions, |v| v.event.record.to_json_string());
    sqlx::query(sql::INSERT_VERSIONS)
        .bind(column(versions, |v| v.account.as_str()))
        .bind(column(versions, |v| v.event.event_type.as_str()))
        .bind(column(versions, |v| v.event.record.id().as_str()))
        .bind(column(versions, |v| v.seq.get()))
        .bind(column(versions, |v| v.id.as_str()))
        .bind(column(versions, |v| v.event.customer_id.as_str()))
        .bind(column(versions, |v| v.event.timestamp.as_millis()))
        .bind(records)
        .bind(column(versions, |v| v.event.ingested_at.as_millis()))
        .bind(column(versions, |v| v.current_until.map(EventSeq::get)))
        .execute(&mut **tx)
        .await
        .map_err(map_sqlx_error)?;
    Ok(())
}

/// Moves the counters of the accounts the plan used sequence numbers in.
async fn set_sequences(
    tx: &mut Transaction<'static, Postgres>,
    last_seq: &HashMap<&AccountId, EventSeq>,
    locked: &LastSeqs<'_>,
) -> StoreResult<()> {
    let (accounts, seqs): (Vec<&str>, Vec<i64>) = last_seq
        .iter()
        .filter(|(account, seq)| locked.get(*account) != Some(*seq))
        .map(|(account, seq)| (account.as_str(), seq.get()))
        .unzip();
    if accounts.is_empty() {
        return Ok(());
    }
    sqlx::query(sql::SET_SEQUENCES)
        .bind(accounts)
        .bind(seqs)
        .execute(&mut **tx)
        .await
        .map_err(map_sqlx_error)?;
    Ok(())
}

/// One array parameter: a field of every row.
fn column<'r, R, T>(rows: &'r [R], f: impl Fn(&'r R) -> T) -> Vec<T> {
    rows.iter().map(f).collect()
}
