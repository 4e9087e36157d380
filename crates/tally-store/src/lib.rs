//! Storage traits for Tally and the in-memory store.
//!
//! This crate will hold the async-trait traits (usable as `Arc<dyn …>`) through which
//! every other layer reads and writes events and the billing catalog (accounts, API
//! keys, customers, aggregators, products, subscriptions, invoices), an in-memory
//! implementation for tests and demos, and the conformance suite that every backend
//! runs. It never depends on sqlx: each backend maps its own database errors.
