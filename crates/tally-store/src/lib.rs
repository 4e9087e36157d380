//! Storage traits for Tally, the in-memory store and the backend conformance suite.
//!
//! Every other layer reads and writes events and the billing catalog (accounts,
//! API keys, customers, aggregators, products, subscriptions, invoices,
//! features and entitlements), and
//! the API its idempotency keys, through the
//! async traits of [`traits`], used as `Arc<dyn Store>`. Backends live in their own
//! crates (`tally-store-sqlite`, `tally-store-postgres`) and map their own database
//! errors into [`StoreError`]; this crate never depends on a database driver.
//!
//! [`MemoryStore`] keeps everything in process memory (tests, demos). With the
//! `conformance` feature, the `conformance` module holds the suite every backend runs.
//!
//! Every call but the account ones is scoped by the account it acts in, and an
//! object of another account is `NotFound`, exactly like one that does not
//! exist:
//!
//! ```
//! use std::sync::Arc;
//! use tally_event::{CustomerRef, Timestamp};
//! use tally_store::{Account, AccountId, Customer, CustomerId, MemoryStore, Store, StoreError};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
//! let now = Timestamp::parse("2024-12-01T00:00:00Z")?;
//! let mut accounts = Vec::new();
//! for name in ["acme", "globex"] {
//!     let account = Account {
//!         id: AccountId::random(),
//!         name: name.to_owned(),
//!         settings: serde_json::json!({}),
//!         created_at: now,
//!     };
//!     accounts.push(store.create_account(&account).await?.id);
//! }
//!
//! let customer = Customer::automatic(CustomerId::random(), "acme-42", now);
//! store.create_customer(&accounts[0], &customer).await?;
//! let reference = CustomerRef::parse("acme-42")?;
//! let found = store.find_customer(&accounts[0], &reference).await?;
//! assert_eq!(found.map(|c| c.id), Some(customer.id.clone()));
//!
//! let elsewhere = store.get_customer(&accounts[1], &customer.id).await;
//! assert!(matches!(elsewhere, Err(StoreError::NotFound { .. })));
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

pub mod catalog;
#[cfg(feature = "conformance")]
pub mod conformance;
pub mod documents;
pub mod entitlements;
mod error;
mod evaluate;
pub mod events;
pub mod idempotency;
pub mod ids;
pub mod keys;
mod keyset;
mod memory;
pub mod page;
pub mod price_versions;
pub mod rollups;
pub mod thresholds;
pub mod traits;
pub mod versions;
pub mod webhooks;

pub use catalog::{
    Account, AggregatorRecord, BillingInterval, Customer, CustomerType, INVOICE_PERIOD_TAKEN,
    IntervalUnit, Invoice, InvoiceNumber, InvoiceQuery, InvoiceStatus, InvoiceUpdate, NewInvoice,
    PriceGroup, Product, ProductKind, ResolvedCustomer, Subscription, SubscriptionQuery,
    match_references,
};
pub use entitlements::{
    CustomerEntitlement, Feature, FeatureValue, FeatureValueType, ProductEntitlement,
    ResolutionStrategy,
};
pub use error::{StoreError, StoreResult};
pub use evaluate::{eval_error, evaluate_stream};
pub use events::{EventGroup, EventQuery, EventWindow, NewEvent, StoredEvent, UpsertResult};
pub use idempotency::{
    Claim, ClaimToken, IDEMPOTENCY_TTL_MS, IN_FLIGHT_TIMEOUT_MS, IdempotencyKey,
    IdempotencyKeyError, NewClaim, RequestHash, StoredClaim, StoredResponse,
};
pub use ids::{
    AccountId, AggregatorFilterId, AggregatorId, ApiKeyId, CustomerId, EventId, IdParseError,
    InvoiceId, PriceGroupId, ProductId, SubscriptionId, WebhookEndpointId, WebhookEventId,
    WebhookMessageId,
};
pub use keys::{API_KEY_PREFIX, ApiKey, ApiKeyHash, generate_api_key_secret};
pub use keyset::{KeysetCursor, keyset_stream};
pub use memory::MemoryStore;
pub use page::{MAX_TAKE, Page, PageRequest, SortOrder};
pub use price_versions::PriceVersion;
pub use thresholds::{ThresholdChange, ThresholdState};
pub use traits::{
    AccountStore, CatalogStore, CustomerStore, EntitlementStore, EventStore, IdempotencyStore,
    InvoiceStore, Store, SubscriptionStore, ThresholdStore, WebhookStore,
};
pub use versions::{
    AsOf, EventSeq, EventVersion, PlannedVersion, Superseded, UpsertPlan, VersionStatus,
    plan_upserts,
};
pub use webhooks::{
    AttemptOutcome, ClaimRequest, ClaimedMessage, DeliveryAttempt, FinishedAttempt, InvoiceEvents,
    MessageQuery, MessageStatus, NewWebhookEvent, WebhookEndpoint, WebhookEventType,
    WebhookMessage, message_id, no_invoice_events,
};
