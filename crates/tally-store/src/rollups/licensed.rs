//! Licensed rollups (docs/rollups.md, "Licensed aggregators").
//!
//! A licensed period counts the entities alive at its end, each read as of
//! that instant: the version with the greatest (timestamp, seq) before it.
//! So each live version of a key is the entity's state from its timestamp
//! until the next version's. A licensed rollup's cell holds signed changes:
//! a version's partial is added in the hour it starts and cancelled in the
//! hour the next version starts. The entities alive at an hour boundary are
//! then the sum of the customer's cells before it, whatever the order in
//! which the versions arrived, and a version stamped after a period's end
//! never changes that period.
//!
//! A write changes a key's life: the cells change by the life after it minus
//! the life before. A version newer than the key's current one only ends the
//! current version and starts itself, so it needs nothing but the current
//! version the upsert plan already holds; a stale version lands between two
//! others, so the backend reads the key's life for it ([`keys_to_read`]).
//! Only operations whose partials cancel have licensed rollups
//! ([`RollupScope::is_signed`](tally_aggregate::RollupScope::is_signed)).

use std::collections::{BTreeMap, HashMap, HashSet};

use tally_aggregate::{
    AggregateResult, Aggregator, AggregatorKind, Bucket, Partial, ROLLUP_BUCKET_MS, RollupScope,
    Window, bucket_bounds,
};
use tally_event::{EventKey, EventType, Period, Record, RecordId, Timestamp};

use super::{Cell, LiveRollup, cells_or_none, fingerprint};
use crate::error::{StoreError, StoreResult};
use crate::evaluate::eval_error;
use crate::events::{EventWindow, StoredEvent};
use crate::ids::{AccountId, AggregatorFilterId, CustomerId};
use crate::traits::EventStore;
use crate::versions::{AsOf, EventSeq, UpsertPlan};

/// One version of a key, stored or planned: what its life in a rollup
/// depends on.
#[derive(Debug, Clone, Copy)]
struct Version<'a> {
    event_type: &'a EventType,
    customer: &'a CustomerId,
    timestamp: Timestamp,
    seq: EventSeq,
    record: &'a Record,
}

impl<'a> Version<'a> {
    fn stored(event: &'a StoredEvent) -> Self {
        Version {
            event_type: &event.event_type,
            customer: &event.customer_id,
            timestamp: event.timestamp,
            seq: event.seq,
            record: &event.record,
        }
    }
}

/// Adds `change` to the cell's changes.
pub(super) fn merge(into: &mut HashMap<Cell, Partial>, cell: Cell, change: Partial) {
    match into.get_mut(&cell) {
        Some(existing) => existing.add(&change),
        None => {
            into.insert(cell, change);
        }
    }
}

/// The partial that cancels `partial`: only signed rollups are licensed, so
/// a partial without one is a bug, not bad input.
pub(super) fn negated(partial: Partial) -> StoreResult<Partial> {
    partial
        .negated()
        .ok_or_else(|| StoreError::Internal("a licensed rollup cannot cancel an extreme".into()))
}

/// Adds (or, with `cancel`, subtracts) the life of one key in `rollup`:
/// `life` is the key's live versions, in (timestamp, seq) order.
fn add_life(
    into: &mut HashMap<Cell, Partial>,
    rollup: &LiveRollup,
    scope: &RollupScope<'_>,
    life: &[Version<'_>],
    cancel: bool,
) -> StoreResult<()> {
    for (i, version) in life.iter().enumerate() {
        let Some(partial) = scope.partial_of(version.event_type, version.timestamp, version.record)
        else {
            continue;
        };
        let (starts, ends) = if cancel {
            (negated(partial.clone())?, partial)
        } else {
            let ends = negated(partial.clone())?;
            (partial, ends)
        };
        merge(
            into,
            Cell::new(rollup.id, version.customer, version.timestamp),
            starts,
        );
        if let Some(next) = life.get(i + 1) {
            merge(
                into,
                Cell::new(rollup.id, version.customer, next.timestamp),
                ends,
            );
        }
    }
    Ok(())
}

fn in_life_order(life: &mut [Version<'_>]) {
    life.sort_by_key(|v| (v.timestamp, v.seq));
}

/// Which keys of a write a rollup takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Keys {
    /// Those it maintains already (a deletion or purge).
    Maintained,
    /// All: a backfill chunk, the keys the cursor moves past.
    All,
}

/// Adds the lives of the keys of `lives` (every live version of each key):
/// what a backfill chunk brings, and, cancelled, what a deletion or purge
/// takes away.
pub(super) fn add_lives(
    into: &mut HashMap<Cell, Partial>,
    rollup: &LiveRollup,
    lives: &[StoredEvent],
    keys_taken: Keys,
) -> StoreResult<()> {
    let scope = rollup.scope()?;
    let mut keys: BTreeMap<EventKey, Vec<Version<'_>>> = BTreeMap::new();
    for event in lives {
        let taken = keys_taken == Keys::All || rollup.maintains(event.record_id());
        if event.event_type == rollup.event_type && taken {
            keys.entry(event.key())
                .or_default()
                .push(Version::stored(event));
        }
    }
    for life in keys.values_mut() {
        in_life_order(life);
        add_life(into, rollup, &scope, life, false)?;
    }
    Ok(())
}

/// Whether a licensed rollup of `rollups` maintains the key.
fn licensed_for<'r>(rollups: &'r [LiveRollup], key: &EventKey) -> Vec<&'r LiveRollup> {
    rollups
        .iter()
        .filter(|r| r.licensed && r.event_type == key.event_type && r.maintains(&key.record_id))
        .collect()
}

