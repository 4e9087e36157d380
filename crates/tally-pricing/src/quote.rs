//! Quotes: the amount of a price model at a quantity (or over per-event values),
//! with its breakdown, and preview curves.

use rust_decimal::Decimal;
use serde::Serialize;

use crate::arith::{self, round_minor};
use crate::error::PricingError;
use crate::model::{Model, Package, Percentage, PriceModel, Segment, Tiers};
use crate::money::{TaxRate, Taxed};

/// A priced quantity. `amount` is exact (fractional minor units allowed);
/// `subtotal` is it rounded half away from zero, the line's billed amount.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Quote {
    /// The priced quantity; for a percentage model, the sum of the event values.
    pub quantity: Decimal,
    /// The exact amount in minor units, possibly fractional (`1851.75` cents):
    /// the sum of the breakdown's amounts.
    pub amount: Decimal,
    /// `amount` rounded half away from zero to whole minor units: what the line
    /// bills before tax.
    pub subtotal: i64,
    /// One line per tier reached (graduated), the tier used (volume), or the parts
    /// of the model (one line for flat, per-unit and package; up to four for
    /// percentage).
    pub breakdown: Vec<BreakdownLine>,
}

impl Quote {
    /// The subtotal with its tax and total: tax is computed on the rounded
    /// subtotal, so the invoice's lines and totals agree to the minor unit.
    ///
    /// # Errors
    ///
    /// [`PricingError::Overflow`] when the tax or total leaves `i64`.
    ///
    /// ```
    /// use rust_decimal::Decimal;
    /// use tally_pricing::{PriceModel, PriceModelDef, TaxRate, price};
    ///
    /// // 0.15 cent per call: 12345 calls are 1851.75 cents, billed 1852.
    /// let def: PriceModelDef =
    ///     serde_json::from_str(r#"{"type": "per_unit", "unit_amount": "0.15"}"#).unwrap();
    /// let quote = price(&PriceModel::parse(&def).unwrap(), Decimal::from(12345)).unwrap();
    /// assert_eq!(quote.amount, Decimal::new(185175, 2));
    ///
    /// // 20 % of 1852 is 370.4, rounded to 370.
    /// let taxed = quote.with_tax(TaxRate::new(Decimal::from(20)).unwrap()).unwrap();
    /// assert_eq!((taxed.subtotal, taxed.tax, taxed.total), (1852, 370, 2222));
    /// ```
    pub fn with_tax(&self, rate: TaxRate) -> Result<Taxed, PricingError> {
        Taxed::compute(self.subtotal, rate)
    }
}

/// What a breakdown line stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LineKind {
    /// A flat model's amount.
    Flat,
    /// A per-unit model's units.
    Unit,
    /// A package model's blocks (`quantity` counts blocks).
    Package,
    /// One tier of a graduated or volume model.
    Tier,
    /// The proportional part of percentage fees (`quantity` sums event values).
    Percentage,
    /// The fixed part of percentage fees (`quantity` counts events).
    FixedFee,
    /// What per-event floors added (`quantity` counts lifted events).
    Floor,
    /// What per-event caps removed, negative (`quantity` counts capped events).
    Cap,
}

/// One explained part of a quote. Always `amount = quantity × unit_amount +
/// flat_amount`, exactly; the quote's `amount` is the sum of its lines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BreakdownLine {
    /// What the line stands for.
    pub kind: LineKind,
    /// Zero-based tier index for tier lines.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tier: Option<usize>,
    /// The range the line covers: `(from, to]` (the first tier includes 0); `to`
    /// is `None` when open. Non-tier lines cover `[0, open)`.
    pub from: Decimal,
    /// The range's inclusive upper end; `None` when open.
    pub to: Option<Decimal>,
    /// Units priced on this line (blocks for a package, events for fixed fees).
    pub quantity: Decimal,
    /// Minor units per unit on this line.
    pub unit_amount: Decimal,
    /// Minor units charged once on this line.
    pub flat_amount: Decimal,
    /// `quantity × unit_amount + flat_amount`, exact, in minor units.
    pub amount: Decimal,
}

