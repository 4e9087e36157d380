//! The SQLite backend of the Tally store: the embedded default.
//!
//! [`SqliteStore`] implements every `tally-store` trait with sqlx on one SQLite
//! database file in WAL mode with `synchronous=FULL`: an upsert that returned `Ok`
//! is in the WAL on disk. Migrations (`migrations/`) are embedded and run at open.
//!
//! # Connections
//!
//! SQLite allows one writer at a time, so the store keeps one writer connection
//! (a pool of size 1: writers queue in process instead of spinning on
//! `SQLITE_BUSY`) and a pool of read-only connections, which WAL lets read
//! concurrently with the writer. Write transactions start with `BEGIN IMMEDIATE`
//! so that a read-then-write transaction never fails to upgrade its lock.
//! An in-memory database (`sqlite::memory:`) exists per connection, so there one
//! connection serves both roles.
//!
//! # Queries
//!
//! SQL lives in consts next to the code that runs it, executed with
//! runtime-checked `sqlx::query_as` into `FromRow` row structs (module `rows`) that
//! convert into domain types; [`map_sqlx_error`] is the one place where sqlx
//! errors become store errors. Aggregations push the filter down to SQL
//! (`json_extract`) as a prefilter and evaluate exactly with the pure evaluator
//! (`aggregate`).

#![warn(missing_docs)]

mod accounts;
mod catalog;
mod customers;
mod entitlements;
mod error;
mod events;
mod filter_sql;
mod idempotency;
mod invoices;
mod open;
mod raw;
mod rows;
mod scoped;
mod subscriptions;
mod thresholds;
mod webhooks;

pub use error::map_sqlx_error;
pub use open::{SqliteOptions, SqliteStore, SqliteStoreError};
pub use raw::{RawBaseline, RawEventRow};
