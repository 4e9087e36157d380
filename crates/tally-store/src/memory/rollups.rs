//! Rollups for `MemoryStore`: each rollup's cells in a map, changed under the
//! same lock as the events they sum (docs/rollups.md).

use std::collections::{BTreeMap, HashMap};

use tally_aggregate::Partial;

use super::{MemoryStore, State, Tenant};
use crate::error::StoreResult;
use crate::events::StoredEvent;
use crate::ids::{AccountId, CustomerId};
use crate::rollups::licensed::keys_to_read;
use crate::rollups::{
    Cell, CellDeltas, LiveRollup, RollupCompiler, RollupProgress, RollupRow, RollupSpec,
    backfill_cells, backfill_changes, backfill_group, backfill_reads_lives, backfill_writes,
};
use crate::versions::{AsOf, UpsertPlan};
use tally_event::EventKey;

/// A registered rollup and its cells.
#[derive(Debug, Clone)]
pub(super) struct MemoryRollup {
    row: RollupRow,
    backfilled: u64,
    cells: BTreeMap<(CustomerId, i64), Partial>,
}

impl Tenant {
    pub(super) fn live_rollups(&self, compiler: &RollupCompiler) -> StoreResult<Vec<LiveRollup>> {
        compiler.load(self.rollups.values().map(|r| r.row.clone()).collect())
    }

    /// The current versions of `event_type` of one customer in the hour of
    /// `cell` that `rollup` maintains.
    fn cell_events(&self, rollup: &LiveRollup, cell: &Cell) -> Vec<StoredEvent> {
        let end = cell.bucket + tally_aggregate::ROLLUP_BUCKET_MS;
        self.visible_events(AsOf::CURRENT, |e| {
            e.event_type == rollup.event_type
                && e.customer_id == cell.customer
                && (cell.bucket..end).contains(&e.timestamp.as_millis())
                && rollup.maintains(e.record_id())
        })
    }

    /// Applies `deltas` to the cells, recomputing those that need it.
    pub(super) fn apply_rollup_deltas(
        &mut self,
        rollups: &[LiveRollup],
        deltas: CellDeltas,
    ) -> StoreResult<()> {
        if deltas.is_empty() {
            return Ok(());
        }
        let stored: HashMap<Cell, Partial> = deltas
            .cells()
            .into_iter()
            .filter_map(|cell| {
                let partial = self
                    .rollups
                    .get(&cell.rollup)?
                    .cells
                    .get(&(cell.customer.clone(), cell.bucket))?;
                Some((cell, partial.clone()))
            })
            .collect();
        let out = deltas.apply(stored);
        let mut writes = out.writes;
        for cell in out.recompute {
            let Some(rollup) = rollups.iter().find(|r| r.id == cell.rollup) else {
                continue;
            };
            let partial = rollup.recompute(&self.cell_events(rollup, &cell))?;
            writes.push((cell, (!partial.is_empty()).then_some(partial)));
        }
        for (cell, partial) in writes {
            let Some(rollup) = self.rollups.get_mut(&cell.rollup) else {
                continue;
            };
            let key = (cell.customer, cell.bucket);
            match partial {
                Some(partial) => rollup.cells.insert(key, partial),
                None => rollup.cells.remove(&key),
            };
        }
        Ok(())
    }

    /// Every live version (not deleted) of `keys`.
    pub(super) fn lives<'k>(
        &self,
        keys: impl IntoIterator<Item = &'k EventKey>,
    ) -> Vec<StoredEvent> {
        keys.into_iter()
            .filter_map(|key| self.events.get(key))
            .flatten()
            .filter(|v| v.deleted_at.is_none())
            .map(|v| v.event.clone())
            .collect()
    }

    /// Retracts the keys whose live versions were `lives` until a deletion
    /// or purge just ended them (after it, so that a cell recomputed reads
    /// what is left).
    pub(super) fn retract_lives(
        &mut self,
        rollups: &[LiveRollup],
        lives: &[StoredEvent],
    ) -> StoreResult<()> {
        if rollups.is_empty() || lives.is_empty() {
            return Ok(());
        }
        self.apply_rollup_deltas(rollups, CellDeltas::of_removed(rollups, lives)?)
    }
}

/// The rollups of `accounts` that have any, compiled: loaded before a write
/// changes anything, so that a failure leaves the state as it was.
pub(super) fn load_rollups<'a>(
    state: &State,
    compiler: &RollupCompiler,
    accounts: impl IntoIterator<Item = &'a AccountId>,
) -> StoreResult<HashMap<AccountId, Vec<LiveRollup>>> {
    let mut loaded = HashMap::new();
    for account in accounts {
        if let Some(tenant) = state.tenants.get(account)
            && !tenant.rollups.is_empty()
        {
            loaded.insert(account.clone(), tenant.live_rollups(compiler)?);
        }
    }
    Ok(loaded)
}

/// Applies to the rollups what `plan` changed: per account, the versions that
/// stopped being current leave, the new current versions come in.
pub(super) fn apply_plan_to_rollups(
    state: &mut State,
    loaded: &HashMap<AccountId, Vec<LiveRollup>>,
    plan: &UpsertPlan<'_>,
) -> StoreResult<()> {
    for (account, rollups) in loaded {
        let Some(tenant) = state.tenants.get_mut(account) else {
            continue;
        };
        let lives = tenant.lives(&keys_to_read(plan, account, rollups));
        let deltas = CellDeltas::of_plan(plan, account, rollups, &lives)?;
        tenant.apply_rollup_deltas(rollups, deltas)?;
    }
    Ok(())
}

