//! Rollups: each aggregator's partial evaluation per customer and hour, kept
//! up to date in the transaction that stores or deletes the events
//! (docs/rollups.md).
//!
//! This module is what every backend shares; a backend only reads and writes
//! rows:
//!
//! - A rollup is registered per aggregator definition and named filter
//!   ([`RollupSpec`], keyed by its [`fingerprint`]). It starts *building*: a
//!   backfill walks the current versions of its event type in record id order,
//!   a chunk per transaction, and moves its cursor; at the end it is *ready*.
//! - The writer of events loads the account's rollups ([`RollupCompiler`]),
//!   collects what the batch changes ([`CellDeltas`]: the contribution of
//!   each version that stops being current is retracted, that of each version
//!   that becomes current is added), reads the touched cells, applies the
//!   deltas ([`CellDeltas::apply`]) and writes them back; a cell whose
//!   extreme was retracted is recomputed from its events.
//! - While a rollup builds, it holds exactly the current versions of the keys
//!   at or before its cursor ([`LiveRollup::maintains`]): ingestion applies
//!   only their changes, the backfill adds the rest as it reaches them. So
//!   whatever interleaving of writes and backfill chunks, a rollup never counts
//!   an event twice or misses one.
//! - Reads ([`aggregate_from_rollups`], [`series_from_rollups`]) use a ready
//!   rollup only; otherwise they return `None` and the caller scans the raw
//!   events. Only the hours entirely inside the window come from cells; the
//!   clipped first and last hours are read from the events.
//! - A licensed aggregator's rollup keeps signed changes instead: each
//!   version of an entity is added at the hour it starts and cancelled at the
//!   hour the next version starts, so the entities alive at an hour boundary
//!   are the sum of the cells before it ([`licensed`]).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use futures::TryStreamExt;
use futures::stream::BoxStream;
use sha2::{Digest, Sha256};
use tally_aggregate::{
    AggregateResult, Aggregator, AggregatorDef, AggregatorKind, Bucket, Partial, ROLLUP_BUCKET_MS,
    Retraction, RollupScope, Window, bucket_bounds, rollup_bucket,
};
use tally_event::{EventType, Period, Record, RecordId, Timestamp};

use crate::error::{StoreError, StoreResult};
use crate::evaluate::eval_error;
use crate::events::{EventWindow, StoredEvent};
use crate::ids::{AccountId, AggregatorFilterId, CustomerId};
use crate::traits::EventStore;
use crate::versions::UpsertPlan;

pub mod licensed;

pub use licensed::{licensed_from_rollups, licensed_series_from_rollups};

/// Current versions read per backfill chunk, by default.
pub const BACKFILL_CHUNK: u64 = 5_000;

/// A rollup to keep: one aggregator definition, narrowed by one of its named
/// filters or not.
#[derive(Debug, Clone, PartialEq)]
pub struct RollupSpec {
    /// What identifies the rollup within its account: [`fingerprint`].
    pub fingerprint: String,
    /// The aggregator's event type.
    pub event_type: EventType,
    /// The aggregator's definition, as stored.
    pub definition: serde_json::Value,
    /// The named filter, if any.
    pub filter: Option<String>,
}

/// Whether an aggregator has rollups: every metered one, and the licensed
/// ones whose partials can be cancelled (not `min`, `max`, `latest`, nor a
/// formula calling `min` or `max`: docs/rollups.md, "What is not rolled up").
pub fn rolls_up(aggregator: &Aggregator) -> bool {
    match aggregator.kind() {
        AggregatorKind::Metered => true,
        AggregatorKind::Licensed => aggregator
            .rollup_scope(None)
            .is_ok_and(|scope| scope.is_signed()),
    }
}

/// The rollups an aggregator needs: one for the aggregator and one per named
/// filter; none when it has no rollups ([`rolls_up`]).
pub fn rollup_specs(aggregator: &Aggregator) -> Vec<RollupSpec> {
    if !rolls_up(aggregator) {
        return Vec::new();
    }
    let Ok(definition) = serde_json::to_value(aggregator.def()) else {
        return Vec::new();
    };
    let filters =
        std::iter::once(None).chain(aggregator.filters().iter().map(|f| Some(f.id.clone())));
    filters
        .map(|filter| RollupSpec {
            fingerprint: fingerprint(aggregator, filter.as_deref()),
            event_type: aggregator.event_type().clone(),
            definition: definition.clone(),
            filter,
        })
        .collect()
}

