//! The crate's one integration-test binary.

mod attribution;
mod definitions;
mod fixtures;
mod money;
mod properties;
mod snapshots;
mod validation;

use rust_decimal::Decimal;

/// A decimal literal; panics on a typo in a test, never silently yields zero.
pub fn dec(text: &str) -> Decimal {
    text.parse()
        .unwrap_or_else(|error| panic!("bad decimal literal {text:?}: {error}"))
}
