//! The catalog: customers, aggregators, products and subscriptions, each
//! validated as a whole (every problem reported at once, JSON-pointer paths into
//! the request body).

mod aggregators;
mod customers;
pub mod price_versions;
mod products;
mod subscriptions;

pub use aggregators::AggregatorEntry;
pub use customers::CustomerInput;
pub use products::{PriceGroupInput, ProductInput};
pub use subscriptions::{BillingIntervalInput, SubscriptionInput};

use rust_decimal::Decimal;
use tally_pricing::Currency;

use crate::error::Problems;

/// Longest name or external id accepted.
pub const MAX_NAME_CHARS: usize = 255;

/// A currency code, in any case.
pub(crate) fn check_currency(code: &str, path: &str, problems: &mut Problems) -> Option<Currency> {
    match Currency::parse(code) {
        Ok(currency) => Some(currency),
        Err(error) => {
            problems.push(path, "invalid_currency", error.to_string());
            None
        }
    }
}

/// A tax rate in percent, 0..=100.
pub(crate) fn check_tax_rate(rate: Option<Decimal>, path: &str, problems: &mut Problems) {
    if let Some(rate) = rate
        && (rate < Decimal::ZERO || rate > Decimal::ONE_HUNDRED)
    {
        problems.push(path, "out_of_range", "tax_rate must be between 0 and 100");
    }
}

/// A required, non-blank text of at most 255 characters.
pub(crate) fn check_name(name: Option<&str>, path: &str, problems: &mut Problems) {
    match name {
        None => problems.push(path, "required", "this field is required"),
        Some(name) => check_optional_text(name, path, problems),
    }
}

/// An optional text: non-blank, at most 255 characters, without U+0000
/// (no backend stores it: PostgreSQL refuses it in text).
pub(crate) fn check_optional_text(text: &str, path: &str, problems: &mut Problems) {
    if text.trim().is_empty() {
        problems.push(path, "empty", "must not be empty");
    } else if text.chars().count() > MAX_NAME_CHARS {
        problems.push(path, "too_long", "must be at most 255 characters");
    } else if text.contains('\0') {
        problems.push(
            path,
            "invalid_characters",
            "must not contain the NUL character (U+0000)",
        );
    }
}
