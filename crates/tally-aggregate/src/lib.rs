//! Tally aggregation: filters, aggregators, formulas and the pure streaming
//! evaluator that is the reference semantics of usage (docs/aggregation.md).
//!
//! The crate does no IO, reads no clock, never uses floating point and never panics
//! on input: arithmetic is checked decimal arithmetic, and overflow or division by
//! zero is an [`EvalError`].
//!
//! # Definitions and compiled forms
//!
//! - [`AggregatorDef`] (serde) is an aggregator as the API accepts it and the store
//!   persists it, `where` trees and formulas as sent.
//! - [`Aggregator::compile`] validates it, reporting every problem at once as a
//!   [`DefinitionError`] (JSON-pointer `path`, stable [`ErrorCode`], lowercase
//!   `message`), and returns an [`Aggregator`]: typed [`Operation`],
//!   [`AggregatorKind`], parsed [`Filter`]s and [`Formula`].
//! - [`Filter`] is a public, inspectable tree ([`Filter::All`], [`Filter::Any`],
//!   [`Condition`]) that a store can translate to SQL; [`filter`] documents the exact
//!   semantics of every operator. [`formula`] documents the formula grammar.
//!
//! # Evaluating
//!
//! - A [`Window`] says which timestamps count: [`Window::Range`] ([start, end),
//!   metered) or [`Window::Before`] (< end, licensed); [`Aggregator::window`] picks
//!   it from the aggregator's type and a billing period.
//! - [`Aggregator::accumulator`] (optionally narrowed by a named filter id, `agf_…`)
//!   gives an [`Accumulator`]: [`Accumulator::push`] events one by one (memory does
//!   not grow with their number, except `unique_count`'s set of distinct values),
//!   then [`Accumulator::finish`] gives an [`AggregateResult`]: the quantity, the
//!   number of events behind it and [`Diagnostics`] (skipped events per reason,
//!   clamping). [`evaluate`] does both over an iterator.
//! - Events of other types, outside the window or refused by a filter are ignored
//!   (not counted as skipped). Selected events whose property is missing/null or not
//!   a number are skipped and counted per reason.
//! - Per-event attribution: [`Accumulator::push`] returns each event's
//!   [`Contribution`] (`Counts(1)` for count, `Counts(value)` for sum, `Behind` for
//!   the non-additive operations, `Skipped(reason)`, `NotMatched`, and for
//!   `unique_count` `Counts(1)` on the first event of a value and `Repeat` after);
//!   [`Aggregator::contribution`] judges one event alone.
//! - [`time_series`] gives per-bucket results over hours, days or months (UTC);
//!   [`SeriesAccumulator`] computes them from events pushed one at a time.
//!
//! # Example
//!
//! Sum the `amount` of January's card payments, from an aggregator definition as the
//! API receives it:
//!
//! ```
//! use rust_decimal::Decimal;
//! use serde_json::json;
//! use tally_aggregate::{Aggregator, AggregatorDef, evaluate};
//! use tally_event::{Period, Timestamp, ValidationConfig, parse_event};
//!
//! let def: AggregatorDef = serde_json::from_value(json!({
//!     "name": "Card volume",
//!     "event_type": "payment",
//!     "operation": "sum",
//!     "property": "amount",
//!     "unit_name": "cent",
//!     "where": {"property": "method", "operator": "equals", "value": "card"}
//! }))
//! .unwrap();
//! let aggregator = Aggregator::compile(&def).unwrap();
//!
//! let at = |text: &str| Timestamp::parse(text).unwrap();
//! let now = at("2024-02-15T00:00:00Z");
//! let payment = |id: u32, timestamp: &str, method: &str, amount: &str| {
//!     // Parsed from text so the amount stays an exact decimal, never an f64.
//!     let amount: serde_json::Value = serde_json::from_str(amount).unwrap();
//!     let wire = json!({"customer_id": "acme", "event_type": "payment", "timestamp": timestamp,
//!                       "record": {"id": id, "method": method, "amount": amount}});
//!     parse_event(&wire, &ValidationConfig::default(), now).unwrap().event
//! };
//! let events = [
//!     payment(1, "2024-01-03T10:00:00Z", "card", "1250.50"),
//!     payment(2, "2024-01-20T10:00:00Z", "sepa", "9000"),    // not a card
//!     payment(3, "2024-01-31T23:59:59Z", "card", "749.50"),
//!     payment(4, "2024-02-01T00:00:00Z", "card", "100"),     // next period
//! ];
//!
//! let january = Period::new(at("2024-01-01T00:00:00Z"), at("2024-02-01T00:00:00Z")).unwrap();
//! let result = evaluate(&aggregator, aggregator.window(january), None, &events).unwrap();
//! assert_eq!(result.quantity, Decimal::from(2000));
//! assert_eq!(result.event_count, 2);
//! assert_eq!(result.diagnostics.skipped_missing + result.diagnostics.skipped_not_numeric, 0);
//! ```
//!
//! `crates/tally-aggregate/examples/filter_sum.rs` is the same idea as a complete
//! program.

#![warn(missing_docs)]

mod aggregator;
mod compare;
mod compile;
mod def;
mod error;
mod evaluate;
pub mod filter;
pub mod formula;
pub mod rollup;
mod template;
pub mod threshold;
mod timeseries;

pub use aggregator::{
    Aggregator, AggregatorKind, Contribution, NamedFilter, Operation, Scope, SkipReason, Window,
};
pub use compile::MAX_THRESHOLDS;
pub use def::{AggregatorDef, AggregatorFilterDef, ThresholdDef};
pub use error::{DefinitionError, ErrorCode, EvalError};
pub use evaluate::{Accumulator, AggregateResult, Diagnostics, evaluate};
pub use filter::{Condition, Filter, Literal, Operand, Operator};
pub use formula::{Formula, FormulaError};
pub use rollup::{Partial, ROLLUP_BUCKET_MS, Retraction, RollupScope, rollup_bucket};
pub use threshold::{Comparison, Threshold};
pub use timeseries::{Bucket, MAX_BUCKETS, SeriesAccumulator, bucket_bounds, time_series};
