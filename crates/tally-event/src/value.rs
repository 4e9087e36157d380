//! Record values: a flat map of scalars and arrays of scalars, numbers in decimal.

use std::collections::BTreeMap;
use std::str::FromStr;

use rust_decimal::Decimal;

use crate::ids::RecordId;

/// A scalar: what an array may hold.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Scalar {
    /// `true` or `false`.
    Bool(bool),
    /// A number, held exactly.
    Number(Decimal),
    /// A string, at most [`MAX_STRING_BYTES`](crate::MAX_STRING_BYTES) bytes.
    String(String),
}

/// One record property. Objects do not exist here: records are flat by construction.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Value {
    /// An explicit JSON `null`. Filters treat it like a missing property.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number, held exactly; never an `f64`.
    Number(Decimal),
    /// A string, at most [`MAX_STRING_BYTES`](crate::MAX_STRING_BYTES) bytes.
    String(String),
    /// At most [`MAX_ARRAY_ITEMS`](crate::MAX_ARRAY_ITEMS) scalars, possibly of mixed
    /// types.
    Array(Vec<Scalar>),
}

impl Value {
    /// The number, when this value is one.
    pub fn as_decimal(&self) -> Option<Decimal> {
        match self {
            Value::Number(n) => Some(*n),
            _ => None,
        }
    }

    /// The string, when this value is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// Whether this is an explicit `null` (a missing key is not a `Value` at all).
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The JSON form, numbers written exactly from their decimal text.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Number(n) => decimal_to_json(*n),
            Value::String(s) => serde_json::Value::String(s.clone()),
            Value::Array(items) => items.iter().map(Scalar::to_json).collect(),
        }
    }
}

impl Scalar {
    /// The JSON form, numbers written exactly from their decimal text.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Scalar::Bool(b) => serde_json::Value::Bool(*b),
            Scalar::Number(n) => decimal_to_json(*n),
            Scalar::String(s) => serde_json::Value::String(s.clone()),
        }
    }
}

/// A JSON number carrying the decimal's exact text (serde_json keeps arbitrary
/// precision numbers as text, so nothing passes through f64).
pub fn decimal_to_json(value: Decimal) -> serde_json::Value {
    let text = value.normalize().to_string();
    match serde_json::Number::from_str(&text) {
        Ok(number) => serde_json::Value::Number(number),
        // A Decimal's text is always a valid JSON number; keep the text if not.
        Err(_) => serde_json::Value::String(text),
    }
}

/// A flat record: its normalized id and every property, `id` included, by key.
///
/// A `Record` is built by the validator (`parse_event`) or, for rows a store wrote
/// itself, by `record_from_stored_json` and [`Record::from_trusted_parts`]; either
/// way it is flat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    id: RecordId,
    properties: BTreeMap<String, Value>,
}

impl Record {
    /// Assembles a record from parts already checked, e.g. read back from a store.
    /// `properties` should contain the `id` property as it was sent.
    pub fn from_trusted_parts(id: RecordId, properties: BTreeMap<String, Value>) -> Self {
        Self { id, properties }
    }

    /// The normalized `id`; `record.get("id")` gives the value as it was sent.
    pub fn id(&self) -> &RecordId {
        &self.id
    }

    /// A property by key; `id` included. A missing key is `None` (null to filters).
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.properties.get(key)
    }

    /// Every property by key, `id` included, in key order.
    pub fn properties(&self) -> &BTreeMap<String, Value> {
        &self.properties
    }

    /// Mutable access for the PII masker, which rewrites strings in place.
    pub(crate) fn properties_mut(&mut self) -> &mut BTreeMap<String, Value> {
        &mut self.properties
    }

    /// Number of properties, `id` included.
    pub fn len(&self) -> usize {
        self.properties.len()
    }

    /// Whether the record has no properties; never true for a validated record, which
    /// holds at least `id`.
    pub fn is_empty(&self) -> bool {
        self.properties.is_empty()
    }

    /// The record as a JSON object, numbers exact.
    pub fn to_json(&self) -> serde_json::Value {
        let map = self
            .properties
            .iter()
            .map(|(key, value)| (key.clone(), value.to_json()))
            .collect();
        serde_json::Value::Object(map)
    }
}
