//! Decimals from JSON numbers without an f64 round trip.

use rust_decimal::Decimal;

/// The exact decimal a JSON number writes, or `None` when it does not fit one.
/// `serde_json` keeps numbers as their text (`arbitrary_precision`), so `0.1` stays
/// `0.1`.
pub(crate) fn decimal_from_json(number: &serde_json::Number) -> Option<Decimal> {
    decimal_from_text(&number.to_string())
}

pub(crate) fn decimal_from_text(text: &str) -> Option<Decimal> {
    if text.contains(['e', 'E']) {
        Decimal::from_scientific(text).ok()
    } else {
        Decimal::from_str_exact(text).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn exact_text_and_scientific() {
        assert_eq!(decimal_from_text("0.1"), Decimal::from_str("0.1").ok());
        assert_eq!(
            decimal_from_text("1e-7"),
            Decimal::from_str("0.0000001").ok()
        );
        assert_eq!(decimal_from_text("1e400"), None);
        assert_eq!(decimal_from_text("123456789012345678901234567890123"), None);
    }
}
