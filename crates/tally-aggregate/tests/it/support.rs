//! Building events, definitions and periods from JSON, as the fixtures write them.

use std::collections::BTreeMap;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde_json::Value as Json;
use tally_aggregate::{Aggregator, AggregatorDef};
use tally_event::{
    CustomerRef, Event, EventType, Period, Record, RecordId, Scalar, Timestamp, Value,
};

pub fn dec(text: &str) -> Decimal {
    Decimal::from_str(text).unwrap()
}

pub fn at(text: &str) -> Timestamp {
    Timestamp::parse(text).unwrap()
}

pub fn period(start: &str, end: &str) -> Period {
    Period::new(at(start), at(end)).unwrap()
}

fn number(n: &serde_json::Number) -> Decimal {
    let text = n.to_string();
    Decimal::from_str_exact(&text)
        .or_else(|_| Decimal::from_scientific(&text))
        .unwrap()
}

fn scalar(json: &Json) -> Scalar {
    match json {
        Json::Bool(b) => Scalar::Bool(*b),
        Json::Number(n) => Scalar::Number(number(n)),
        Json::String(s) => Scalar::String(s.clone()),
        other => panic!("not a scalar: {other}"),
    }
}

pub fn value(json: &Json) -> Value {
    match json {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => Value::Number(number(n)),
        Json::String(s) => Value::String(s.clone()),
        Json::Array(items) => Value::Array(items.iter().map(scalar).collect()),
        Json::Object(_) => panic!("records are flat"),
    }
}

/// A record from a JSON object; `id` (string or integer) is required.
pub fn record(json: &Json) -> Record {
    let object = json.as_object().expect("record is an object");
    let id = match &object["id"] {
        Json::String(s) => RecordId::parse(s).unwrap(),
        Json::Number(n) => RecordId::from_integer(n.to_string().parse().unwrap()),
        other => panic!("bad id {other}"),
    };
    let properties: BTreeMap<String, Value> =
        object.iter().map(|(k, v)| (k.clone(), value(v))).collect();
    Record::from_trusted_parts(id, properties)
}

pub fn event(event_type: &str, timestamp: &str, record_json: Json) -> Event {
    Event {
        event_type: EventType::parse(event_type).unwrap(),
        customer: CustomerRef::parse("cus_test").unwrap(),
        timestamp: at(timestamp),
        record: record(&record_json),
    }
}

/// An event in the wire form of docs/events.md.
pub fn wire_event(json: &Json) -> Event {
    let mut event = event(
        json["event_type"].as_str().unwrap(),
        json["timestamp"].as_str().unwrap(),
        json["record"].clone(),
    );
    if let Some(customer) = json.get("customer_id").and_then(Json::as_str) {
        event.customer = CustomerRef::parse(customer).unwrap();
    }
    event
}

pub fn def(json: Json) -> AggregatorDef {
    serde_json::from_value(json).unwrap()
}

pub fn aggregator(json: Json) -> Aggregator {
    Aggregator::compile(&def(json)).unwrap()
}
