//! The storage traits. Every method is scoped by the `AccountId` it acts in, so a
//! backend cannot answer with another account's rows without ignoring an argument:
//! tenant isolation is structural. An object of another account is `NotFound`,
//! exactly like one that does not exist.
//!
//! All traits are object safe (`async-trait`) and meant to be used as
//! `Arc<dyn Store>`; [`Store`] is implemented for every type implementing the
//! parts.
//!
//! # Stability
//!
//! Backends in other crates implement these traits; changes are additive only:
//! a new method comes with a default implementation, and the list below records
//! each change.
//!
//! - v1: events, accounts and API keys, customers, aggregators, products,
//!   subscriptions, invoices.
//! - v2: `EventStore::aggregate` and `EventStore::time_series`, with default
//!   implementations over `stream_events` / `list_events` and the pure evaluator.
//! - v3: `EventStore::stream_events_of_type` (every customer's events of one
//!   type, bounded memory), with a default over `list_events`; the default
//!   `time_series` reads only the aggregator's window of the range and streams
//!   it (`stream_events` or `stream_events_of_type`) instead of paging
//!   `list_events` by offset into memory.
//! - v4: `EventStore::upsert_event_groups` (several accounts' batches in one
//!   transaction: ingestion's group commit), with a default over
//!   `upsert_events` that commits group by group.
//! - v5 (event store v2, not additive: every backend is in this workspace):
//!   every version of an event is kept with its sequence number
//!   (`crate::versions`). `upsert_event_groups` is required and atomic,
//!   `upsert_events` its wrapper; outcome `unchanged`; `delete_events` records
//!   a deletion and keeps history, `purge_events` erases it;
//!   `stream_events_as_of`, `get_event_as_of` (a default over
//!   `event_history`), `aggregate_as_of`, `event_history` and `latest_seq`
//!   read versions; `stream_events` and
//!   `stream_events_of_type` are the current reads of `stream_events_as_of`.
//!   The reads are questions (which versions, which window), so a backend
//!   without multi-statement transactions can answer them its own way.
//!   `InvoiceStore::find_invoice` (a subscription period's invoice in one
//!   lookup, instead of paging through `list_invoices`).
//!   `CustomerStore::find_customers` and `resolve_or_create_customers`: many
//!   references in a few queries and one transaction, with defaults over the
//!   single calls. `CustomerStore::get_customer_by_external_id` is gone:
//!   nothing but tests called it, and `find_customer` answers the same.
//! - v6: `IdempotencyStore` (idempotency keys: claim, complete, release,
//!   delete the expired), part of `Store`.
//! - v7: rollups (`crate::rollups`): `register_rollups`, `retain_rollups`,
//!   `rollup_progress`, `backfill_rollups` and `rollup_cells`, with defaults
//!   that keep none (every read then scans events, as before); the default
//!   `aggregate` and `time_series` read a ready rollup first.
//! - v8 (not additive: every backend is in this workspace): `WebhookStore`
//!   (endpoints, the outbox, messages and their attempts), part of `Store`;
//!   `InvoiceStore::create_invoice_with_events` and
//!   `update_invoice_with_events` write an invoice and its webhook events in
//!   one transaction, and are required: `create_invoice` and
//!   `update_invoice` are their wrappers without events.
//! - v9: `EntitlementStore` (features, product and customer entitlements)
//!   and `ThresholdStore` (usage thresholds' states), part of `Store`.

use async_trait::async_trait;
use futures::stream::BoxStream;
use tally_aggregate::{AggregateResult, Aggregator, AggregatorKind, Bucket, Window, bucket_bounds};
use tally_event::{CustomerRef, EventKey, EventType, Period, RecordId, Timestamp};

use crate::catalog::{
    Account, AggregatorRecord, Customer, Invoice, InvoiceQuery, InvoiceUpdate, NewInvoice, Product,
    ResolvedCustomer, Subscription, SubscriptionQuery,
};
use crate::entitlements::{CustomerEntitlement, Feature, ProductEntitlement};
use crate::error::{StoreError, StoreResult};
use crate::evaluate::{eval_error, evaluate_stream, series_stream};
use crate::events::{EventGroup, EventQuery, EventWindow, NewEvent, StoredEvent, UpsertResult};
use crate::idempotency::{Claim, ClaimToken, IdempotencyKey, NewClaim, StoredResponse};
use crate::ids::{
    AccountId, AggregatorFilterId, AggregatorId, ApiKeyId, CustomerId, InvoiceId, ProductId,
    SubscriptionId, WebhookEndpointId, WebhookMessageId,
};
use crate::keys::{ApiKey, ApiKeyHash};
use crate::page::{Page, PageRequest};
use crate::rollups::{
    RollupProgress, RollupSpec, aggregate_from_rollups, licensed_from_rollups,
    licensed_series_from_rollups, series_from_rollups,
};
use crate::thresholds::{ThresholdChange, ThresholdState};
use crate::versions::{AsOf, EventSeq, EventVersion};
use crate::webhooks::{
    ClaimRequest, ClaimedMessage, FinishedAttempt, InvoiceEvents, MessageQuery, NewWebhookEvent,
    WebhookEndpoint, WebhookMessage, no_invoice_events,
};

