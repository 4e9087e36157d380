//! Integration tests of the use cases over `MemoryStore`, with a fixed clock and
//! seeded ids.

mod catalog;
mod consumption;
mod counting;
mod entitlements;
mod export;
mod group_commit;
mod ingest;
mod invoice_batch;
mod invoice_lifecycle;
mod invoice_props;
mod invoices;
mod periods;
mod plan;
mod rollups;
mod simulate;
mod support;
mod thresholds;
mod usage;