/// The keys of `account` whose life the backend must read (after writing
/// the plan) for [`super::CellDeltas::of_plan`]: those with a stale version
/// in the plan and a licensed rollup maintaining them.
pub fn keys_to_read(
    plan: &UpsertPlan<'_>,
    account: &AccountId,
    rollups: &[LiveRollup],
) -> Vec<EventKey> {
    if !rollups.iter().any(|r| r.licensed) {
        return Vec::new();
    }
    let mut keys: Vec<EventKey> = plan
        .versions
        .iter()
        .filter(|v| v.account == account && v.current_until == Some(v.seq))
        .map(|v| v.event.key())
        .filter(|key| !licensed_for(rollups, key).is_empty())
        .collect();
    keys.sort_unstable();
    keys.dedup();
    keys
}

/// `keys` grouped by event type (their record ids sorted): what a backend
/// reads in one query per type.
pub fn by_event_type(keys: Vec<EventKey>) -> BTreeMap<EventType, Vec<RecordId>> {
    let mut grouped: BTreeMap<EventType, Vec<RecordId>> = BTreeMap::new();
    for key in keys {
        grouped
            .entry(key.event_type)
            .or_default()
            .push(key.record_id);
    }
    grouped
}

/// The licensed rollups' changes of an upsert plan in `account`: per key
/// written, its life after the plan minus its life before. `lives` holds
/// the live versions (after the plan) of the keys [`keys_to_read`] named.
pub(super) fn plan_changes(
    into: &mut HashMap<Cell, Partial>,
    plan: &UpsertPlan<'_>,
    account: &AccountId,
    rollups: &[LiveRollup],
    lives: &[StoredEvent],
) -> StoreResult<()> {
    if !rollups.iter().any(|r| r.licensed) {
        return Ok(());
    }
    let mut planned: BTreeMap<EventKey, Vec<Version<'_>>> = BTreeMap::new();
    for version in plan.versions.iter().filter(|v| v.account == account) {
        let event = version.event;
        planned.entry(event.key()).or_default().push(Version {
            event_type: &event.event_type,
            customer: &event.customer_id,
            timestamp: event.timestamp,
            seq: version.seq,
            record: &event.record,
        });
    }
    let superseded: HashMap<&EventKey, &StoredEvent> = plan
        .superseded
        .iter()
        .filter(|s| s.account == account)
        .map(|s| (&s.key, &s.previous))
        .collect();
    let mut read: HashMap<EventKey, Vec<Version<'_>>> = HashMap::new();
    for event in lives {
        read.entry(event.key())
            .or_default()
            .push(Version::stored(event));
    }
    let mut changes = HashMap::new();
    for (key, news) in planned {
        let maintaining = licensed_for(rollups, &key);
        if maintaining.is_empty() {
            continue;
        }
        let (mut before, mut after) = match read.remove(&key) {
            // The whole life was read: before the plan, it lacked the
            // plan's versions.
            Some(after) => {
                let new_seqs: HashSet<EventSeq> = news.iter().map(|v| v.seq).collect();
                let before = after
                    .iter()
                    .filter(|v| !new_seqs.contains(&v.seq))
                    .copied()
                    .collect();
                (before, after)
            }
            // Only versions newer than the current one: the life before the
            // current version is the same on both sides and cancels out.
            None => {
                let before: Vec<Version<'_>> = superseded
                    .get(&key)
                    .map(|previous| Version::stored(previous))
                    .into_iter()
                    .collect();
                let mut after = before.clone();
                after.extend(news);
                let ordered = after
                    .windows(2)
                    .all(|w| (w[0].timestamp, w[0].seq) <= (w[1].timestamp, w[1].seq));
                if !ordered {
                    return Err(StoreError::Internal(
                        "a stale version's life was not read for its licensed rollup".into(),
                    ));
                }
                (before, after)
            }
        };
        in_life_order(&mut before);
        in_life_order(&mut after);
        for rollup in maintaining {
            let scope = rollup.scope()?;
            add_life(&mut changes, rollup, &scope, &after, false)?;
            add_life(&mut changes, rollup, &scope, &before, true)?;
        }
    }
    for (cell, change) in changes {
        if !change.is_zero() {
            merge(into, cell, change);
        }
    }
    Ok(())
}

