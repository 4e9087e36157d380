//! CSV and ZIP exports of the events behind an invoice or a subscription
//! period, with the amount billed for each (docs/API.md, seed 000). No HTTP
//! here: the exporters write bytes into a [`ChunkBuffer`] that the caller
//! drains between rows (into an HTTP body, a file), so memory holds about one
//! [`CHUNK_BYTES`] chunk whatever the number of rows.
//!
//! # The CSV of one product
//!
//! - Columns: `id` (the `evt_` id), `timestamp` (RFC 3339, milliseconds, UTC),
//!   `name` (the aggregator's `custom_event_name`, or `{event_type} {record id}`),
//!   then one `record.{key}` column per record key, then `price_group` when the
//!   product has more than one price group, then `quantity` (what the event adds
//!   to the quantity; empty when the aggregation is not additive), `amount`
//!   (major units with the currency's decimals: `12.34` EUR, `1234` JPY) and
//!   `currency`. Record keys are prefixed so that a record key `amount` or
//!   `name` never collides with the fixed columns.
//! - Which record keys: the aggregator's `exposed_event_keys`, in their order;
//!   without them, every key seen in the exported events, in byte order. Those
//!   are gathered by a first pass over the events ([`KeySet`]), keeping at most
//!   [`MAX_RECORD_COLUMNS`]; keys beyond them go into one `record.other` column
//!   holding a JSON object.
//! - RFC 4180: CRLF line ends, fields quoted when they hold a comma, a quote or
//!   a line break, quotes doubled; UTF-8 without a byte-order mark.
//! - Formula injection: a text cell (name, record strings and arrays, ids,
//!   price group) starting with `=`, `+`, `-`, `@`, a tab or a carriage return
//!   gets a leading `'`. Numeric cells (record numbers, `quantity`, `amount`)
//!   are written by Tally from decimals and are left alone, so `-12.5` stays a
//!   number a spreadsheet can add up.
//!
//! # The ZIP of an invoice
//!
//! [`Archive`]: one deflated CSV per usage product, named after the product by
//! [`UniqueNames`] (safe on every OS, `name (2).csv` for a repeated name).

mod archive;
mod chunks;
pub mod names;
mod service;
mod sheet;

pub use archive::Archive;
pub use chunks::{CHUNK_BYTES, ChunkBuffer};
pub use names::{UniqueNames, safe_stem};
pub use service::{CsvExport, ExportError, ZipExport};
pub use sheet::{ExportRow, KeySet, Layout, MAX_RECORD_COLUMNS, Sheet, push_guarded, safe_cell};

#[cfg(test)]
mod tests;
