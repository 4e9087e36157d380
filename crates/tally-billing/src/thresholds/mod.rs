//! Usage thresholds (docs/entitlements.md, "Thresholds"): after every write
//! of events, the customers it touched are evaluated in the background
//! against the thresholds of their aggregators and usage limits; a crossing
//! (or a clearing) is recorded by a compare-and-set that writes its webhook
//! event in the same transaction, so each is announced once. A server
//! evaluates every customer with thresholds at start, which also covers
//! writes whose evaluation a crash cut short.

mod evaluate;

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tally_aggregate::Aggregator;
use tally_event::Timestamp;
use tally_store::{AccountId, AggregatorId, CustomerId, Feature};

use crate::error::{BillingError, BillingResult};
use crate::service::{Billing, all_pages, lock};

/// How long an account's watched thresholds are reused before being read
/// again (a change made by another server applies within this delay; one
/// made here applies at once).
pub const THRESHOLDS_CACHE_MS: i64 = 5_000;

/// What an account watches: aggregators with thresholds, and usage limits
/// with thresholds in percent, each with its compiled aggregator.
#[derive(Default)]
pub(crate) struct Watched {
    pub(crate) aggregators: Vec<(AggregatorId, Aggregator)>,
    pub(crate) limits: Vec<(Feature, Aggregator)>,
}

impl Watched {
    fn is_empty(&self) -> bool {
        self.aggregators.is_empty() && self.limits.is_empty()
    }
}

/// The customers waiting for an evaluation, and the task draining them.
#[derive(Default)]
pub(crate) struct ThresholdWatcher {
    queue: Mutex<Queue>,
    running: AtomicBool,
    /// Background scans of whole accounts still queueing customers.
    scans: AtomicUsize,
    cache: Mutex<HashMap<AccountId, (Arc<Watched>, Timestamp)>>,
    last_error: Mutex<Option<String>>,
}

impl ThresholdWatcher {
    /// Reads the account's thresholds again on next use.
    pub(crate) fn forget(&self, account: &AccountId) {
        lock(&self.cache).remove(account);
    }

    fn cached(&self, account: &AccountId, now: Timestamp) -> Option<Arc<Watched>> {
        let cache = lock(&self.cache);
        let (watched, read_at) = cache.get(account)?;
        let age = now.as_millis() - read_at.as_millis();
        (0..THRESHOLDS_CACHE_MS)
            .contains(&age)
            .then(|| watched.clone())
    }

    fn push(&self, account: &AccountId, customers: impl IntoIterator<Item = CustomerId>) {
        let mut queue = lock(&self.queue);
        for customer in customers {
            let entry = (account.clone(), customer);
            if queue.queued.insert(entry.clone()) {
                queue.order.push_back(entry);
            }
        }
    }

    fn pop(&self) -> Option<(AccountId, CustomerId)> {
        let mut queue = lock(&self.queue);
        let next = queue.order.pop_front()?;
        queue.queued.remove(&next);
        Some(next)
    }
}

/// Customers waiting, in arrival order, each once.
#[derive(Default)]
struct Queue {
    order: VecDeque<(AccountId, CustomerId)>,
    queued: HashSet<(AccountId, CustomerId)>,
}

/// Clears the running flag when the draining task ends, however it ends.
struct Running(Arc<ThresholdWatcher>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.running.store(false, Ordering::SeqCst);
    }
}

impl Billing {
    /// Queues the customers for an evaluation of their thresholds and makes
    /// sure a task drains the queue. Costs nothing when the account watches
    /// no threshold.
    pub(crate) async fn watch_thresholds(
        &self,
        account: &AccountId,
        customers: impl IntoIterator<Item = CustomerId>,
    ) {
        // When they cannot be read, evaluate anyway: the task reads the
        // thresholds again and reports what fails.
        if matches!(self.watched(account).await, Ok(watched) if watched.is_empty()) {
            return;
        }
        self.thresholds.push(account, customers);
        self.drain_in_background();
    }

    fn drain_in_background(&self) {
        if self.thresholds.running.swap(true, Ordering::SeqCst) {
            return;
        }
        let billing = self.clone();
        tokio::spawn(async move {
            loop {
                {
                    let _running = Running(billing.thresholds.clone());
                    billing.drain_thresholds().await;
                }
                // A customer queued after the last pop but before the flag
                // was cleared found the task running and started none.
                let waiting = !lock(&billing.thresholds.queue).order.is_empty();
                if !waiting || billing.thresholds.running.swap(true, Ordering::SeqCst) {
                    return;
                }
            }
        });
    }

    async fn drain_thresholds(&self) {
        while let Some((account, customer)) = self.thresholds.pop() {
            let evaluated = async {
                let watched = self.watched(&account).await?;
                self.evaluate_thresholds(&account, &customer, &watched)
                    .await
            };
            match evaluated.await {
                // A move was read from usage that a write, a deletion or a
                // catalog change may have changed before it committed: one
                // more evaluation sees the state it left and the usage now,
                // and corrects it if they disagree.
                Ok(changed) if changed > 0 => self.thresholds.push(&account, [customer]),
                Ok(_) => {}
                Err(error) => self.record_threshold_error(format!("customer {customer}: {error}")),
            }
        }
    }

