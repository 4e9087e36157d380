//! Valid records and events parse, and parse back to what was generated.

use proptest::prelude::*;
use tally_event::{
    MAX_ARRAY_ITEMS, MAX_EVENT_BYTES, MAX_KEY_CHARS, MAX_PROPERTIES, MAX_STRING_BYTES, PiiPolicy,
    ValidationConfig, Value, parse_event,
};
use tally_testkit::{EventConfig, RecordConfig, integer_value, record, valid_event};

fn check(config: &EventConfig, valid: &tally_testkit::ValidEvent) -> Result<(), TestCaseError> {
    let size = serde_json::to_vec(&valid.json).unwrap().len();
    prop_assert!(size <= MAX_EVENT_BYTES, "{size} bytes");
    let parsed = parse_event(&valid.json, &config.validation, config.now);
    prop_assert!(parsed.is_ok(), "{:?}", parsed.err());
    let parsed = parsed.unwrap();
    prop_assert_eq!(&parsed.event, &valid.event);
    // the record round-trips through its JSON
    prop_assert_eq!(parsed.event.record.to_json(), valid.json["record"].clone());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn every_valid_event_parses_to_its_event(valid in valid_event(&EventConfig::default())) {
        check(&EventConfig::default(), &valid)?;
    }

    #[test]
    fn records_respect_every_limit(record in record()) {
        prop_assert!((1..=MAX_PROPERTIES).contains(&record.len()));
        for (key, value) in record.properties() {
            prop_assert!((1..=MAX_KEY_CHARS).contains(&key.chars().count()));
            match value {
                Value::String(text) => prop_assert!(text.len() <= MAX_STRING_BYTES),
                Value::Array(items) => prop_assert!(items.len() <= MAX_ARRAY_ITEMS),
                _ => {}
            }
        }
    }
}

fn reject_config() -> EventConfig {
    EventConfig {
        event_types: vec!["api_call".into(), "seats".into()],
        customers: vec!["cus_1".into(), "acme".into()],
        validation: ValidationConfig {
            max_future_skew_ms: 0,
            pii_policy: PiiPolicy::Reject,
        },
        record: RecordConfig {
            properties: vec![("amount".into(), integer_value(0..=10_000))],
            ..RecordConfig::default()
        },
        ..EventConfig::default()
    }
}

proptest! {
    #[test]
    fn configured_events_parse_under_the_reject_policy(valid in valid_event(&reject_config())) {
        let config = reject_config();
        check(&config, &valid)?;
        prop_assert!(config.event_types.contains(&valid.event.event_type.as_str().to_owned()));
        prop_assert!(config.customers.contains(&valid.event.customer.as_str().to_owned()));
        prop_assert!(valid.event.record.get("amount").and_then(Value::as_decimal).is_some());
    }

    #[test]
    fn timestamps_stay_within_the_range_and_the_skew(valid in valid_event(&EventConfig::default())) {
        let config = EventConfig::default();
        prop_assert!(valid.event.timestamp >= config.from);
        prop_assert!(valid.event.timestamp <= config.latest());
    }
}

#[test]
fn the_masking_policy_leaves_generated_events_unchanged() {
    let config = EventConfig {
        validation: ValidationConfig {
            pii_policy: PiiPolicy::Mask,
            ..ValidationConfig::default()
        },
        ..EventConfig::default()
    };
    let mut runner = proptest::test_runner::TestRunner::default();
    runner
        .run(&valid_event(&config), |valid| check(&config, &valid))
        .unwrap();
}

/// The written form of a generated timestamp.
fn form(json: &serde_json::Value) -> &'static str {
    let Some(text) = json.as_str() else {
        return "epoch milliseconds";
    };
    let fraction = text
        .split_once('.')
        .map(|(_, rest)| rest.trim_end_matches('Z'));
    match (text.contains(' '), text.ends_with('Z'), fraction) {
        (true, _, _) => "naive with a space",
        (false, true, None) => "rfc 3339 z, whole seconds",
        (false, true, Some(digits)) if digits.len() > 3 => "rfc 3339 z, sub-millisecond digits",
        (false, true, Some(_)) => "rfc 3339 z, milliseconds",
        (false, false, _) if text[10..].contains(['+', '-']) => "rfc 3339 with an offset",
        (false, false, _) => "naive with a t",
    }
}

#[test]
fn every_timestamp_form_is_generated() {
    use proptest::strategy::ValueTree;

    let config = EventConfig::default();
    let strategy = tally_testkit::timestamp(&config);
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let forms: std::collections::BTreeSet<&str> = (0..500)
        .map(|_| form(&strategy.new_tree(&mut runner).unwrap().current().1))
        .collect();
    assert_eq!(forms.len(), 7, "{forms:?}");
}

#[test]
fn records_reach_every_limit() {
    use proptest::strategy::ValueTree;

    let strategy = record();
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let (mut properties, mut key_chars, mut string_bytes, mut items) = (0, 0, 0, 0);
    for _ in 0..2000 {
        let record = strategy.new_tree(&mut runner).unwrap().current();
        properties = properties.max(record.len());
        for (key, value) in record.properties() {
            key_chars = key_chars.max(key.chars().count());
            match value {
                Value::String(text) => string_bytes = string_bytes.max(text.len()),
                Value::Array(array) => items = items.max(array.len()),
                _ => {}
            }
        }
    }
    assert_eq!(properties, MAX_PROPERTIES);
    assert_eq!(key_chars, MAX_KEY_CHARS);
    assert_eq!(string_bytes, MAX_STRING_BYTES);
    assert_eq!(items, MAX_ARRAY_ITEMS);
}
