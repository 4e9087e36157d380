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
