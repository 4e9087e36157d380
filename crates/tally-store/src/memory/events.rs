//! `EventStore` for `MemoryStore`: every version of a key in a list, in
//! sequence order; reads pick a version per key by the definitions of
//! `crate::versions`.

use std::collections::{BTreeSet, HashMap};

use async_trait::async_trait;
use futures::stream::{self, BoxStream, StreamExt};
use tally_event::{EventKey, EventType, RecordId};

use super::rollups::{apply_plan_to_rollups, load_rollups};
use super::{MemoryStore, State, Tenant};
use crate::error::{StoreError, StoreResult};
use crate::events::{EventGroup, EventQuery, EventWindow, NewEvent, StoredEvent, UpsertResult};
use crate::ids::{AccountId, CustomerId};
use crate::page::{Page, SortOrder};
use crate::rollups::{RollupCompiler, RollupProgress, RollupSpec};
use crate::traits::EventStore;
use crate::versions::{AsOf, EventSeq, EventVersion, UpsertPlan, plan_upserts};

impl Tenant {
    pub(super) fn current(&self, key: &EventKey) -> Option<&EventVersion> {
        self.events
            .get(key)
            .and_then(|versions| AsOf::CURRENT.pick(versions))
    }

    /// One version per key as `as_of` sees it, passing `keep`.
    pub(super) fn visible_events(
        &self,
        as_of: AsOf,
        keep: impl Fn(&StoredEvent) -> bool,
    ) -> Vec<StoredEvent> {
        self.events
            .values()
            .filter_map(|versions| as_of.pick(versions))
            .map(|v| &v.event)
            .filter(|e| keep(e))
            .cloned()
            .collect()
    }

    fn next_seq(&mut self) -> EventSeq {
        self.last_seq = self.last_seq.next();
        self.last_seq
    }
}

/// Plans every group against the state, then applies the plan to the events
/// and the rollups.
fn upsert_groups(
    state: &mut State,
    compiler: &RollupCompiler,
    groups: &[EventGroup],
) -> StoreResult<Vec<Vec<UpsertResult>>> {
    let parts: Vec<(&AccountId, &[NewEvent])> = groups
        .iter()
        .map(|g| (&g.account, g.events.as_slice()))
        .collect();
    let mut current = HashMap::new();
    let mut last_seq = HashMap::new();
    for &(account, events) in &parts {
        let tenant = state.tenants.get(account);
        last_seq.insert(account, tenant.map_or(EventSeq::ZERO, |t| t.last_seq));
        for event in events {
            let found = tenant
                .and_then(|t| t.current(&event.key()))
                .map(|v| v.event.clone());
            current.insert((account, event.key()), found);
        }
    }
    let rollups = load_rollups(state, compiler, parts.iter().map(|(account, _)| *account))?;
    let plan = plan_upserts(&parts, current, last_seq);
    apply(state, &plan);
    apply_plan_to_rollups(state, &rollups, &plan)?;
    Ok(plan.results)
}

fn apply(state: &mut State, plan: &UpsertPlan<'_>) {
    for version in &plan.versions {
        let tenant = state.tenants.entry(version.account.clone()).or_default();
        tenant
            .events
            .entry(version.event.key())
            .or_default()
            .push(EventVersion {
                event: StoredEvent::from_planned(version),
                current_until: version.current_until,
                deleted_at: None,
            });
    }
    for superseded in &plan.superseded {
        let tenant = state.tenants.entry(superseded.account.clone()).or_default();
        let versions = tenant.events.entry(superseded.key.clone()).or_default();
        if let Some(old) = versions.iter_mut().find(|v| v.event.seq == superseded.seq) {
            old.current_until = Some(superseded.until);
        }
    }
    for (account, last) in &plan.last_seq {
        state
            .tenants
            .entry((*account).clone())
            .or_default()
            .last_seq = *last;
    }
}

fn list_order(a: &StoredEvent, b: &StoredEvent) -> std::cmp::Ordering {
    (a.timestamp, &a.event_type, a.record_id()).cmp(&(b.timestamp, &b.event_type, b.record_id()))
}

/// The distinct keys of `record_ids`.
fn keys(event_type: &EventType, record_ids: &[RecordId]) -> BTreeSet<EventKey> {
    record_ids
        .iter()
        .map(|record_id| EventKey {
            event_type: event_type.clone(),
            record_id: record_id.clone(),
        })
        .collect()
}

#[async_trait]
impl EventStore for MemoryStore {
    /// Every group under the one lock: atomic, like a backend's transaction.
    async fn upsert_event_groups(
        &self,
        groups: &[EventGroup],
    ) -> StoreResult<Vec<Vec<UpsertResult>>> {
        let compiler = self.compiler.clone();
        self.with_state(|state| upsert_groups(state, &compiler, groups))
    }