/// What a rollup's cells depend on, hashed: the event type, the operation and
/// its operand, the `where`, and the named filter's tree. A name, a unit or
/// `allow_negative_values` (applied when a result is finished) do not change
/// it, so renaming an aggregator keeps its rollups.
pub fn fingerprint(aggregator: &Aggregator, filter: Option<&str>) -> String {
    let def = aggregator.def();
    let filter_where = filter.and_then(|id| {
        def.filters
            .iter()
            .find(|f| f.id == id)
            .map(|f| f.where_.clone())
    });
    let identity = serde_json::json!({
        "event_type": def.event_type,
        "type": def.kind,
        "operation": def.operation,
        "property": def.property,
        "formula": def.formula,
        "where": def.where_,
        "filter": filter_where,
    });
    let digest = Sha256::digest(identity.to_string().as_bytes());
    digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

/// How far a rollup is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollupProgress {
    /// The rollup's [`fingerprint`].
    pub fingerprint: String,
    /// Whether every current event is in it (reads use it).
    pub ready: bool,
    /// Current events the backfill has read so far.
    pub backfilled_events: u64,
}

/// A registered rollup as a backend reads it.
#[derive(Debug, Clone)]
pub struct RollupRow {
    /// The backend's id of the rollup (never reused: a row of cells keeps a
    /// dropped rollup's entry until it is next written).
    pub id: i64,
    /// The rollups of one account and event type share a set: their cells
    /// of one customer and hour are stored together ([`CellRows`]).
    pub set: i64,
    /// Its fingerprint.
    pub fingerprint: String,
    /// The event type it reads.
    pub event_type: EventType,
    /// The aggregator definition, as stored.
    pub definition: serde_json::Value,
    /// The named filter.
    pub filter: Option<String>,
    /// Whether the backfill is done.
    pub ready: bool,
    /// The last record id the backfill added (`None`: none yet).
    pub cursor: Option<RecordId>,
}

/// A registered rollup, compiled, as the writer maintains it.
#[derive(Debug, Clone)]
pub struct LiveRollup {
    /// The backend's id.
    pub id: i64,
    /// Its set (see [`RollupRow::set`]).
    pub set: i64,
    /// The event type it reads.
    pub event_type: EventType,
    aggregator: Arc<Aggregator>,
    filter: Option<String>,
    /// Whether its aggregator is licensed: its cells hold signed changes of
    /// each version's life ([`licensed`]) instead of current versions.
    pub licensed: bool,
    /// Whether the backfill is done.
    pub ready: bool,
    /// The last record id the backfill added.
    pub cursor: Option<RecordId>,
}

impl LiveRollup {
    fn scope(&self) -> StoreResult<RollupScope<'_>> {
        self.aggregator
            .rollup_scope(self.filter.as_deref())
            .map_err(eval_error)
    }

    /// Whether the rollup holds the current version of the key with this
    /// record id: every key once ready, the keys up to the cursor before.
    pub fn maintains(&self, record_id: &RecordId) -> bool {
        self.ready || self.cursor.as_ref().is_some_and(|c| record_id <= c)
    }

    /// The partial of `events` (this rollup's type, any customer or hour),
    /// per cell.
    pub fn partials<'e>(
        &self,
        events: impl IntoIterator<Item = &'e StoredEvent>,
    ) -> StoreResult<HashMap<Cell, Partial>> {
        let scope = self.scope()?;
        let mut cells: HashMap<Cell, Partial> = HashMap::new();
        for event in events {
            if let Some(partial) =
                scope.partial_of(&event.event_type, event.timestamp, &event.record)
            {
                let cell = Cell::new(self.id, &event.customer_id, event.timestamp);
                cells
                    .entry(cell)
                    .or_insert_with(|| scope.empty())
                    .add(&partial);
            }
        }
        Ok(cells)
    }

    /// A cell recomputed from its current events (those this rollup
    /// maintains: the caller reads them).
    pub fn recompute<'e>(
        &self,
        events: impl IntoIterator<Item = &'e StoredEvent>,
    ) -> StoreResult<Partial> {
        let scope = self.scope()?;
        let mut partial = scope.empty();
        for event in events {
            if let Some(one) = scope.partial_of(&event.event_type, event.timestamp, &event.record) {
                partial.add(&one);
            }
        }
        Ok(partial)
    }
}