impl BreakdownLine {
    fn new(
        kind: LineKind,
        quantity: Decimal,
        unit_amount: Decimal,
        flat_amount: Decimal,
    ) -> Result<Self, PricingError> {
        let amount = arith::add(arith::mul(quantity, unit_amount)?, flat_amount)?;
        Ok(BreakdownLine {
            kind,
            tier: None,
            from: Decimal::ZERO,
            to: None,
            quantity: quantity.normalize(),
            unit_amount: unit_amount.normalize(),
            flat_amount: flat_amount.normalize(),
            amount: amount.normalize(),
        })
    }

    fn tier(index: usize, segment: &Segment) -> Result<Self, PricingError> {
        let tier = &segment.tier;
        let line = BreakdownLine::new(
            LineKind::Tier,
            segment.units,
            tier.unit_amount(),
            tier.flat_amount(),
        )?;
        Ok(BreakdownLine {
            tier: Some(index),
            from: segment.from.normalize(),
            to: tier.up_to().map(|bound| bound.normalize()),
            ..line
        })
    }
}

/// Prices a quantity (non-negative, possibly fractional) with any model but
/// `percentage`, which needs each event's value: see [`price_events`].
///
/// # Errors
///
/// [`PricingError::NegativeQuantity`], [`PricingError::NeedsEventValues`] for a
/// percentage model, [`PricingError::Overflow`] when an amount leaves the
/// representable range.
///
/// # Examples
///
/// Graduated and volume prices over the same tiers (amounts in euro cents):
///
/// ```
/// use rust_decimal::Decimal;
/// use tally_pricing::{PriceModel, PriceModelDef, TaxRate, price};
///
/// let tiers = r#"[{"up_to": "1000", "unit_amount": "2"},
///                 {"up_to": null, "unit_amount": "1.5", "flat_amount": "500"}]"#;
/// let model = |kind: &str| {
///     let json = format!(r#"{{"type": "{kind}", "tiers": {tiers}}}"#);
///     PriceModel::parse(&serde_json::from_str::<PriceModelDef>(&json).unwrap()).unwrap()
/// };
///
/// // Graduated: 1000 × 2 + (1500 × 1.5 + 500) = 2000 + 2750.
/// let quote = price(&model("graduated"), Decimal::from(2500)).unwrap();
/// let per_tier: Vec<_> = quote.breakdown.iter().map(|line| line.amount).collect();
/// assert_eq!(per_tier, [Decimal::from(2000), Decimal::from(2750)]);
/// assert_eq!(quote.subtotal, 4750);
///
/// // Volume: all 2500 units at the second tier's price, 2500 × 1.5 + 500.
/// let quote = price(&model("volume"), Decimal::from(2500)).unwrap();
/// assert_eq!(quote.breakdown.len(), 1);
/// assert_eq!(quote.subtotal, 4250);
///
/// // Tax on the rounded subtotal: 20 % of 4250 is 850.
/// let taxed = quote.with_tax(TaxRate::new(Decimal::from(20)).unwrap()).unwrap();
/// assert_eq!((taxed.subtotal, taxed.tax, taxed.total), (4250, 850, 5100));
/// ```
pub fn price(model: &PriceModel, quantity: Decimal) -> Result<Quote, PricingError> {
    let breakdown = lines(model, quantity)?;
    quote(quantity, breakdown)
}

/// Prices a percentage model over the period's event values (each event's
/// `property`). Other models take an aggregated quantity: see [`price`].
pub fn price_events(model: &PriceModel, values: &[Decimal]) -> Result<Quote, PricingError> {
    let Model::Percentage(percentage) = &model.0 else {
        return Err(PricingError::NotPerEvent);
    };
    let quantity = arith::sum(values.iter().copied())?;
    quote(quantity, percentage_lines(percentage, values)?)
}

/// One point of a preview curve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PreviewPoint {
    /// The quantity priced (for a percentage model, one event's value).
    pub quantity: Decimal,
    /// The exact amount in minor units.
    pub amount: Decimal,
    /// The amount rounded to whole minor units.
    pub subtotal: i64,
}