/// Usage events: every version kept, upserted by key, read as of a sequence
/// or an instant, listed, deleted, purged, streamed (docs/storage.md).
#[async_trait]
pub trait EventStore: Send + Sync {
    /// Upserts several groups (each an account and its events) in ONE
    /// transaction, in order: a group sees the versions of the groups before
    /// it, and events within a group are applied in order (a key repeated in
    /// the input sees its earlier occurrence). All committed (durably) when
    /// this returns `Ok`, none when it returns `Err`. Results are per group, in
    /// input order. Every outcome but `unchanged` stores a version with the
    /// account's next sequence number; the outcome is
    /// [`plan_upserts`](crate::versions::plan_upserts)'s.
    async fn upsert_event_groups(
        &self,
        groups: &[EventGroup],
    ) -> StoreResult<Vec<Vec<UpsertResult>>>;

    /// One account's batch: [`EventStore::upsert_event_groups`] with one group.
    async fn upsert_events(
        &self,
        account: &AccountId,
        events: &[NewEvent],
    ) -> StoreResult<Vec<UpsertResult>> {
        let group = EventGroup {
            account: account.clone(),
            events: events.to_vec(),
        };
        let mut results = self
            .upsert_event_groups(std::slice::from_ref(&group))
            .await?;
        results
            .pop()
            .ok_or_else(|| StoreError::Internal("upsert lost its group".into()))
    }

    /// The last sequence number the account used (`EventSeq::ZERO` before its
    /// first event): what a reader "knows" now, to read as of it later.
    async fn latest_seq(&self, account: &AccountId) -> StoreResult<EventSeq>;

    /// The version of the key that `as_of` sees, if any: `AsOf::pick` over
    /// the key's history (a key has few versions).
    async fn get_event_as_of(
        &self,
        account: &AccountId,
        key: &EventKey,
        as_of: AsOf,
    ) -> StoreResult<Option<StoredEvent>> {
        let versions = self.event_history(account, key).await?;
        Ok(as_of.pick(&versions).map(|v| v.event.clone()))
    }

    /// The current version of the event with this key; `NotFound` if none.
    async fn get_event(&self, account: &AccountId, key: &EventKey) -> StoreResult<StoredEvent> {
        self.get_event_as_of(account, key, AsOf::CURRENT)
            .await?
            .ok_or(StoreError::not_found("event"))
    }

    /// Every stored version of the key, in sequence order, with what became of
    /// each (empty when the key has none, or was purged).
    async fn event_history(
        &self,
        account: &AccountId,
        key: &EventKey,
    ) -> StoreResult<Vec<EventVersion>>;

    /// A page of current events matching `query`, ordered by (timestamp, event
    /// type, record id), with the total number matching.
    async fn list_events(
        &self,
        account: &AccountId,
        query: &EventQuery,
    ) -> StoreResult<Page<StoredEvent>>;

    /// Records the deletion of the events of `event_type` with these record
    /// ids, under one new sequence number: they have no current version any
    /// more, and their history is kept (reads as of an earlier sequence still
    /// see them). Returns how many had a current version; unknown or already
    /// deleted ids are not an error and use no sequence number.
    async fn delete_events(
        &self,
        account: &AccountId,
        event_type: &EventType,
        record_ids: &[RecordId],
    ) -> StoreResult<u64>;

    /// Erases every version of these keys for good (personal data): no read,
    /// as of any sequence, sees them again. Returns how many keys had any
    /// version.
    async fn purge_events(
        &self,
        account: &AccountId,
        event_type: &EventType,
        record_ids: &[RecordId],
    ) -> StoreResult<u64>;

    /// The events of one type that `as_of` sees (one version per key), of one
    /// customer or of all, whose timestamp is in `window`, in (timestamp,
    /// record id) order, with memory bounded whatever their number. The key's
    /// version is chosen first, then its customer and timestamp are tested:
    /// an entity that moved to another customer counts for the customer of
    /// the version read. The stream owns what it needs (`'static`) so it can
    /// outlive the call, e.g. in a streamed HTTP body. A current read is not
    /// one snapshot: an event upserted while the stream runs may or may not
    /// appear; a read with `known_at` is stable.
    fn stream_events_as_of(
        &self,
        account: &AccountId,
        customer: Option<&CustomerId>,
        event_type: &EventType,
        window: EventWindow,
        as_of: AsOf,
    ) -> BoxStream<'static, StoreResult<StoredEvent>>;

