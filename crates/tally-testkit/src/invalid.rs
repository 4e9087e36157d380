//! Events with exactly one rule of docs/events.md broken, and the code it must give.

use proptest::prelude::*;
use proptest::strategy::Union;
use serde_json::{Value as Json, json};
use tally_event::{
    ErrorCode, MAX_ARRAY_ITEMS, MAX_EVENT_BYTES, MAX_EVENT_TYPE_CHARS, MAX_ID_CHARS, MAX_KEY_CHARS,
    MAX_PROPERTIES, MAX_STRING_BYTES, PiiPolicy, SECONDS_HINT_BELOW_MS,
};

use crate::event::{EventConfig, MAX_MS, valid_event};
use crate::record::RecordConfig;

/// The codes [`invalid_event`] can expect under `config`: every code `parse_event`
/// reports except `malformed_json` (a `serde_json::Value` is always JSON; only
/// `parse_event_bytes` sees bad bytes), `timestamp_in_future` only when the future
/// check is on and `pii_detected` only under the `reject` policy.
///
/// ```
/// use tally_event::{ErrorCode, PiiPolicy};
/// use tally_testkit::{EventConfig, invalid_codes};
///
/// let mut config = EventConfig::default();
/// assert!(!invalid_codes(&config).contains(&ErrorCode::PiiDetected));
/// config.validation.pii_policy = PiiPolicy::Reject;
/// assert!(invalid_codes(&config).contains(&ErrorCode::PiiDetected));
/// ```
pub fn invalid_codes(config: &EventConfig) -> Vec<ErrorCode> {
    ErrorCode::ALL
        .into_iter()
        .filter(|code| match code {
            ErrorCode::MalformedJson => false,
            ErrorCode::TimestampInFuture => future_range(config).is_some(),
            ErrorCode::PiiDetected => config.validation.pii_policy == PiiPolicy::Reject,
            _ => true,
        })
        .collect()
}

/// Events that break one rule of docs/events.md and are otherwise valid under `config`,
/// with the code the validator must report: every error `parse_event` returns for
/// the event has that code. Every code of [`invalid_codes`] is reached, most
/// through several rules (`required` for each required field, `invalid_type` for
/// each wrongly typed one, and so on).
///
/// ```
/// use proptest::prelude::*;
/// use tally_event::parse_event;
/// use tally_testkit::{EventConfig, invalid_event};
///
/// let config = EventConfig::default();
/// proptest!(|((json, code) in invalid_event(&config))| {
///     let errors = parse_event(&json, &config.validation, config.now).unwrap_err();
///     prop_assert!(errors.iter().any(|error| error.code == code));
/// });
/// ```
pub fn invalid_event(config: &EventConfig) -> BoxedStrategy<(Json, ErrorCode)> {
    let small = EventConfig {
        record: RecordConfig {
            max_extra_properties: config.record.max_extra_properties.min(5),
            max_bytes: 4096,
            ..config.record.clone()
        },
        ..config.clone()
    };
    let base = valid_event(&small).prop_map(|valid| valid.json).boxed();
    let mut arms: Vec<BoxedStrategy<(Json, ErrorCode)>> = vec![
        too_large(base.clone()),
        invalid_type(base.clone()),
        unknown_field(base.clone()),
        required(base.clone()),
        empty(base.clone()),
        too_long(base.clone()),
        invalid_characters(base.clone()),
        invalid_timestamp(base.clone()),
        timestamp_in_seconds(base.clone()),
        timestamp_out_of_range(base.clone()),
        too_many_properties(base.clone()),
        invalid_key(base.clone()),
        string_too_long(base.clone()),
        array_too_long(base.clone()),
        nested(base.clone()),
        number_out_of_range(base.clone()),
    ];
    if let Some((from, to)) = future_range(config) {
        arms.push(
            (base.clone(), from..=to)
                .prop_map(|(mut event, ms)| {
                    event["timestamp"] = Json::from(ms);
                    (event, ErrorCode::TimestampInFuture)
                })
                .boxed(),
        );
    }
    if config.validation.pii_policy == PiiPolicy::Reject {
        arms.push(pii(base));
    }
    Union::new(arms).boxed()
}

/// Instants after `now` + skew that are still in the year range, if any.
fn future_range(config: &EventConfig) -> Option<(i64, i64)> {
    let skew = i64::try_from(config.validation.max_future_skew_ms).ok()?;
    if skew == 0 {
        return None;
    }
    let first = config.now.as_millis().checked_add(skew)?.checked_add(1)?;
    let first = first.max(SECONDS_HINT_BELOW_MS);
    (first <= MAX_MS).then_some((first, MAX_MS))
}

fn record(event: &mut Json) -> &mut serde_json::Map<String, Json> {
    match &mut event["record"] {
        Json::Object(record) => record,
        _ => unreachable!("a valid event's record is an object"),
    }
}

/// Sets `record[key]`, after removing one other property if the record is full.
fn set_property(event: &mut Json, key: &str, value: Json) {
    let record = record(event);
    if !record.contains_key(key) && record.len() >= MAX_PROPERTIES {
        let other = record.keys().find(|k| k.as_str() != "id").cloned();
        if let Some(other) = other {
            record.remove(&other);
        }
    }
    record.insert(key.to_owned(), value);
}

