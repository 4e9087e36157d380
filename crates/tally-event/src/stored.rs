//! Reading back events a store wrote itself: structure only, no limit checks.
//!
//! Rows in a store passed [`crate::parse_event`] before they were written, so
//! reading them back skips the limits and the PII scan; the conversion still refuses
//! (with `None`) anything that is not the shape of a record, so a corrupted row is
//! reported by the store instead of becoming a wrong event.

use std::collections::BTreeMap;

use serde_json::Value as Json;

use crate::event::Event;
use crate::ids::{CustomerRef, EventType, RecordId};
use crate::number::exact_decimal;
use crate::time::Timestamp;
use crate::value::{Record, Scalar, Value};

/// A record from its stored JSON object; `None` if it is not a flat record with an id.
pub fn record_from_stored_json(json: &Json) -> Option<Record> {
    let object = json.as_object()?;
    let id = match object.get("id")? {
        Json::String(text) => RecordId::parse(text).ok()?,
        Json::Number(number) => {
            let decimal = exact_decimal(&number.to_string())?;
            if decimal.scale() != 0 {
                return None;
            }
            RecordId::from_integer(decimal.mantissa())
        }
        _ => return None,
    };
    let properties = object
        .iter()
        .map(|(key, value)| Some((key.clone(), stored_value(value)?)))
        .collect::<Option<BTreeMap<String, Value>>>()?;
    Some(Record::from_trusted_parts(id, properties))
}

/// One property value from its stored JSON; `None` if no record could hold it.
pub fn value_from_stored_json(json: &Json) -> Option<Value> {
    stored_value(json)
}

fn stored_value(json: &Json) -> Option<Value> {
    Some(match json {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(number) => Value::Number(exact_decimal(&number.to_string())?),
        Json::String(text) => Value::String(text.clone()),
        Json::Array(items) => Value::Array(items.iter().map(stored_scalar).collect::<Option<_>>()?),
        Json::Object(_) => return None,
    })
}

fn stored_scalar(json: &Json) -> Option<Scalar> {
    Some(match json {
        Json::Bool(b) => Scalar::Bool(*b),
        Json::Number(number) => Scalar::Number(exact_decimal(&number.to_string())?),
        Json::String(text) => Scalar::String(text.clone()),
        Json::Null | Json::Array(_) | Json::Object(_) => return None,
    })
}

impl Event {
    /// An event from a stored row: event type, customer reference, timestamp in
    /// milliseconds and record JSON. `None` when any part is not well formed.
    pub fn from_stored_parts(
        event_type: &str,
        customer: &str,
        timestamp_ms: i64,
        record: &Json,
    ) -> Option<Event> {
        Some(Event {
            event_type: EventType::parse(event_type).ok()?,
            customer: CustomerRef::parse(customer).ok()?,
            timestamp: Timestamp::from_millis(timestamp_ms).ok()?,
            record: record_from_stored_json(record)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn reads_back_what_to_json_wrote() {
        let json = json!({"id": 485, "amount": 12.5, "tags": ["a", 1, true], "gone": null});
        let record = record_from_stored_json(&json).unwrap();
        assert_eq!(record.id().as_str(), "485");
        assert_eq!(record.to_json(), json);
    }

    #[test]
    fn refuses_what_is_not_a_record() {
        assert!(record_from_stored_json(&json!({"amount": 1})).is_none());
        assert!(record_from_stored_json(&json!({"id": 1.5})).is_none());
        assert!(record_from_stored_json(&json!({"id": 1, "a": {"b": 1}})).is_none());
        assert!(record_from_stored_json(&json!({"id": 1, "a": [null]})).is_none());
        assert!(record_from_stored_json(&json!([1])).is_none());
    }

    #[test]
    fn event_from_parts() {
        let event =
            Event::from_stored_parts("api_call", "cus_1", 1_734_710_651_000, &json!({"id": "x"}));
        assert_eq!(
            event.unwrap().timestamp.to_rfc3339(),
            "2024-12-20T16:04:11.000Z"
        );
        assert!(Event::from_stored_parts("bad type", "cus_1", 0, &json!({"id": "x"})).is_none());
    }
}
