//! Amounts in minor units, tax rates and the tax rule.

use std::fmt;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::arith::{self, dec, round_minor};
use crate::currency::Currency;
use crate::error::PricingError;

/// An amount in a currency's minor unit (cents for EUR, yen for JPY, fils for KWD).
///
/// `i64` holds ±9.2 × 10^18 minor units (92 quadrillion euros), far beyond any
/// invoice, and maps to a 64-bit SQL integer in every backend. Anything larger is
/// an [`PricingError::Overflow`], never a wrapped or rounded number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    /// The amount in minor units: `10000` EUR is 100.00 €, `10000` JPY is ¥10000.
    pub minor: i64,
    /// The currency, which says how many decimals a minor unit has.
    pub currency: Currency,
}

impl Money {
    /// `minor` units of `currency`.
    pub fn new(minor: i64, currency: Currency) -> Money {
        Money { minor, currency }
    }

    /// The amount in major units, exactly (`10000` EUR → `100.00`).
    pub fn to_major(self) -> Decimal {
        Decimal::new(self.minor, self.currency.exponent())
    }

    /// Sum of two amounts of the same currency.
    pub fn checked_add(self, other: Money) -> Result<Money, PricingError> {
        if self.currency != other.currency {
            return Err(PricingError::CurrencyMismatch(
                self.currency,
                other.currency,
            ));
        }
        let minor = self
            .minor
            .checked_add(other.minor)
            .ok_or(PricingError::Overflow)?;
        Ok(Money::new(minor, self.currency))
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.to_major(), self.currency)
    }
}

/// A tax rate in percent (`"20"` is 20 %), never negative.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "Decimal", into = "Decimal")]
pub struct TaxRate(Decimal);

impl TaxRate {
    /// No tax.
    pub const ZERO: TaxRate = TaxRate(Decimal::ZERO);

    /// A rate in percent (`Decimal::from(20)` is 20 %); may be fractional (`8.875`).
    ///
    /// # Errors
    ///
    /// [`PricingError::NegativeTaxRate`] below zero.
    pub fn new(percent: Decimal) -> Result<TaxRate, PricingError> {
        if percent.is_sign_negative() && !percent.is_zero() {
            return Err(PricingError::NegativeTaxRate);
        }
        Ok(TaxRate(percent))
    }

    /// The rate in percent.
    pub fn percent(self) -> Decimal {
        self.0
    }
}

impl TryFrom<Decimal> for TaxRate {
    type Error = PricingError;

    fn try_from(percent: Decimal) -> Result<Self, Self::Error> {
        TaxRate::new(percent)
    }
}

impl From<TaxRate> for Decimal {
    fn from(rate: TaxRate) -> Decimal {
        rate.0
    }
}

/// `round(subtotal × rate / 100)`, half away from zero, on the rounded subtotal.
pub fn tax_amount(subtotal: i64, rate: TaxRate) -> Result<i64, PricingError> {
    let tax = arith::mul(dec(subtotal), rate.0)?;
    round_minor(arith::div(tax, Decimal::ONE_HUNDRED)?)
}

/// A subtotal with its tax and total, all in minor units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Taxed {
    /// The rounded subtotal, in minor units.
    pub subtotal: i64,
    /// `round(subtotal × rate / 100)`, half away from zero, in minor units.
    pub tax: i64,
    /// `subtotal + tax`, in minor units.
    pub total: i64,
}

impl Taxed {
    /// Applies the tax rule of docs/pricing.md: tax on the rounded subtotal, total = sum.
    pub fn compute(subtotal: i64, rate: TaxRate) -> Result<Taxed, PricingError> {
        let tax = tax_amount(subtotal, rate)?;
        let total = subtotal.checked_add(tax).ok_or(PricingError::Overflow)?;
        Ok(Taxed {
            subtotal,
            tax,
            total,
        })
    }
}
