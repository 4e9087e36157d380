//! Per-event attribution: how much of a line's subtotal each event is billed.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::apportion::largest_remainder;
use crate::arith::{self, round_minor};
use crate::error::PricingError;
use crate::model::{Model, PriceModel};
use crate::quote::{amount_at, price_events};

/// How a line's subtotal is shared among the events behind it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttributionRule {
    /// Each event pays `price(after) - price(before)` of the running quantity.
    Marginal,
    /// Each event pays its share of the quantity times the amount.
    ProRata,
    /// Each event pays its own fee (percentage models).
    OwnFee,
    /// The events behind the quantity pay equal shares.
    EqualShares,
}

/// What the aggregation tells about the events behind a line, in
/// (timestamp, record id) order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Usage<'a> {
    /// Additive aggregations: each event's contribution to the quantity (1 for
    /// `count`, the value for `sum`); for a percentage model, each event's value.
    Contributions(&'a [Decimal]),
    /// Other aggregations (`min`, `max`, `avg`, `latest`, `unique_count`,
    /// `formula`): the quantity and how many events are behind it (for
    /// `unique_count`, the first event of each distinct value).
    Opaque {
        /// The line's aggregated quantity, as priced.
        quantity: Decimal,
        /// How many events share the subtotal; 0 leaves it all unattributed.
        events: usize,
    },
}

/// Per-event amounts in minor units. `unattributed + Σ per_event == subtotal`,
/// always, and `subtotal` equals the line's subtotal from [`crate::price`] or
/// [`crate::price_events`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Attribution {
    /// The rule applied.
    pub rule: AttributionRule,
    /// The line's subtotal in minor units, what `unattributed` and `per_event` add
    /// up to.
    pub subtotal: i64,
    /// The part no event caused: under `Marginal`, the price at quantity zero (a
    /// flat model's amount, a first tier's flat amount); under the other rules,
    /// the whole subtotal when no event (or no contribution) is there to carry it.
    pub unattributed: i64,
    /// One amount per event, in input order.
    pub per_event: Vec<i64>,
}

impl AttributionRule {
    /// The rule of docs/pricing.md for a model and the shape of its usage.
    pub fn for_usage(model: &PriceModel, usage: &Usage<'_>) -> AttributionRule {
        match (&model.0, usage) {
            (Model::Percentage(_), _) => AttributionRule::OwnFee,
            (_, Usage::Opaque { .. }) => AttributionRule::EqualShares,
            (Model::Volume(_), _) => AttributionRule::ProRata,
            _ => AttributionRule::Marginal,
        }
    }
}

/// Attributes a line's subtotal to its events with the rule docs/pricing.md gives.
pub fn attribute(model: &PriceModel, usage: Usage<'_>) -> Result<Attribution, PricingError> {
    attribute_with(model, AttributionRule::for_usage(model, &usage), usage)
}

/// Attributes with an explicit rule. `Marginal`, `ProRata` and `OwnFee` need
/// contributions; `OwnFee` only applies to percentage models and the others never
/// do (a percentage line has no quantity to price).
pub fn attribute_with(
    model: &PriceModel,
    rule: AttributionRule,
    usage: Usage<'_>,
) -> Result<Attribution, PricingError> {
    match (rule, usage) {
        (AttributionRule::EqualShares, Usage::Opaque { quantity, events }) => {
            equal_shares(model, quantity, events)
        }
        (AttributionRule::EqualShares, Usage::Contributions(contributions)) => equal_shares(
            model,
            arith::sum(contributions.iter().copied())?,
            contributions.len(),
        ),
        (_, Usage::Opaque { .. }) if model.percentage_property().is_some() => {
            Err(PricingError::NeedsEventValues)
        }
        (_, Usage::Opaque { .. }) => Err(PricingError::NeedsContributions),
        (AttributionRule::Marginal, Usage::Contributions(contributions)) => {
            marginal(model, contributions)
        }
        (AttributionRule::ProRata, Usage::Contributions(contributions)) => {
            pro_rata(model, contributions)
        }
        (AttributionRule::OwnFee, Usage::Contributions(values)) => own_fee(model, values),
    }
}