/// The rollups one backfill step builds together: the building rollups of
/// `lead`'s event type at the same cursor as `lead` (rollups registered
/// together read their events once, not once each).
pub fn backfill_group(rollups: &[LiveRollup], lead: i64) -> Vec<&LiveRollup> {
    let Some(lead) = rollups.iter().find(|r| r.id == lead && !r.ready) else {
        return Vec::new();
    };
    rollups
        .iter()
        .filter(|r| !r.ready && r.event_type == lead.event_type && r.cursor == lead.cursor)
        .collect()
}

/// Whether a backfill step of `group` needs every live version of the
/// chunk's keys, not only their current versions: a licensed rollup sums
/// each version's life ([`licensed`]).
pub fn backfill_reads_lives(group: &[&LiveRollup]) -> bool {
    group.iter().any(|r| r.licensed)
}

/// What a backfill chunk adds to the group's cells, per cell: `current` are
/// the current versions of the chunk's keys (after the group's cursor, up to
/// its last key), `lives` every live version of the same keys when
/// [`backfill_reads_lives`] asked for them (else empty). Only the cells of
/// events a rollup selects: a filtered aggregator's other hours are not
/// touched.
pub fn backfill_changes(
    group: &[&LiveRollup],
    current: &[StoredEvent],
    lives: &[StoredEvent],
) -> StoreResult<HashMap<Cell, Partial>> {
    let mut changes = HashMap::new();
    for rollup in group {
        if rollup.licensed {
            licensed::add_lives(&mut changes, rollup, lives, licensed::Keys::All)?;
        } else {
            for (cell, partial) in rollup.partials(current)? {
                changes.insert(cell, partial);
            }
        }
    }
    Ok(changes)
}

/// The cells a backfill's changes touch, sorted: the backend reads their
/// stored partials.
pub fn backfill_cells(changes: &HashMap<Cell, Partial>) -> Vec<Cell> {
    let mut cells: Vec<Cell> = changes.keys().cloned().collect();
    cells.sort_unstable();
    cells
}

/// The cells to write after a backfill chunk: each stored partial plus its
/// changes; `None` (delete) for a licensed cell whose changes cancel out.
pub fn backfill_writes(
    changes: HashMap<Cell, Partial>,
    mut stored: HashMap<Cell, Partial>,
) -> Vec<(Cell, Option<Partial>)> {
    changes
        .into_iter()
        .map(|(cell, change)| {
            let merged = match stored.remove(&cell) {
                Some(mut existing) => {
                    existing.add(&change);
                    existing
                }
                None => change,
            };
            let kept = (!merged.is_zero()).then_some(merged);
            (cell, kept)
        })
        .collect()
}

/// Compiles registered rollups once: a backend keeps one and loads the rows
/// it reads in each write transaction through it.
#[derive(Debug, Default)]
pub struct RollupCompiler {
    compiled: Mutex<HashMap<i64, (String, Arc<Aggregator>)>>,
}

impl RollupCompiler {
    /// The rollups of `rows`, compiled (from the cache when the fingerprint
    /// is the one compiled before).
    pub fn load(&self, rows: Vec<RollupRow>) -> StoreResult<Vec<LiveRollup>> {
        let mut compiled = self
            .compiled
            .lock()
            .map_err(|_| StoreError::Internal("rollup cache poisoned".into()))?;
        rows.into_iter()
            .map(|row| {
                let aggregator = match compiled.get(&row.id) {
                    Some((fingerprint, aggregator)) if *fingerprint == row.fingerprint => {
                        aggregator.clone()
                    }
                    _ => {
                        let aggregator = Arc::new(compile(&row.definition)?);
                        compiled.insert(row.id, (row.fingerprint.clone(), aggregator.clone()));
                        aggregator
                    }
                };
                // An unknown filter would fail every evaluation: refuse it here.
                aggregator
                    .rollup_scope(row.filter.as_deref())
                    .map_err(eval_error)?;
                Ok(LiveRollup {
                    id: row.id,
                    set: row.set,
                    event_type: row.event_type,
                    licensed: aggregator.kind() == AggregatorKind::Licensed,
                    aggregator,
                    filter: row.filter,
                    ready: row.ready,
                    cursor: row.cursor,
                })
            })
            .collect()
    }
}

