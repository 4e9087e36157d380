//! JSON numbers to `Decimal`, exactly or not at all.
//!
//! `serde_json` keeps each number's text (`arbitrary_precision`), so the conversion
//! works on digits and never passes through `f64`. A number that would need rounding
//! (more than 28 decimal places, more significant digits than 96 bits hold, or a
//! magnitude of 2^96 or more) is refused rather than approximated.

use rust_decimal::Decimal;

/// Largest scale (decimal places) a `Decimal` holds.
const MAX_SCALE: i128 = 28;
/// Most digits a `Decimal` mantissa can have (2^96 − 1 has 29).
const MAX_DIGITS: usize = 29;

/// The exact decimal value of a JSON number's text, or `None` when it has none.
/// Every crate that reads numbers from JSON (record values, filter literals,
/// formula literals) goes through this one conversion, so they all agree.
pub fn exact_decimal(text: &str) -> Option<Decimal> {
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (mantissa, exponent) = match unsigned.split_once(['e', 'E']) {
        Some((mantissa, exponent)) => (mantissa, Some(exponent)),
        None => (unsigned, None),
    };
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if int_part.is_empty() || !all_digits(int_part) || !all_digits(frac_part) {
        return None;
    }
    let digits = format!("{int_part}{frac_part}");
    let significant = digits.trim_start_matches('0');
    if significant.is_empty() {
        // Zero is exact whatever its exponent says.
        return Some(Decimal::ZERO);
    }
    let exponent = match exponent {
        Some(text) => text.parse::<i64>().ok()?,
        None => 0,
    };
    let trimmed = significant.trim_end_matches('0');
    let trailing_zeros = significant.len() - trimmed.len();
    // value = trimmed × 10^power
    let power = i128::try_from(trailing_zeros).ok()? - i128::try_from(frac_part.len()).ok()?
        + i128::from(exponent);
    let value = scaled(trimmed, power)?;
    Some(if negative { -value } else { value })
}

/// `digits × 10^power` as a Decimal, when that is exact and in range.
fn scaled(digits: &str, power: i128) -> Option<Decimal> {
    if digits.len() > MAX_DIGITS {
        return None;
    }
    let mantissa: i128 = digits.parse().ok()?;
    if power >= 0 {
        let zeros = usize::try_from(power).ok()?;
        if digits.len() + zeros > MAX_DIGITS {
            return None;
        }
        let factor = 10_i128.checked_pow(u32::try_from(zeros).ok()?)?;
        Decimal::try_from_i128_with_scale(mantissa.checked_mul(factor)?, 0).ok()
    } else {
        let scale = -power;
        if scale > MAX_SCALE {
            return None;
        }
        Decimal::try_from_i128_with_scale(mantissa, u32::try_from(scale).ok()?).ok()
    }
}

/// Whether a JSON number is written as an integer: digits only, no fraction or exponent.
pub(crate) fn is_integer_literal(text: &str) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    fn dec(text: &str) -> Decimal {
        Decimal::from_str(text).unwrap()
    }

    #[test]
    fn exact_forms() {
        assert_eq!(exact_decimal("2500"), Some(dec("2500")));
        assert_eq!(exact_decimal("-0.1"), Some(dec("-0.1")));
        assert_eq!(exact_decimal("1.50"), Some(dec("1.5")));
        assert_eq!(exact_decimal("1e-7"), Some(dec("0.0000001")));
        assert_eq!(exact_decimal("1.5E+3"), Some(dec("1500")));
        assert_eq!(
            exact_decimal("0e999999999999999999999"),
            Some(Decimal::ZERO)
        );
        assert_eq!(
            exact_decimal("12345678901234567890.5"),
            Some(dec("12345678901234567890.5"))
        );
        assert_eq!(
            exact_decimal("79228162514264337593543950335"),
            Some(Decimal::MAX)
        );
        assert_eq!(
            exact_decimal("0.0000000000000000000000000001"),
            Some(dec("0.0000000000000000000000000001"))
        );
    }

    #[test]
    fn inexact_or_out_of_range_is_refused() {
        assert_eq!(exact_decimal("79228162514264337593543950336"), None);
        assert_eq!(exact_decimal("1e29"), None);
        assert_eq!(exact_decimal("1e-29"), None);
        assert_eq!(exact_decimal("0.00000000000000000000000000001"), None);
        assert_eq!(exact_decimal("1.00000000000000000000000000001"), None);
        assert_eq!(exact_decimal("1e99999999999999999999"), None);
        assert_eq!(exact_decimal("NaN"), None);
        assert_eq!(exact_decimal(""), None);
    }

    #[test]
    fn trailing_zeros_do_not_count_as_digits() {
        assert_eq!(
            exact_decimal("1.000000000000000000000000000000000"),
            Some(Decimal::ONE)
        );
        assert_eq!(
            exact_decimal("10000000000000000000000000000"),
            Some(dec("10000000000000000000000000000"))
        );
    }

    #[test]
    fn integer_literals() {
        assert!(is_integer_literal("485"));
        assert!(is_integer_literal("-3"));
        assert!(!is_integer_literal("485.0"));
        assert!(!is_integer_literal("4.85e2"));
        assert!(!is_integer_literal("-"));
    }
}