    /// The current events of one customer and event type in `window`, in
    /// (timestamp, record id) order: `stream_events_as_of` of the current versions.
    fn stream_events(
        &self,
        account: &AccountId,
        customer: &CustomerId,
        event_type: &EventType,
        window: EventWindow,
    ) -> BoxStream<'static, StoreResult<StoredEvent>> {
        self.stream_events_as_of(account, Some(customer), event_type, window, AsOf::CURRENT)
    }

    /// The current events of `event_type` of every customer in `window`, in
    /// (timestamp, record id) order (an aggregator-wide time series reads them).
    fn stream_events_of_type(
        &self,
        account: &AccountId,
        event_type: &EventType,
        window: EventWindow,
    ) -> BoxStream<'static, StoreResult<StoredEvent>> {
        self.stream_events_as_of(account, None, event_type, window, AsOf::CURRENT)
    }

    /// The aggregator's quantity for one customer over `window`, narrowed by the
    /// named filter `filter` (which must belong to the aggregator: otherwise
    /// `InvalidInput`). Must equal `tally_aggregate::evaluate` over the
    /// customer's current events; the default does exactly that over
    /// `stream_events`, and backends may push work down to the database.
    async fn aggregate(
        &self,
        account: &AccountId,
        aggregator: &Aggregator,
        filter: Option<&AggregatorFilterId>,
        customer: &CustomerId,
        window: Window,
    ) -> StoreResult<AggregateResult> {
        if let Some(result) =
            aggregate_from_rollups(self, account, aggregator, filter, customer, window).await?
        {
            return Ok(result);
        }
        let events = self.stream_events(account, customer, aggregator.event_type(), window.into());
        evaluate_stream(events, aggregator, filter, window).await
    }

    /// [`EventStore::aggregate`] over the versions `as_of` sees: the pure
    /// evaluator over `stream_events_as_of` (a current read goes to
    /// `aggregate`, which backends push down; a licensed period as of its
    /// end is served by the licensed rollup when it can be).
    async fn aggregate_as_of(
        &self,
        account: &AccountId,
        aggregator: &Aggregator,
        filter: Option<&AggregatorFilterId>,
        customer: &CustomerId,
        window: Window,
        as_of: AsOf,
    ) -> StoreResult<AggregateResult> {
        if as_of.is_current() {
            return self
                .aggregate(account, aggregator, filter, customer, window)
                .await;
        }
        if let Some(result) =
            licensed_from_rollups(self, account, aggregator, filter, customer, window, as_of)
                .await?
        {
            return Ok(result);
        }
        let events = self.stream_events_as_of(
            account,
            Some(customer),
            aggregator.event_type(),
            window.into(),
            as_of,
        );
        evaluate_stream(events, aggregator, filter, window).await
    }

    /// Quantities per bucket over `range` (of one customer, or all of them).
    /// Metered: as `tally_aggregate::time_series` computes them over the
    /// current events, read once through `stream_events` (one customer) or
    /// `stream_events_of_type` (all), each event pushed into its bucket as it
    /// arrives: memory holds the buckets, not the events. Licensed: each
    /// bucket is the evaluation of the entities as they were at its end
    /// ([`AsOf::for_window`]), so a past bucket never changes: from the
    /// licensed rollup when it can answer, else one read per bucket.
    async fn time_series(
        &self,
        account: &AccountId,
        aggregator: &Aggregator,
        filter: Option<&AggregatorFilterId>,
        customer: Option<&CustomerId>,
        range: Period,
        bucket: Bucket,
    ) -> StoreResult<Vec<(Timestamp, AggregateResult)>> {
        let event_type = aggregator.event_type();
        if aggregator.kind() == AggregatorKind::Licensed {
            if let Some(series) = licensed_series_from_rollups(
                self, account, aggregator, filter, customer, range, bucket,
            )
            .await?
            {
                return Ok(series);
            }
            let bounds = bucket_bounds(range, bucket).map_err(eval_error)?;
            let mut series = Vec::with_capacity(bounds.len());
            for (start, end) in bounds {
                let window = Window::Before(end);
                let as_of = AsOf::for_window(window.into(), None);
                let events =
                    self.stream_events_as_of(account, customer, event_type, window.into(), as_of);
                series.push((
                    start,
                    evaluate_stream(events, aggregator, filter, window).await?,
                ));
            }
            return Ok(series);
        }
        if let Some(series) =
            series_from_rollups(self, account, aggregator, filter, customer, range, bucket).await?
        {
            return Ok(series);
        }
        let window = aggregator.window(range).into();
        let events = match customer {
            Some(customer) => self.stream_events(account, customer, event_type, window),
            None => self.stream_events_of_type(account, event_type, window),
        };
        series_stream(events, aggregator, range, bucket, filter).await
    }

    /// Registers rollups to keep (`crate::rollups`), each *building* until
    /// its backfill is done. A spec whose fingerprint the account already
    /// has is left as it is. The default keeps no rollup.
    async fn register_rollups(&self, account: &AccountId, specs: &[RollupSpec]) -> StoreResult<()> {
        let _ = (account, specs);
        Ok(())
    }

    /// Drops the account's rollups whose fingerprint is not in `keep`, cells
    /// and all (their aggregators changed or are gone).
    async fn retain_rollups(&self, account: &AccountId, keep: &[String]) -> StoreResult<()> {
        let _ = (account, keep);
        Ok(())
    }

    /// Where each of the account's rollups is.
    async fn rollup_progress(&self, account: &AccountId) -> StoreResult<Vec<RollupProgress>> {
        let _ = account;
        Ok(Vec::new())
    }

    /// Runs one backfill step: adds up to `max_events` current versions to
    /// the least advanced building rollup (of any account) and every rollup
    /// of its event type at the same cursor, in one transaction, and moves
    /// their cursor; marks them ready when none is left. `false` when no rollup
    /// was building. Safe to run beside writes, and from several processes.
    async fn backfill_rollups(&self, max_events: u64) -> StoreResult<bool> {
        let _ = max_events;
        Ok(false)
    }

    /// The stored partials of the ready rollup `fingerprint`, of one customer
    /// or all, for the hours starting in `[hours.0, hours.1)` (milliseconds),
    /// each with its hour; `None` when the account has no such ready rollup.
    async fn rollup_cells(
        &self,
        account: &AccountId,
        fingerprint: &str,
        customer: Option<&CustomerId>,
        hours: (i64, i64),
    ) -> StoreResult<Option<Vec<(i64, tally_aggregate::Partial)>>> {
        let _ = (account, fingerprint, customer, hours);
        Ok(None)
    }
}