fn compile(definition: &serde_json::Value) -> StoreResult<Aggregator> {
    let def: AggregatorDef = serde_json::from_value(definition.clone())
        .map_err(|e| StoreError::Corrupt(format!("rollup definition: {e}")))?;
    Aggregator::compile(&def).map_err(|e| StoreError::Corrupt(format!("rollup definition: {e:?}")))
}

/// One cell of a rollup: a customer's hour.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cell {
    /// The rollup's id.
    pub rollup: i64,
    /// The customer.
    pub customer: CustomerId,
    /// The hour's start, in milliseconds.
    pub bucket: i64,
}

impl Cell {
    /// The cell of an event of `customer` at `at` in rollup `rollup`.
    pub fn new(rollup: i64, customer: &CustomerId, at: Timestamp) -> Self {
        Self {
            rollup,
            customer: customer.clone(),
            bucket: rollup_bucket(at),
        }
    }
}

/// What a write does to the rollups: partials added and retracted per cell
/// of a metered rollup, signed changes per cell of a licensed one.
#[derive(Debug, Default)]
pub struct CellDeltas {
    added: HashMap<Cell, Partial>,
    retracted: HashMap<Cell, Partial>,
    signed: HashMap<Cell, Partial>,
    /// Versions already retracted: a version leaves its cells once, even
    /// when a caller names it twice.
    gone: HashSet<(EventType, RecordId, i64)>,
}

/// What [`CellDeltas::apply`] leaves to write.
#[derive(Debug, Default)]
pub struct CellWrites {
    /// Cells to store (`Some`) or delete (`None`: empty).
    pub writes: Vec<(Cell, Option<Partial>)>,
    /// Cells whose retraction cannot be undone from the partial: recompute
    /// them from their events ([`LiveRollup::recompute`]) and store that.
    pub recompute: Vec<Cell>,
}

impl CellDeltas {
    /// What an upsert plan changes in `account`'s rollups: the versions it
    /// supersedes leave, the versions it leaves current come in; the lives of
    /// the keys it writes change in licensed rollups. `lives` holds every
    /// live version (after the plan) of the keys
    /// [`licensed::keys_to_read`] named, and may be empty otherwise.
    pub fn of_plan(
        plan: &UpsertPlan<'_>,
        account: &AccountId,
        rollups: &[LiveRollup],
        lives: &[StoredEvent],
    ) -> StoreResult<Self> {
        let mut deltas = CellDeltas::default();
        licensed::plan_changes(&mut deltas.signed, plan, account, rollups, lives)?;
        for superseded in plan.superseded.iter().filter(|s| s.account == account) {
            deltas.retract(rollups, &superseded.previous)?;
        }
        let current = plan
            .versions
            .iter()
            .filter(|v| v.account == account && v.current_until.is_none());
        for version in current {
            let event = version.event;
            deltas.add(
                rollups,
                &event.event_type,
                &event.customer_id,
                event.timestamp,
                &event.record,
            )?;
        }
        Ok(deltas)
    }

    /// The keys of `lives` leaving (a deletion or purge): `lives` holds
    /// every version the keys had in their life before it. Each key's current
    /// version leaves the metered rollups, its whole life the licensed ones.
    pub fn of_removed(rollups: &[LiveRollup], lives: &[StoredEvent]) -> StoreResult<Self> {
        let mut deltas = CellDeltas::default();
        for event in current_versions(lives) {
            deltas.retract(rollups, event)?;
        }
        for rollup in rollups.iter().filter(|r| r.licensed) {
            let mut life = HashMap::new();
            licensed::add_lives(&mut life, rollup, lives, licensed::Keys::Maintained)?;
            for (cell, change) in life {
                let cancel = licensed::negated(change)?;
                licensed::merge(&mut deltas.signed, cell, cancel);
            }
        }
        Ok(deltas)
    }

