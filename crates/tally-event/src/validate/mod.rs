//! Validation: untrusted JSON in, an [`Event`] or every problem with it out.
//!
//! [`parse_event`] and [`parse_event_bytes`] never panic and report all problems at
//! once. Each [`ValidationError`] has a JSON-pointer `path` (`""` for the whole event,
//! `/record/tags/3` for an array item), a stable `code` and a lowercase `message`.
//!
//! Error codes (stable; clients match on them, so never rename one):
//!
//! | code                     | meaning                                                     |
//! |--------------------------|-------------------------------------------------------------|
//! | `malformed_json`         | the bytes are not JSON (message has line and column)        |
//! | `event_too_large`        | the event's JSON is over 64 KiB; nothing else is checked    |
//! | `invalid_type`           | wrong JSON type (event not an object, id a decimal, …)      |
//! | `unknown_field`          | a top-level field other than the four known ones            |
//! | `required`               | a required field is missing or null                         |
//! | `empty`                  | `customer_id`, `event_type` or `record.id` is `""`          |
//! | `too_long`               | `customer_id`/`record.id` over 255, `event_type` over 100 chars |
//! | `invalid_characters`     | `event_type` outside `[A-Za-z0-9_.:-]`; U+0000 in any string |
//! | `invalid_timestamp`      | a timestamp string or number in no accepted form            |
//! | `timestamp_in_seconds`   | an epoch number below 10^11: probably seconds               |
//! | `timestamp_in_future`    | later than `now` + the allowed skew                         |
//! | `timestamp_out_of_range` | year outside 1970..=9999                                    |
//! | `too_many_properties`    | more than 25 record properties, `id` included               |
//! | `invalid_key`            | a record key that is empty, over 100 chars or with NUL         |
//! | `string_too_long`        | a string value or array item over 8192 bytes               |
//! | `array_too_long`         | an array over 256 items                                     |
//! | `nested_object`          | a record property that is an object                         |
//! | `array_of_objects`       | an array item that is an object                             |
//! | `nested_array`           | an array item that is an array                              |
//! | `number_out_of_range`    | a number with no exact `Decimal` value                      |
//! | `pii_detected`           | personal data found under the `reject` PII policy           |
//!
//! `docs/events.md` describes every rule.

mod fields;
mod record;

use serde::{Deserialize, Serialize};

use crate::event::Event;
use crate::pii::{self, PiiPolicy, PiiWarning};
use crate::time::Timestamp;
use crate::value::Record;

/// Largest event, in bytes of JSON.
pub const MAX_EVENT_BYTES: usize = 64 * 1024;
/// Most record properties, `id` included.
pub const MAX_PROPERTIES: usize = 25;
/// Longest record key, in characters.
pub const MAX_KEY_CHARS: usize = 100;
/// Longest string value or array item, in bytes of UTF-8.
pub const MAX_STRING_BYTES: usize = 8 * 1024;
/// Most items in an array value.
pub const MAX_ARRAY_ITEMS: usize = 256;
/// Default tolerance for timestamps ahead of `now`: 24 hours.
pub const DEFAULT_MAX_FUTURE_SKEW_MS: u64 = 24 * 60 * 60 * 1000;

/// The four top-level fields of the wire form; anything else is `unknown_field`.
const KNOWN_FIELDS: [&str; 4] = ["customer_id", "event_type", "timestamp", "record"];

/// Per-account validation settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ValidationConfig {
    /// How far ahead of `now` a timestamp may be, in milliseconds; 0 turns the check off.
    pub max_future_skew_ms: u64,
    /// What to do with personal data found in record strings.
    pub pii_policy: PiiPolicy,
}

impl Default for ValidationConfig {
    fn default() -> Self {
        Self {
            max_future_skew_ms: DEFAULT_MAX_FUTURE_SKEW_MS,
            pii_policy: PiiPolicy::default(),
        }
    }
}

