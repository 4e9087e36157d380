//! The crate's one error type and the validation problems it carries.

use std::fmt;

use serde::Serialize;

use crate::currency::Currency;

/// Everything that can go wrong while building or applying a price.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PricingError {
    /// A price model or product bound failed validation; every problem is listed.
    #[error("invalid price: {}", ProblemList(.0))]
    Invalid(Vec<Problem>),
    /// `negative_quantity`: a quantity below zero, or contributions whose total is;
    /// an aggregator clamps negative usage to 0 unless it allows negative values.
    #[error("quantity must not be negative")]
    NegativeQuantity,
    /// `negative_tax_rate`: a tax rate below zero.
    #[error("tax rate must not be negative")]
    NegativeTaxRate,
    /// An intermediate or final amount left the representable range (`Decimal`
    /// arithmetic or `i64` minor units); no approximate number is produced.
    #[error("amount out of range")]
    Overflow,
    /// `needs_event_values`: a percentage model was given a quantity; use
    /// [`crate::price_events`] with each event's value.
    #[error("a percentage price needs each event's value, not a quantity")]
    NeedsEventValues,
    /// `not_per_event`: [`crate::price_events`] or the `OwnFee` rule on a model
    /// that is not a percentage.
    #[error("only a percentage price is computed from per-event values")]
    NotPerEvent,
    /// `needs_contributions`: `Marginal`, `ProRata` or `OwnFee` attribution over
    /// [`crate::Usage::Opaque`], which has no per-event contributions.
    #[error("this attribution rule needs each event's contribution")]
    NeedsContributions,
    /// `unknown_currency`: a code not in Tally's ISO 4217 table; holds the text given.
    #[error("unknown currency {0:?}")]
    UnknownCurrency(String),
    /// `currency_mismatch`: adding amounts of two currencies.
    #[error("cannot combine {0} and {1} amounts")]
    CurrencyMismatch(Currency, Currency),
}

impl PricingError {
    /// A stable snake_case code for APIs and logs.
    pub fn code(&self) -> &'static str {
        match self {
            PricingError::Invalid(_) => "invalid_price",
            PricingError::NegativeQuantity => "negative_quantity",
            PricingError::NegativeTaxRate => "negative_tax_rate",
            PricingError::Overflow => "amount_overflow",
            PricingError::NeedsEventValues => "needs_event_values",
            PricingError::NotPerEvent => "not_per_event",
            PricingError::NeedsContributions => "needs_contributions",
            PricingError::UnknownCurrency(_) => "unknown_currency",
            PricingError::CurrencyMismatch(..) => "currency_mismatch",
        }
    }

    /// The validation problems, empty for other errors.
    pub fn problems(&self) -> &[Problem] {
        match self {
            PricingError::Invalid(problems) => problems,
            _ => &[],
        }
    }
}

/// One validation problem: where (a JSON pointer into the price definition), what
/// (a stable code) and a lowercase human message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// JSON pointer relative to the price object: `/tiers/1/up_to`, `/amount`,
    /// `/min_amount`.
    pub path: String,
    /// The stable reason; match on this, not on the message.
    pub code: ProblemCode,
    /// A lowercase explanation for humans.
    pub message: String,
}