    /// Whether nothing changes.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.retracted.is_empty() && self.signed.is_empty()
    }

    /// A version that becomes current: its contribution is added to every
    /// rollup of its type that maintains its key.
    pub fn add(
        &mut self,
        rollups: &[LiveRollup],
        event_type: &EventType,
        customer: &CustomerId,
        timestamp: Timestamp,
        record: &Record,
    ) -> StoreResult<()> {
        collect(
            &mut self.added,
            rollups,
            event_type,
            customer,
            timestamp,
            record,
        )
    }

    /// A version that stops being current (superseded, deleted, purged).
    pub fn retract(&mut self, rollups: &[LiveRollup], event: &StoredEvent) -> StoreResult<()> {
        let version = (
            event.event_type.clone(),
            event.record_id().clone(),
            event.seq.get(),
        );
        if !self.gone.insert(version) {
            return Ok(());
        }
        collect(
            &mut self.retracted,
            rollups,
            &event.event_type,
            &event.customer_id,
            event.timestamp,
            &event.record,
        )
    }

    /// Every cell the deltas touch, sorted: the backend reads their stored
    /// partials.
    pub fn cells(&self) -> Vec<Cell> {
        let mut cells: Vec<Cell> = self
            .added
            .keys()
            .chain(self.retracted.keys())
            .chain(self.signed.keys())
            .cloned()
            .collect();
        cells.sort_unstable();
        cells.dedup();
        cells
    }

    /// Applies the deltas to the stored partials of [`CellDeltas::cells`]
    /// (a cell absent from `stored` has none yet).
    pub fn apply(mut self, mut stored: HashMap<Cell, Partial>) -> CellWrites {
        let mut out = CellWrites::default();
        for cell in self.cells() {
            if let Some(change) = self.signed.remove(&cell) {
                // A licensed cell: a sum of signed changes, never recomputed
                // (a tainted sum stays tainted, and reads scan instead).
                let merged = match stored.remove(&cell) {
                    Some(mut partial) => {
                        partial.add(&change);
                        partial
                    }
                    None => change,
                };
                out.writes
                    .push((cell, (!merged.is_zero()).then_some(merged)));
                continue;
            }
            let added = self.added.remove(&cell);
            let retracted = self.retracted.remove(&cell);
            let mut partial = match (stored.remove(&cell), &added) {
                (Some(mut partial), Some(added)) => {
                    partial.add(added);
                    partial
                }
                (Some(partial), None) => partial,
                (None, Some(added)) if retracted.is_none() => added.clone(),
                // A retraction from a cell never stored: recompute it.
                (None, _) => {
                    out.recompute.push(cell);
                    continue;
                }
            };
            // Added first (above): retracting an extreme that a new value
            // beats is then exact.
            let exact = match &retracted {
                Some(retracted) => partial.retract(retracted) == Retraction::Exact,
                None => true,
            };
            if !exact || partial.is_tainted() {
                out.recompute.push(cell);
            } else if partial.is_empty() {
                out.writes.push((cell, None));
            } else {
                out.writes.push((cell, Some(partial)));
            }
        }
        out
    }
}

fn collect(
    into: &mut HashMap<Cell, Partial>,
    rollups: &[LiveRollup],
    event_type: &EventType,
    customer: &CustomerId,
    timestamp: Timestamp,
    record: &Record,
) -> StoreResult<()> {
    for rollup in rollups {
        if rollup.licensed || rollup.event_type != *event_type || !rollup.maintains(record.id()) {
            continue;
        }
        let scope = rollup.scope()?;
        if let Some(partial) = scope.partial_of(event_type, timestamp, record) {
            into.entry(Cell::new(rollup.id, customer, timestamp))
                .or_insert_with(|| scope.empty())
                .add(&partial);
        }
    }
    Ok(())
}

/// The current version of each key among `lives` (versions of live keys):
/// the greatest (timestamp, seq), as a non-stale write always has.
fn current_versions(lives: &[StoredEvent]) -> Vec<&StoredEvent> {
    let mut current: HashMap<(&EventType, &RecordId), &StoredEvent> = HashMap::new();
    for event in lives {
        let slot = current
            .entry((&event.event_type, event.record_id()))
            .or_insert(event);
        if (event.timestamp, event.seq) > (slot.timestamp, slot.seq) {
            *slot = event;
        }
    }
    current.into_values().collect()
}

/// Where a backend stores cells: one row per rollup set, customer and hour,
/// holding the partial of every rollup of the set (a batch then writes one
/// row per customer-hour it touches, whatever the number of aggregators).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RowKey {
    /// The rollup set (an account's event type).
    pub set: i64,
    /// The customer.
    pub customer: CustomerId,
    /// The hour's start, in milliseconds.
    pub bucket: i64,
}

/// The rows of cells one write transaction reads and rewrites: decoded once,
/// changed per cell, encoded once. Entries of rollups that are no longer
/// registered are dropped when their row is written.
#[derive(Debug, Default)]
pub struct CellRows {
    sets: HashMap<i64, i64>,
    rows: HashMap<RowKey, BTreeMap<i64, Partial>>,
}

