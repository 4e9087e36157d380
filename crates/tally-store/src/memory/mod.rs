//! `MemoryStore`: every trait over plain maps behind one mutex.
//!
//! The reference implementation of the traits' contracts: simple enough to be
//! obviously right, so the conformance suite's expectations can be read off it.
//! One mutex makes every call atomic; nothing is awaited while it is held.

mod catalog;
mod entitlements;
mod events;
mod idempotency;
mod invoices;
mod rollups;
mod thresholds;
mod webhooks;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use tally_event::EventKey;

use crate::catalog::{Account, AggregatorRecord, Customer, Invoice, Product, Subscription};
use crate::entitlements::{CustomerEntitlement, Feature, ProductEntitlement};
use crate::error::{StoreError, StoreResult};
use crate::idempotency::IdempotencyKey;
use crate::ids::{
    AccountId, AggregatorId, CustomerId, InvoiceId, ProductId, SubscriptionId, WebhookEndpointId,
    WebhookMessageId,
};
use crate::keys::{ApiKey, ApiKeyHash};
use crate::versions::{EventSeq, EventVersion};
use crate::webhooks::WebhookEndpoint;

/// A store in process memory; cloning shares the same data.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    state: Arc<Mutex<State>>,
    /// Compiled rollup definitions, by rollup id.
    compiler: Arc<crate::rollups::RollupCompiler>,
}

#[derive(Debug, Default)]
struct State {
    accounts: BTreeMap<AccountId, Account>,
    api_keys: HashMap<ApiKeyHash, ApiKey>,
    tenants: HashMap<AccountId, Tenant>,
    /// The last rollup id handed out (ids are unique across accounts).
    next_rollup_id: i64,
}

/// Everything one account owns: reaching it needs the account id.
#[derive(Debug, Default)]
struct Tenant {
    /// Every version of each key, in sequence order.
    events: BTreeMap<EventKey, Vec<EventVersion>>,
    /// The last sequence number used.
    last_seq: EventSeq,
    customers: BTreeMap<CustomerId, Customer>,
    aggregators: BTreeMap<AggregatorId, AggregatorRecord>,
    products: BTreeMap<ProductId, Product>,
    subscriptions: BTreeMap<SubscriptionId, Subscription>,
    invoices: BTreeMap<InvoiceId, Invoice>,
    last_invoice_number: u64,
    idempotency: HashMap<IdempotencyKey, idempotency::KeyRow>,
    /// Rollups by id, with their cells.
    rollups: BTreeMap<i64, rollups::MemoryRollup>,
    /// Features by code.
    features: BTreeMap<String, Feature>,
    /// Products' values, by product and feature code.
    product_entitlements: BTreeMap<(ProductId, String), ProductEntitlement>,
    /// Customers' overrides, by customer and feature code.
    customer_entitlements: BTreeMap<(CustomerId, String), CustomerEntitlement>,
    /// Usage thresholds' states, by customer, key and period start (ms).
    threshold_states: BTreeMap<(CustomerId, String, i64), crate::thresholds::ThresholdState>,
    webhook_endpoints: BTreeMap<WebhookEndpointId, WebhookEndpoint>,
    /// The outbox, in insertion order.
    webhook_events: Vec<webhooks::OutboxEvent>,
    webhook_messages: BTreeMap<WebhookMessageId, webhooks::MessageRow>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn with_state<T>(&self, f: impl FnOnce(&mut State) -> StoreResult<T>) -> StoreResult<T> {
        let mut state = self
            .state
            .lock()
            .map_err(|_| StoreError::Internal("memory store lock poisoned".into()))?;
        f(&mut state)
    }

    /// Runs `f` on the account's data, created empty on first use.
    fn with_tenant<T>(
        &self,
        account: &AccountId,
        f: impl FnOnce(&mut Tenant) -> StoreResult<T>,
    ) -> StoreResult<T> {
        self.with_state(|state| f(state.tenants.entry(account.clone()).or_default()))
    }
}