/// Accounts and API keys.
#[async_trait]
pub trait AccountStore: Send + Sync {
    /// `Conflict` when the id or the name is taken.
    async fn create_account(&self, account: &Account) -> StoreResult<Account>;
    /// The account with this id; `NotFound` if there is none.
    async fn get_account(&self, id: &AccountId) -> StoreResult<Account>;
    /// The account with this unique name, if any.
    async fn find_account_by_name(&self, name: &str) -> StoreResult<Option<Account>>;
    /// Every account, oldest first (administration only: not paginated).
    async fn list_accounts(&self) -> StoreResult<Vec<Account>>;
    /// Replaces the account's settings document; `NotFound` if there is no
    /// such account. Returns the account as stored.
    async fn update_account_settings(
        &self,
        id: &AccountId,
        settings: &serde_json::Value,
    ) -> StoreResult<Account>;

    /// Registers a key by its hash; `Conflict` when the id or hash is taken,
    /// `NotFound` when the account does not exist.
    async fn create_api_key(&self, key: &ApiKey) -> StoreResult<ApiKey>;
    /// The key with this hash, if any: how a request finds its account.
    async fn find_api_key(&self, hash: &ApiKeyHash) -> StoreResult<Option<ApiKey>>;
    /// Every key of the account, oldest first (by creation, then id).
    async fn list_api_keys(&self, account: &AccountId) -> StoreResult<Vec<ApiKey>>;
    /// Revokes a key of `account`; `NotFound` if it has no such key.
    async fn delete_api_key(&self, account: &AccountId, id: &ApiKeyId) -> StoreResult<()>;
}

/// Customers.
#[async_trait]
pub trait CustomerStore: Send + Sync {
    /// `Conflict` when the id or the external id is taken in this account.
    async fn create_customer(
        &self,
        account: &AccountId,
        customer: &Customer,
    ) -> StoreResult<Customer>;
    /// The customer with this `cus_` id; `NotFound` if absent.
    async fn get_customer(&self, account: &AccountId, id: &CustomerId) -> StoreResult<Customer>;
    /// The customer a reference names: the customer with that `cus_` id if there
    /// is one, otherwise the one with that external id; `None` if neither exists.
    async fn find_customer(
        &self,
        account: &AccountId,
        reference: &CustomerRef,
    ) -> StoreResult<Option<Customer>>;

    /// [`CustomerStore::find_customer`] for many references at once (an
    /// ingestion batch names many customers): each reference that names a
    /// customer, with it; the others are absent. Backends answer in a few
    /// queries; the default asks one by one.
    async fn find_customers(
        &self,
        account: &AccountId,
        references: &[CustomerRef],
    ) -> StoreResult<Vec<(CustomerRef, Customer)>> {
        let mut found = Vec::with_capacity(references.len());
        for reference in references {
            if let Some(customer) = self.find_customer(account, reference).await? {
                found.push((reference.clone(), customer));
            }
        }
        Ok(found)
    }

