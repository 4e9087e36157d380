//! Tally's use cases over the store traits: ingestion, the catalog, billing
//! periods, usage, price simulation, invoices, the consumption explorer and
//! exports. No HTTP here: `tally-api` maps inputs,
//! outputs and [`BillingError`] to the wire; this crate depends on the
//! `tally-store` traits, never on a backend.
//!
//! # The service
//!
//! [`Billing`] holds an `Arc<dyn Store>`, a [`Clock`] and an [`Ids`] generator
//! (both injected: [`SystemClock`] / [`FixedClock`], [`Ids::from_os`] /
//! [`Ids::seeded`]). `Billing::new(store)` for production,
//! `Billing::with_parts(store, clock, ids)` for tests. It is `Clone`; every
//! method is `async`, takes the [`AccountId`](tally_store::AccountId) it acts
//! in first, and returns [`BillingResult`].
//!
//! ```
//! use std::sync::Arc;
//! use serde_json::json;
//! use tally_billing::{Billing, EventFilter};
//! use tally_event::UpsertOutcome;
//! use tally_store::MemoryStore;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), tally_billing::BillingError> {
//! let billing = Billing::new(Arc::new(MemoryStore::new()));
//! let account = billing.ensure_account("default").await?.id;
//!
//! let event = json!({"customer_id": "acme-42", "event_type": "api_call",
//!     "timestamp": "2024-12-20T16:04:11Z", "record": {"id": "D32NAA8"}});
//! let first = billing.ingest_event(&account, &event).await?;
//! let again = billing.ingest_event(&account, &event).await?;
//! assert_eq!(first.outcome, UpsertOutcome::Created);
//! // Same key (event type, record id), same content: nothing is stored.
//! assert_eq!(again.outcome, UpsertOutcome::Unchanged);
//! assert_eq!(again.id, first.id);
//!
//! let stored = billing.list_events(&account, &EventFilter::default()).await?;
//! assert_eq!(stored.total, 1);
//! # Ok(())
//! # }
//! ```
//!
//! `tally-engine` opens a store and an account in one call and is the usual
//! entry point for programs (`docs/EMBEDDING.md`).
//!
//! # Use cases (all methods of [`Billing`])
//!
//! | use case | method | returns |
//! |---|---|---|
//! | account | `ensure_account(name)` (created if missing) | `tally_store::Account` |
//! | settings | `account_settings(acc)` | [`AccountSettings`] (keys in [`settings`]) |
//! | ingest one | `ingest_event(acc, &Value)`, `ingest_event_bytes(acc, &[u8])` | [`IngestedEvent`] |
//! | ingest batch | `ingest_batch(acc, &[Value])` (1..=5000) | [`BatchOutcome`] |
//! | list events | `list_events(acc, &EventFilter)` | `Page<StoredEvent>` |
//! | delete events | `delete_events(acc, &DeleteEvents)` | `u64` deleted |
//! | customers | `create_customer(acc, &CustomerInput)`, `get_customer(acc, ref)`, `list_customers(acc, Pagination)`, `update_customer(acc, ref, &CustomerInput)`, `delete_customer(acc, ref)` | `tally_store::Customer` |
//! | aggregators | `create_aggregator(acc, &AggregatorDef)`, `get_aggregator(acc, id)`, `list_aggregators(acc, Pagination)`, `update_aggregator(acc, id, &AggregatorDef)`, `delete_aggregator(acc, id)` | [`AggregatorEntry`] |
//! | products | `create_product(acc, &ProductInput)`, `get_product`, `list_products`, `update_product(acc, id, &ProductInput)`, `delete_product` | `tally_store::Product` |
//! | subscriptions | `create_subscription(acc, &SubscriptionInput)`, `get_subscription`, `list_subscriptions(acc, Option<customer ref>, Pagination)`, `update_subscription`, `delete_subscription` | `tally_store::Subscription` |
//! | usage | `customer_usage(acc, customer)` | `Vec<`[`UsageSummary`]`>` |
//! | usage of one aggregator | `customer_aggregator_usage(acc, customer, agg, &DateRange)` | [`AggregatorUsage`] |
//! | usage events | `customer_usage_events(acc, customer, agg, &UsageEventsQuery)` | [`UsageEventsPage`] |
//! | time series | `aggregator_time_series(acc, agg, &TimeSeriesQuery)` | [`TimeSeries`] |
//! | simulate | `simulate_prices(acc, &Value, &SimulateOptions)` | [`Calculation`] |
//! | ingest and price | `ingest_and_price(acc, &Value, &SimulateOptions)` | [`PricedEvent`] |
//! | invoices | `create_invoice(acc, sub, Option<at>)`, `get_invoice(acc, id)`, `list_invoices(acc, &InvoiceFilter, Pagination)`, `finalize_invoice(acc, id)` | [`InvoiceView`] |
//! | consumption | `subscription_consumption(acc, sub, &ConsumptionQuery)`, `invoice_consumption(acc, inv, Pagination)` | [`ConsumptionView`] |
//! | webhook endpoints | `create_webhook_endpoint(acc, &WebhookEndpointInput)`, `get_webhook_endpoint`, `list_webhook_endpoints`, `update_webhook_endpoint(acc, id, &WebhookEndpointPatch)`, `delete_webhook_endpoint` | `tally_store::WebhookEndpoint` |
//! | webhook messages | `list_webhook_messages(acc, &MessageFilter, Pagination)`, `retry_webhook_message(acc, id)` | `tally_store::WebhookMessage` |
//! | consumption rows | `subscription_scope` / `invoice_scope`, then `product_consumption(acc, &scope, product)`, then `consumption_rows(acc, &planned, group)` | a `'static` stream of [`ConsumptionRow`] |
//!
//! Object ids in paths are taken as `&str`: one that does not parse is
//! `NotFound`, exactly like one that does not exist. A customer is named by its
//! `cus_` id or its external id (the `cus_` id wins).
//!
//! Input types (`CustomerInput`, `ProductInput`, `SubscriptionInput`,
//! `DeleteEvents`, `Pagination`, `DateRange`) derive `Deserialize` so a request
//! body can be read straight into them; decimals are JSON strings or numbers.
//!
//! # Errors
//!
//! [`BillingError`]: `Invalid(Vec<Problem>)` (every problem with a JSON-pointer
//! `path`, a stable `code` and a message; query parameters are `/name`),
//! `NotFound { what }`, `Conflict { what, reason }`, `Evaluation(message)`,
//! `Overloaded { retry_after }` and `Store(StoreError)`; [`BillingError::code`]
//! is stable. The table on [`BillingError`] suggests the status of each.
//!
//! # Group commit
//!
//! Ingestion writes through one writer task per service ([`commit`]):
//! concurrent requests share store transactions, the queue is bounded
//! ([`IngestQueueConfig`], [`Billing::with_ingest_queue`]) and a full queue is
//! [`BillingError::Overloaded`]. [`Billing::flush_ingest`] waits for queued
//! writes (server shutdown).
//!
//! # Periods
//!
//! [`period::period_containing`] gives the billing period of a subscription at
//! an instant; see [`period`] for the month-end rules. `docs/billing.md` lists
//! every decision this crate makes where the design is silent.

