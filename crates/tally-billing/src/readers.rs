//! Which aggregators read each event type of an account, so that ingestion
//! can say when an accepted event will bill nothing it might be expected to
//! (docs/billing.md, "Ingestion"):
//!
//! - `no_aggregator`: no aggregator reads its event type (yet);
//! - `not_numeric`: an aggregator selects it (its type and `where`) but the
//!   value it needs is not a number (`"1200"` for a sum), so the event will
//!   be skipped, and counted in that aggregator's diagnostics.
//!
//! The aggregators are read at most every [`SETTINGS_CACHE_MS`] per account,
//! and again at once after this service changes one; another replica's
//! change shows within the delay. A warning never refuses an event.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tally_aggregate::{Aggregator, Contribution, SkipReason, Window};
use tally_event::{Event, EventType, Timestamp};
use tally_store::{AccountId, AggregatorId};

use crate::error::BillingResult;
use crate::service::{Billing, SETTINGS_CACHE_MS, compile_stored, lock};

/// Why an accepted event may bill less than its sender expects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UsageWarning {
    /// No aggregator reads the event's type.
    NoAggregator,
    /// The aggregator selects the event, but the value at `path` is not a number.
    NotNumeric {
        /// The aggregator that will skip it.
        aggregator_id: AggregatorId,
        /// JSON pointer of the value (`/record/amount`), or `/record` when a
        /// formula reads several.
        path: String,
    },
}

/// An account's compiled aggregators, by the event type they read.
#[derive(Debug, Default)]
pub(crate) struct Readers {
    by_type: HashMap<EventType, Vec<(AggregatorId, Aggregator)>>,
}

impl Readers {
    /// Every aggregator of the account, compiled, with its id.
    pub(crate) fn all(&self) -> impl Iterator<Item = &(AggregatorId, Aggregator)> {
        self.by_type.values().flatten()
    }

    /// Whether one of the account's aggregators has a filter with this id.
    pub(crate) fn has_filter(&self, id: &str) -> bool {
        self.by_type
            .values()
            .flatten()
            .any(|(_, aggregator)| aggregator.filter(id).is_some())
    }

    /// What to warn about for one event.
    pub(crate) fn warnings(&self, event: &Event) -> Vec<UsageWarning> {
        let Some(readers) = self.by_type.get(&event.event_type) else {
            return vec![UsageWarning::NoAggregator];
        };
        // Every instant but the very last is in this window: only the type,
        // `where` and the value decide (an event stamped 9999-12-31T23:59:59.999Z
        // is never warned about).
        let always = Window::Before(Timestamp::MAX);
        readers
            .iter()
            .filter_map(|(id, aggregator)| {
                let contribution = aggregator.contribution(event, always, None).ok()?;
                (contribution == Contribution::Skipped(SkipReason::NotNumeric)).then(|| {
                    UsageWarning::NotNumeric {
                        aggregator_id: id.clone(),
                        path: aggregator
                            .property()
                            .map_or_else(|| "/record".to_owned(), |p| format!("/record/{p}")),
                    }
                })
            })
            .collect()
    }
}

/// Readers read recently, per account, with the instant they were read, and
/// a count of the changes this service made: a list read while an
/// aggregator changed is used once but never cached, so the change shows at
/// once.
#[derive(Default)]
pub(crate) struct ReadersCache {
    entries: Mutex<HashMap<AccountId, (Arc<Readers>, Timestamp)>>,
    changes: AtomicU64,
}

impl ReadersCache {
    fn get(&self, account: &AccountId, now: Timestamp) -> Option<Arc<Readers>> {
        let entries = lock(&self.entries);
        let (readers, read_at) = entries.get(account)?;
        let age = now.as_millis() - read_at.as_millis();
        (0..SETTINGS_CACHE_MS)
            .contains(&age)
            .then(|| Arc::clone(readers))
    }

    /// How many changes this service has made so far.
    fn changes(&self) -> u64 {
        self.changes.load(Ordering::SeqCst)
    }

    /// Keeps `readers`, listed when [`ReadersCache::changes`] was
    /// `changes_before`, unless an aggregator changed since.
    fn put(&self, account: &AccountId, readers: Arc<Readers>, now: Timestamp, changes_before: u64) {
        let mut entries = lock(&self.entries);
        if self.changes() == changes_before {
            entries.insert(account.clone(), (readers, now));
        }
    }

    /// Read the account's aggregators again on next use.
    pub(crate) fn forget(&self, account: &AccountId) {
        let mut entries = lock(&self.entries);
        self.changes.fetch_add(1, Ordering::SeqCst);
        entries.remove(account);
    }
}

impl Billing {
    /// The account's aggregators by event type, from the cache when fresh.
    pub(crate) async fn readers(&self, account: &AccountId) -> BillingResult<Arc<Readers>> {
        let now = self.now();
        if let Some(readers) = self.readers.get(account, now) {
            return Ok(readers);
        }
        let changes_before = self.readers.changes();
        let mut readers = Readers::default();
        for record in self.all_aggregators(account).await? {
            let aggregator = compile_stored(&record)?;
            readers
                .by_type
                .entry(aggregator.event_type().clone())
                .or_default()
                .push((record.id, aggregator));
        }
        let readers = Arc::new(readers);
        self.readers
            .put(account, Arc::clone(&readers), now, changes_before);
        Ok(readers)
    }
}
