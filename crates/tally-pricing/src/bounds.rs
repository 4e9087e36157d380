//! Product minimum and maximum amounts, as explicit adjustment lines.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::error::{PricingError, ProblemCode, Problems};
use crate::model::is_negative;

/// A product's `min_amount` / `max_amount` per period, in whole minor units.
///
/// They bound the product's total across all its price groups (the sum of the
/// groups' rounded subtotals), not each group: a minimum commitment is a promise
/// about the product, however its usage splits between groups.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ProductBounds {
    min_amount: Option<i64>,
    max_amount: Option<i64>,
}

/// Which bound an adjustment enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AdjustmentKind {
    /// Tops the total up to the minimum (positive amount).
    MinimumAdjustment,
    /// Brings the total down to the maximum (negative amount).
    MaximumAdjustment,
}

/// A line added after the price groups' lines, so that lines still add up to
/// the billed total: `total + amount` is the bounded total.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Adjustment {
    /// Which bound was enforced.
    pub kind: AdjustmentKind,
    /// Minor units to add to the total: positive for a minimum, negative for a
    /// maximum.
    pub amount: i64,
}

impl ProductBounds {
    /// Validates the bounds: non-negative whole minor units, minimum not above
    /// the maximum. Paths are `/min_amount` and `/max_amount`.
    pub fn parse(
        min_amount: Option<Decimal>,
        max_amount: Option<Decimal>,
    ) -> Result<Self, PricingError> {
        let mut problems = Problems::default();
        let min_amount = minor_units(min_amount, "/min_amount", &mut problems);
        let max_amount = minor_units(max_amount, "/max_amount", &mut problems);
        if let (Some(min), Some(max)) = (min_amount, max_amount)
            && min > max
        {
            problems.push("/min_amount", ProblemCode::MinAboveMax);
        }
        problems.finish(ProductBounds {
            min_amount,
            max_amount,
        })
    }

    /// The minimum total per period in minor units, if any.
    pub fn min_amount(&self) -> Option<i64> {
        self.min_amount
    }

    /// The maximum total per period in minor units, if any.
    pub fn max_amount(&self) -> Option<i64> {
        self.max_amount
    }

    /// The adjustment the product's total needs, if any. At most one applies,
    /// since the minimum never exceeds the maximum. Computed in `i128`, so no
    /// pair of `i64` amounts overflows; a result outside `i64` is an error.
    pub fn apply(&self, total: i64) -> Result<Option<Adjustment>, PricingError> {
        let (kind, difference) = match (self.min_amount, self.max_amount) {
            (Some(min), _) if total < min => (
                AdjustmentKind::MinimumAdjustment,
                i128::from(min) - i128::from(total),
            ),
            (_, Some(max)) if total > max => (
                AdjustmentKind::MaximumAdjustment,
                i128::from(max) - i128::from(total),
            ),
            _ => return Ok(None),
        };
        let amount = i64::try_from(difference).map_err(|_| PricingError::Overflow)?;
        Ok(Some(Adjustment { kind, amount }))
    }
}

fn minor_units(value: Option<Decimal>, path: &str, problems: &mut Problems) -> Option<i64> {
    let value = value?;
    if is_negative(value) {
        problems.push(path, ProblemCode::NegativeAmount);
        return None;
    }
    if !value.fract().is_zero() {
        problems.push(path, ProblemCode::FractionalAmount);
        return None;
    }
    match i64::try_from(value) {
        Ok(minor) => Some(minor),
        Err(_) => {
            problems.push(path, ProblemCode::AmountTooLarge);
            None
        }
    }
}