    async fn latest_seq(&self, account: &AccountId) -> StoreResult<EventSeq> {
        self.with_tenant(account, |tenant| Ok(tenant.last_seq))
    }

    async fn event_history(
        &self,
        account: &AccountId,
        key: &EventKey,
    ) -> StoreResult<Vec<EventVersion>> {
        self.with_tenant(account, |tenant| {
            Ok(tenant.events.get(key).cloned().unwrap_or_default())
        })
    }

    async fn list_events(
        &self,
        account: &AccountId,
        query: &EventQuery,
    ) -> StoreResult<Page<StoredEvent>> {
        query.page.check()?;
        let mut matching = self.with_tenant(account, |tenant| {
            Ok(tenant.visible_events(AsOf::CURRENT, |e| query.matches(e)))
        })?;
        matching.sort_by(list_order);
        if query.order == SortOrder::Desc {
            matching.reverse();
        }
        Ok(Page::slice(matching, query.page))
    }

    async fn delete_events(
        &self,
        account: &AccountId,
        event_type: &EventType,
        record_ids: &[RecordId],
    ) -> StoreResult<u64> {
        let compiler = self.compiler.clone();
        self.with_tenant(account, |tenant| {
            let live: Vec<EventKey> = keys(event_type, record_ids)
                .into_iter()
                .filter(|key| tenant.current(key).is_some())
                .collect();
            if live.is_empty() {
                return Ok(0);
            }
            // Loaded first: a failure leaves the events as they were.
            let rollups = tenant.live_rollups(&compiler)?;
            let gone = tenant.lives(&live);
            let deletion = tenant.next_seq();
            let mut deleted = 0;
            for key in &live {
                let Some(versions) = tenant.events.get_mut(key) else {
                    continue;
                };
                deleted += 1;
                for version in versions.iter_mut().filter(|v| v.deleted_at.is_none()) {
                    version.deleted_at = Some(deletion);
                    version.current_until.get_or_insert(deletion);
                }
            }
            // After the deletion: a cell recomputed reads what is left.
            tenant.retract_lives(&rollups, &gone)?;
            Ok(deleted)
        })
    }

    async fn purge_events(
        &self,
        account: &AccountId,
        event_type: &EventType,
        record_ids: &[RecordId],
    ) -> StoreResult<u64> {
        let compiler = self.compiler.clone();
        self.with_tenant(account, |tenant| {
            let keys = keys(event_type, record_ids);
            let live = tenant.lives(&keys);
            let rollups = tenant.live_rollups(&compiler)?;
            let purged = keys
                .iter()
                .filter(|key| tenant.events.remove(key).is_some())
                .count();
            tenant.retract_lives(&rollups, &live)?;
            Ok(purged as u64)
        })
    }

    async fn register_rollups(&self, account: &AccountId, specs: &[RollupSpec]) -> StoreResult<()> {
        self.register_rollups_impl(account, specs).await
    }

    async fn retain_rollups(&self, account: &AccountId, keep: &[String]) -> StoreResult<()> {
        self.retain_rollups_impl(account, keep).await
    }

    async fn rollup_progress(&self, account: &AccountId) -> StoreResult<Vec<RollupProgress>> {
        self.rollup_progress_impl(account).await
    }

    async fn backfill_rollups(&self, max_events: u64) -> StoreResult<bool> {
        self.backfill_rollups_impl(max_events).await
    }

    async fn rollup_cells(
        &self,
        account: &AccountId,
        fingerprint: &str,
        customer: Option<&CustomerId>,
        hours: (i64, i64),
    ) -> StoreResult<Option<Vec<(i64, tally_aggregate::Partial)>>> {
        self.rollup_cells_impl(account, fingerprint, customer, hours)
            .await
    }

    fn stream_events_as_of(
        &self,
        account: &AccountId,
        customer: Option<&CustomerId>,
        event_type: &EventType,
        window: EventWindow,
        as_of: AsOf,
    ) -> BoxStream<'static, StoreResult<StoredEvent>> {
        // Memory already holds every event: a sorted copy of the matching ones is
        // the bounded-memory answer here.
        let selected = self.with_tenant(account, |tenant| {
            let mut events = tenant.visible_events(as_of, |e| {
                customer.is_none_or(|c| e.customer_id == *c)
                    && e.event_type == *event_type
                    && window.contains(e.timestamp)
            });
            events.sort_by(|a, b| (a.timestamp, a.record_id()).cmp(&(b.timestamp, b.record_id())));
            Ok(events)
        });
        match selected {
            Ok(events) => stream::iter(events.into_iter().map(Ok)).boxed(),
            Err(err) => stream::once(async move { Err::<StoredEvent, StoreError>(err) }).boxed(),
        }
    }
}