fn set_id(event: &mut Json, id: Json) {
    record(event).insert("id".to_owned(), id);
}

/// A JSON number with exactly this text (serde_json's `arbitrary_precision`, which
/// Tally enables, keeps numbers as their text).
fn number(text: &str) -> Json {
    serde_json::from_str(text).expect("a JSON number")
}

/// A property key no record of the base can have (arbitrary keys are shorter).
const BROKEN: &str = "broken_property_of_the_testkit";

type Case = BoxedStrategy<(Json, ErrorCode)>;

fn too_large(base: BoxedStrategy<Json>) -> Case {
    // Nine strings at the limit are over 64 KiB together; each is valid alone.
    let count = MAX_EVENT_BYTES / MAX_STRING_BYTES + 1;
    (base, 0..count)
        .prop_map(move |(mut event, extra)| {
            for index in 0..count + extra {
                let key = format!("{BROKEN}_{index}");
                set_property(&mut event, &key, Json::String("a".repeat(MAX_STRING_BYTES)));
            }
            (event, ErrorCode::EventTooLarge)
        })
        .boxed()
}

fn invalid_type(base: BoxedStrategy<Json>) -> Case {
    let wrong = prop::sample::select(vec![json!(7), json!(true), json!([]), json!({"a": 1})]);
    let place = 0_u8..8;
    (base, wrong, place)
        .prop_map(|(mut event, wrong, place)| {
            match place {
                0 => event = json!([event]),
                1 => event["customer_id"] = wrong,
                2 => event["event_type"] = wrong,
                3 if !wrong.is_number() => event["timestamp"] = wrong,
                3 => event["timestamp"] = json!(false),
                4 => event["record"] = json!([wrong]),
                5 => set_id(&mut event, json!(1.5)),
                6 => set_id(&mut event, json!([1])),
                _ => set_property(&mut event, BROKEN, json!([1, null])),
            }
            (event, ErrorCode::InvalidType)
        })
        .boxed()
}

fn unknown_field(base: BoxedStrategy<Json>) -> Case {
    (base, "[a-z_]{1,12}", any::<bool>())
        .prop_filter("not a known field", |(_, key, _)| {
            !["customer_id", "event_type", "timestamp", "record"].contains(&key.as_str())
        })
        .prop_map(|(mut event, key, value)| {
            event[key.as_str()] = json!(value);
            (event, ErrorCode::UnknownField)
        })
        .boxed()
}

fn required(base: BoxedStrategy<Json>) -> Case {
    let field = prop::sample::select(vec![
        "customer_id",
        "event_type",
        "timestamp",
        "record",
        "id",
    ]);
    (base, field, any::<bool>())
        .prop_map(|(mut event, field, as_null)| {
            let target = match field {
                "id" => record(&mut event),
                _ => event.as_object_mut().expect("an event is an object"),
            };
            if as_null {
                target.insert(field.to_owned(), Json::Null);
            } else {
                target.remove(field);
            }
            (event, ErrorCode::Required)
        })
        .boxed()
}

fn empty(base: BoxedStrategy<Json>) -> Case {
    let field = prop::sample::select(vec!["customer_id", "event_type", "id"]);
    (base, field)
        .prop_map(|(mut event, field)| {
            match field {
                "id" => set_id(&mut event, json!("")),
                _ => event[field] = json!(""),
            }
            (event, ErrorCode::Empty)
        })
        .boxed()
}

fn too_long(base: BoxedStrategy<Json>) -> Case {
    (base, 0_u8..3, 1_usize..=40)
        .prop_map(|(mut event, field, over)| {
            match field {
                0 => event["customer_id"] = json!("c".repeat(MAX_ID_CHARS + over)),
                1 => event["event_type"] = json!("t".repeat(MAX_EVENT_TYPE_CHARS + over)),
                _ => set_id(&mut event, json!("i".repeat(MAX_ID_CHARS + over))),
            }
            (event, ErrorCode::TooLong)
        })
        .boxed()
}

fn invalid_characters(base: BoxedStrategy<Json>) -> Case {
    let bad = prop::sample::select(vec![' ', '/', '@', 'é', '#', '\u{0}']);
    (base, bad, 0_u8..5)
        .prop_map(|(mut event, bad, place)| {
            match place {
                0 => event["event_type"] = json!(format!("api{bad}call")),
                1 => event["customer_id"] = json!("cus\u{0}1"),
                2 => set_id(&mut event, json!("r\u{0}1")),
                3 => set_property(&mut event, BROKEN, json!("a\u{0}b")),
                _ => set_property(&mut event, BROKEN, json!(["ok", "a\u{0}b"])),
            }
            (event, ErrorCode::InvalidCharacters)
        })
        .boxed()
}

