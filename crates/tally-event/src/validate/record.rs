//! The record: its `id`, its keys and its flat values.

use std::collections::BTreeMap;

use serde_json::Value as Json;

use super::fields::{push_id_error, type_name};
use super::{ErrorCode, Errors, MAX_ARRAY_ITEMS, MAX_KEY_CHARS, MAX_PROPERTIES, MAX_STRING_BYTES};
use crate::ids::RecordId;
use crate::number::{exact_decimal, is_integer_literal};
use crate::pointer;
use crate::value::{Scalar, Value};

/// What survived validation of a record: its id when valid, and every valid property.
/// Invalid properties are left out, so the PII scan still sees the valid ones.
pub(super) struct RecordParts {
    pub(super) id: Option<RecordId>,
    pub(super) properties: BTreeMap<String, Value>,
}

pub(super) fn check(value: Option<&Json>, errors: &mut Errors) -> Option<RecordParts> {
    let object = match value {
        None | Some(Json::Null) => {
            errors.push(
                pointer::field("record"),
                ErrorCode::Required,
                "record is required",
            );
            return None;
        }
        Some(Json::Object(object)) => object,
        Some(other) => {
            let message = format!("record must be an object, not {}", type_name(other));
            errors.push(pointer::field("record"), ErrorCode::InvalidType, message);
            return None;
        }
    };
    if object.len() > MAX_PROPERTIES {
        let message = format!(
            "record has {} properties; at most {MAX_PROPERTIES} are allowed, id included",
            object.len()
        );
        errors.push(
            pointer::field("record"),
            ErrorCode::TooManyProperties,
            message,
        );
    }
    let mut properties = BTreeMap::new();
    let id = check_id(object.get("id"), errors).map(|(id, value)| {
        properties.insert("id".to_owned(), value);
        id
    });
    // Sorted so the error order does not depend on serde_json's map ordering feature.
    let mut entries: Vec<(&String, &Json)> = object
        .iter()
        .filter(|(key, _)| key.as_str() != "id")
        .collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    for (key, json) in entries {
        let key_ok = check_key(key, errors);
        if let Some(value) = check_value(key, json, errors) {
            if key_ok {
                properties.insert(key.clone(), value);
            }
        }
    }
    Some(RecordParts { id, properties })
}

/// `record.id`: a non-empty string of at most 255 characters, or an integer. The
/// returned value is the `id` property as sent, so the record round-trips.
fn check_id(value: Option<&Json>, errors: &mut Errors) -> Option<(RecordId, Value)> {
    let path = || "/record/id".to_owned();
    match value {
        None | Some(Json::Null) => {
            errors.push(path(), ErrorCode::Required, "record.id is required");
            None
        }
        Some(Json::String(text)) => match RecordId::parse(text) {
            Ok(id) => Some((id, Value::String(text.clone()))),
            Err(error) => {
                push_id_error("record.id", &error, errors);
                None
            }
        },
        Some(Json::Number(number)) => integer_id(&number.to_string(), errors),
        Some(other) => {
            let message = format!(
                "record.id must be a string or an integer, not {}",
                type_name(other)
            );
            errors.push(path(), ErrorCode::InvalidType, message);
            None
        }
    }
}

fn integer_id(text: &str, errors: &mut Errors) -> Option<(RecordId, Value)> {
    if !is_integer_literal(text) {
        let message = "record.id must be a string or an integer, not a decimal number";
        errors.push("/record/id".to_owned(), ErrorCode::InvalidType, message);
        return None;
    }
    // Integers are written without fraction or exponent, so the decimal has scale 0
    // and its mantissa is the integer itself.
    match exact_decimal(text) {
        Some(decimal) => Some((
            RecordId::from_integer(decimal.mantissa()),
            Value::Number(decimal),
        )),
        None => {
            errors.push(
                "/record/id".to_owned(),
                ErrorCode::NumberOutOfRange,
                "record.id is too large: integer ids must fit a decimal (at most 28 digits)",
            );
            None
        }
    }
}