#![warn(missing_docs)]

mod accounts;
pub mod catalog;
mod clock;
pub mod commit;
pub mod consumption;
pub mod entitlements;
mod error;
pub mod events;
pub mod export;
pub mod ingest;
pub mod input;
pub mod invoice;
pub mod period;
pub mod readers;
pub mod rollups;
#[cfg(feature = "openapi")]
pub mod schema;
mod service;
pub mod settings;
pub mod simulate;
pub mod thresholds;
pub mod usage;
pub mod webhooks;

pub use catalog::{
    AggregatorEntry, BillingIntervalInput, CustomerInput, PriceGroupInput, ProductInput,
    SubscriptionInput,
};
pub use clock::{Clock, FixedClock, Ids, SystemClock};
pub use commit::{
    DEFAULT_MAX_EVENTS_PER_COMMIT, DEFAULT_MAX_QUEUED_EVENTS, IngestQueueConfig,
    OVERLOADED_RETRY_AFTER,
};
pub use consumption::{
    ConsumedEvent, ConsumptionQuery, ConsumptionRow, ConsumptionScope, ConsumptionView, EventsPage,
    GroupConsumption, GroupView, InvoiceRef, ProductConsumption, ProductView,
};
pub use error::{BillingError, BillingResult, ErrorCode, Problem};
pub use events::{DeleteEvents, EventFilter, MAX_DELETE_RECORD_IDS};
pub use ingest::{BatchAccepted, BatchOutcome, BatchRejected, IngestedEvent, MAX_BATCH_EVENTS};
pub use input::{DEFAULT_TAKE, DateRange, Pagination, date_message};
pub use invoice::{
    BatchInvoice, EventChange, EventChangeKind, InvoiceChanges, InvoiceFilter, InvoiceLine,
    InvoiceTotals, InvoiceView, LineChange, LineType, MAX_BATCH_INVOICES, PeriodPreview,
};
pub use period::{PeriodError, period_containing};
pub use rollups::{BACKFILL_CHUNK_EVENTS, RollupState};
pub use service::{Billing, SETTINGS_CACHE_MS};
pub use settings::AccountSettings;
pub use simulate::{
    Calculation, CalculationId, PriceGroupRef, PricedEvent, PricedLine, SimulateOptions,
};
pub use usage::{
    AggregatorUsage, MAX_TIME_SERIES_BUCKETS, MarkKind, TimeSeries, TimeSeriesPoint,
    TimeSeriesQuery, UsageEvent, UsageEventsPage, UsageEventsQuery, UsageMark, UsagePoint,
    UsageProgress, UsageSummary,
};
pub use webhooks::{MessageFilter, WebhookConfig, WebhookEndpointInput, WebhookEndpointPatch};
