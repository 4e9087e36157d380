//! Tally as a library: open a store, get an account, and call the use cases,
//! without HTTP.
//!
//! This crate is the one dependency an embedding program needs. It opens a
//! store (process memory, a SQLite file, or a database URL), makes sure the
//! account to act in exists, and re-exports the layer crates under short names
//! so that their types are at hand without further dependencies:
//!
//! | module | crate | what it holds |
//! |---|---|---|
//! | [`event`] | `tally-event` | events, validation, [`Timestamp`], [`Period`](event::Period) |
//! | [`aggregate`] | `tally-aggregate` | aggregator definitions ([`AggregatorDef`]), filters, formulas |
//! | [`pricing`] | `tally-pricing` | price models, quotes, money and tax |
//! | [`store`] | `tally-store` | the storage traits, records and ids |
//! | [`billing`] | `tally-billing` | [`Billing`], every use case and its inputs and outputs |
//!
//! The use cases themselves are the methods of [`Billing`]; [`Engine`] only
//! pairs one with the account it acts in and adds no method of its own.
//! `docs/EMBEDDING.md` compares this with running the bundled server.
//!
//! # A month of usage in a handful of calls
//!
//! Definitions are the JSON bodies of the HTTP API (`docs/API.md`), read into
//! the input types with [`serde_json::from_value`]; amounts are integers in
//! the currency's minor unit (cents here).
//!
//! ```
//! use tally_engine::serde_json::{from_value, json};
//! use tally_engine::{DateRange, Engine, Pagination, SimulateOptions, Timestamp};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let engine = Engine::memory().await?; // or Engine::sqlite("tally.db")
//! let (billing, acc) = (engine.billing(), engine.account());
//!
//! // The catalog: a customer, what to count, its price, a monthly subscription.
//! billing
//!     .create_customer(acc, &from_value(json!({"external_id": "acme-42", "name": "Acme"}))?)
//!     .await?;
//! let calls = billing
//!     .create_aggregator(acc, &from_value(json!({
//!         "name": "API calls", "event_type": "api_call", "operation": "count"
//!     }))?)
//!     .await?;
//! let product = billing
//!     .create_product(acc, &from_value(json!({
//!         "name": "API calls", "type": "usage", "aggregator_id": calls.id, "currency": "EUR",
//!         "price_groups": [{"name": "calls", "price": {"type": "per_unit", "unit_amount": "2"}}]
//!     }))?)
//!     .await?;
//! let subscription = billing
//!     .create_subscription(acc, &from_value(json!({
//!         "customer_id": "acme-42", "product_ids": [product.id],
//!         "starts_at": "2024-12-01T00:00:00Z"
//!     }))?)
//!     .await?;
//!
//! // Usage events, as an HTTP client would send them.
//! let events = ["D32NAA8", "D32NAA9"].map(|id| json!({
//!     "customer_id": "acme-42", "event_type": "api_call",
//!     "timestamp": "2024-12-20T16:04:11Z", "record": {"id": id}
//! }));
//! let outcome = billing.ingest_batch(acc, &events).await?;
//! assert!(outcome.rejected.is_empty());
//!
//! // December's usage, and what one more call would cost on top of it.
//! let december = DateRange::new("2024-12-01", "2025-01-01");
//! let usage = billing
//!     .customer_aggregator_usage(acc, "acme-42", calls.id.as_str(), &december)
//!     .await?;
//! assert_eq!(usage.total, 2.into());
//! let one_more = json!({
//!     "customer_id": "acme-42", "event_type": "api_call",
//!     "timestamp": "2024-12-21T09:00:00Z", "record": {"id": "D32NAB0"}
//! });
//! let quote = billing.simulate_prices(acc, &one_more, &SimulateOptions::default()).await?;
//! assert_eq!(quote.result[0].amount_excluding_tax, 2);
//!
//! // December's invoice, and what each event on it was billed.
//! let at = Timestamp::parse("2024-12-15T00:00:00Z")?;
//! let invoice = billing.create_invoice(acc, subscription.id.as_str(), Some(at)).await?;
//! assert_eq!(invoice.totals.amount_excluding_tax, 4);
//! let consumption = billing
//!     .invoice_consumption(acc, invoice.id.as_str(), Pagination::default())
//!     .await?;
//! let group = &consumption.products[0].groups[0];
//! let per_event: Vec<i64> = group.events.iter().map(|event| event.amount).collect();
//! assert_eq!(per_event, [2, 2]);
//! # Ok(())
//! # }
//! ```
//!
//! Pages of [`Billing::invoice_consumption`] hold at most 100 events per price
//! group; to read every event of a large invoice in bounded memory, stream
//! them with [`Billing::invoice_scope`], [`Billing::product_consumption`] and
//! [`Billing::consumption_rows`], as the `invoice_month` example does
//! (`cargo run -p tally-engine --example invoice_month`).
//!
//! # Stores and accounts
//!
//! [`Engine::memory`], [`Engine::sqlite`] and [`Engine::open`] (a URL:
//! `sqlite://…`, `postgres://…` with the `postgres` feature, `memory:`) act in
//! the account named [`DEFAULT_ACCOUNT`], the one `tally serve` creates, so a
//! program and the server can share a database. [`Engine::start`] takes a
//! [`Billing`] built elsewhere (a fixed clock, seeded ids) and any account
//! name. [`open_store`], [`open_sqlite`] and [`open_memory`] open a bare
//! `Arc<dyn Store>` for programs that manage several accounts.
//!
//! # Features
//!
//! - `postgres`: `postgres://` URLs through `tally-store-postgres`.
//!
//! # Errors
//!
//! Opening fails with [`EngineError`]; every use case returns
//! [`BillingError`], whose [`code`](BillingError::code) is stable and whose
//! `Invalid` variant lists every problem with a JSON-pointer path into the
//! input.

#![warn(missing_docs)]

mod engine;
mod open;

pub use engine::{DEFAULT_ACCOUNT, Engine, EngineError};
pub use open::{
    DEFAULT_DATABASE_URL, OpenError, open_existing_store, open_memory, open_sqlite, open_store,
    open_store_with, redact_url,
};
pub use tally_store_sqlite::SqliteOptions;

/// Events: the event model, validation, timestamps and periods (`tally-event`).
pub use tally_event as event;

/// Aggregators: definitions, filters, formulas and the evaluator
/// (`tally-aggregate`).
pub use tally_aggregate as aggregate;

/// Prices: models, quotes, currencies, money and tax (`tally-pricing`).
pub use tally_pricing as pricing;

/// Storage: the traits, domain records, ids and the in-memory store
/// (`tally-store`).
pub use tally_store as store;

/// The use cases: [`Billing`] and its inputs and outputs (`tally-billing`).
pub use tally_billing as billing;
/// The webhook delivery worker ([`Engine::start`] runs one).
pub use tally_webhooks as webhooks;

/// JSON with exact numbers (`arbitrary_precision`): events and definitions
/// are JSON values, and this is the build of `serde_json` Tally reads them
/// with.
pub use serde_json;

pub use tally_aggregate::AggregatorDef;
pub use tally_billing::{
    Billing, BillingError, BillingResult, ConsumptionRow, CustomerInput, DateRange, InvoiceView,
    Pagination, ProductInput, SimulateOptions, SubscriptionInput,
};
pub use tally_event::Timestamp;
pub use tally_store::{AccountId, Store};
