//! Storage traits for Tally, the in-memory store and the backend conformance suite.
//!
//! Every other layer reads and writes events and the billing catalog (accounts,
//! API keys, customers, aggregators, products, subscriptions, invoices) through the
//! async traits of [`traits`], used as `Arc<dyn Store>`. Backends live in their own
//! crates (`tally-store-sqlite`, `tally-store-postgres`) and map their own database
//! errors into [`StoreError`]; this crate never depends on a database driver.
//!
//! [`MemoryStore`] keeps everything in process memory (tests, demos). With the
//! `conformance` feature, [`conformance`] holds the suite every backend runs.

pub mod catalog;
#[cfg(feature = "conformance")]
pub mod conformance;
mod error;
mod evaluate;
pub mod events;
pub mod ids;
pub mod keys;
mod keyset;
mod memory;
pub mod page;
pub mod traits;

pub use catalog::{
    Account, AggregatorRecord, BillingInterval, Customer, CustomerType, INVOICE_PERIOD_TAKEN,
    IntervalUnit, Invoice, InvoiceNumber, InvoiceQuery, InvoiceStatus, InvoiceUpdate, NewInvoice,
    PriceGroup, Product, ProductKind, ResolvedCustomer, Subscription, SubscriptionQuery,
};
pub use error::{StoreError, StoreResult};
pub use evaluate::{eval_error, evaluate_stream};
pub use events::{EventGroup, EventQuery, EventWindow, NewEvent, StoredEvent, UpsertResult};
pub use ids::{
    AccountId, AggregatorFilterId, AggregatorId, ApiKeyId, CustomerId, EventId, IdParseError,
    InvoiceId, PriceGroupId, ProductId, SubscriptionId,
};
pub use keys::{API_KEY_PREFIX, ApiKey, ApiKeyHash, generate_api_key_secret};
pub use keyset::{KeysetCursor, keyset_stream};
pub use memory::MemoryStore;
pub use page::{MAX_TAKE, Page, PageRequest, SortOrder};
pub use traits::{
    AccountStore, CatalogStore, CustomerStore, EventStore, InvoiceStore, Store, SubscriptionStore,
};