    /// Like [`CustomerStore::find_customer`], but creates
    /// `Customer::automatic(new_id, reference, now)` when nothing matches. Atomic:
    /// concurrent calls with the same reference create one customer, and every
    /// call returns it.
    async fn resolve_or_create_customer(
        &self,
        account: &AccountId,
        reference: &CustomerRef,
        new_id: &CustomerId,
        now: Timestamp,
    ) -> StoreResult<ResolvedCustomer>;

    /// [`CustomerStore::resolve_or_create_customer`] for many references at
    /// once (`wanted`: each reference with the id a new customer would get),
    /// results in input order, atomic like the single call; a reference
    /// repeated in `wanted` is created once. Backends commit the new
    /// customers together; the default resolves one by one.
    async fn resolve_or_create_customers(
        &self,
        account: &AccountId,
        wanted: &[(CustomerRef, CustomerId)],
        now: Timestamp,
    ) -> StoreResult<Vec<ResolvedCustomer>> {
        let mut resolved = Vec::with_capacity(wanted.len());
        for (reference, new_id) in wanted {
            resolved.push(
                self.resolve_or_create_customer(account, reference, new_id, now)
                    .await?,
            );
        }
        Ok(resolved)
    }

    /// Oldest first, by (created_at, id).
    async fn list_customers(
        &self,
        account: &AccountId,
        page: PageRequest,
    ) -> StoreResult<Page<Customer>>;

    /// Replaces every field but `id` and `created_at` of the customer with
    /// `customer.id`; `NotFound`, or `Conflict` on a taken external id.
    async fn update_customer(
        &self,
        account: &AccountId,
        customer: &Customer,
    ) -> StoreResult<Customer>;

    /// Deletes the customer (its events stay, as their history); `NotFound` if absent.
    async fn delete_customer(&self, account: &AccountId, id: &CustomerId) -> StoreResult<()>;
}

/// Aggregators and products.
#[async_trait]
pub trait CatalogStore: Send + Sync {
    /// Stores a new aggregator; `Conflict` when the id is taken.
    async fn create_aggregator(
        &self,
        account: &AccountId,
        aggregator: &AggregatorRecord,
    ) -> StoreResult<AggregatorRecord>;
    /// The aggregator with this id; `NotFound` if absent.
    async fn get_aggregator(
        &self,
        account: &AccountId,
        id: &AggregatorId,
    ) -> StoreResult<AggregatorRecord>;
    /// Oldest first, by (created_at, id).
    async fn list_aggregators(
        &self,
        account: &AccountId,
        page: PageRequest,
    ) -> StoreResult<Page<AggregatorRecord>>;
    /// Every aggregator of `event_type`, oldest first (pricing one event).
    async fn aggregators_for_event_type(
        &self,
        account: &AccountId,
        event_type: &EventType,
    ) -> StoreResult<Vec<AggregatorRecord>>;
    /// Replaces name, event type and definition.
    async fn update_aggregator(
        &self,
        account: &AccountId,
        aggregator: &AggregatorRecord,
    ) -> StoreResult<AggregatorRecord>;
    /// Deletes the aggregator; `NotFound` if absent. Whether a product still uses it is the
    /// caller's rule.
    async fn delete_aggregator(&self, account: &AccountId, id: &AggregatorId) -> StoreResult<()>;

    /// Stores a new product with its price groups; `Conflict` when the id is taken.
    async fn create_product(&self, account: &AccountId, product: &Product) -> StoreResult<Product>;
    /// The product with this id, price groups in order; `NotFound` if absent.
    async fn get_product(&self, account: &AccountId, id: &ProductId) -> StoreResult<Product>;
    /// Oldest first, by (created_at, id).
    async fn list_products(
        &self,
        account: &AccountId,
        page: PageRequest,
    ) -> StoreResult<Page<Product>>;
    /// Replaces every field but `id` and `created_at`, price groups included.
    async fn update_product(&self, account: &AccountId, product: &Product) -> StoreResult<Product>;
    /// Deletes the product; `NotFound` if absent. Whether a subscription still uses it is the
    /// caller's rule.
    async fn delete_product(&self, account: &AccountId, id: &ProductId) -> StoreResult<()>;
}

/// Subscriptions.
#[async_trait]
pub trait SubscriptionStore: Send + Sync {
    /// Stores a new subscription; `Conflict` when the id is taken.
    async fn create_subscription(
        &self,
        account: &AccountId,
        subscription: &Subscription,
    ) -> StoreResult<Subscription>;
    /// The subscription with this id; `NotFound` if absent.
    async fn get_subscription(
        &self,
        account: &AccountId,
        id: &SubscriptionId,
    ) -> StoreResult<Subscription>;
    /// Oldest first, by (created_at, id).
    async fn list_subscriptions(
        &self,
        account: &AccountId,
        query: &SubscriptionQuery,
    ) -> StoreResult<Page<Subscription>>;
    /// Replaces every field but `id` and `created_at`.
    async fn update_subscription(
        &self,
        account: &AccountId,
        subscription: &Subscription,
    ) -> StoreResult<Subscription>;
    /// Deletes the subscription; `NotFound` if absent. Whether invoices still refer to it is
    /// the caller's rule.
    async fn delete_subscription(
        &self,
        account: &AccountId,
        id: &SubscriptionId,
    ) -> StoreResult<()>;
}