impl CellRows {
    /// Rows for cells of `rollups` (the live ones of the account).
    pub fn new(rollups: &[LiveRollup]) -> Self {
        Self {
            sets: rollups.iter().map(|r| (r.id, r.set)).collect(),
            rows: HashMap::new(),
        }
    }

    /// The row holding `cell`, if its rollup is live.
    pub fn row_of(&self, cell: &Cell) -> Option<RowKey> {
        let set = *self.sets.get(&cell.rollup)?;
        Some(RowKey {
            set,
            customer: cell.customer.clone(),
            bucket: cell.bucket,
        })
    }

    /// The distinct rows of `cells`, sorted: what the backend reads.
    pub fn rows_of(&self, cells: &[Cell]) -> Vec<RowKey> {
        let mut keys: Vec<RowKey> = cells.iter().filter_map(|c| self.row_of(c)).collect();
        keys.sort_unstable();
        keys.dedup();
        keys
    }

    /// A stored row, as its JSON text.
    pub fn insert_row(&mut self, key: RowKey, state: &str) -> StoreResult<()> {
        let entries = decode_row(state)?;
        self.rows.insert(key, entries);
        Ok(())
    }

    /// The stored partials of `cells` among the rows read.
    pub fn partials(&self, cells: &[Cell]) -> HashMap<Cell, Partial> {
        cells
            .iter()
            .filter_map(|cell| {
                let row = self.rows.get(&self.row_of(cell)?)?;
                Some((cell.clone(), row.get(&cell.rollup)?.clone()))
            })
            .collect()
    }

    /// Applies cell writes to the rows; returns each changed row encoded
    /// (`None`: empty, delete it).
    pub fn apply(
        &mut self,
        writes: Vec<(Cell, Option<Partial>)>,
    ) -> StoreResult<Vec<(RowKey, Option<String>)>> {
        let mut changed = Vec::new();
        for (cell, partial) in writes {
            let Some(key) = self.row_of(&cell) else {
                continue;
            };
            let row = self.rows.entry(key.clone()).or_default();
            match partial {
                Some(partial) => row.insert(cell.rollup, partial),
                None => row.remove(&cell.rollup),
            };
            changed.push(key);
        }
        changed.sort_unstable();
        changed.dedup();
        changed
            .into_iter()
            .map(|key| {
                let row = self.rows.entry(key.clone()).or_default();
                row.retain(|rollup, _| self.sets.contains_key(rollup));
                let encoded = if row.is_empty() {
                    None
                } else {
                    Some(
                        serde_json::to_string(&*row)
                            .map_err(|e| StoreError::Internal(e.to_string()))?,
                    )
                };
                Ok((key, encoded))
            })
            .collect()
    }
}

fn decode_row(state: &str) -> StoreResult<BTreeMap<i64, Partial>> {
    serde_json::from_str(state).map_err(|e| StoreError::Corrupt(format!("rollup cell: {e}")))
}

/// The partial of `rollup` in a stored row, if it has one. The other
/// rollups' entries are skipped without being built: a usage read decodes
/// one partial per hour, whatever the number of aggregators sharing the row.
pub fn partial_in_row(state: &str, rollup: i64) -> StoreResult<Option<Partial>> {
    let mut deserializer = serde_json::Deserializer::from_str(state);
    let found = serde::de::DeserializeSeed::deserialize(EntryOf(rollup), &mut deserializer)
        .map_err(|e| StoreError::Corrupt(format!("rollup cell: {e}")))?;
    Ok(found)
}

/// Reads one entry of a row's JSON object, skipping the others.
struct EntryOf(i64);

impl<'de> serde::de::DeserializeSeed<'de> for EntryOf {
    type Value = Option<Partial>;

    fn deserialize<D: serde::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> serde::de::Visitor<'de> for EntryOf {
    type Value = Option<Partial>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an object of partials keyed by rollup id")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let wanted = self.0.to_string();
        let mut found = None;
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if key == wanted {
                found = Some(map.next_value::<Partial>()?);
            } else {
                map.next_value::<serde::de::IgnoredAny>()?;
            }
        }
        Ok(found)
    }
}

/// The hours entirely inside `period`: [first, end) in milliseconds, empty
/// when none is.
fn whole_hours(period: Period) -> (i64, i64) {
    let start = period.start().as_millis();
    let end = period.end().as_millis();
    let first = start + (ROLLUP_BUCKET_MS - start.rem_euclid(ROLLUP_BUCKET_MS)) % ROLLUP_BUCKET_MS;
    let last = end - end.rem_euclid(ROLLUP_BUCKET_MS);
    (first, last.max(first))
}

