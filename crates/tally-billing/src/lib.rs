//! Tally's use cases over the store traits.
//!
//! This crate will hold ingestion, customer resolution, usage, price simulation,
//! billing periods, invoices, the consumption explorer and CSV/ZIP export. It depends
//! on the `tally-store` traits, never on a backend crate, and knows nothing of HTTP.