/// Walks the running quantity. It is floored at zero while pricing, so a
/// negative contribution (a `sum` over refunds) earns a credit for what it
/// removes but never prices a negative quantity midway; the walk telescopes to
/// `price(final) - price(0)`, so the amounts still add up. A negative final
/// quantity is an error, as it is for [`crate::price`].
fn marginal(model: &PriceModel, contributions: &[Decimal]) -> Result<Attribution, PricingError> {
    let mut before = amount_at(model, Decimal::ZERO)?;
    let mut raw = Vec::with_capacity(contributions.len() + 1);
    raw.push(before);
    let mut running = Decimal::ZERO;
    for &contribution in contributions {
        running = arith::add(running, contribution)?;
        let after = amount_at(model, running.max(Decimal::ZERO))?;
        raw.push(arith::sub(after, before)?);
        before = after;
    }
    if running < Decimal::ZERO {
        return Err(PricingError::NegativeQuantity);
    }
    let subtotal = round_minor(before)?;
    let mut split = largest_remainder(&raw, subtotal)?;
    // `raw` always holds the zero-quantity price first, so `split` is non-empty.
    let unattributed = if split.is_empty() { 0 } else { split.remove(0) };
    Ok(Attribution {
        rule: AttributionRule::Marginal,
        subtotal,
        unattributed,
        per_event: split,
    })
}

/// Shares the amount by contribution. A negative contribution gets a negative
/// share (a credit), which keeps the split exact.
fn pro_rata(model: &PriceModel, contributions: &[Decimal]) -> Result<Attribution, PricingError> {
    let quantity = arith::sum(contributions.iter().copied())?;
    let amount = amount_at(model, quantity)?;
    let subtotal = round_minor(amount)?;
    if quantity.is_zero() {
        return Ok(unattributed(
            AttributionRule::ProRata,
            subtotal,
            contributions.len(),
        ));
    }
    // Dividing first keeps the product within range; the last-digit error of the
    // division is absorbed by the apportionment, which always hits `subtotal`.
    let share = |&contribution: &Decimal| arith::mul(amount, arith::div(contribution, quantity)?);
    let raw = contributions
        .iter()
        .map(share)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Attribution {
        rule: AttributionRule::ProRata,
        subtotal,
        unattributed: 0,
        per_event: largest_remainder(&raw, subtotal)?,
    })
}

fn own_fee(model: &PriceModel, values: &[Decimal]) -> Result<Attribution, PricingError> {
    let Model::Percentage(percentage) = &model.0 else {
        return Err(PricingError::NotPerEvent);
    };
    let subtotal = price_events(model, values)?.subtotal;
    let fee = |&value: &Decimal| percentage.fee(value).map(|fee| fee.amount);
    let raw = values.iter().map(fee).collect::<Result<Vec<_>, _>>()?;
    Ok(Attribution {
        rule: AttributionRule::OwnFee,
        subtotal,
        unattributed: 0,
        per_event: largest_remainder(&raw, subtotal)?,
    })
}

fn equal_shares(
    model: &PriceModel,
    quantity: Decimal,
    events: usize,
) -> Result<Attribution, PricingError> {
    let amount = amount_at(model, quantity)?;
    let subtotal = round_minor(amount)?;
    if events == 0 {
        return Ok(unattributed(AttributionRule::EqualShares, subtotal, 0));
    }
    let share = arith::div(amount, Decimal::from(events))?;
    Ok(Attribution {
        rule: AttributionRule::EqualShares,
        subtotal,
        unattributed: 0,
        per_event: largest_remainder(&vec![share; events], subtotal)?,
    })
}

fn unattributed(rule: AttributionRule, subtotal: i64, events: usize) -> Attribution {
    Attribution {
        rule,
        subtotal,
        unattributed: subtotal,
        per_event: vec![0; events],
    }
}