/// One backfill step of the least advanced building rollup of any account,
/// with the rollups at its cursor.
fn backfill_step(
    state: &mut State,
    compiler: &RollupCompiler,
    max_events: u64,
) -> StoreResult<bool> {
    for tenant in state.tenants.values_mut() {
        let lead = tenant
            .rollups
            .values()
            .filter(|r| !r.row.ready)
            .min_by(|a, b| (&a.row.cursor, a.row.id).cmp(&(&b.row.cursor, b.row.id)))
            .map(|r| r.row.id);
        let Some(lead) = lead else {
            continue;
        };
        let rollups = tenant.live_rollups(compiler)?;
        let group = backfill_group(&rollups, lead);
        let Some(first) = group.first() else {
            continue;
        };
        let limit = usize::try_from(max_events.max(1)).unwrap_or(usize::MAX);
        let chunk: Vec<StoredEvent> = tenant
            .events
            .iter()
            .filter(|(key, _)| {
                key.event_type == first.event_type
                    && first.cursor.as_ref().is_none_or(|c| key.record_id > *c)
            })
            .filter_map(|(_, versions)| AsOf::CURRENT.pick(versions))
            .take(limit)
            .map(|v| v.event.clone())
            .collect();
        let lives = if backfill_reads_lives(&group) {
            let keys: Vec<EventKey> = chunk.iter().map(StoredEvent::key).collect();
            tenant.lives(&keys)
        } else {
            Vec::new()
        };
        let changes = backfill_changes(&group, &chunk, &lives)?;
        let cells = backfill_cells(&changes);
        let stored: HashMap<Cell, Partial> = cells
            .into_iter()
            .filter_map(|cell| {
                let rollup = tenant.rollups.get(&cell.rollup)?;
                let partial = rollup
                    .cells
                    .get(&(cell.customer.clone(), cell.bucket))?
                    .clone();
                Some((cell, partial))
            })
            .collect();
        let writes = backfill_writes(changes, stored);
        let done = chunk.len() < limit;
        let ids: Vec<i64> = group.iter().map(|r| r.id).collect();
        for (cell, partial) in writes {
            let Some(rollup) = tenant.rollups.get_mut(&cell.rollup) else {
                continue;
            };
            let key = (cell.customer, cell.bucket);
            match partial {
                Some(partial) => rollup.cells.insert(key, partial),
                None => rollup.cells.remove(&key),
            };
        }
        for id in ids {
            let Some(rollup) = tenant.rollups.get_mut(&id) else {
                continue;
            };
            rollup.backfilled += chunk.len() as u64;
            rollup.row.ready = done;
            if let Some(last) = chunk.last() {
                rollup.row.cursor = Some(last.record_id().clone());
            }
        }
        return Ok(true);
    }
    Ok(false)
}

/// Registers the specs the tenant does not have yet.
fn register(state: &mut State, account: &AccountId, specs: &[RollupSpec]) {
    let mut next_id = state.next_rollup_id;
    let tenant = state.tenants.entry(account.clone()).or_default();
    for spec in specs {
        if tenant
            .rollups
            .values()
            .any(|r| r.row.fingerprint == spec.fingerprint)
        {
            continue;
        }
        next_id += 1;
        let row = RollupRow {
            id: next_id,
            // Memory keeps cells per rollup: no shared rows.
            set: next_id,
            fingerprint: spec.fingerprint.clone(),
            event_type: spec.event_type.clone(),
            definition: spec.definition.clone(),
            filter: spec.filter.clone(),
            ready: false,
            cursor: None,
        };
        let rollup = MemoryRollup {
            row,
            backfilled: 0,
            cells: BTreeMap::new(),
        };
        tenant.rollups.insert(next_id, rollup);
    }
    state.next_rollup_id = next_id;
}

impl MemoryStore {
    pub(super) async fn register_rollups_impl(
        &self,
        account: &AccountId,
        specs: &[RollupSpec],
    ) -> StoreResult<()> {
        self.with_state(|state| {
            register(state, account, specs);
            Ok(())
        })
    }

    pub(super) async fn retain_rollups_impl(
        &self,
        account: &AccountId,
        keep: &[String],
    ) -> StoreResult<()> {
        self.with_tenant(account, |tenant| {
            tenant
                .rollups
                .retain(|_, r| keep.contains(&r.row.fingerprint));
            Ok(())
        })
    }

    pub(super) async fn rollup_progress_impl(
        &self,
        account: &AccountId,
    ) -> StoreResult<Vec<RollupProgress>> {
        self.with_tenant(account, |tenant| {
            Ok(tenant
                .rollups
                .values()
                .map(|r| RollupProgress {
                    fingerprint: r.row.fingerprint.clone(),
                    ready: r.row.ready,
                    backfilled_events: r.backfilled,
                })
                .collect())
        })
    }

    pub(super) async fn backfill_rollups_impl(&self, max_events: u64) -> StoreResult<bool> {
        let compiler = self.compiler.clone();
        self.with_state(|state| backfill_step(state, &compiler, max_events))
    }

    pub(super) async fn rollup_cells_impl(
        &self,
        account: &AccountId,
        fingerprint: &str,
        customer: Option<&CustomerId>,
        hours: (i64, i64),
    ) -> StoreResult<Option<Vec<(i64, Partial)>>> {
        self.with_tenant(account, |tenant| {
            let Some(rollup) = tenant
                .rollups
                .values()
                .find(|r| r.row.fingerprint == fingerprint && r.row.ready)
            else {
                return Ok(None);
            };
            let cells = rollup
                .cells
                .iter()
                .filter(|((c, bucket), _)| {
                    customer.is_none_or(|wanted| c == wanted) && (hours.0..hours.1).contains(bucket)
                })
                .map(|((_, bucket), partial)| (*bucket, partial.clone()))
                .collect();
            Ok(Some(cells))
        })
    }
}
