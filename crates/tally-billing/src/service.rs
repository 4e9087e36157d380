//! [`Billing`], the service every use case hangs off, and the lookups they share.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tally_aggregate::Aggregator;
use tally_event::{CustomerRef, Timestamp};
use tally_store::{AccountId, AggregatorId, AggregatorRecord, Customer, Store, StoreError};

use crate::clock::{Clock, Ids, SystemClock};
use crate::commit::{GroupCommit, IngestQueueConfig};
use crate::error::{BillingError, BillingResult};
use crate::readers::ReadersCache;
use crate::rollups::RollupWorker;
use crate::settings::AccountSettings;
use crate::thresholds::ThresholdWatcher;
use crate::webhooks::WebhookConfig;

/// Tally's use cases over a store. Cheap to clone (a few `Arc`s); every method is
/// scoped by the [`AccountId`] it acts in.
#[derive(Clone)]
pub struct Billing {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) ids: Arc<Ids>,
    settings: Arc<SettingsCache>,
    pub(crate) readers: Arc<ReadersCache>,
    pub(crate) commit: Arc<GroupCommit>,
    pub(crate) rollup_worker: Arc<RollupWorker>,
    pub(crate) thresholds: Arc<ThresholdWatcher>,
    pub(crate) webhooks: Arc<WebhookConfig>,
}

/// How long an account's settings are reused before being read again. Ingestion
/// reads them on every call; a change applies within this delay.
pub const SETTINGS_CACHE_MS: i64 = 5_000;

/// Settings read recently, per account, with the instant they were read.
#[derive(Default)]
struct SettingsCache(Mutex<HashMap<AccountId, (AccountSettings, Timestamp)>>);

impl SettingsCache {
    fn get(&self, account: &AccountId, now: Timestamp) -> Option<AccountSettings> {
        let entries = lock(&self.0);
        let (settings, read_at) = entries.get(account)?;
        let age = now.as_millis() - read_at.as_millis();
        (0..SETTINGS_CACHE_MS).contains(&age).then_some(*settings)
    }

    fn forget(&self, account: &AccountId) {
        let mut entries = lock(&self.0);
        entries.remove(account);
    }

    fn put(&self, account: &AccountId, settings: AccountSettings, now: Timestamp) {
        let mut entries = lock(&self.0);
        entries.insert(account.clone(), (settings, now));
    }
}

impl Billing {
    /// A service on the system clock, drawing ids from OS-seeded randomness.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Billing::with_parts(store, Arc::new(SystemClock), Arc::new(Ids::from_os()))
    }

    /// A service with an injected clock and id generator (tests, replays).
    pub fn with_parts(store: Arc<dyn Store>, clock: Arc<dyn Clock>, ids: Arc<Ids>) -> Self {
        let commit = Arc::new(GroupCommit::new(
            Arc::clone(&store),
            IngestQueueConfig::default(),
        ));
        Billing {
            store,
            clock,
            ids,
            settings: Arc::default(),
            readers: Arc::default(),
            commit,
            rollup_worker: Arc::default(),
            thresholds: Arc::default(),
            webhooks: Arc::default(),
        }
    }

    /// The same service with these webhook settings (docs/webhooks.md): what
    /// endpoints may point at, and how the delivery worker delivers.
    pub fn with_webhooks(mut self, config: WebhookConfig) -> Self {
        self.webhooks = Arc::new(config);
        self
    }

    /// The webhook settings.
    pub fn webhook_config(&self) -> WebhookConfig {
        *self.webhooks
    }

    /// The same service with other ingestion queue bounds (call before
    /// ingesting: events queued in the previous queue are still written, by
    /// its own writer).
    pub fn with_ingest_queue(mut self, config: IngestQueueConfig) -> Self {
        self.commit = Arc::new(GroupCommit::new(Arc::clone(&self.store), config));
        self
    }

    /// The ingestion queue's bounds.
    pub fn ingest_queue(&self) -> IngestQueueConfig {
        self.commit.config()
    }

    /// Events queued for writing or being written now (`tally serve` exports it as the `tally_ingest_queue_events` gauge).
    pub fn ingest_queue_len(&self) -> usize {
        self.commit.queued_events()
    }

    /// Waits until every event submitted before this call is written (or its
    /// request failed): what a server calls at shutdown, after its last
    /// request, so no queued write is cut short.
    pub async fn flush_ingest(&self) {
        self.commit.flush().await;
    }

    /// The store the service reads and writes.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Now, by the injected clock.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// The account's settings: one store read at most every
    /// [`SETTINGS_CACHE_MS`]. A stored value that does not read back is corrupt
    /// data, not a request problem (and is never cached).
    pub async fn account_settings(&self, account: &AccountId) -> BillingResult<AccountSettings> {
        let now = self.now();
        if let Some(settings) = self.settings.get(account, now) {
            return Ok(settings);
        }
        let record = self.store.get_account(account).await?;
        let settings = AccountSettings::from_json(&record.settings).map_err(|error| {
            BillingError::Store(StoreError::Corrupt(format!("account settings: {error}")))
        })?;
        self.settings.put(account, settings, now);
        Ok(settings)
    }

    /// Reads the account's settings from the store on next use.
    pub(crate) fn forget_settings(&self, account: &AccountId) {
        self.settings.forget(account);
    }

    /// The customer a reference (`cus_` id or external id) names, never creating
    /// one; `NotFound` (`customer`) when none does.
    pub async fn find_customer(
        &self,
        account: &AccountId,
        reference: &str,
    ) -> BillingResult<Customer> {
        let reference =
            CustomerRef::parse(reference).map_err(|_| BillingError::not_found("customer"))?;
        self.store
            .find_customer(account, &reference)
            .await?
            .ok_or(BillingError::not_found("customer"))
    }

    /// An aggregator and its compiled definition; `NotFound` for an id that does
    /// not parse, like for one that does not exist.
    pub(crate) async fn load_aggregator(
        &self,
        account: &AccountId,
        id: &str,
    ) -> BillingResult<(AggregatorRecord, Aggregator)> {
        let id = AggregatorId::parse(id).map_err(|_| BillingError::not_found("aggregator"))?;
        let record = self.store.get_aggregator(account, &id).await?;
        let compiled = compile_stored(&record)?;
        Ok((record, compiled))
    }
}

/// A stored aggregator, compiled. Its definition compiled when it was written,
/// so a failure here is corrupt data.
pub(crate) fn compile_stored(record: &AggregatorRecord) -> BillingResult<Aggregator> {
    Aggregator::compile(&record.definition).map_err(|errors| {
        let first = errors.first().map(ToString::to_string).unwrap_or_default();
        BillingError::Store(StoreError::Corrupt(format!(
            "aggregator {} no longer compiles: {first}",
            record.id
        )))
    })
}

/// Every item of a paged store list, page after page, oldest first (the
/// catalog lists: catalogs are small).
pub(crate) async fn all_pages<T, F, Fut>(mut read: F) -> BillingResult<Vec<T>>
where
    F: FnMut(tally_store::PageRequest) -> Fut,
    Fut: std::future::Future<Output = tally_store::StoreResult<tally_store::Page<T>>>,
{
    let mut all = Vec::new();
    loop {
        let page = tally_store::PageRequest {
            take: tally_store::MAX_TAKE,
            skip: all.len() as u64,
        };
        let tally_store::Page { total, items } = read(page).await?;
        let fetched = items.len();
        all.extend(items);
        if fetched == 0 || all.len() as u64 >= total {
            return Ok(all);
        }
    }
}

/// A mutex's guard, also after a panic elsewhere poisoned it: what the
/// service's small shared states hold stays consistent between statements.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
