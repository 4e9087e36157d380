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

/// A threshold's value from its JSON: a number or a numeric string, read
/// exactly; `None` for anything else.
pub(crate) fn threshold_value(value: &serde_json::Value) -> Option<Decimal> {
    let text = match value {
        serde_json::Value::Number(number) => number.to_string(),
        serde_json::Value::String(text) => text.clone(),
        _ => return None,
    };
    Decimal::from_str(&text)
        .or_else(|_| Decimal::from_scientific(&text))
        .ok()
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
            threshold_value(&serde_json::json!("5e3")),
            Some(Decimal::from(5000))
        );
        assert_eq!(threshold_value(&serde_json::json!(true)), None);
        assert_eq!(threshold_value(&serde_json::json!("many")), None);
    }
}
