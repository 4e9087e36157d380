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
