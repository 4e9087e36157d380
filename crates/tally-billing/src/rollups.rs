//! Keeping rollups in step with the catalog, and building them in the
//! background (docs/rollups.md).
//!
//! Every aggregator change registers the rollups the account's aggregators
//! need and drops the others ([`Billing::sync_rollups`]); a worker task then
//! backfills the new ones, a chunk per transaction, until they are ready.
//! Until then, reads of those aggregators scan the raw events: slower, never
//! wrong. The worker's progress is in the store (each rollup's cursor), so a
//! restart resumes where it stopped.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tally_aggregate::Aggregator;
use tally_store::rollups::{RollupProgress, fingerprint, rolls_up, rollup_specs};
use tally_store::{AccountId, Store};
use tokio::sync::Notify;

use crate::error::BillingResult;
use crate::service::{Billing, compile_stored, lock};

/// Current events read per backfill transaction: large enough to amortize a
/// commit, small enough that a writer waiting behind it waits milliseconds.
pub const BACKFILL_CHUNK_EVENTS: u64 = 5_000;

/// How often an idle worker looks for building rollups anyway (another
/// process sharing the database may have registered some).
const IDLE_POLL: Duration = Duration::from_secs(10);

/// How long the worker waits after a failed step before trying again.
const RETRY_AFTER: Duration = Duration::from_secs(5);

/// Where an aggregator's rollups are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RollupState {
    /// Every rollup is ready: usage reads come from them.
    Ready {
        /// Current events read by the backfills.
        backfilled_events: u64,
    },
    /// A backfill is running: reads scan the raw events meanwhile.
    Building {
        /// Current events read so far.
        backfilled_events: u64,
    },
    /// No rollup is kept (a licensed `min`, `max` or `latest`, whose extreme
    /// cannot be cancelled: docs/rollups.md), or none is registered yet.
    None,
}

impl RollupState {
    /// The API's name: `ready`, `building` or `none`.
    pub fn as_str(&self) -> &'static str {
        match self {
            RollupState::Ready { .. } => "ready",
            RollupState::Building { .. } => "building",
            RollupState::None => "none",
        }
    }

    /// Current events the backfills read (0 for `none`).
    pub fn backfilled_events(&self) -> u64 {
        match self {
            RollupState::Ready { backfilled_events }
            | RollupState::Building { backfilled_events } => *backfilled_events,
            RollupState::None => 0,
        }
    }
}

/// The backfill worker of one service: spawned on first need, on the current
/// Tokio runtime; it stops when the service is dropped.
#[derive(Default)]
pub(crate) struct RollupWorker {
    wake: Arc<Notify>,
    /// Whether a worker task runs; the task clears it when it ends (also by
    /// a panic or its runtime's shutdown), so the next wake starts another.
    running: Arc<AtomicBool>,
    /// The last failed catalog sync, kept until a sync succeeds.
    sync_error: Mutex<Option<String>>,
    /// The last failed backfill step, kept until a step succeeds.
    step_error: Arc<Mutex<Option<String>>>,
    /// One sync at a time: two catalog changes syncing at once could each
    /// retain from a list that misses the other's aggregator.
    pub(crate) sync: tokio::sync::Mutex<()>,
}

impl RollupWorker {
    /// Wakes the worker, spawning it if it does not run (outside a runtime,
    /// nothing happens: reads scan events until a worker runs).
    fn wake(&self, store: &Arc<dyn Store>) {
        if let Ok(runtime) = tokio::runtime::Handle::try_current()
            && !self.running.swap(true, Ordering::SeqCst)
        {
            runtime.spawn(run_worker(
                Arc::clone(store),
                Arc::downgrade(&self.wake),
                Running(Arc::clone(&self.running)),
                Arc::clone(&self.step_error),
            ));
        }
        self.wake.notify_one();
    }

    /// Records the outcome of a catalog sync.
    pub(crate) fn record_sync(&self, outcome: Result<(), &crate::BillingError>) {
        *lock(&self.sync_error) = outcome.err().map(ToString::to_string);
    }

    fn last_error(&self) -> Option<String> {
        lock(&self.sync_error)
            .clone()
            .or_else(|| lock(&self.step_error).clone())
    }
}