/// PostgreSQL cannot store U+0000 in text or JSONB, so no backend accepts it.
const NUL_MESSAGE: &str = "strings must not contain the NUL character (U+0000)";

fn check_key(key: &str, errors: &mut Errors) -> bool {
    let chars = key.chars().count();
    let message = if chars == 0 {
        "record keys must not be empty".to_owned()
    } else if chars > MAX_KEY_CHARS {
        format!("record keys must be at most {MAX_KEY_CHARS} characters, this one has {chars}")
    } else if key.contains('\0') {
        "record keys must not contain the NUL character (U+0000)".to_owned()
    } else {
        return true;
    };
    errors.push(
        pointer::record_property(key),
        ErrorCode::InvalidKey,
        message,
    );
    false
}

fn check_value(key: &str, json: &Json, errors: &mut Errors) -> Option<Value> {
    match json {
        Json::Null => Some(Value::Null),
        Json::Bool(b) => Some(Value::Bool(*b)),
        Json::Number(number) => check_number(
            &number.to_string(),
            || pointer::record_property(key),
            errors,
        )
        .map(Value::Number),
        Json::String(text) => {
            check_string(text, || pointer::record_property(key), errors).map(Value::String)
        }
        Json::Object(_) => {
            let message = "record properties cannot be objects: records are flat";
            errors.push(
                pointer::record_property(key),
                ErrorCode::NestedObject,
                message,
            );
            None
        }
        Json::Array(items) => check_array(key, items, errors).map(Value::Array),
    }
}

fn check_array(key: &str, items: &[Json], errors: &mut Errors) -> Option<Vec<Scalar>> {
    let mut valid = items.len() <= MAX_ARRAY_ITEMS;
    if !valid {
        let message = format!(
            "arrays may hold at most {MAX_ARRAY_ITEMS} items, this one has {}",
            items.len()
        );
        errors.push(
            pointer::record_property(key),
            ErrorCode::ArrayTooLong,
            message,
        );
    }
    let mut scalars = Vec::with_capacity(items.len().min(MAX_ARRAY_ITEMS));
    for (index, item) in items.iter().enumerate() {
        match check_item(key, index, item, errors) {
            Some(scalar) => scalars.push(scalar),
            None => valid = false,
        }
    }
    valid.then_some(scalars)
}

fn check_item(key: &str, index: usize, item: &Json, errors: &mut Errors) -> Option<Scalar> {
    let path = || pointer::record_item(key, index);
    let (code, message) = match item {
        Json::Bool(b) => return Some(Scalar::Bool(*b)),
        Json::Number(number) => {
            return check_number(&number.to_string(), path, errors).map(Scalar::Number);
        }
        Json::String(text) => return check_string(text, path, errors).map(Scalar::String),
        Json::Object(_) => (ErrorCode::ArrayOfObjects, "arrays cannot hold objects"),
        Json::Array(_) => (ErrorCode::NestedArray, "arrays cannot hold arrays"),
        Json::Null => (
            ErrorCode::InvalidType,
            "array items must be strings, numbers or booleans, not null",
        ),
    };
    errors.push(path(), code, message);
    None
}

fn check_number(
    text: &str,
    path: impl Fn() -> String,
    errors: &mut Errors,
) -> Option<rust_decimal::Decimal> {
    let decimal = exact_decimal(text);
    if decimal.is_none() {
        let message = "number cannot be represented exactly as a decimal \
                       (at most 28 decimal places and a magnitude below 7.9e28)";
        errors.push(path(), ErrorCode::NumberOutOfRange, message);
    }
    decimal
}

fn check_string(text: &str, path: impl Fn() -> String, errors: &mut Errors) -> Option<String> {
    if text.len() > MAX_STRING_BYTES {
        let message = format!(
            "strings may be at most {MAX_STRING_BYTES} bytes of UTF-8, this one has {}",
            text.len()
        );
        errors.push(path(), ErrorCode::StringTooLong, message);
        return None;
    }
    if text.contains('\0') {
        errors.push(path(), ErrorCode::InvalidCharacters, NUL_MESSAGE);
        return None;
    }
    Some(text.to_owned())
}