impl Problem {
    pub(crate) fn new(path: impl Into<String>, code: ProblemCode) -> Self {
        Problem {
            path: path.into(),
            code,
            message: code.message().to_owned(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

struct ProblemList<'a>(&'a [Problem]);

impl fmt::Display for ProblemList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for problem in self.0 {
            if !first {
                f.write_str("; ")?;
            }
            first = false;
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}

/// Stable machine codes of validation problems.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemCode {
    /// `negative_amount`: a price, fee, floor, cap or product bound below zero.
    NegativeAmount,
    /// `negative_rate`: a percentage rate below zero.
    NegativeRate,
    /// `empty_tiers`: a graduated or volume model without tiers.
    EmptyTiers,
    /// `too_many_tiers`: more than [`crate::MAX_TIERS`] tiers.
    TooManyTiers,
    /// `negative_bound`: a tier `up_to` below zero.
    NegativeBound,
    /// `tiers_not_increasing`: an `up_to` not greater than the previous one.
    TiersNotIncreasing,
    /// `open_tier_not_last`: `up_to: null` on a tier other than the last.
    OpenTierNotLast,
    /// `last_tier_must_be_open`: the last tier has a bound, so some quantities
    /// would have no price.
    LastTierMustBeOpen,
    /// `invalid_package_size`: a package size of zero or less.
    InvalidPackageSize,
    /// `empty_property`: a percentage model without the property to read.
    EmptyProperty,
    /// `floor_above_cap`: a per-event floor greater than the cap.
    FloorAboveCap,
    /// `fractional_amount`: a product bound that is not whole minor units.
    FractionalAmount,
    /// `amount_too_large`: a product bound beyond `i64` minor units.
    AmountTooLarge,
    /// `min_above_max`: a product minimum greater than its maximum.
    MinAboveMax,
}

impl ProblemCode {
    /// The snake_case code, as serialized.
    pub fn as_str(self) -> &'static str {
        match self {
            ProblemCode::NegativeAmount => "negative_amount",
            ProblemCode::NegativeRate => "negative_rate",
            ProblemCode::EmptyTiers => "empty_tiers",
            ProblemCode::TooManyTiers => "too_many_tiers",
            ProblemCode::NegativeBound => "negative_bound",
            ProblemCode::TiersNotIncreasing => "tiers_not_increasing",
            ProblemCode::OpenTierNotLast => "open_tier_not_last",
            ProblemCode::LastTierMustBeOpen => "last_tier_must_be_open",
            ProblemCode::InvalidPackageSize => "invalid_package_size",
            ProblemCode::EmptyProperty => "empty_property",
            ProblemCode::FloorAboveCap => "floor_above_cap",
            ProblemCode::FractionalAmount => "fractional_amount",
            ProblemCode::AmountTooLarge => "amount_too_large",
            ProblemCode::MinAboveMax => "min_above_max",
        }
    }

    fn message(self) -> &'static str {
        match self {
            ProblemCode::NegativeAmount => "amount must not be negative",
            ProblemCode::NegativeRate => "rate must not be negative",
            ProblemCode::EmptyTiers => "at least one tier is required",
            ProblemCode::TooManyTiers => "at most 100 tiers are allowed",
            ProblemCode::NegativeBound => "tier bound must not be negative",
            ProblemCode::TiersNotIncreasing => "tier bounds must be strictly increasing",
            ProblemCode::OpenTierNotLast => "only the last tier may be open (up_to null)",
            ProblemCode::LastTierMustBeOpen => "the last tier must be open (up_to null)",
            ProblemCode::InvalidPackageSize => "package size must be greater than zero",
            ProblemCode::EmptyProperty => "property must not be empty",
            ProblemCode::FloorAboveCap => "per-event floor must not exceed the cap",
            ProblemCode::FractionalAmount => "amount must be a whole number of minor units",
            ProblemCode::AmountTooLarge => "amount is too large",
            ProblemCode::MinAboveMax => "minimum amount must not exceed the maximum",
        }
    }
}

impl fmt::Display for ProblemCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Collects problems during validation and turns them into one error.
#[derive(Default)]
pub(crate) struct Problems(Vec<Problem>);

impl Problems {
    pub(crate) fn push(&mut self, path: impl Into<String>, code: ProblemCode) {
        self.0.push(Problem::new(path, code));
    }

    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// Like `finish`, for a builder that may give up; `None` comes with problems.
    pub(crate) fn finish_some<T>(self, value: Option<T>) -> Result<T, PricingError> {
        match value {
            Some(value) if self.0.is_empty() => Ok(value),
            _ => Err(PricingError::Invalid(self.0)),
        }
    }

    pub(crate) fn finish<T>(self, value: T) -> Result<T, PricingError> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            Err(PricingError::Invalid(self.0))
        }
    }
}
