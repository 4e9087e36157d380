//! A store that counts event upserts and can be told to fail them, around
//! `MemoryStore`: proves a batch is one store call and that nothing is
//! acknowledged when the store fails. It can also stream generated events
//! instead of stored ones (`synthetic_events`), so that an export over any
//! number of events runs in constant memory on the store's side, and hide the
//! stored invoices from lookups (`stale_invoice_lists`), as a check racing a
//! concurrent create would miss them.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use async_trait::async_trait;
use futures::stream::BoxStream;
use tally_aggregate::{AggregateResult, Aggregator, Bucket, Window};
use tally_event::{CustomerRef, EventKey, EventType, Period, RecordId, Timestamp};
use tally_store::{
    Account, AccountId, AccountStore, AggregatorFilterId, AggregatorId, AggregatorRecord, ApiKey,
    ApiKeyHash, ApiKeyId, AsOf, CatalogStore, Claim, ClaimToken, Customer, CustomerEntitlement,
    CustomerId, CustomerStore, EntitlementStore, EventGroup, EventQuery, EventSeq, EventStore,
    EventVersion, EventWindow, Feature, IdempotencyKey, IdempotencyStore, Invoice, InvoiceId,
    InvoiceQuery, InvoiceStore, InvoiceUpdate, MemoryStore, NewClaim, NewEvent, NewInvoice, Page,
    PageRequest, Product, ProductEntitlement, ProductId, ResolvedCustomer, StoreError, StoreResult,
    StoredEvent, StoredResponse, Subscription, SubscriptionId, SubscriptionQuery,
    SubscriptionStore, ThresholdChange, ThresholdState, ThresholdStore, UpsertResult,
};

#[derive(Default)]
pub struct CountingStore {
    pub inner: MemoryStore,
    /// Write transactions: `upsert_events` and `upsert_event_groups` calls.
    pub upserts: AtomicUsize,
    pub fail_upserts: AtomicBool,
    /// Held by a test, it stops every upsert (after counting it) until released.
    pub gate: tokio::sync::Mutex<()>,
    /// An upsert holding an event with this record id fails, whole.
    pub poison_record: std::sync::Mutex<Option<String>>,
    /// When not 0, `stream_events` yields this many generated events.
    pub synthetic_events: AtomicUsize,
    /// When not 0, that many `list_invoices` and `find_invoice` calls find
    /// nothing: what a check sees when it runs before a concurrent create
    /// commits.
    pub stale_invoice_lists: AtomicUsize,
}

impl CountingStore {
    /// Whether this invoice lookup answers as if nothing were stored (it uses
    /// up one of `stale_invoice_lists`).
    fn stale_lookup(&self) -> bool {
        self.stale_invoice_lists
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    }

    /// Counts a write transaction, waits at the gate, then fails it when told.
    async fn enter(&self, events: &[NewEvent]) -> StoreResult<()> {
        self.upserts.fetch_add(1, Ordering::SeqCst);
        drop(self.gate.lock().await);
        if self.fail_upserts.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable("injected failure".into()));
        }
        let poison = self
            .poison_record
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if let Some(poison) = poison {
            if events.iter().any(|e| e.record.id().as_str() == poison) {
                return Err(StoreError::InvalidInput("poisoned record".into()));
            }
        }
        Ok(())
    }
}

#[async_trait]
impl EventStore for CountingStore {
    async fn upsert_event_groups(
        &self,
        groups: &[EventGroup],
    ) -> StoreResult<Vec<Vec<UpsertResult>>> {
        let events: Vec<NewEvent> = groups.iter().flat_map(|g| g.events.clone()).collect();
        self.enter(&events).await?;
        self.inner.upsert_event_groups(groups).await
    }

    async fn latest_seq(&self, account: &AccountId) -> StoreResult<EventSeq> {
        self.inner.latest_seq(account).await
    }

    async fn event_history(
        &self,
        account: &AccountId,
        key: &EventKey,
    ) -> StoreResult<Vec<EventVersion>> {
        self.inner.event_history(account, key).await
    }

    async fn list_events(
        &self,
        account: &AccountId,
        query: &EventQuery,
    ) -> StoreResult<Page<StoredEvent>> {
        self.inner.list_events(account, query).await
    }

