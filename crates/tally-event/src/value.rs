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

    /// The text of [`Record::to_json`], written straight from the record:
    /// no intermediate JSON value, so no copy of its keys and strings (what a
    /// store writes for every event).
    pub fn to_json_string(&self) -> String {
        // Writing into a String cannot fail, and every part serializes.
        serde_json::to_string(&JsonRecord(self)).unwrap_or_else(|_| self.to_json().to_string())
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

/// Serializes a record as [`Record::to_json`] would, without building it.
struct JsonRecord<'a>(&'a Record);

impl serde::Serialize for JsonRecord<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let properties = &self.0.properties;
        let mut map = serializer.serialize_map(Some(properties.len()))?;
        for (key, value) in properties {
            map.serialize_entry(key, &JsonValue(value))?;
        }
        map.end()
    }
}

struct JsonValue<'a>(&'a Value);

impl serde::Serialize for JsonValue<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        match self.0 {
            Value::Null => serializer.serialize_unit(),
            Value::Bool(b) => serializer.serialize_bool(*b),
            Value::Number(n) => decimal_to_json(*n).serialize(serializer),
            Value::String(s) => serializer.serialize_str(s),
            Value::Array(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    match item {
                        Scalar::Bool(b) => seq.serialize_element(b)?,
                        Scalar::Number(n) => seq.serialize_element(&decimal_to_json(*n))?,
                        Scalar::String(s) => seq.serialize_element(s)?,
                    }
                }
                seq.end()
            }
        }
    }
}

#[cfg(test)]
mod json_string_tests {
    use super::*;
    use crate::record_from_stored_json;

    #[test]
    fn to_json_string_is_the_text_of_to_json() {
        let json = serde_json::json!({
            "id": "r\"1\u{e9}",
            "amount": serde_json::Number::from_str("1523.7500").unwrap(),
            "big": serde_json::Number::from_str("79228162514264337593543950335").unwrap(),
            "tiny": serde_json::Number::from_str("-0.0000000000000000000000000001").unwrap(),
            "flag": true,
            "none": null,
            "tags": ["a", 1.50, false],
            "empty": [],
            "text": "line\nbreak \u{1}",
        });
        let record = record_from_stored_json(&json).unwrap();
        assert_eq!(record.to_json_string(), record.to_json().to_string());
        let back: serde_json::Value = serde_json::from_str(&record.to_json_string()).unwrap();
        assert_eq!(record_from_stored_json(&back).unwrap(), record);
    }
}
