//! Features and entitlements, as stored (docs/entitlements.md).
//!
//! A feature is addressed by its `code`, unique in its account and never
//! changed, so entitlements refer to it by code. Values are stored as text in
//! one encoding shared by every backend ([`FeatureValue::to_text`]).

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use tally_event::Timestamp;

use crate::error::StoreError;
use crate::ids::{AggregatorFilterId, AggregatorId, CustomerId, ProductId};

/// What a feature's values are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FeatureValueType {
    /// On or off (`sso`).
    Boolean,
    /// A quantity or a limit (`seats`, `api_calls`).
    Number,
}

impl FeatureValueType {
    /// The wire name: `boolean` or `number`.
    pub fn as_str(self) -> &'static str {
        match self {
            FeatureValueType::Boolean => "boolean",
            FeatureValueType::Number => "number",
        }
    }

    /// The type a wire name names; `None` for an unknown one.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "boolean" => Some(FeatureValueType::Boolean),
            "number" => Some(FeatureValueType::Number),
            _ => None,
        }
    }
}

/// How the values of a number feature granted by several products combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResolutionStrategy {
    /// The largest value wins.
    Maximum,
    /// The values add up.
    Sum,
}

impl ResolutionStrategy {
    /// The wire name: `maximum` or `sum`.
    pub fn as_str(self) -> &'static str {
        match self {
            ResolutionStrategy::Maximum => "maximum",
            ResolutionStrategy::Sum => "sum",
        }
    }

    /// The strategy a wire name names; `None` for an unknown one.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "maximum" => Some(ResolutionStrategy::Maximum),
            "sum" => Some(ResolutionStrategy::Sum),
            _ => None,
        }
    }
}

/// A feature's value: a default, a product's grant or a customer's override.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FeatureValue {
    /// The value of a boolean feature.
    Boolean(bool),
    /// The value of a number feature (never negative).
    Number(Decimal),
    /// A number feature without bound (`null` on the wire).
    Unlimited,
}

impl FeatureValue {
    /// The stored text: `true`, `false`, `unlimited` or the decimal.
    pub fn to_text(self) -> String {
        match self {
            FeatureValue::Boolean(value) => value.to_string(),
            FeatureValue::Number(value) => value.normalize().to_string(),
            FeatureValue::Unlimited => "unlimited".to_owned(),
        }
    }

    /// Reads what [`FeatureValue::to_text`] wrote; anything else is `Corrupt`.
    pub fn from_text(text: &str) -> Result<Self, StoreError> {
        match text {
            "true" => Ok(FeatureValue::Boolean(true)),
            "false" => Ok(FeatureValue::Boolean(false)),
            "unlimited" => Ok(FeatureValue::Unlimited),
            number => Decimal::from_str(number)
                .map(FeatureValue::Number)
                .map_err(|_| StoreError::Corrupt(format!("feature value {number:?}"))),
        }
    }

    /// The type of feature this value belongs to.
    pub fn value_type(self) -> FeatureValueType {
        match self {
            FeatureValue::Boolean(_) => FeatureValueType::Boolean,
            FeatureValue::Number(_) | FeatureValue::Unlimited => FeatureValueType::Number,
        }
    }
}

/// The stored text of a feature's threshold percents: a JSON array of
/// decimal strings.
pub fn percents_to_text(percents: &[Decimal]) -> String {
    let texts: Vec<String> = percents.iter().map(|p| p.normalize().to_string()).collect();
    serde_json::Value::from(texts).to_string()
}

/// Reads what [`percents_to_text`] wrote; anything else is `Corrupt`.
pub fn percents_from_text(text: &str) -> Result<Vec<Decimal>, StoreError> {
    let corrupt = || StoreError::Corrupt(format!("threshold percents {text:?}"));
    let texts: Vec<String> = serde_json::from_str(text).map_err(|_| corrupt())?;
    texts
        .iter()
        .map(|t| Decimal::from_str(t).map_err(|_| corrupt()))
        .collect()
}

impl fmt::Display for FeatureValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_text())
    }
}

/// A feature of the account's offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Feature {
    /// Unique in the account, `^[a-z0-9][a-z0-9_-]*$`, never changed.
    pub code: String,
    /// A display name.
    pub name: String,
    /// Free text for operators.
    pub description: Option<String>,
    /// Boolean or number; never changed.
    pub value_type: FeatureValueType,
    /// The value of a customer no product or override grants it to.
    pub default_value: FeatureValue,
    /// How products' values combine; `Some` exactly for number features.
    pub resolution_strategy: Option<ResolutionStrategy>,
    /// Makes a number feature a usage limit per billing period: usage is this
    /// aggregator's quantity.
    pub aggregator_id: Option<AggregatorId>,
    /// Narrows the usage to one of the aggregator's filters.
    pub aggregator_filter_id: Option<AggregatorFilterId>,
    /// Thresholds of a usage limit, in percent of the customer's limit
    /// (`80`, `100`), ascending.
    pub threshold_percents: Vec<Decimal>,
    /// When the feature was created (UTC milliseconds).
    pub created_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
}

/// A feature's value granted by a product to the customers subscribed to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductEntitlement {
    /// The product granting it.
    pub product_id: ProductId,
    /// The feature granted.
    pub feature_code: String,
    /// Its value, of the feature's type.
    pub value: FeatureValue,
    /// When it was last set.
    pub updated_at: Timestamp,
}

/// A feature's value set for one customer; it wins over its products'.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerEntitlement {
    /// The customer it applies to.
    pub customer_id: CustomerId,
    /// The feature overridden.
    pub feature_code: String,
    /// Its value, of the feature's type.
    pub value: FeatureValue,
    /// Why it was granted (a deal, a support gesture).
    pub reason: Option<String>,
    /// From this instant on it no longer applies; `None`: never expires.
    pub expires_at: Option<Timestamp>,
    /// When it was last set.
    pub updated_at: Timestamp,
}

impl CustomerEntitlement {
    /// Whether the override applies at `at` (it has not expired).
    pub fn applies_at(&self, at: Timestamp) -> bool {
        self.expires_at.is_none_or(|expiry| at < expiry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_read_back_what_they_wrote() {
        let values = [
            FeatureValue::Boolean(true),
            FeatureValue::Boolean(false),
            FeatureValue::Unlimited,
            FeatureValue::Number(Decimal::new(125, 1)),
            FeatureValue::Number(Decimal::ZERO),
        ];
        for value in values {
            assert_eq!(FeatureValue::from_text(&value.to_text()).unwrap(), value);
        }
        assert!(FeatureValue::from_text("maybe").is_err());
    }

    #[test]
    fn an_override_stops_applying_at_its_expiry() {
        let at = |ms| Timestamp::from_millis(ms).unwrap();
        let grant = CustomerEntitlement {
            customer_id: CustomerId::random(),
            feature_code: "seats".into(),
            value: FeatureValue::Number(Decimal::TEN),
            reason: None,
            expires_at: Some(at(2_000_000_000_000)),
            updated_at: at(1_000_000_000_000),
        };
        assert!(grant.applies_at(at(1_999_999_999_999)));
        assert!(!grant.applies_at(at(2_000_000_000_000)));
    }
}