/// The stable, machine-readable reason of a [`ValidationError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// `malformed_json`: the bytes are not JSON; the message has line and column.
    MalformedJson,
    /// `event_too_large`: the event's JSON is over [`MAX_EVENT_BYTES`]; when this is
    /// reported nothing else was checked.
    EventTooLarge,
    /// `invalid_type`: a wrong JSON type: the event or `record` is not an object,
    /// `customer_id` or `event_type` is not a string, `record.id` is neither a string
    /// nor an integer, `timestamp` is neither a string nor a number.
    InvalidType,
    /// `unknown_field`: a top-level field other than `customer_id`, `event_type`,
    /// `timestamp` and `record`.
    UnknownField,
    /// `required`: a required field is missing or null.
    Required,
    /// `empty`: `customer_id`, `event_type` or `record.id` is `""`.
    Empty,
    /// `too_long`: `customer_id` or `record.id` over [`MAX_ID_CHARS`](crate::MAX_ID_CHARS), `event_type`
    /// over [`MAX_EVENT_TYPE_CHARS`](crate::MAX_EVENT_TYPE_CHARS) characters.
    TooLong,
    /// `invalid_characters`: `event_type` outside `[A-Za-z0-9_.:-]`, or U+0000 in any
    /// string (PostgreSQL cannot store it).
    InvalidCharacters,
    /// `invalid_timestamp`: a timestamp string or number in no accepted form.
    InvalidTimestamp,
    /// `timestamp_in_seconds`: an epoch number below [`SECONDS_HINT_BELOW_MS`](crate::SECONDS_HINT_BELOW_MS); the
    /// message suggests the value in milliseconds.
    TimestampInSeconds,
    /// `timestamp_in_future`: later than `now` plus
    /// [`ValidationConfig::max_future_skew_ms`].
    TimestampInFuture,
    /// `timestamp_out_of_range`: a year outside 1970..=9999.
    TimestampOutOfRange,
    /// `too_many_properties`: more than [`MAX_PROPERTIES`] record properties, `id`
    /// included.
    TooManyProperties,
    /// `invalid_key`: a record key that is empty, over [`MAX_KEY_CHARS`] characters or
    /// contains U+0000.
    InvalidKey,
    /// `string_too_long`: a string value or array item over [`MAX_STRING_BYTES`] bytes.
    StringTooLong,
    /// `array_too_long`: an array over [`MAX_ARRAY_ITEMS`] items.
    ArrayTooLong,
    /// `nested_object`: a record property that is an object; records are flat.
    NestedObject,
    /// `array_of_objects`: an array item that is an object.
    ArrayOfObjects,
    /// `nested_array`: an array item that is an array.
    NestedArray,
    /// `number_out_of_range`: a number with no exact `Decimal` value (too large, or
    /// more than 28 decimal places); Tally never rounds a number it is sent.
    NumberOutOfRange,
    /// `pii_detected`: personal data found under [`PiiPolicy::Reject`].
    PiiDetected,
}

impl ErrorCode {
    /// Every code, in declaration order.
    pub const ALL: [ErrorCode; 21] = [
        ErrorCode::MalformedJson,
        ErrorCode::EventTooLarge,
        ErrorCode::InvalidType,
        ErrorCode::UnknownField,
        ErrorCode::Required,
        ErrorCode::Empty,
        ErrorCode::TooLong,
        ErrorCode::InvalidCharacters,
        ErrorCode::InvalidTimestamp,
        ErrorCode::TimestampInSeconds,
        ErrorCode::TimestampInFuture,
        ErrorCode::TimestampOutOfRange,
        ErrorCode::TooManyProperties,
        ErrorCode::InvalidKey,
        ErrorCode::StringTooLong,
        ErrorCode::ArrayTooLong,
        ErrorCode::NestedObject,
        ErrorCode::ArrayOfObjects,
        ErrorCode::NestedArray,
        ErrorCode::NumberOutOfRange,
        ErrorCode::PiiDetected,
    ];

    /// The snake_case code, as serialized.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::MalformedJson => "malformed_json",
            ErrorCode::EventTooLarge => "event_too_large",
            ErrorCode::InvalidType => "invalid_type",
            ErrorCode::UnknownField => "unknown_field",
            ErrorCode::Required => "required",
            ErrorCode::Empty => "empty",
            ErrorCode::TooLong => "too_long",
            ErrorCode::InvalidCharacters => "invalid_characters",
            ErrorCode::InvalidTimestamp => "invalid_timestamp",
            ErrorCode::TimestampInSeconds => "timestamp_in_seconds",
            ErrorCode::TimestampInFuture => "timestamp_in_future",
            ErrorCode::TimestampOutOfRange => "timestamp_out_of_range",
            ErrorCode::TooManyProperties => "too_many_properties",
            ErrorCode::InvalidKey => "invalid_key",
            ErrorCode::StringTooLong => "string_too_long",
            ErrorCode::ArrayTooLong => "array_too_long",
            ErrorCode::NestedObject => "nested_object",
            ErrorCode::ArrayOfObjects => "array_of_objects",
            ErrorCode::NestedArray => "nested_array",
            ErrorCode::NumberOutOfRange => "number_out_of_range",
            ErrorCode::PiiDetected => "pii_detected",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One problem with an event: where (JSON pointer), what (code) and a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{path} {code}: {message}")]
pub struct ValidationError {
    /// JSON pointer (RFC 6901) to the offending value: `""` for the whole event,
    /// `/timestamp`, `/record/tags/3`.
    pub path: String,
    /// The stable reason; match on this, not on the message.
    pub code: ErrorCode,
    /// A lowercase explanation for humans; its wording may change.
    pub message: String,
}

/// A valid event, and the personal data found in it (listed under the `warn` and
/// `mask` policies; under `mask` the event's strings are already masked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedEvent {
    /// The validated event (masked under [`PiiPolicy::Mask`]).
    pub event: Event,
    /// Personal data found, one entry per path and kind; empty under
    /// [`PiiPolicy::Off`].
    pub warnings: Vec<PiiWarning>,
}