    async fn delete_events(
        &self,
        account: &AccountId,
        event_type: &EventType,
        record_ids: &[RecordId],
    ) -> StoreResult<u64> {
        self.inner
            .delete_events(account, event_type, record_ids)
            .await
    }

    async fn purge_events(
        &self,
        account: &AccountId,
        event_type: &EventType,
        record_ids: &[RecordId],
    ) -> StoreResult<u64> {
        self.inner
            .purge_events(account, event_type, record_ids)
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
        let synthetic = self.synthetic_events.load(Ordering::SeqCst);
        if let (true, Some(customer)) = (synthetic > 0, customer) {
            return synthetic_stream(synthetic, customer, event_type, window.start_ms());
        }
        self.inner
            .stream_events_as_of(account, customer, event_type, window, as_of)
    }

    async fn aggregate(
        &self,
        account: &AccountId,
        aggregator: &Aggregator,
        filter: Option<&AggregatorFilterId>,
        customer: &CustomerId,
        window: Window,
    ) -> StoreResult<AggregateResult> {
        self.inner
            .aggregate(account, aggregator, filter, customer, window)
            .await
    }

    async fn time_series(
        &self,
        account: &AccountId,
        aggregator: &Aggregator,
        filter: Option<&AggregatorFilterId>,
        customer: Option<&CustomerId>,
        range: Period,
        bucket: Bucket,
    ) -> StoreResult<Vec<(Timestamp, AggregateResult)>> {
        self.inner
            .time_series(account, aggregator, filter, customer, range, bucket)
            .await
    }
}

#[async_trait]
impl AccountStore for CountingStore {
    async fn create_account(&self, account: &Account) -> StoreResult<Account> {
        self.inner.create_account(account).await
    }

    async fn get_account(&self, id: &AccountId) -> StoreResult<Account> {
        self.inner.get_account(id).await
    }

    async fn find_account_by_name(&self, name: &str) -> StoreResult<Option<Account>> {
        self.inner.find_account_by_name(name).await
    }

    async fn list_accounts(&self) -> StoreResult<Vec<Account>> {
        self.inner.list_accounts().await
    }

    async fn create_api_key(&self, key: &ApiKey) -> StoreResult<ApiKey> {
        self.inner.create_api_key(key).await
    }

    async fn find_api_key(&self, hash: &ApiKeyHash) -> StoreResult<Option<ApiKey>> {
        self.inner.find_api_key(hash).await
    }

    async fn delete_api_key(&self, account: &AccountId, id: &ApiKeyId) -> StoreResult<()> {
        self.inner.delete_api_key(account, id).await
    }

    async fn update_account_settings(
        &self,
        id: &AccountId,
        settings: &serde_json::Value,
    ) -> StoreResult<Account> {
        self.inner.update_account_settings(id, settings).await
    }

    async fn list_api_keys(&self, account: &AccountId) -> StoreResult<Vec<ApiKey>> {
        self.inner.list_api_keys(account).await
    }
}

#[async_trait]
impl CustomerStore for CountingStore {
    async fn create_customer(
        &self,
        account: &AccountId,
        customer: &Customer,
    ) -> StoreResult<Customer> {
        self.inner.create_customer(account, customer).await
    }

    async fn get_customer(&self, account: &AccountId, id: &CustomerId) -> StoreResult<Customer> {
        self.inner.get_customer(account, id).await
    }

    async fn find_customer(
        &self,
        account: &AccountId,
        reference: &CustomerRef,
    ) -> StoreResult<Option<Customer>> {
        self.inner.find_customer(account, reference).await
    }

    async fn resolve_or_create_customer(
        &self,
        account: &AccountId,
        reference: &CustomerRef,
        new_id: &CustomerId,
        now: Timestamp,
    ) -> StoreResult<ResolvedCustomer> {
        self.inner
            .resolve_or_create_customer(account, reference, new_id, now)
            .await
    }

    async fn list_customers(
        &self,
        account: &AccountId,
        page: PageRequest,
    ) -> StoreResult<Page<Customer>> {
        self.inner.list_customers(account, page).await
    }

    async fn update_customer(
        &self,
        account: &AccountId,
        customer: &Customer,
    ) -> StoreResult<Customer> {
        self.inner.update_customer(account, customer).await
    }

    async fn delete_customer(&self, account: &AccountId, id: &CustomerId) -> StoreResult<()> {
        self.inner.delete_customer(account, id).await
    }
}