/// The parts of `period` outside its whole hours (at most two).
fn edges(period: Period, (first, last): (i64, i64)) -> Vec<Period> {
    let at = |ms| Timestamp::from_millis(ms).ok();
    let mut parts = Vec::new();
    let start = period.start().as_millis();
    let end = period.end().as_millis();
    if first >= last {
        return vec![period];
    }
    for (from, to) in [(start, first), (last, end)] {
        if from < to
            && let (Some(from), Some(to)) = (at(from), at(to))
            && let Ok(part) = Period::new(from, to)
        {
            parts.push(part);
        }
    }
    parts
}

async fn add_events(
    partial: &mut Partial,
    scope: &RollupScope<'_>,
    mut events: BoxStream<'static, StoreResult<StoredEvent>>,
) -> StoreResult<()> {
    while let Some(event) = events.try_next().await? {
        if let Some(one) = scope.partial_of(&event.event_type, event.timestamp, &event.record) {
            partial.add(&one);
        }
    }
    Ok(())
}

/// Cells a read may use: a cell that does not decode (written by another
/// version, damaged) sends the read to the raw events rather than failing
/// it; other errors are the store's.
fn cells_or_none(
    cells: StoreResult<Option<Vec<(i64, Partial)>>>,
) -> StoreResult<Option<Vec<(i64, Partial)>>> {
    match cells {
        Err(StoreError::Corrupt(_)) => Ok(None),
        other => other,
    }
}

/// The aggregator's quantity for `customer` over the current events of the
/// metered range `window`, from its ready rollup; `None` when there is none
/// (not registered, still building), when the window holds no whole hour,
/// when a partial is tainted, and for a `Before` window, whose current
/// events are not what a licensed rollup holds ([`licensed_from_rollups`]
/// serves those as of their end): the caller then evaluates the raw events.
pub async fn aggregate_from_rollups<S: EventStore + ?Sized>(
    store: &S,
    account: &AccountId,
    aggregator: &Aggregator,
    filter: Option<&AggregatorFilterId>,
    customer: &CustomerId,
    window: Window,
) -> StoreResult<Option<AggregateResult>> {
    if !matches!(window, Window::Range(_)) {
        return Ok(None);
    }
    let Some(partial) =
        window_partial(store, account, aggregator, filter, customer, window).await?
    else {
        return Ok(None);
    };
    let scope = aggregator
        .rollup_scope(filter.map(AggregatorFilterId::as_str))
        .map_err(eval_error)?;
    scope.finish(&partial).map_err(eval_error)
}

/// The partial of the customer's events in `window` as billing reads them,
/// from the aggregator's ready rollup: a metered range's current events
/// (the cells and the clipped edge hours; see [`aggregate_from_rollups`] for
/// when it is `None`), a licensed window's entities as of its end
/// ([`licensed_from_rollups`]). What a caller that changes it before
/// finishing (a price simulation) starts from.
pub async fn window_partial<S: EventStore + ?Sized>(
    store: &S,
    account: &AccountId,
    aggregator: &Aggregator,
    filter: Option<&AggregatorFilterId>,
    customer: &CustomerId,
    window: Window,
) -> StoreResult<Option<Partial>> {
    let period = match window {
        Window::Range(period) if aggregator.kind() == AggregatorKind::Metered => period,
        Window::Before(end) => {
            return licensed::partial_before(store, account, aggregator, filter, customer, end)
                .await;
        }
        Window::Range(_) => return Ok(None),
    };
    let filter = filter.map(AggregatorFilterId::as_str);
    let scope = aggregator.rollup_scope(filter).map_err(eval_error)?;
    let hours = whole_hours(period);
    if hours.0 >= hours.1 {
        return Ok(None);
    }
    let key = fingerprint(aggregator, filter);
    let cells = store
        .rollup_cells(account, &key, Some(customer), hours)
        .await;
    let Some(cells) = cells_or_none(cells)? else {
        return Ok(None);
    };
    let mut total = scope.empty();
    for (_, partial) in cells {
        total.absorb(partial);
    }
    for part in edges(period, hours) {
        let events = store.stream_events(
            account,
            customer,
            aggregator.event_type(),
            EventWindow::Range(part),
        );
        add_events(&mut total, &scope, events).await?;
    }
    Ok(Some(total))
}

