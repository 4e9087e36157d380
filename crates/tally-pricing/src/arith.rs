//! Checked decimal arithmetic: every operation that can leave `Decimal`'s range
//! reports [`PricingError::Overflow`] instead of panicking or saturating.

use rust_decimal::{Decimal, RoundingStrategy};

use crate::error::PricingError;

pub(crate) fn mul(a: Decimal, b: Decimal) -> Result<Decimal, PricingError> {
    a.checked_mul(b).ok_or(PricingError::Overflow)
}

pub(crate) fn add(a: Decimal, b: Decimal) -> Result<Decimal, PricingError> {
    a.checked_add(b).ok_or(PricingError::Overflow)
}

pub(crate) fn sub(a: Decimal, b: Decimal) -> Result<Decimal, PricingError> {
    a.checked_sub(b).ok_or(PricingError::Overflow)
}

/// Division; callers guarantee a non-zero divisor, a zero one still errors.
pub(crate) fn div(a: Decimal, b: Decimal) -> Result<Decimal, PricingError> {
    a.checked_div(b).ok_or(PricingError::Overflow)
}

pub(crate) fn sum(values: impl IntoIterator<Item = Decimal>) -> Result<Decimal, PricingError> {
    values.into_iter().try_fold(Decimal::ZERO, add)
}

/// Rounds to whole minor units, half away from zero, as an `i64`.
pub fn round_minor(amount: Decimal) -> Result<i64, PricingError> {
    let rounded = amount.round_dp_with_strategy(0, RoundingStrategy::MidpointAwayFromZero);
    i64::try_from(rounded).map_err(|_| PricingError::Overflow)
}

/// `Decimal` from `i64` minor units (always exact).
pub(crate) fn dec(minor: i64) -> Decimal {
    Decimal::from(minor)
}