#[async_trait]
impl CatalogStore for CountingStore {
    async fn create_aggregator(
        &self,
        account: &AccountId,
        aggregator: &AggregatorRecord,
    ) -> StoreResult<AggregatorRecord> {
        self.inner.create_aggregator(account, aggregator).await
    }

    async fn get_aggregator(
        &self,
        account: &AccountId,
        id: &AggregatorId,
    ) -> StoreResult<AggregatorRecord> {
        self.inner.get_aggregator(account, id).await
    }

    async fn list_aggregators(
        &self,
        account: &AccountId,
        page: PageRequest,
    ) -> StoreResult<Page<AggregatorRecord>> {
        self.inner.list_aggregators(account, page).await
    }

    async fn aggregators_for_event_type(
        &self,
        account: &AccountId,
        event_type: &EventType,
    ) -> StoreResult<Vec<AggregatorRecord>> {
        self.inner
            .aggregators_for_event_type(account, event_type)
            .await
    }

    async fn update_aggregator(
        &self,
        account: &AccountId,
        aggregator: &AggregatorRecord,
    ) -> StoreResult<AggregatorRecord> {
        self.inner.update_aggregator(account, aggregator).await
    }

    async fn delete_aggregator(&self, account: &AccountId, id: &AggregatorId) -> StoreResult<()> {
        self.inner.delete_aggregator(account, id).await
    }

    async fn create_product(&self, account: &AccountId, product: &Product) -> StoreResult<Product> {
        self.inner.create_product(account, product).await
    }

    async fn get_product(&self, account: &AccountId, id: &ProductId) -> StoreResult<Product> {
        self.inner.get_product(account, id).await
    }

    async fn list_products(
        &self,
        account: &AccountId,
        page: PageRequest,
    ) -> StoreResult<Page<Product>> {
        self.inner.list_products(account, page).await
    }

    async fn update_product(&self, account: &AccountId, product: &Product) -> StoreResult<Product> {
        self.inner.update_product(account, product).await
    }

    async fn delete_product(&self, account: &AccountId, id: &ProductId) -> StoreResult<()> {
        self.inner.delete_product(account, id).await
    }
}

#[async_trait]
impl SubscriptionStore for CountingStore {
    async fn create_subscription(
        &self,
        account: &AccountId,
        subscription: &Subscription,
    ) -> StoreResult<Subscription> {
        self.inner.create_subscription(account, subscription).await
    }

    async fn get_subscription(
        &self,
        account: &AccountId,
        id: &SubscriptionId,
    ) -> StoreResult<Subscription> {
        self.inner.get_subscription(account, id).await
    }

    async fn list_subscriptions(
        &self,
        account: &AccountId,
        query: &SubscriptionQuery,
    ) -> StoreResult<Page<Subscription>> {
        self.inner.list_subscriptions(account, query).await
    }

    async fn update_subscription(
        &self,
        account: &AccountId,
        subscription: &Subscription,
    ) -> StoreResult<Subscription> {
        self.inner.update_subscription(account, subscription).await
    }

    async fn delete_subscription(
        &self,
        account: &AccountId,
        id: &SubscriptionId,
    ) -> StoreResult<()> {
        self.inner.delete_subscription(account, id).await
    }
}

#[async_trait]
impl InvoiceStore for CountingStore {
    async fn create_invoice_with_events(
        &self,
        account: &AccountId,
        invoice: &NewInvoice,
        events: tally_store::InvoiceEvents<'_>,
    ) -> StoreResult<Invoice> {
        self.inner
            .create_invoice_with_events(account, invoice, events)
            .await
    }

    async fn get_invoice(&self, account: &AccountId, id: &InvoiceId) -> StoreResult<Invoice> {
        self.inner.get_invoice(account, id).await
    }

    async fn find_invoice(
        &self,
        account: &AccountId,
        subscription: &SubscriptionId,
        period: Period,
    ) -> StoreResult<Option<Invoice>> {
        if self.stale_lookup() {
            return Ok(None);
        }
        self.inner.find_invoice(account, subscription, period).await
    }

    async fn list_invoices(
        &self,
        account: &AccountId,
        query: &InvoiceQuery,
    ) -> StoreResult<Page<Invoice>> {
        if self.stale_lookup() {
            return Ok(Page {
                total: 0,
                items: Vec::new(),
            });
        }
        self.inner.list_invoices(account, query).await
    }