/// Invoices and their gapless numbering.
#[async_trait]
pub trait InvoiceStore: Send + Sync {
    /// Stores the invoice with the account's next number (`INV-1` first), taken in
    /// the same transaction: concurrent creates, from any number of processes,
    /// never duplicate or skip a number. `Conflict` when the id is taken, or when
    /// an invoice of the same subscription has the same period (reason
    /// [`INVOICE_PERIOD_TAKEN`](crate::catalog::INVOICE_PERIOD_TAKEN)); invoices
    /// without a subscription are not constrained.
    /// A refused create takes no number. Records no webhook event.
    async fn create_invoice(
        &self,
        account: &AccountId,
        invoice: &NewInvoice,
    ) -> StoreResult<Invoice> {
        self.create_invoice_with_events(account, invoice, &no_invoice_events)
            .await
    }

    /// [`InvoiceStore::create_invoice`], and in the same transaction the
    /// webhook events `events` builds from the stored invoice, in the outbox
    /// ([`WebhookStore::record_webhook_event`]'s table): both are committed,
    /// or neither.
    async fn create_invoice_with_events(
        &self,
        account: &AccountId,
        invoice: &NewInvoice,
        events: InvoiceEvents<'_>,
    ) -> StoreResult<Invoice>;

    /// [`InvoiceStore::create_invoice_with_events`] for each of `invoices`,
    /// numbered in order, committed together where the backend can (one
    /// durable commit for the batch). An invoice whose subscription period
    /// already has one (stored, or earlier in the batch) is refused alone:
    /// its result is the `Conflict` of [`INVOICE_PERIOD_TAKEN`](crate::catalog::INVOICE_PERIOD_TAKEN),
    /// it takes no number, and the others are created. Any other failure
    /// fails the call and creates none. The default creates them one by one,
    /// each in its own transaction, so a failure there leaves the earlier
    /// ones created: every backend of this workspace overrides it.
    async fn create_invoices_with_events(
        &self,
        account: &AccountId,
        invoices: &[NewInvoice],
        events: InvoiceEvents<'_>,
    ) -> StoreResult<Vec<StoreResult<Invoice>>> {
        let mut created = Vec::with_capacity(invoices.len());
        for invoice in invoices {
            match self
                .create_invoice_with_events(account, invoice, events)
                .await
            {
                Err(error) if error.is_invoice_period_taken() => created.push(Err(error)),
                other => created.push(Ok(other?)),
            }
        }
        Ok(created)
    }
    /// The invoice with this id; `NotFound` if absent.
    async fn get_invoice(&self, account: &AccountId, id: &InvoiceId) -> StoreResult<Invoice>;
    /// The invoice of `subscription` for exactly `period`, if any (one per
    /// subscription period, `create_invoice` keeps it so): one indexed lookup.
    async fn find_invoice(
        &self,
        account: &AccountId,
        subscription: &SubscriptionId,
        period: Period,
    ) -> StoreResult<Option<Invoice>>;
    /// Highest number first.
    async fn list_invoices(
        &self,
        account: &AccountId,
        query: &InvoiceQuery,
    ) -> StoreResult<Page<Invoice>>;
    /// Changes a draft (its lines, totals, or finalizing it). A finalized invoice
    /// is frozen: `Conflict`. Records no webhook event.
    async fn update_invoice(
        &self,
        account: &AccountId,
        id: &InvoiceId,
        update: &InvoiceUpdate,
    ) -> StoreResult<Invoice> {
        self.update_invoice_with_events(account, id, update, &no_invoice_events)
            .await
    }

    /// [`InvoiceStore::update_invoice`], and in the same transaction the
    /// webhook events `events` builds from the updated invoice: both are
    /// committed, or neither.
    async fn update_invoice_with_events(
        &self,
        account: &AccountId,
        id: &InvoiceId,
        update: &InvoiceUpdate,
        events: InvoiceEvents<'_>,
    ) -> StoreResult<Invoice>;
}

/// Idempotency keys (`crate::idempotency`): one row per (account, key), so
/// that across every process sharing the database one request at a time runs
/// under a key, and a retry gets the first response back.
#[async_trait]
pub trait IdempotencyStore: Send + Sync {
    /// Claims `claim.key` in `account`, atomically: of concurrent claims of one
    /// free key (from any number of processes), exactly one is `Claimed`. A
    /// key is free when it has no row, or its row expired
    /// ([`IDEMPOTENCY_TTL_MS`](crate::idempotency::IDEMPOTENCY_TTL_MS) after
    /// its claim), or its claim is still in flight but abandoned
    /// ([`IN_FLIGHT_TIMEOUT_MS`](crate::idempotency::IN_FLIGHT_TIMEOUT_MS)); a
    /// free key's row is replaced. Otherwise the row's
    /// [`StoredClaim::outcome`](crate::idempotency::StoredClaim::outcome).
    async fn claim_idempotency_key(
        &self,
        account: &AccountId,
        claim: &NewClaim,
    ) -> StoreResult<Claim>;

