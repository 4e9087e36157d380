//! Tally's pricing: money, currencies, price models, tax and per-event attribution.
//!
//! A pure crate: plain functions over plain data, no IO, no clock, no floats.
//! Every amount is a [`rust_decimal::Decimal`] in the currency's minor unit while
//! it is computed and an `i64` of minor units once rounded. Arithmetic is checked:
//! a quantity or price too large for that range is a [`PricingError::Overflow`],
//! never a wrong number, and no input makes a function panic.
//!
//! # Building a price
//!
//! [`PriceModelDef`] is the serde form that stores persist and the API accepts
//! (`{"type": "graduated", "tiers": [{"up_to": "1000", "unit_amount": "2"}, …]}`;
//! decimals as JSON strings or numbers). [`PriceModel::parse`] validates it once,
//! reporting every [`Problem`] with a JSON pointer (`/tiers/1/up_to`) and a stable
//! [`ProblemCode`]; a `PriceModel` also (de)serializes through its definition.
//! Models: `flat`, `per_unit`, `package`, `graduated`, `volume` (tiers with
//! inclusive, strictly increasing upper bounds and an open last tier) and
//! `percentage` (a per-event fee, clamped by a floor and a cap).
//!
//! # Pricing
//!
//! - [`price`]`(model, quantity) -> Quote` for every model but `percentage`;
//!   [`price_events`]`(model, values) -> Quote` for `percentage`, over the
//!   period's per-event values. A [`Quote`] has the exact `amount`, the rounded
//!   `subtotal` and a [`BreakdownLine`] per tier or part.
//! - [`Quote::with_tax`] / [`Taxed::compute`]: tax is `round(subtotal × rate /
//!   100)` on the rounded subtotal, half away from zero; total = subtotal + tax.
//! - [`preview`]: the amount at a list of quantities (a curve).
//! - [`ProductBounds::apply`]: a product's `min_amount` / `max_amount` over the
//!   sum of its price groups' subtotals, as an explicit [`Adjustment`] line.
//!
//! # Attribution
//!
//! [`attribute`]`(model, usage) -> Attribution` splits a line's subtotal over its
//! events (given in (timestamp, record id) order): marginal for per-unit,
//! graduated, package and flat; pro rata for volume; each event's own fee for
//! percentage; equal shares when the aggregation is not additive. Amounts are
//! whole minor units, never negative for non-negative contributions, and
//! `unattributed + Σ per_event` is exactly the subtotal: residues go by largest
//! remainder, earliest event first on ties. [`attribute_with`] takes the rule
//! explicitly. `docs/pricing.md` has worked examples of every rule.
//!
//! # Example
//!
//! A volume price in euro cents, quoted with 20 % tax, then shown in euros:
//!
//! ```
//! use rust_decimal::Decimal;
//! use tally_pricing::{Currency, LineKind, Money, PriceModel, PriceModelDef, TaxRate, price};
//!
//! // As the API takes it: the first 1000 units at 2 cents, beyond that every unit
//! // at 1.5 cents plus 5.00 € once.
//! let def: PriceModelDef = serde_json::from_str(
//!     r#"{"type": "volume", "tiers": [
//!           {"up_to": "1000", "unit_amount": "2", "flat_amount": "0"},
//!           {"up_to": null, "unit_amount": "1.5", "flat_amount": "500"}]}"#,
//! )
//! .unwrap();
//! let model = PriceModel::parse(&def).unwrap();
//!
//! let quote = price(&model, Decimal::new(12005, 1)).unwrap(); // 1200.5 units
//! let line = &quote.breakdown[0];
//! assert_eq!((line.kind, line.tier), (LineKind::Tier, Some(1)));
//! assert_eq!(quote.amount, Decimal::new(230075, 2)); // 1200.5 × 1.5 + 500
//! assert_eq!(quote.subtotal, 2301); // rounded half away from zero
//!
//! let taxed = quote.with_tax(TaxRate::new(Decimal::from(20)).unwrap()).unwrap();
//! assert_eq!((taxed.tax, taxed.total), (460, 2761)); // 20 % of 2301 is 460.2
//! assert_eq!(Money::new(taxed.total, Currency::EUR).to_string(), "27.61 EUR");
//! ```
//!
//! `crates/tally-pricing/examples/quote.rs` quotes graduated and volume prices at
//! several quantities and prints the breakdown per tier.

#![warn(missing_docs)]

mod apportion;
mod arith;
mod attribution;
mod bounds;
mod currency;
mod error;
mod model;
mod money;
mod quote;

pub use arith::round_minor;
pub use attribution::{Attribution, AttributionRule, Usage, attribute, attribute_with};
pub use bounds::{Adjustment, AdjustmentKind, ProductBounds};
pub use currency::Currency;
pub use error::{PricingError, Problem, ProblemCode};
pub use model::{
    MAX_TIERS, ModelType, Package, PackageRounding, Percentage, PriceModel, PriceModelDef, Tier,
    TierDef, Tiers,
};
pub use money::{Money, TaxRate, Taxed, tax_amount};
pub use quote::{BreakdownLine, LineKind, PreviewPoint, Quote, preview, price, price_events};