    async fn update_invoice_with_events(
        &self,
        account: &AccountId,
        id: &InvoiceId,
        update: &InvoiceUpdate,
        events: tally_store::InvoiceEvents<'_>,
    ) -> StoreResult<Invoice> {
        self.inner
            .update_invoice_with_events(account, id, update, events)
            .await
    }
}

#[async_trait]
impl tally_store::WebhookStore for CountingStore {
    async fn create_webhook_endpoint(
        &self,
        account: &AccountId,
        endpoint: &tally_store::WebhookEndpoint,
    ) -> StoreResult<tally_store::WebhookEndpoint> {
        self.inner.create_webhook_endpoint(account, endpoint).await
    }

    async fn get_webhook_endpoint(
        &self,
        account: &AccountId,
        id: &tally_store::WebhookEndpointId,
    ) -> StoreResult<tally_store::WebhookEndpoint> {
        self.inner.get_webhook_endpoint(account, id).await
    }

    async fn list_webhook_endpoints(
        &self,
        account: &AccountId,
        page: tally_store::PageRequest,
    ) -> StoreResult<Page<tally_store::WebhookEndpoint>> {
        self.inner.list_webhook_endpoints(account, page).await
    }

    async fn update_webhook_endpoint(
        &self,
        account: &AccountId,
        endpoint: &tally_store::WebhookEndpoint,
    ) -> StoreResult<tally_store::WebhookEndpoint> {
        self.inner.update_webhook_endpoint(account, endpoint).await
    }

    async fn delete_webhook_endpoint(
        &self,
        account: &AccountId,
        id: &tally_store::WebhookEndpointId,
    ) -> StoreResult<()> {
        self.inner.delete_webhook_endpoint(account, id).await
    }

    async fn record_webhook_event(
        &self,
        account: &AccountId,
        event: &tally_store::NewWebhookEvent,
    ) -> StoreResult<()> {
        self.inner.record_webhook_event(account, event).await
    }

    async fn dispatch_webhook_events(&self, now: Timestamp, max_events: u32) -> StoreResult<u64> {
        self.inner.dispatch_webhook_events(now, max_events).await
    }

    async fn claim_webhook_messages(
        &self,
        claim: &tally_store::ClaimRequest,
    ) -> StoreResult<Vec<tally_store::ClaimedMessage>> {
        self.inner.claim_webhook_messages(claim).await
    }

    async fn finish_webhook_attempt(
        &self,
        account: &AccountId,
        id: &tally_store::WebhookMessageId,
        finished: &tally_store::FinishedAttempt,
    ) -> StoreResult<bool> {
        self.inner
            .finish_webhook_attempt(account, id, finished)
            .await
    }

    async fn list_webhook_messages(
        &self,
        account: &AccountId,
        query: &tally_store::MessageQuery,
    ) -> StoreResult<Page<tally_store::WebhookMessage>> {
        self.inner.list_webhook_messages(account, query).await
    }

    async fn get_webhook_message(
        &self,
        account: &AccountId,
        id: &tally_store::WebhookMessageId,
    ) -> StoreResult<tally_store::WebhookMessage> {
        self.inner.get_webhook_message(account, id).await
    }

    async fn retry_webhook_message(
        &self,
        account: &AccountId,
        id: &tally_store::WebhookMessageId,
        now: Timestamp,
    ) -> StoreResult<tally_store::WebhookMessage> {
        self.inner.retry_webhook_message(account, id, now).await
    }
}

/// `count` events a second apart from `start_ms`, made as they are read:
/// records `{"id": n, "units": n % 5 + 1}`.
fn synthetic_stream(
    count: usize,
    customer: &CustomerId,
    event_type: &EventType,
    start_ms: i64,
) -> BoxStream<'static, StoreResult<StoredEvent>> {
    use futures::StreamExt;
    let (customer, event_type) = (customer.clone(), event_type.clone());
    futures::stream::iter(0..count)
        .map(move |n| {
            let mut properties = std::collections::BTreeMap::new();
            let number = |value: usize| tally_event::Value::Number(value.into());
            properties.insert("id".to_owned(), number(n));
            properties.insert("units".to_owned(), number(n % 5 + 1));
            let record_id = RecordId::from_integer(n as i128);
            let timestamp = Timestamp::from_millis(start_ms + n as i64 * 1_000).unwrap();
            Ok(StoredEvent {
                id: tally_store::EventId::parse(&format!("evt_{n}")).unwrap(),
                event_type: event_type.clone(),
                customer_id: customer.clone(),
                timestamp,
                record: tally_event::Record::from_trusted_parts(record_id, properties),
                ingested_at: timestamp,
                seq: EventSeq::new(n as i64 + 1).unwrap(),
            })
        })
        .boxed()
}

