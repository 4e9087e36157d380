//! Reading a feature value from JSON: `true`/`false` for a boolean feature;
//! for a number feature a non-negative JSON number or numeric string, or
//! `null` for unlimited.

use std::str::FromStr;

use rust_decimal::Decimal;
use tally_event::decimal_to_json;
use tally_store::{FeatureValue, FeatureValueType};

use crate::error::Problems;

/// The largest value a number feature takes: every quantity Tally
/// aggregates fits below it.
pub const MAX_FEATURE_NUMBER: i64 = 1_000_000_000_000_000;

/// The value `value` gives a feature of `value_type`, or a problem at `path`.
pub(crate) fn check_value(
    value_type: FeatureValueType,
    value: &serde_json::Value,
    path: &str,
    problems: &mut Problems,
) -> Option<FeatureValue> {
    use serde_json::Value;
    match (value_type, value) {
        (FeatureValueType::Boolean, Value::Bool(on)) => Some(FeatureValue::Boolean(*on)),
        (FeatureValueType::Boolean, _) => {
            problems.push(
                path,
                "invalid_type",
                "a boolean feature takes true or false",
            );
            None
        }
        (FeatureValueType::Number, Value::Null) => Some(FeatureValue::Unlimited),
        (FeatureValueType::Number, Value::Number(_) | Value::String(_)) => {
            bounded(json_decimal(value), path, problems)
        }
        (FeatureValueType::Number, _) => {
            problems.push(
                path,
                "invalid_type",
                "a number feature takes a number, a numeric string, or null for unlimited",
            );
            None
        }
    }
}

/// The exact decimal a JSON number holds, or a string of at most 15 digits
/// and 6 decimals (the form the OpenAPI document gives); `None` for
/// anything else.
pub(crate) fn json_decimal(value: &serde_json::Value) -> Option<Decimal> {
    match value {
        serde_json::Value::Number(number) => {
            let text = number.to_string();
            Decimal::from_str(&text)
                .or_else(|_| Decimal::from_scientific(&text))
                .ok()
        }
        serde_json::Value::String(text) if plain_decimal(text) => Decimal::from_str(text).ok(),
        _ => None,
    }
}

/// `[0-9]{1,15}(\.[0-9]{1,6})?`.
fn plain_decimal(text: &str) -> bool {
    let (whole, fraction) = match text.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (text, None),
    };
    let all_digits = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
    (1..=15).contains(&whole.len())
        && all_digits(whole)
        && fraction.is_none_or(|f| (1..=6).contains(&f.len()) && all_digits(f))
}

fn bounded(number: Option<Decimal>, path: &str, problems: &mut Problems) -> Option<FeatureValue> {
    match number {
        None => {
            problems.push(path, "invalid_number", "not a decimal number");
            None
        }
        Some(number) if number < Decimal::ZERO || number > Decimal::from(MAX_FEATURE_NUMBER) => {
            problems.push(
                path,
                "out_of_range",
                "a number feature's value is between 0 and 10^15",
            );
            None
        }
        Some(number) => Some(FeatureValue::Number(number.normalize())),
    }
}

/// The wire form: a boolean, an exact JSON number, or `null` for unlimited.
pub fn value_to_json(value: FeatureValue) -> serde_json::Value {
    match value {
        FeatureValue::Boolean(on) => serde_json::Value::Bool(on),
        FeatureValue::Number(number) => decimal_to_json(number),
        FeatureValue::Unlimited => serde_json::Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn read(
        value_type: FeatureValueType,
        value: serde_json::Value,
    ) -> Result<FeatureValue, String> {
        let mut problems = Problems::default();
        let read = check_value(value_type, &value, "/value", &mut problems);
        problems
            .finish_with(read)
            .map_err(|error| error.to_string())
    }

    #[test]
    fn numbers_are_exact_bounded_and_null_is_unlimited() {
        let number = FeatureValueType::Number;
        assert_eq!(
            read(number, json!(12.50)).unwrap(),
            FeatureValue::Number(Decimal::new(125, 1))
        );
        assert_eq!(
            read(number, json!("0.1")).unwrap(),
            FeatureValue::Number(Decimal::new(1, 1))
        );
        assert_eq!(read(number, json!(null)).unwrap(), FeatureValue::Unlimited);
        assert!(
            read(number, json!(-1))
                .unwrap_err()
                .contains("out_of_range")
        );
        assert!(
            read(number, json!(1e16))
                .unwrap_err()
                .contains("out_of_range")
        );
        assert!(
            read(number, json!("ten"))
                .unwrap_err()
                .contains("invalid_number")
        );
        assert!(
            read(number, json!(true))
                .unwrap_err()
                .contains("invalid_type")
        );
    }

    #[test]
    fn booleans_take_only_booleans() {
        let boolean = FeatureValueType::Boolean;
        assert_eq!(
            read(boolean, json!(true)).unwrap(),
            FeatureValue::Boolean(true)
        );
        assert!(
            read(boolean, json!(null))
                .unwrap_err()
                .contains("invalid_type")
        );
        assert!(
            read(boolean, json!(1))
                .unwrap_err()
                .contains("invalid_type")
        );
    }

    #[test]
    fn wire_values_round_trip() {
        for value in [
            FeatureValue::Boolean(false),
            FeatureValue::Unlimited,
            FeatureValue::Number(Decimal::new(5, 0)),
        ] {
            let mut problems = Problems::default();
            let back = check_value(
                value.value_type(),
                &value_to_json(value),
                "/v",
                &mut problems,
            );
            assert_eq!(back, Some(value));
        }
    }
}