fn invalid_timestamp(base: BoxedStrategy<Json>) -> Case {
    let wrong = prop::sample::select(vec![
        json!("yesterday"),
        json!(""),
        json!("2024-13-01T00:00:00Z"),
        json!("2024-02-30 10:00:00"),
        json!("2024-12-20"),
        json!("20/12/2024 16:04"),
        json!(1_734_710_651_000.5),
        number("1.7e12"),
    ]);
    (base, wrong)
        .prop_map(|(mut event, wrong)| {
            event["timestamp"] = wrong;
            (event, ErrorCode::InvalidTimestamp)
        })
        .boxed()
}

fn timestamp_in_seconds(base: BoxedStrategy<Json>) -> Case {
    (base, 0..SECONDS_HINT_BELOW_MS)
        .prop_map(|(mut event, seconds)| {
            event["timestamp"] = json!(seconds);
            (event, ErrorCode::TimestampInSeconds)
        })
        .boxed()
}

fn timestamp_out_of_range(base: BoxedStrategy<Json>) -> Case {
    let wrong = prop_oneof![
        (1900_i32..=1969).prop_map(|year| json!(format!("{year}-06-15T12:00:00Z"))),
        Just(json!("1969-12-31 23:59:59.999")),
        (i64::MIN..0).prop_map(Json::from),
        (MAX_MS + 1..=i64::MAX).prop_map(Json::from),
    ];
    (base, wrong)
        .prop_map(|(mut event, wrong)| {
            event["timestamp"] = wrong;
            (event, ErrorCode::TimestampOutOfRange)
        })
        .boxed()
}

fn too_many_properties(base: BoxedStrategy<Json>) -> Case {
    (base, MAX_PROPERTIES + 1..=MAX_PROPERTIES + 15)
        .prop_map(|(mut event, count)| {
            let record = record(&mut event);
            let mut index = 0;
            while record.len() < count {
                record.insert(format!("{BROKEN}_{index}"), json!(index));
                index += 1;
            }
            (event, ErrorCode::TooManyProperties)
        })
        .boxed()
}

fn invalid_key(base: BoxedStrategy<Json>) -> Case {
    let key = prop_oneof![
        Just(String::new()),
        (1_usize..=20).prop_map(|over| "k".repeat(MAX_KEY_CHARS + over)),
        Just("a\u{0}b".to_owned()),
    ];
    (base, key, any::<i32>())
        .prop_map(|(mut event, key, value)| {
            set_property(&mut event, &key, json!(value));
            (event, ErrorCode::InvalidKey)
        })
        .boxed()
}

fn string_too_long(base: BoxedStrategy<Json>) -> Case {
    (base, 1_usize..=1024, any::<bool>())
        .prop_map(|(mut event, over, in_array)| {
            let text = json!("s".repeat(MAX_STRING_BYTES + over));
            let value = if in_array { json!(["ok", text]) } else { text };
            set_property(&mut event, BROKEN, value);
            (event, ErrorCode::StringTooLong)
        })
        .boxed()
}

fn array_too_long(base: BoxedStrategy<Json>) -> Case {
    (base, 1_usize..=64)
        .prop_map(|(mut event, over)| {
            let items: Vec<Json> = (0..MAX_ARRAY_ITEMS + over).map(|n| json!(n % 10)).collect();
            set_property(&mut event, BROKEN, Json::Array(items));
            (event, ErrorCode::ArrayTooLong)
        })
        .boxed()
}

fn nested(base: BoxedStrategy<Json>) -> Case {
    let shape = prop::sample::select(vec![
        (json!({}), ErrorCode::NestedObject),
        (json!({"street": "Main"}), ErrorCode::NestedObject),
        (json!([1, {"a": 1}]), ErrorCode::ArrayOfObjects),
        (json!([{}]), ErrorCode::ArrayOfObjects),
        (json!([[1]]), ErrorCode::NestedArray),
        (json!(["a", []]), ErrorCode::NestedArray),
    ]);
    (base, shape)
        .prop_map(|(mut event, (value, code))| {
            set_property(&mut event, BROKEN, value);
            (event, code)
        })
        .boxed()
}

fn number_out_of_range(base: BoxedStrategy<Json>) -> Case {
    let text = prop::sample::select(vec![
        "1e29",
        "-1e29",
        "1e-29",
        "79228162514264337593543950336",
        "0.00000000000000000000000000001",
        "1e400",
    ]);
    (base, text, 0_u8..3)
        .prop_map(|(mut event, text, place)| {
            let value = number(text);
            match place {
                0 => set_property(&mut event, BROKEN, value),
                1 => set_property(&mut event, BROKEN, json!([1, value])),
                _ => set_id(&mut event, number("100000000000000000000000000000")),
            }
            (event, ErrorCode::NumberOutOfRange)
        })
        .boxed()
}

fn pii(base: BoxedStrategy<Json>) -> Case {
    let text = prop::sample::select(vec![
        "write to jane.doe@example.com",
        "4111 1111 1111 1111",
        "GB82 WEST 1234 5698 7654 32",
        "call +33612345678",
    ]);
    (base, text, any::<bool>())
        .prop_map(|(mut event, text, in_array)| {
            let value = if in_array { json!([text]) } else { json!(text) };
            set_property(&mut event, BROKEN, value);
            (event, ErrorCode::PiiDetected)
        })
        .boxed()
}