/// The amount at each quantity, for charts and simulators. For a percentage model
/// each quantity is read as one event's value, giving the per-event fee curve.
pub fn preview(
    model: &PriceModel,
    quantities: &[Decimal],
) -> Result<Vec<PreviewPoint>, PricingError> {
    let point = |&quantity: &Decimal| {
        let quote = match &model.0 {
            Model::Percentage(_) => price_events(model, &[quantity])?,
            _ => price(model, quantity)?,
        };
        Ok(PreviewPoint {
            quantity,
            amount: quote.amount,
            subtotal: quote.subtotal,
        })
    };
    quantities.iter().map(point).collect()
}

/// The exact amount at a quantity, without building a quote.
pub(crate) fn amount_at(model: &PriceModel, quantity: Decimal) -> Result<Decimal, PricingError> {
    arith::sum(lines(model, quantity)?.into_iter().map(|line| line.amount))
}

fn quote(quantity: Decimal, breakdown: Vec<BreakdownLine>) -> Result<Quote, PricingError> {
    let amount = arith::sum(breakdown.iter().map(|line| line.amount))?.normalize();
    Ok(Quote {
        quantity: quantity.normalize(),
        amount,
        subtotal: round_minor(amount)?,
        breakdown,
    })
}

fn lines(model: &PriceModel, quantity: Decimal) -> Result<Vec<BreakdownLine>, PricingError> {
    if quantity < Decimal::ZERO {
        return Err(PricingError::NegativeQuantity);
    }
    let zero = Decimal::ZERO;
    let line = match &model.0 {
        Model::Flat { amount } => BreakdownLine::new(LineKind::Flat, quantity, zero, *amount)?,
        Model::PerUnit { unit_amount } => {
            BreakdownLine::new(LineKind::Unit, quantity, *unit_amount, zero)?
        }
        Model::Package(package) => package_line(package, quantity)?,
        Model::Graduated(tiers) => return graduated_lines(tiers, quantity),
        Model::Volume(tiers) => volume_line(tiers, quantity)?,
        Model::Percentage(_) => return Err(PricingError::NeedsEventValues),
    };
    Ok(vec![line])
}

fn package_line(package: &Package, quantity: Decimal) -> Result<BreakdownLine, PricingError> {
    let blocks = package.blocks(quantity)?;
    BreakdownLine::new(LineKind::Package, blocks, package.amount(), Decimal::ZERO)
}

fn graduated_lines(tiers: &Tiers, quantity: Decimal) -> Result<Vec<BreakdownLine>, PricingError> {
    let segments = tiers.graduated(quantity)?;
    segments
        .iter()
        .map(|s| BreakdownLine::tier(s.index, s))
        .collect()
}

fn volume_line(tiers: &Tiers, quantity: Decimal) -> Result<BreakdownLine, PricingError> {
    let segment = tiers.volume(quantity);
    BreakdownLine::tier(segment.index, &segment)
}

fn percentage_lines(
    percentage: &Percentage,
    values: &[Decimal],
) -> Result<Vec<BreakdownLine>, PricingError> {
    let zero = Decimal::ZERO;
    let (mut value_sum, mut lifted, mut lift, mut capped, mut cut) = (zero, 0u64, zero, 0u64, zero);
    for &value in values {
        let fee = percentage.fee(value)?;
        value_sum = arith::add(value_sum, value)?;
        if fee.clamp > zero {
            lifted += 1;
            lift = arith::add(lift, fee.clamp)?;
        } else if fee.clamp < zero {
            capped += 1;
            cut = arith::add(cut, fee.clamp)?;
        }
    }
    let events = Decimal::from(values.len());
    let mut breakdown = vec![BreakdownLine::new(
        LineKind::Percentage,
        value_sum,
        percentage.unit_rate()?,
        zero,
    )?];
    if !percentage.fixed_amount().is_zero() {
        breakdown.push(BreakdownLine::new(
            LineKind::FixedFee,
            events,
            percentage.fixed_amount(),
            zero,
        )?);
    }
    if lifted > 0 {
        breakdown.push(BreakdownLine::new(
            LineKind::Floor,
            Decimal::from(lifted),
            zero,
            lift,
        )?);
    }
    if capped > 0 {
        breakdown.push(BreakdownLine::new(
            LineKind::Cap,
            Decimal::from(capped),
            zero,
            cut,
        )?);
    }
    Ok(breakdown)
}
