//! Property tests: validation never panics, valid events round-trip, ids normalize.

use std::str::FromStr;

use proptest::prelude::*;
use serde_json::Value as Json;
use tally_event::{ValidationConfig, parse_event, parse_event_bytes};
use tally_testkit::{EventConfig, valid_event};

use crate::support::now;

/// Number texts of every shape JSON allows, including far beyond a Decimal.
fn number_text() -> impl Strategy<Value = String> {
    "-?(0|[1-9][0-9]{0,40})(\\.[0-9]{1,40})?([eE][+-]?[0-9]{1,25})?"
}

fn json_number() -> impl Strategy<Value = Json> {
    number_text().prop_filter_map("a JSON number", |text| {
        serde_json::Number::from_str(&text).ok().map(Json::Number)
    })
}

fn json_leaf() -> impl Strategy<Value = Json> {
    prop_oneof![
        Just(Json::Null),
        any::<bool>().prop_map(Json::Bool),
        json_number(),
        any::<i64>().prop_map(Json::from),
        any::<String>().prop_map(Json::String),
        "[0-9 +().-]{0,24}".prop_map(Json::String),
    ]
}

/// Arbitrary JSON, nested up to 8 levels deep.
fn any_json() -> impl Strategy<Value = Json> {
    json_leaf().prop_recursive(8, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Json::Array),
            prop::collection::btree_map(any::<String>(), inner, 0..8)
                .prop_map(|map| Json::Object(map.into_iter().collect())),
        ]
    })
}

/// Event-shaped JSON whose fields hold arbitrary values, so every rule is reached.
fn event_shaped_json() -> impl Strategy<Value = Json> {
    let field = || prop_oneof![any_json(), json_leaf()];
    let record = prop::collection::btree_map(
        prop_oneof![Just("id".to_owned()), "[a-z]{0,3}", any::<String>()],
        any_json(),
        0..30,
    );
    (field(), field(), field(), record, any::<bool>()).prop_map(
        |(customer, event_type, timestamp, record, extra)| {
            let mut event = serde_json::Map::new();
            event.insert("customer_id".into(), customer);
            event.insert("event_type".into(), event_type);
            event.insert("timestamp".into(), timestamp);
            event.insert("record".into(), Json::Object(record.into_iter().collect()));
            if extra {
                event.insert("extra".into(), Json::Null);
            }
            Json::Object(event)
        },
    )
}

/// Events of every shape, timestamps up to the tests' `now` and its allowed skew.
fn events_until_now() -> EventConfig {
    EventConfig {
        now: now(),
        ..EventConfig::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn no_json_value_panics(json in any_json()) {
        let config = ValidationConfig::default();
        let _ = parse_event(&json, &config, now());
        let bytes = serde_json::to_vec(&json).unwrap();
        let _ = parse_event_bytes(&bytes, &config, now());
    }

    #[test]
    fn no_event_shaped_value_panics(json in event_shaped_json(), reject in any::<bool>()) {
        let mut config = ValidationConfig::default();
        if reject {
            config.pii_policy = tally_event::PiiPolicy::Reject;
        }
        let result = parse_event(&json, &config, now());
        if let Err(errors) = result {
            prop_assert!(!errors.is_empty());
        }
    }

    #[test]
    fn no_bytes_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse_event_bytes(&bytes, &ValidationConfig::default(), now());
    }

    #[test]
    fn masking_never_panics(text in any::<String>(), digits in "[0-9 +@.()a-z-]{0,64}") {
        let _ = tally_event::pii::mask_pii(&text);
        let masked = tally_event::pii::mask_pii(&digits).into_owned();
        prop_assert!(tally_event::pii::find_pii(&masked).is_empty());
    }

    #[test]
    fn valid_events_round_trip(valid in valid_event(&events_until_now())) {
        // the generated wire form (any timestamp form) and the canonical one
        for json in [valid.json.clone(), valid.event.to_json()] {
            let parsed = parse_event(&json, &ValidationConfig::default(), now());
            prop_assert!(parsed.is_ok(), "{:?}", parsed.err());
            let parsed = parsed.unwrap().event;
            prop_assert_eq!(&parsed, &valid.event);
            prop_assert_eq!(parsed.key(), valid.event.key());
        }
    }

    #[test]
    fn integer_and_string_ids_give_the_same_key(id in any::<i64>()) {
        let event = |record_id: Json| serde_json::json!({
            "customer_id": "cus_1",
            "event_type": "api_call",
            "timestamp": "2024-12-20T16:04:11Z",
            "record": {"id": record_id},
        });
        let config = ValidationConfig::default();
        let integer = parse_event(&event(Json::from(id)), &config, now()).unwrap();
        let string = parse_event(&event(Json::from(id.to_string())), &config, now()).unwrap();
        prop_assert_eq!(integer.event.key(), string.event.key());
    }
}
