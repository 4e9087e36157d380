//! proptest strategies for Tally, for property tests of your own pricing.
//!
//! Each strategy generates values that Tally accepts (or, for
//! [`invalid_event`], rejects with a known code), so a property can be about your
//! prices and plans rather than about getting the inputs right:
//!
//! | strategy | yields | accepted by |
//! |---|---|---|
//! | [`record`], [`record_with`] | `tally_event::Record` within every limit | `parse_event` (in an event) |
//! | [`valid_event`] | [`ValidEvent`]: wire JSON in any timestamp form, and the `Event` it parses to | `parse_event` |
//! | [`invalid_event`] | `(serde_json::Value, ErrorCode)`: one rule broken | rejected by `parse_event` with that code |
//! | [`filter`], [`condition`], [`where_json`] | `tally_aggregate::Filter` trees, every operator | `Filter::parse` |
//! | [`aggregator_def`], [`formula`] | `AggregatorDef`, every operation | `Aggregator::compile` |
//! | [`tiers`], [`tiers_with`] | `Vec<TierDef>` | `PriceModel::parse` (graduated, volume) |
//! | [`price_model`], [`quantity_model`], [`percentage_model`] | `PriceModelDef` of each type | `PriceModel::parse` |
//! | [`product_price`] | [`ProductPrice`]: model, min/max amounts, tax rate | `PriceModel::parse`, `ProductBounds::parse`, `TaxRate::new` |
//! | [`quantity`], [`amount`], [`decimal`] | `Decimal` quantities, prices, any number | |
//! | [`subscription`], [`interval`], [`anchor`] | [`SubscriptionCase`]: anchor, interval, an instant | `period_for`, `create_subscription` |
//!
//! Configuration structs ([`EventConfig`], [`RecordConfig`], [`FilterConfig`],
//! [`AggregatorConfig`], [`TierConfig`]) have defaults that cover every rule; set
//! the fields you care about (`..Default::default()` for the rest).
//!
//! ```
//! use proptest::prelude::*;
//! use tally_pricing::{PriceModel, PriceModelDef, price};
//! use tally_testkit::{quantity, tiers};
//!
//! // "A graduated price never charges less for more."
//! proptest!(|(tiers in tiers(), a in quantity(), b in quantity())| {
//!     let model = PriceModel::parse(&PriceModelDef::Graduated { tiers }).unwrap();
//!     let (low, high) = (a.min(b), a.max(b));
//!     prop_assert!(price(&model, low).unwrap().amount <= price(&model, high).unwrap().amount);
//! });
//! ```
//!
//! `docs/testing.md` in the repository describes each strategy and the example
//! `cap_property`.

#![warn(missing_docs)]

mod aggregator;
mod event;
mod filter;
mod invalid;
mod pricing;
mod record;
mod subscription;

pub use aggregator::{AggregatorConfig, OPERATIONS, aggregator_def, formula};
pub use event::{
    DEFAULT_FROM_MS, DEFAULT_NOW_MS, EventConfig, ValidEvent, customer, event_type, integer_value,
    timestamp, valid_event,
};
pub use filter::{FilterConfig, condition, filter, literal, where_json};
pub use invalid::{invalid_codes, invalid_event};
pub use pricing::{
    ProductPrice, TierConfig, amount, percentage_model, price_model, product_price, quantity,
    quantity_model, tiers, tiers_with,
};
pub use record::{
    RECORD_BYTES_BUDGET, RecordConfig, decimal, key, record, record_id, record_with, scalar,
    string_value, value,
};
pub use subscription::{
    MAX_INTERVAL_COUNT, SubscriptionCase, anchor, interval, interval_unit, subscription,
};