    /// Stores the response of the claim `token` of `key`, which then replays
    /// it until the row expires. `false` (nothing written) when the claim is
    /// no longer this token's: released, or taken over as abandoned.
    async fn complete_idempotency_key(
        &self,
        account: &AccountId,
        key: &IdempotencyKey,
        token: &ClaimToken,
        response: &StoredResponse,
    ) -> StoreResult<bool>;

    /// Deletes the in-flight claim `token` of `key`, so that a retry runs
    /// again; `false` when the claim is no longer this token's (a completed
    /// claim is never released).
    async fn release_idempotency_key(
        &self,
        account: &AccountId,
        key: &IdempotencyKey,
        token: &ClaimToken,
    ) -> StoreResult<bool>;

    /// Deletes the rows of every account claimed at or before `claimed_before`
    /// (now minus the lifetime: they are free anyway); returns how many.
    async fn delete_expired_idempotency_keys(&self, claimed_before: Timestamp) -> StoreResult<u64>;
}

/// Features and the entitlements granting them (docs/entitlements.md). Features
/// are addressed by code; entitlements are set whole (`PUT`) and read in bulk.
#[async_trait]
pub trait EntitlementStore: Send + Sync {
    /// Stores a new feature; `Conflict` when its code is taken in the account.
    async fn create_feature(&self, account: &AccountId, feature: &Feature) -> StoreResult<Feature>;

    /// The feature with this code; `NotFound` otherwise.
    async fn get_feature(&self, account: &AccountId, code: &str) -> StoreResult<Feature>;

    /// The account's features, oldest first.
    async fn list_features(
        &self,
        account: &AccountId,
        page: PageRequest,
    ) -> StoreResult<Page<Feature>>;

    /// Replaces every field of the feature with `feature.code` but the code,
    /// its value type and `created_at`; `NotFound` when there is none.
    async fn update_feature(&self, account: &AccountId, feature: &Feature) -> StoreResult<Feature>;

    /// Sets a product's value of a feature, replacing any previous one.
    async fn put_product_entitlement(
        &self,
        account: &AccountId,
        entitlement: &ProductEntitlement,
    ) -> StoreResult<ProductEntitlement>;

    /// Removes a product's value of a feature; `NotFound` when it has none.
    async fn delete_product_entitlement(
        &self,
        account: &AccountId,
        product: &ProductId,
        feature_code: &str,
    ) -> StoreResult<()>;

    /// Every value the given products grant, by product then feature code.
    async fn product_entitlements(
        &self,
        account: &AccountId,
        products: &[ProductId],
    ) -> StoreResult<Vec<ProductEntitlement>>;

    /// Sets a customer's override of a feature, replacing any previous one.
    async fn put_customer_entitlement(
        &self,
        account: &AccountId,
        entitlement: &CustomerEntitlement,
    ) -> StoreResult<CustomerEntitlement>;

    /// Removes a customer's override of a feature; `NotFound` when it has none.
    async fn delete_customer_entitlement(
        &self,
        account: &AccountId,
        customer: &CustomerId,
        feature_code: &str,
    ) -> StoreResult<()>;

    /// Every override of the customer, expired ones included, by feature code.
    async fn customer_entitlements(
        &self,
        account: &AccountId,
        customer: &CustomerId,
    ) -> StoreResult<Vec<CustomerEntitlement>>;
}

/// Webhooks (`crate::webhooks`, docs/webhooks.md): endpoints, the outbox of
/// events, and the messages delivering them, claimed by workers under a
/// lease. The worker's calls (dispatch, claim, finish) act across accounts,
/// like the rollups' backfill; the others are scoped.
#[async_trait]
pub trait WebhookStore: Send + Sync {
    /// Stores a new endpoint; `Conflict` when the id is taken.
    async fn create_webhook_endpoint(
        &self,
        account: &AccountId,
        endpoint: &WebhookEndpoint,
    ) -> StoreResult<WebhookEndpoint>;
    /// The endpoint with this id; `NotFound` if absent.
    async fn get_webhook_endpoint(
        &self,
        account: &AccountId,
        id: &WebhookEndpointId,
    ) -> StoreResult<WebhookEndpoint>;
    /// Oldest first, by (created_at, id).
    async fn list_webhook_endpoints(
        &self,
        account: &AccountId,
        page: PageRequest,
    ) -> StoreResult<Page<WebhookEndpoint>>;
    /// Replaces every field but `id` and `created_at`; `NotFound` if absent.
    /// Messages already made keep going to it (at its new URL).
    async fn update_webhook_endpoint(
        &self,
        account: &AccountId,
        endpoint: &WebhookEndpoint,
    ) -> StoreResult<WebhookEndpoint>;
    /// Deletes the endpoint with its messages and their attempts; `NotFound`
    /// if absent.
    async fn delete_webhook_endpoint(
        &self,
        account: &AccountId,
        id: &WebhookEndpointId,
    ) -> StoreResult<()>;