/// Clears the running flag when the worker task ends, however it ends.
struct Running(Arc<AtomicBool>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

/// Backfills until nothing builds, then sleeps until woken (or polled);
/// ends when the service is gone.
async fn run_worker(
    store: Arc<dyn Store>,
    wake: Weak<Notify>,
    _running: Running,
    step_error: Arc<Mutex<Option<String>>>,
) {
    loop {
        if wake.strong_count() == 0 {
            return;
        }
        let pause = match store.backfill_rollups(BACKFILL_CHUNK_EVENTS).await {
            Ok(true) => {
                *lock(&step_error) = None;
                // A store that answers without waiting (memory) must not
                // hold a thread until the whole backfill is done.
                tokio::task::yield_now().await;
                continue;
            }
            Ok(false) => IDLE_POLL,
            Err(error) => {
                *lock(&step_error) = Some(error.to_string());
                RETRY_AFTER
            }
        };
        let Some(wake) = wake.upgrade() else {
            return;
        };
        let _ = tokio::time::timeout(pause, wake.notified()).await;
    }
}

impl Billing {
    /// Registers the rollups the account's aggregators need, drops those no
    /// aggregator needs any more, and wakes the backfill worker. Called after
    /// every aggregator change; idempotent.
    pub async fn sync_rollups(&self, account: &AccountId) -> BillingResult<()> {
        let _one_at_a_time = self.rollup_worker.sync.lock().await;
        let mut keep = Vec::new();
        for record in self.all_aggregators(account).await? {
            let specs = rollup_specs(&compile_stored(&record)?);
            keep.extend(specs.iter().map(|s| s.fingerprint.clone()));
            self.store.register_rollups(account, &specs).await?;
        }
        self.store.retain_rollups(account, &keep).await?;
        self.rollup_worker.wake(&self.store);
        Ok(())
    }

    /// [`Billing::sync_rollups`] for every account: what a server runs at
    /// start, so that aggregators created before rollups existed (or by
    /// another process) get theirs, and the worker resumes any backfill. A
    /// failure is kept for [`Billing::backfill_error`]: reads stay correct
    /// without rollups, only slower.
    pub async fn start_rollups(&self) {
        let synced = async {
            for account in self.store.list_accounts().await? {
                self.sync_rollups(&account.id).await?;
            }
            BillingResult::Ok(())
        };
        let synced = synced.await;
        self.rollup_worker.record_sync(synced.as_ref().map(|_| ()));
        self.rollup_worker.wake(&self.store);
    }

    /// Runs backfill steps until every rollup of every account is ready
    /// (tests, tools, and programs that want reads served by rollups at once).
    pub async fn finish_backfills(&self) -> BillingResult<()> {
        while self.store.backfill_rollups(BACKFILL_CHUNK_EVENTS).await? {}
        Ok(())
    }

    /// Where the rollups of `aggregator` are.
    pub async fn rollup_state(
        &self,
        account: &AccountId,
        aggregator: &Aggregator,
    ) -> BillingResult<RollupState> {
        if !rolls_up(aggregator) {
            return Ok(RollupState::None);
        }
        let progress = self.store.rollup_progress(account).await?;
        Ok(state_of(aggregator, &progress))
    }

    /// The last error of the backfill worker, if its last step failed.
    pub fn backfill_error(&self) -> Option<String> {
        self.rollup_worker.last_error()
    }
}

/// The state of an aggregator's rollups (one per named filter and one
/// without) among the account's.
pub(crate) fn state_of(aggregator: &Aggregator, progress: &[RollupProgress]) -> RollupState {
    let filters =
        std::iter::once(None).chain(aggregator.filters().iter().map(|f| Some(f.id.as_str())));
    let mut ready = true;
    let mut backfilled = 0;
    for filter in filters {
        let key = fingerprint(aggregator, filter);
        let Some(found) = progress.iter().find(|p| p.fingerprint == key) else {
            return RollupState::None;
        };
        ready &= found.ready;
        backfilled = backfilled.max(found.backfilled_events);
    }
    if ready {
        RollupState::Ready {
            backfilled_events: backfilled,
        }
    } else {
        RollupState::Building {
            backfilled_events: backfilled,
        }
    }
}