/// Collects every problem found, in the order found.
#[derive(Debug, Default)]
pub(crate) struct Errors(Vec<ValidationError>);

impl Errors {
    pub(crate) fn push(&mut self, path: String, code: ErrorCode, message: impl Into<String>) {
        self.0.push(ValidationError {
            path,
            code,
            message: message.into(),
        });
    }
}

/// Validates one event in wire form and applies the account's PII policy.
///
/// `now` is the instant the event is received, passed in so that validation stays
/// pure: it bounds timestamps in the future ([`ValidationConfig::max_future_skew_ms`]).
/// The 64 KiB limit is measured on the value's compact serialization, and an event
/// over it is refused before anything else is checked.
///
/// # Errors
///
/// Every problem found, not only the first, each with a JSON pointer, a stable
/// [`ErrorCode`] and a message. Never panics, whatever the input.
///
/// # Examples
///
/// ```
/// use rust_decimal::Decimal;
/// use serde_json::json;
/// use tally_event::{ErrorCode, PiiKind, Timestamp, ValidationConfig, parse_event};
///
/// let now = Timestamp::parse("2024-01-06T00:00:00Z").unwrap();
/// let config = ValidationConfig::default(); // PII policy `warn`, 24 h future skew
///
/// let wire = json!({
///     "customer_id": "cus_fh4585Jjrekkk",
///     "timestamp": "2024-01-05 21:56:52",
///     "event_type": "new_transaction",
///     "record": {"id": 485, "amount": 2500, "contact": "lucas@example.com"}
/// });
/// let parsed = parse_event(&wire, &config, now).unwrap();
/// assert_eq!(parsed.event.record.id().as_str(), "485");
/// assert_eq!(
///     parsed.event.record.get("amount").and_then(|v| v.as_decimal()),
///     Some(Decimal::from(2500))
/// );
/// // Under `warn` the event is accepted and the e-mail address is reported.
/// assert_eq!(parsed.warnings[0].path, "/record/contact");
/// assert_eq!(parsed.warnings[0].kind, PiiKind::Email);
///
/// // Every problem at once: seconds instead of milliseconds, and a nested object.
/// let wire = json!({
///     "customer_id": "cus_1",
///     "timestamp": 1704491812,
///     "event_type": "new_transaction",
///     "record": {"id": "a", "address": {"city": "Paris"}}
/// });
/// let errors = parse_event(&wire, &config, now).unwrap_err();
/// let codes: Vec<_> = errors.iter().map(|e| (e.path.as_str(), e.code)).collect();
/// assert_eq!(
///     codes,
///     [
///         ("/timestamp", ErrorCode::TimestampInSeconds),
///         ("/record/address", ErrorCode::NestedObject),
///     ]
/// );
/// ```
pub fn parse_event(
    json: &serde_json::Value,
    config: &ValidationConfig,
    now: Timestamp,
) -> Result<ParsedEvent, Vec<ValidationError>> {
    if serialized_len_exceeds(json, MAX_EVENT_BYTES) {
        return Err(vec![too_large()]);
    }
    validate(json, config, now)
}

/// Validates raw bytes: the 64 KiB limit first, then JSON syntax, then every rule of
/// [`parse_event`]. Prefer it for request bodies: an oversized body is refused without
/// being parsed, and a syntax error comes back as one `malformed_json` error with its
/// line and column.
///
/// # Errors
///
/// As [`parse_event`], plus [`ErrorCode::MalformedJson`] and
/// [`ErrorCode::EventTooLarge`] measured on the bytes.
pub fn parse_event_bytes(
    bytes: &[u8],
    config: &ValidationConfig,
    now: Timestamp,
) -> Result<ParsedEvent, Vec<ValidationError>> {
    if bytes.len() > MAX_EVENT_BYTES {
        return Err(vec![too_large()]);
    }
    let json: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|error| vec![malformed(&error)])?;
    // The compact serialization of JSON read from at most 64 KiB is never longer, so
    // the value's own size check would be redundant.
    validate(&json, config, now)
}