/// A metered time series of one customer from the aggregator's ready
/// rollup, as `EventStore::time_series` defines it; `None` when the rollup
/// cannot answer (see [`aggregate_from_rollups`]) and for every customer's
/// series, which the raw events serve in bounded memory.
pub async fn series_from_rollups<S: EventStore + ?Sized>(
    store: &S,
    account: &AccountId,
    aggregator: &Aggregator,
    filter: Option<&AggregatorFilterId>,
    customer: Option<&CustomerId>,
    range: Period,
    bucket: Bucket,
) -> StoreResult<Option<Vec<(Timestamp, AggregateResult)>>> {
    if aggregator.kind() != AggregatorKind::Metered {
        return Ok(None);
    }
    let filter = filter.map(AggregatorFilterId::as_str);
    let scope = aggregator.rollup_scope(filter).map_err(eval_error)?;
    let bounds = bucket_bounds(range, bucket).map_err(eval_error)?;
    let hours = whole_hours(range);
    let key = fingerprint(aggregator, filter);
    // Every customer's cells of a range would be held at once (customers ×
    // hours): the raw series streams them in bounded memory instead.
    let Some(customer) = customer else {
        return Ok(None);
    };
    let cells = if hours.0 < hours.1 {
        cells_or_none(
            store
                .rollup_cells(account, &key, Some(customer), hours)
                .await,
        )?
    } else {
        None
    };
    let Some(cells) = cells else {
        return Ok(None);
    };
    let mut partials: Vec<Partial> = bounds.iter().map(|_| scope.empty()).collect();
    let index_of = |ms: i64| {
        bounds
            .partition_point(|(start, _)| start.as_millis() <= ms)
            .checked_sub(1)
    };
    for (bucket_start, partial) in cells {
        if let Some(i) = index_of(bucket_start) {
            partials[i].absorb(partial);
        }
    }
    for part in edges(range, hours) {
        let window = EventWindow::Range(part);
        let events = store.stream_events(account, customer, aggregator.event_type(), window);
        if let Some(i) = index_of(part.start().as_millis()) {
            add_events(&mut partials[i], &scope, events).await?;
        }
    }
    let mut series = Vec::with_capacity(bounds.len());
    for ((start, _), partial) in bounds.iter().zip(&partials) {
        match scope.finish(partial).map_err(eval_error)? {
            Some(result) => series.push((*start, result)),
            None => return Ok(None),
        }
    }
    Ok(Some(series))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn period(start: i64, end: i64) -> Period {
        Period::new(
            Timestamp::from_millis(start).unwrap(),
            Timestamp::from_millis(end).unwrap(),
        )
        .unwrap()
    }

    const H: i64 = ROLLUP_BUCKET_MS;

    #[test]
    fn one_entry_of_a_row_is_read_and_the_others_skipped() {
        let a = Partial {
            matched: 3,
            ..Partial::default()
        };
        let mut rows = BTreeMap::new();
        rows.insert(7_i64, a.clone());
        rows.insert(12_i64, Partial::default());
        let text = serde_json::to_string(&rows).unwrap();
        assert_eq!(partial_in_row(&text, 7).unwrap(), Some(a));
        assert_eq!(partial_in_row(&text, 12).unwrap(), Some(Partial::default()));
        assert_eq!(partial_in_row(&text, 70).unwrap(), None);
        assert!(partial_in_row("[1]", 7).is_err());
    }

    #[test]
    fn a_window_splits_into_whole_hours_and_clipped_edges() {
        let aligned = period(10 * H, 20 * H);
        assert_eq!(whole_hours(aligned), (10 * H, 20 * H));
        assert!(edges(aligned, whole_hours(aligned)).is_empty());

        let ragged = period(10 * H + 5, 20 * H + 7);
        assert_eq!(whole_hours(ragged), (11 * H, 20 * H));
        let parts = edges(ragged, whole_hours(ragged));
        assert_eq!(
            parts,
            [period(10 * H + 5, 11 * H), period(20 * H, 20 * H + 7)]
        );

        let inside_one_hour = period(10 * H + 5, 10 * H + 9);
        let hours = whole_hours(inside_one_hour);
        assert!(hours.0 >= hours.1);
        assert_eq!(edges(inside_one_hour, hours), [inside_one_hour]);
    }
}
