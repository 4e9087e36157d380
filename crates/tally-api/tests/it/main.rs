//! The API's integration tests: the real router, in process, over a `MemoryStore`.

mod auth;
mod console;
mod exports;
mod features;
mod idempotency;
mod integrity;
mod invoices;
mod limits;
mod portal;
mod portal_explorer;
mod rollups;
mod scenarios;
mod strict;
mod support;
mod system;
mod versions;
mod webhooks;