fn too_large() -> ValidationError {
    ValidationError {
        path: String::new(),
        code: ErrorCode::EventTooLarge,
        message: format!("event is larger than {MAX_EVENT_BYTES} bytes of JSON"),
    }
}

fn malformed(error: &serde_json::Error) -> ValidationError {
    // serde_json's text ends with " at line L column C"; the position goes first here.
    let text = error.to_string();
    let position = format!(" at line {} column {}", error.line(), error.column());
    let reason = text.strip_suffix(&position).unwrap_or(&text);
    ValidationError {
        path: String::new(),
        code: ErrorCode::MalformedJson,
        message: format!(
            "malformed JSON at line {} column {}: {reason}",
            error.line(),
            error.column()
        ),
    }
}

/// Whether `json` serializes to more than `limit` bytes; stops counting past the limit.
fn serialized_len_exceeds(json: &serde_json::Value, limit: usize) -> bool {
    struct Counter {
        written: usize,
        limit: usize,
    }
    impl std::io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.written = self.written.saturating_add(buf.len());
            if self.written > self.limit {
                return Err(std::io::Error::other("limit exceeded"));
            }
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter { written: 0, limit };
    serde_json::to_writer(&mut counter, json).is_err()
}

fn validate(
    json: &serde_json::Value,
    config: &ValidationConfig,
    now: Timestamp,
) -> Result<ParsedEvent, Vec<ValidationError>> {
    let Some(object) = json.as_object() else {
        let message = "event must be a JSON object";
        return Err(vec![ValidationError {
            path: String::new(),
            code: ErrorCode::InvalidType,
            message: message.to_owned(),
        }]);
    };
    let mut errors = Errors::default();
    let customer = fields::customer(object.get("customer_id"), &mut errors);
    let event_type = fields::event_type(object.get("event_type"), &mut errors);
    let timestamp = fields::timestamp(object.get("timestamp"), config, now, &mut errors);
    let mut parts = record::check(object.get("record"), &mut errors);
    unknown_fields(object, &mut errors);
    let warnings = match parts.as_mut() {
        Some(parts) => pii::apply_policy(config.pii_policy, &mut parts.properties, &mut errors),
        None => Vec::new(),
    };
    match (customer, event_type, timestamp, parts) {
        (Some(customer), Some(event_type), Some(timestamp), Some(parts)) if errors.0.is_empty() => {
            let Some(id) = parts.id else {
                return Err(errors.0);
            };
            let record = Record::from_trusted_parts(id, parts.properties);
            let event = Event {
                event_type,
                customer,
                timestamp,
                record,
            };
            Ok(ParsedEvent { event, warnings })
        }
        _ => Err(errors.0),
    }
}

fn unknown_fields(object: &serde_json::Map<String, serde_json::Value>, errors: &mut Errors) {
    // Sorted so the error order does not depend on serde_json's map ordering feature.
    let mut unknown: Vec<&String> = object
        .keys()
        .filter(|key| !KNOWN_FIELDS.contains(&key.as_str()))
        .collect();
    unknown.sort();
    for key in unknown {
        errors.push(
            crate::pointer::field(key),
            ErrorCode::UnknownField,
            "unknown field: an event has only customer_id, event_type, timestamp and record",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_serialize_as_their_str() {
        for code in ErrorCode::ALL {
            let json = serde_json::to_value(code).unwrap();
            assert_eq!(json, serde_json::Value::String(code.as_str().to_owned()));
        }
    }

    #[test]
    fn error_serializes_as_path_code_message() {
        let error = ValidationError {
            path: "/record/address".to_owned(),
            code: ErrorCode::NestedObject,
            message: "record properties cannot be objects".to_owned(),
        };
        assert_eq!(
            serde_json::to_string(&error).unwrap(),
            r#"{"path":"/record/address","code":"nested_object","message":"record properties cannot be objects"}"#
        );
    }

    #[test]
    fn size_counter_stops_at_the_limit() {
        let json = serde_json::json!({"a": "x".repeat(100)});
        assert!(serialized_len_exceeds(&json, 50));
        assert!(!serialized_len_exceeds(&json, 200));
    }
}
