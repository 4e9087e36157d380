//! The top-level fields: `customer_id`, `event_type` and `timestamp`.

use serde_json::Value as Json;

use super::{ErrorCode, Errors, ValidationConfig};
use crate::ids::{CustomerRef, EventType, IdError};
use crate::number::is_integer_literal;
use crate::pointer;
use crate::time::{Timestamp, TimestampError};

pub(super) fn customer(value: Option<&Json>, errors: &mut Errors) -> Option<CustomerRef> {
    let text = required_string("customer_id", value, errors)?;
    CustomerRef::parse(text)
        .map_err(|error| push_id_error("customer_id", &error, errors))
        .ok()
}

pub(super) fn event_type(value: Option<&Json>, errors: &mut Errors) -> Option<EventType> {
    let text = required_string("event_type", value, errors)?;
    EventType::parse(text)
        .map_err(|error| push_id_error("event_type", &error, errors))
        .ok()
}

/// The id errors of `customer_id`, `event_type` and `record.id` share their codes.
pub(super) fn push_id_error(name: &str, error: &IdError, errors: &mut Errors) {
    let code = match error {
        IdError::Empty => ErrorCode::Empty,
        IdError::TooLong { .. } => ErrorCode::TooLong,
        IdError::InvalidCharacters | IdError::ContainsNul => ErrorCode::InvalidCharacters,
    };
    let path = match name {
        "record.id" => "/record/id".to_owned(),
        name => pointer::field(name),
    };
    errors.push(path, code, format!("{name} {error}"));
}

/// A string field that must be present: missing and `null` are both `required`.
fn required_string<'a>(
    name: &str,
    value: Option<&'a Json>,
    errors: &mut Errors,
) -> Option<&'a str> {
    match value {
        None | Some(Json::Null) => {
            errors.push(
                pointer::field(name),
                ErrorCode::Required,
                format!("{name} is required"),
            );
            None
        }
        Some(Json::String(text)) => Some(text),
        Some(other) => {
            let message = format!("{name} must be a string, not {}", type_name(other));
            errors.push(pointer::field(name), ErrorCode::InvalidType, message);
            None
        }
    }
}

pub(super) fn timestamp(
    value: Option<&Json>,
    config: &ValidationConfig,
    now: Timestamp,
    errors: &mut Errors,
) -> Option<Timestamp> {
    let path = || pointer::field("timestamp");
    let parsed = match value {
        None | Some(Json::Null) => {
            errors.push(path(), ErrorCode::Required, "timestamp is required");
            return None;
        }
        Some(Json::String(text)) => Timestamp::parse(text),
        Some(Json::Number(number)) => epoch_millis(&number.to_string()),
        Some(other) => {
            let message = format!(
                "timestamp must be a date-time string or integer milliseconds, not {}",
                type_name(other)
            );
            errors.push(path(), ErrorCode::InvalidType, message);
            return None;
        }
    };
    let at = match parsed {
        Ok(at) => at,
        Err(error) => {
            let code = match error {
                TimestampError::InvalidFormat => ErrorCode::InvalidTimestamp,
                TimestampError::LooksLikeSeconds(_) => ErrorCode::TimestampInSeconds,
                TimestampError::OutOfRange => ErrorCode::TimestampOutOfRange,
            };
            errors.push(path(), code, format!("timestamp {error}"));
            return None;
        }
    };
    check_skew(at, config, now, errors)
}

/// The integer form: milliseconds since the epoch, written as a JSON integer.
fn epoch_millis(text: &str) -> Result<Timestamp, TimestampError> {
    // JSON Schema counts `1733047200000.0` as an integer, and so does Tally.
    let text = match text.split_once('.') {
        Some((whole, fraction)) if !fraction.is_empty() && fraction.bytes().all(|b| b == b'0') => {
            whole
        }
        _ => text,
    };
    if !is_integer_literal(text) {
        return Err(TimestampError::InvalidFormat);
    }
    // An integer too large for i64 is far beyond year 9999.
    let ms = text
        .parse::<i64>()
        .map_err(|_| TimestampError::OutOfRange)?;
    Timestamp::from_epoch_millis_input(ms)
}

fn check_skew(
    at: Timestamp,
    config: &ValidationConfig,
    now: Timestamp,
    errors: &mut Errors,
) -> Option<Timestamp> {
    if config.max_future_skew_ms == 0 {
        return Some(at);
    }
    let skew = i64::try_from(config.max_future_skew_ms).unwrap_or(i64::MAX);
    if at.as_millis() > now.as_millis().saturating_add(skew) {
        let message = format!(
            "timestamp {at} is more than {} ms after the current time {now}",
            config.max_future_skew_ms
        );
        errors.push(
            pointer::field("timestamp"),
            ErrorCode::TimestampInFuture,
            message,
        );
        return None;
    }
    Some(at)
}

/// The JSON type's name, for messages.
pub(super) fn type_name(value: &Json) -> &'static str {
    match value {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}
