//! Per-account settings, read from `Account.settings` (a JSON object).
//!
//! | key                      | type                                  | default    |
//! |--------------------------|---------------------------------------|------------|
//! | `pii_policy`             | `"off"`, `"warn"`, `"mask"`, `"reject"` | `"warn"`   |
//! | `max_future_skew_ms`     | integer ≥ 0 (0 turns the check off)    | `86400000` |
//! | `auto_create_customers`  | boolean                               | `true`     |
//!
//! A missing key takes its default; `null` or `{}` is all defaults. Unknown keys
//! are ignored, so settings written by a newer version still load. A key with a
//! wrong type or value is an error (never silently defaulted): ingestion then
//! fails loudly rather than applying a policy the account did not choose.

use serde_json::{Map, Value};
use tally_event::{DEFAULT_MAX_FUTURE_SKEW_MS, PiiPolicy, ValidationConfig};

use crate::error::{BillingResult, Problems};

/// What an account chose for ingestion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountSettings {
    /// What ingestion does with personal data found in string values: scan off,
    /// warn (the default), mask, or reject the event.
    pub pii_policy: PiiPolicy,
    /// How far ahead of now an event timestamp may be; 0 turns the check off.
    pub max_future_skew_ms: u64,
    /// Whether an event naming an unknown customer creates it
    /// (`automatically_created`) or is refused with `customer_not_found`.
    pub auto_create_customers: bool,
}

impl Default for AccountSettings {
    fn default() -> Self {
        AccountSettings {
            pii_policy: PiiPolicy::Warn,
            max_future_skew_ms: DEFAULT_MAX_FUTURE_SKEW_MS,
            auto_create_customers: true,
        }
    }
}

impl AccountSettings {
    /// Reads settings; problems have paths like `/pii_policy`.
    pub fn from_json(json: &Value) -> BillingResult<AccountSettings> {
        let empty = Map::new();
        let object = match json {
            Value::Null => &empty,
            Value::Object(object) => object,
            _ => {
                return Err(crate::BillingError::invalid(
                    "",
                    "invalid_type",
                    "settings must be an object",
                ));
            }
        };
        let mut settings = AccountSettings::default();
        let mut problems = Problems::default();
        read_policy(object, &mut settings, &mut problems);
        read_skew(object, &mut settings, &mut problems);
        match object.get("auto_create_customers") {
            None | Some(Value::Null) => {}
            Some(Value::Bool(value)) => settings.auto_create_customers = *value,
            Some(_) => problems.push(
                "/auto_create_customers",
                "invalid_type",
                "must be a boolean",
            ),
        }
        problems.finish()?;
        Ok(settings)
    }

    /// The settings as `from_json` reads them back.
    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "pii_policy": self.pii_policy.as_str(),
            "max_future_skew_ms": self.max_future_skew_ms,
            "auto_create_customers": self.auto_create_customers,
        })
    }

    /// What event validation needs.
    pub fn validation_config(&self) -> ValidationConfig {
        ValidationConfig {
            max_future_skew_ms: self.max_future_skew_ms,
            pii_policy: self.pii_policy,
        }
    }
}

fn read_policy(
    object: &Map<String, Value>,
    settings: &mut AccountSettings,
    problems: &mut Problems,
) {
    match object.get("pii_policy") {
        None | Some(Value::Null) => {}
        Some(Value::String(text)) => match text.parse::<PiiPolicy>() {
            Ok(policy) => settings.pii_policy = policy,
            Err(error) => problems.push("/pii_policy", "invalid_value", error.to_string()),
        },
        Some(_) => problems.push("/pii_policy", "invalid_type", "must be a string"),
    }
}

fn read_skew(object: &Map<String, Value>, settings: &mut AccountSettings, problems: &mut Problems) {
    match object.get("max_future_skew_ms") {
        None | Some(Value::Null) => {}
        Some(value) => match value.as_u64().or_else(|| {
            let integer = crate::input::integral(value.as_number()?)?;
            u64::try_from(integer).ok()
        }) {
            Some(ms) => settings.max_future_skew_ms = ms,
            None => problems.push(
                "/max_future_skew_ms",
                "invalid_value",
                "must be a non-negative integer of milliseconds",
            ),
        },
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn missing_keys_take_defaults_and_unknown_keys_are_ignored() {
        for json in [json!(null), json!({}), json!({"theme": "dark"})] {
            assert_eq!(
                AccountSettings::from_json(&json).unwrap(),
                AccountSettings::default()
            );
        }
    }

    #[test]
    fn settings_round_trip() {
        let settings = AccountSettings {
            pii_policy: PiiPolicy::Mask,
            max_future_skew_ms: 0,
            auto_create_customers: false,
        };
        assert_eq!(
            AccountSettings::from_json(&settings.to_json()).unwrap(),
            settings
        );
    }

    #[test]
    fn every_wrong_key_is_reported() {
        let json =
            json!({"pii_policy": "loud", "max_future_skew_ms": -1, "auto_create_customers": "yes"});
        let error = AccountSettings::from_json(&json).unwrap_err();
        let paths: Vec<&str> = error.problems().iter().map(|p| p.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "/pii_policy",
                "/max_future_skew_ms",
                "/auto_create_customers"
            ]
        );
        assert!(AccountSettings::from_json(&json!([])).is_err());
    }

    #[test]
    fn the_skew_is_an_unsigned_integer_also_written_with_a_zero_fraction() {
        let skew = |value: Value| {
            AccountSettings::from_json(&json!({ "max_future_skew_ms": value }))
                .map(|settings| settings.max_future_skew_ms)
        };
        assert_eq!(skew(json!(86_400_000.0)).unwrap(), 86_400_000);
        assert_eq!(skew(json!(u64::MAX)).unwrap(), u64::MAX);
        assert!(skew(json!(-1)).is_err());
        assert!(skew(json!(1.5)).is_err());
    }
}
