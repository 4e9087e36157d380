//! Usage thresholds of an aggregator (docs/entitlements.md, "Thresholds"):
//! `{"name", "threshold_value", "comparison_operator": "gte" | "gt"}`, crossed
//! when a customer's quantity over its period compares so with the value.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;

/// How a quantity is compared with a threshold's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = ComparisonOperator, rename_all = "snake_case"))]
pub enum Comparison {
    /// Crossed at the value: `quantity >= value`.
    Gte,
    /// Crossed past the value: `quantity > value`.
    Gt,
}

impl Comparison {
    /// The wire name: `gte` or `gt`.
    pub fn as_str(self) -> &'static str {
        match self {
            Comparison::Gte => "gte",
            Comparison::Gt => "gt",
        }
    }

    /// The comparison a wire name names; `None` for an unknown one.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "gte" => Some(Comparison::Gte),
            "gt" => Some(Comparison::Gt),
            _ => None,
        }
    }
}

/// A compiled threshold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Threshold {
    /// A display name (`80% of the plan`).
    pub name: String,
    /// The value compared with, exact.
    pub value: Decimal,
    /// How the quantity compares with it.
    pub comparison: Comparison,
}

impl Threshold {
    /// Whether `quantity` is past the threshold.
    pub fn crossed_by(&self, quantity: Decimal) -> bool {
        match self.comparison {
            Comparison::Gte => quantity >= self.value,
            Comparison::Gt => quantity > self.value,
        }
    }

    /// What identifies the threshold within its aggregator: its comparison
    /// and value (`gte:1000`), so renaming it keeps its state and two
    /// thresholds never share one.
    pub fn key(&self) -> String {
        format!("{}:{}", self.comparison.as_str(), self.value.normalize())
    }
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.comparison.as_str(), self.value.normalize())
    }
}

/// The largest magnitude of a threshold's value.
pub const MAX_THRESHOLD_VALUE: i64 = 1_000_000_000_000;

/// A threshold's value from its JSON, read exactly: a number between
/// -10^12 and 10^12, or the same as a string of at most 12 integer digits
/// and 6 decimals (`"-1500.25"`); `None` for anything else.
pub(crate) fn threshold_value(value: &serde_json::Value) -> Option<Decimal> {
    let number = match value {
        serde_json::Value::Number(number) => {
            let text = number.to_string();
            Decimal::from_str(&text)
                .or_else(|_| Decimal::from_scientific(&text))
                .ok()?
        }
        serde_json::Value::String(text) if plain_decimal(text, 12, 6) => {
            Decimal::from_str(text).ok()?
        }
        _ => return None,
    };
    (number.abs() <= Decimal::from(MAX_THRESHOLD_VALUE)).then_some(number)
}

/// `-?[0-9]{1,int}(\.[0-9]{1,frac})?`: the string form of a bounded decimal.
fn plain_decimal(text: &str, int: usize, frac: usize) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text);
    let (whole, fraction) = match digits.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (digits, None),
    };
    let all_digits = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
    (1..=int).contains(&whole.len())
        && all_digits(whole)
        && fraction.is_none_or(|f| (1..=frac).contains(&f.len()) && all_digits(f))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn threshold(comparison: Comparison, value: i64) -> Threshold {
        Threshold {
            name: "t".into(),
            value: Decimal::from(value),
            comparison,
        }
    }

    #[test]
    fn gte_is_crossed_at_the_value_and_gt_past_it() {
        let at = threshold(Comparison::Gte, 10);
        let past = threshold(Comparison::Gt, 10);
        assert!(!at.crossed_by(Decimal::new(999, 2)));
        assert!(at.crossed_by(Decimal::TEN));
        assert!(!past.crossed_by(Decimal::TEN));
        assert!(past.crossed_by(Decimal::new(1001, 2)));
        assert_eq!(at.key(), "gte:10");
    }

    #[test]
    fn values_are_exact_numbers_or_numeric_strings() {
        let exact = serde_json::from_str("1.10").unwrap();
        assert_eq!(threshold_value(&exact), Some(Decimal::new(110, 2)));
        assert_eq!(
            threshold_value(&serde_json::json!("-1500.25")),
            Some(Decimal::new(-150_025, 2))
        );
        assert_eq!(
            threshold_value(&serde_json::from_str("5e3").unwrap()),
            Some(Decimal::from(5000))
        );
        // Strings have one form; values stay within 10^12.
        assert_eq!(threshold_value(&serde_json::json!("5e3")), None);
        assert_eq!(threshold_value(&serde_json::json!("1.1234567")), None);
        assert_eq!(
            threshold_value(&serde_json::json!(-1_000_000_000_001_i64)),
            None
        );
        assert_eq!(threshold_value(&serde_json::json!(true)), None);
        assert_eq!(threshold_value(&serde_json::json!("many")), None);
    }
}