    /// Writes an event to the outbox, alone in its transaction (a change that
    /// causes an event writes it in its own transaction instead: each backend
    /// has one internal function for that). `Conflict` when the id is taken.
    async fn record_webhook_event(
        &self,
        account: &AccountId,
        event: &NewWebhookEvent,
    ) -> StoreResult<()>;

    /// Dispatches up to `max_events` undispatched events (of any account,
    /// oldest first): each becomes one `pending` message, due at `now`, per
    /// endpoint of its account subscribed to its type now, and is marked
    /// dispatched in the same transaction. Returns how many events it
    /// dispatched (0: none was waiting). Safe from several processes: an
    /// event is dispatched once.
    async fn dispatch_webhook_events(&self, now: Timestamp, max_events: u32) -> StoreResult<u64>;

    /// Claims due messages (of any account): `pending`, or `delivering` under
    /// an expired lease, due at or before `claim.now`, oldest due first, at
    /// most `claim.max_messages`, and per endpoint no more than
    /// `claim.per_endpoint` under a live lease in all. Each becomes
    /// `delivering` until `claim.lease_until`, its attempt counters raised
    /// by one. Safe from several processes: of concurrent claims, one gets
    /// each message.
    async fn claim_webhook_messages(
        &self,
        claim: &ClaimRequest,
    ) -> StoreResult<Vec<ClaimedMessage>>;

    /// Records a claimed attempt and what the message becomes, and ends its
    /// lease. `false` (nothing written) when the claim is no longer this
    /// attempt's: the lease expired and another claim took the message, or a
    /// manual retry or the endpoint's deletion came in between.
    async fn finish_webhook_attempt(
        &self,
        account: &AccountId,
        id: &WebhookMessageId,
        finished: &FinishedAttempt,
    ) -> StoreResult<bool>;

    /// Newest first, by (created_at, id), with their attempts.
    async fn list_webhook_messages(
        &self,
        account: &AccountId,
        query: &MessageQuery,
    ) -> StoreResult<Page<WebhookMessage>>;
    /// The message with this id, with its attempts; `NotFound` if absent.
    async fn get_webhook_message(
        &self,
        account: &AccountId,
        id: &WebhookMessageId,
    ) -> StoreResult<WebhookMessage>;
    /// Starts a new run of attempts: the message becomes `pending`, due at
    /// `now`, its run's attempt count back at 0 (its attempts are kept).
    /// `Conflict` while an attempt holds a live lease on it.
    async fn retry_webhook_message(
        &self,
        account: &AccountId,
        id: &WebhookMessageId,
        now: Timestamp,
    ) -> StoreResult<WebhookMessage>;
}

/// Usage thresholds' states per customer and period (`crate::thresholds`,
/// docs/entitlements.md): read, and moved by compare-and-set with their
/// webhook events in one transaction.
#[async_trait]
pub trait ThresholdStore: Send + Sync {
    /// Every state of the customer whose period ends after `after`.
    async fn threshold_states(
        &self,
        account: &AccountId,
        customer: &CustomerId,
        after: Timestamp,
    ) -> StoreResult<Vec<ThresholdState>>;

    /// The customers with a crossed threshold whose period ends after
    /// `after`: those a deletion may bring back below.
    async fn customers_past_thresholds(
        &self,
        account: &AccountId,
        after: Timestamp,
    ) -> StoreResult<Vec<CustomerId>>;

    /// Applies `change` if the stored state is still the one it replaces
    /// ([`ThresholdChange::applies_to`]), writing its events to the outbox
    /// in the same transaction; `false` (and nothing written) otherwise.
    async fn change_threshold_state(
        &self,
        account: &AccountId,
        change: &ThresholdChange,
    ) -> StoreResult<bool>;
}

/// Everything a Tally server needs from storage.
pub trait Store:
    EventStore
    + AccountStore
    + CustomerStore
    + CatalogStore
    + SubscriptionStore
    + InvoiceStore
    + IdempotencyStore
    + EntitlementStore
    + WebhookStore
    + ThresholdStore
{
}

impl<T> Store for T where
    T: EventStore
        + AccountStore
        + CustomerStore
        + CatalogStore
        + SubscriptionStore
        + InvoiceStore
        + IdempotencyStore
        + EntitlementStore
        + WebhookStore
        + ThresholdStore
{
}