#[async_trait]
impl IdempotencyStore for CountingStore {
    async fn claim_idempotency_key(
        &self,
        account: &AccountId,
        claim: &NewClaim,
    ) -> StoreResult<Claim> {
        self.inner.claim_idempotency_key(account, claim).await
    }

    async fn complete_idempotency_key(
        &self,
        account: &AccountId,
        key: &IdempotencyKey,
        token: &ClaimToken,
        response: &StoredResponse,
    ) -> StoreResult<bool> {
        self.inner
            .complete_idempotency_key(account, key, token, response)
            .await
    }

    async fn release_idempotency_key(
        &self,
        account: &AccountId,
        key: &IdempotencyKey,
        token: &ClaimToken,
    ) -> StoreResult<bool> {
        self.inner
            .release_idempotency_key(account, key, token)
            .await
    }

    async fn delete_expired_idempotency_keys(&self, claimed_before: Timestamp) -> StoreResult<u64> {
        self.inner
            .delete_expired_idempotency_keys(claimed_before)
            .await
    }
}

#[async_trait]
impl EntitlementStore for CountingStore {
    async fn create_feature(&self, account: &AccountId, feature: &Feature) -> StoreResult<Feature> {
        self.inner.create_feature(account, feature).await
    }

    async fn get_feature(&self, account: &AccountId, code: &str) -> StoreResult<Feature> {
        self.inner.get_feature(account, code).await
    }

    async fn list_features(
        &self,
        account: &AccountId,
        page: PageRequest,
    ) -> StoreResult<Page<Feature>> {
        self.inner.list_features(account, page).await
    }

    async fn update_feature(&self, account: &AccountId, feature: &Feature) -> StoreResult<Feature> {
        self.inner.update_feature(account, feature).await
    }

    async fn put_product_entitlement(
        &self,
        account: &AccountId,
        entitlement: &ProductEntitlement,
    ) -> StoreResult<ProductEntitlement> {
        self.inner
            .put_product_entitlement(account, entitlement)
            .await
    }

    async fn delete_product_entitlement(
        &self,
        account: &AccountId,
        product: &ProductId,
        feature_code: &str,
    ) -> StoreResult<()> {
        self.inner
            .delete_product_entitlement(account, product, feature_code)
            .await
    }

    async fn product_entitlements(
        &self,
        account: &AccountId,
        products: &[ProductId],
    ) -> StoreResult<Vec<ProductEntitlement>> {
        self.inner.product_entitlements(account, products).await
    }

    async fn put_customer_entitlement(
        &self,
        account: &AccountId,
        entitlement: &CustomerEntitlement,
    ) -> StoreResult<CustomerEntitlement> {
        self.inner
            .put_customer_entitlement(account, entitlement)
            .await
    }

    async fn delete_customer_entitlement(
        &self,
        account: &AccountId,
        customer: &CustomerId,
        feature_code: &str,
    ) -> StoreResult<()> {
        self.inner
            .delete_customer_entitlement(account, customer, feature_code)
            .await
    }

    async fn customer_entitlements(
        &self,
        account: &AccountId,
        customer: &CustomerId,
    ) -> StoreResult<Vec<CustomerEntitlement>> {
        self.inner.customer_entitlements(account, customer).await
    }
}

#[async_trait]
impl ThresholdStore for CountingStore {
    async fn threshold_states(
        &self,
        account: &AccountId,
        customer: &CustomerId,
        after: Timestamp,
    ) -> StoreResult<Vec<ThresholdState>> {
        self.inner.threshold_states(account, customer, after).await
    }

    async fn customers_past_thresholds(
        &self,
        account: &AccountId,
        after: Timestamp,
    ) -> StoreResult<Vec<CustomerId>> {
        self.inner.customers_past_thresholds(account, after).await
    }

    async fn change_threshold_state(
        &self,
        account: &AccountId,
        change: &ThresholdChange,
    ) -> StoreResult<bool> {
        self.inner.change_threshold_state(account, change).await
    }
}