    /// Evaluates every queued customer now, and waits for the background
    /// task to finish its own (tests, tools, and programs that want the
    /// webhook events of what they just wrote recorded).
    pub async fn settle_thresholds(&self) -> BillingResult<()> {
        loop {
            self.drain_thresholds().await;
            let busy = self.thresholds.running.load(Ordering::SeqCst)
                || self.thresholds.scans.load(Ordering::SeqCst) > 0;
            let waiting = !lock(&self.thresholds.queue).order.is_empty();
            if !busy && !waiting {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
        match lock(&self.thresholds.last_error).take() {
            Some(error) => Err(BillingError::Evaluation(error)),
            None => Ok(()),
        }
    }

    /// The last evaluation failure not yet returned by
    /// [`Billing::settle_thresholds`].
    pub fn threshold_error(&self) -> Option<String> {
        lock(&self.thresholds.last_error).clone()
    }

    /// Keeps a failure of threshold work done outside the service (a
    /// program's start) for [`Billing::threshold_error`].
    pub fn record_threshold_error(&self, error: String) {
        *lock(&self.thresholds.last_error) = Some(error);
    }

    /// After a deletion or a purge: the customers with a crossed threshold
    /// may be back under it. A failure is not the deletion's: it is kept for
    /// [`Billing::threshold_error`].
    pub(crate) async fn recheck_crossed(&self, account: &AccountId) {
        let now = self.now();
        match self.store.customers_past_thresholds(account, now).await {
            Ok(customers) => self.watch_thresholds(account, customers).await,
            Err(error) => *lock(&self.thresholds.last_error) = Some(error.to_string()),
        }
    }

    /// After a catalog change that may move thresholds (an aggregator, a
    /// feature or an entitlement): reads the account's thresholds again and,
    /// in the background, queues every customer of the account.
    pub(crate) async fn recheck_account(&self, account: &AccountId) -> BillingResult<()> {
        self.thresholds.forget(account);
        if self.watched(account).await?.is_empty() {
            // Nothing watched any more: states stay as the history of what
            // was announced.
            return Ok(());
        }
        self.thresholds.scans.fetch_add(1, Ordering::SeqCst);
        let billing = self.clone();
        let account = account.clone();
        tokio::spawn(async move {
            if let Err(error) = billing.queue_every_customer(&account).await {
                billing.record_threshold_error(format!("account {account}: {error}"));
            }
            billing.thresholds.scans.fetch_sub(1, Ordering::SeqCst);
        });
        Ok(())
    }

    async fn queue_every_customer(&self, account: &AccountId) -> BillingResult<()> {
        let customers = all_pages(|page| self.store.list_customers(account, page)).await?;
        self.thresholds
            .push(account, customers.into_iter().map(|c| c.id));
        self.drain_in_background();
        Ok(())
    }

    /// [`Billing::recheck_account`] after a committed catalog change: a
    /// failure is not the change's; it is kept for
    /// [`Billing::threshold_error`] and the next change or start evaluates
    /// again.
    pub(crate) async fn thresholds_changed(&self, account: &AccountId) {
        if let Err(error) = self.recheck_account(account).await {
            *lock(&self.thresholds.last_error) = Some(error.to_string());
        }
    }

    /// What a server runs at start: every customer of every account that
    /// watches thresholds is queued and evaluated in the background, so a
    /// crossing whose evaluation a stop cut short is still announced. Reads
    /// the accounts and their thresholds before returning.
    pub async fn start_thresholds(&self) -> BillingResult<()> {
        for account in self.store.list_accounts().await? {
            // One account's failure does not keep the others from being
            // evaluated.
            if let Err(error) = self.recheck_account(&account.id).await {
                self.record_threshold_error(format!("account {}: {error}", account.id));
            }
        }
        Ok(())
    }

    /// The account's watched thresholds, read at most every
    /// [`THRESHOLDS_CACHE_MS`].
    pub(crate) async fn watched(&self, account: &AccountId) -> BillingResult<Arc<Watched>> {
        let now = self.now();
        if let Some(watched) = self.thresholds.cached(account, now) {
            return Ok(watched);
        }
        let readers = self.readers(account).await?;
        let compiled: HashMap<&AggregatorId, &Aggregator> = readers
            .all()
            .map(|(id, aggregator)| (id, aggregator))
            .collect();
        let mut watched = Watched::default();
        for (id, aggregator) in readers.all() {
            if !aggregator.thresholds().is_empty() {
                watched.aggregators.push((id.clone(), aggregator.clone()));
            }
        }
        for feature in self.all_features(account).await? {
            let Some(id) = &feature.aggregator_id else {
                continue;
            };
            if feature.threshold_percents.is_empty() {
                continue;
            }
            if let Some(aggregator) = compiled.get(id) {
                watched
                    .limits
                    .push((feature.clone(), (*aggregator).clone()));
            }
        }
        let watched = Arc::new(watched);
        lock(&self.thresholds.cache).insert(account.clone(), (watched.clone(), now));
        Ok(watched)
    }
}