/// The sum of the customer's cells of the licensed rollup before `end` (an
/// hour boundary): the partial of the entities alive just before `end`.
/// `None` when the rollup cannot answer (not ready, a cell that does not
/// decode).
async fn cells_before<S: EventStore + ?Sized>(
    store: &S,
    account: &AccountId,
    aggregator: &Aggregator,
    filter: Option<&str>,
    customer: &CustomerId,
    end: i64,
) -> StoreResult<Option<Vec<(i64, Partial)>>> {
    let key = fingerprint(aggregator, filter);
    let cells = store
        .rollup_cells(account, &key, Some(customer), (i64::MIN, end))
        .await;
    cells_or_none(cells)
}

fn on_the_hour(at: Timestamp) -> bool {
    at.as_millis().rem_euclid(ROLLUP_BUCKET_MS) == 0
}

/// A licensed aggregator's quantity for `customer` over `Window::Before(end)`
/// as of `end` (each entity's version just before it, as billing reads a
/// licensed period), from the ready rollup: the sum of the customer's cells
/// before `end`. `None` when the rollup cannot answer: another window or
/// read, an `end` that is not on the hour, a rollup not ready, a tainted sum.
/// The caller then reads the events.
pub async fn licensed_from_rollups<S: EventStore + ?Sized>(
    store: &S,
    account: &AccountId,
    aggregator: &Aggregator,
    filter: Option<&AggregatorFilterId>,
    customer: &CustomerId,
    window: Window,
    as_of: AsOf,
) -> StoreResult<Option<AggregateResult>> {
    let Window::Before(end) = window else {
        return Ok(None);
    };
    if as_of != AsOf::for_window(EventWindow::Before(end), None) {
        return Ok(None);
    }
    let Some(total) = partial_before(store, account, aggregator, filter, customer, end).await?
    else {
        return Ok(None);
    };
    let filter = filter.map(AggregatorFilterId::as_str);
    let scope = aggregator.rollup_scope(filter).map_err(eval_error)?;
    scope.finish(&total).map_err(eval_error)
}

/// The partial of the customer's entities alive just before `end`, each as
/// of `end`, from the licensed aggregator's ready rollup; `None` when it
/// cannot answer (see [`licensed_from_rollups`]). What a price simulation
/// starts from.
pub(super) async fn partial_before<S: EventStore + ?Sized>(
    store: &S,
    account: &AccountId,
    aggregator: &Aggregator,
    filter: Option<&AggregatorFilterId>,
    customer: &CustomerId,
    end: Timestamp,
) -> StoreResult<Option<Partial>> {
    if aggregator.kind() != AggregatorKind::Licensed || !on_the_hour(end) {
        return Ok(None);
    }
    let filter = filter.map(AggregatorFilterId::as_str);
    let scope = aggregator.rollup_scope(filter).map_err(eval_error)?;
    let Some(cells) = cells_before(
        store,
        account,
        aggregator,
        filter,
        customer,
        end.as_millis(),
    )
    .await?
    else {
        return Ok(None);
    };
    let mut total = scope.empty();
    for (_, partial) in cells {
        total.absorb(partial);
    }
    Ok(Some(total))
}

/// A licensed time series of one customer from the ready rollup: each
/// bucket is the state at its end, the sum of the cells before it. `None`
/// when the rollup cannot answer (see [`licensed_from_rollups`]; a range
/// whose end is not on the hour) and for every customer's series.
pub async fn licensed_series_from_rollups<S: EventStore + ?Sized>(
    store: &S,
    account: &AccountId,
    aggregator: &Aggregator,
    filter: Option<&AggregatorFilterId>,
    customer: Option<&CustomerId>,
    range: Period,
    bucket: Bucket,
) -> StoreResult<Option<Vec<(Timestamp, AggregateResult)>>> {
    let Some(customer) = customer else {
        return Ok(None);
    };
    if aggregator.kind() != AggregatorKind::Licensed || !on_the_hour(range.end()) {
        return Ok(None);
    }
    let filter = filter.map(AggregatorFilterId::as_str);
    let scope = aggregator.rollup_scope(filter).map_err(eval_error)?;
    let bounds = bucket_bounds(range, bucket).map_err(eval_error)?;
    let end = range.end().as_millis();
    let Some(mut cells) = cells_before(store, account, aggregator, filter, customer, end).await?
    else {
        return Ok(None);
    };
    cells.sort_unstable_by_key(|(hour, _)| *hour);
    let mut cells = cells.into_iter().peekable();
    let mut running = scope.empty();
    let mut series = Vec::with_capacity(bounds.len());
    for (start, end) in bounds {
        while let Some((_, partial)) = cells.next_if(|(hour, _)| *hour < end.as_millis()) {
            running.absorb(partial);
        }
        match scope.finish(&running).map_err(eval_error)? {
            Some(result) => series.push((start, result)),
            None => return Ok(None),
        }
    }
    Ok(Some(series))
}
