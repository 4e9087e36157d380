//! Rules that fixture files express poorly: sizes, boundaries, configuration,
//! policies and raw bytes.

use serde_json::json;
use tally_event::{
    ErrorCode, MAX_ARRAY_ITEMS, MAX_EVENT_BYTES, MAX_KEY_CHARS, MAX_PROPERTIES, MAX_STRING_BYTES,
    PiiKind, PiiPolicy, PiiWarning, RecordId, Timestamp, ValidationConfig, Value, parse_event,
    parse_event_bytes, pii,
};

use crate::support::{base_event, codes, now, parse, with_record};

#[test]
fn event_over_64_kib_is_refused_alone() {
    // Strings of 8 KiB in nine properties: each is legal, the event is not.
    let mut record = serde_json::Map::new();
    record.insert("id".into(), json!(1));
    for i in 0..9 {
        record.insert(format!("s{i}"), json!("x".repeat(MAX_STRING_BYTES)));
    }
    let event = with_record(serde_json::Value::Object(record));
    let errors = parse(&event).unwrap_err();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].code, ErrorCode::EventTooLarge);
    assert_eq!(errors[0].path, "");

    let bytes = serde_json::to_vec(&event).unwrap();
    assert!(bytes.len() > MAX_EVENT_BYTES);
    let errors = parse_event_bytes(&bytes, &ValidationConfig::default(), now()).unwrap_err();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].code, ErrorCode::EventTooLarge);
}

#[test]
fn raw_size_is_checked_before_syntax() {
    let mut bytes = b"{\"customer_id\": \"".to_vec();
    bytes.resize(MAX_EVENT_BYTES + 1, b'x');
    let errors = parse_event_bytes(&bytes, &ValidationConfig::default(), now()).unwrap_err();
    assert_eq!(errors[0].code, ErrorCode::EventTooLarge);
    // One byte less: malformed, not too large.
    bytes.truncate(MAX_EVENT_BYTES);
    let errors = parse_event_bytes(&bytes, &ValidationConfig::default(), now()).unwrap_err();
    assert_eq!(errors[0].code, ErrorCode::MalformedJson);
}

#[test]
fn malformed_json_message_has_line_and_column() {
    let errors = parse_event_bytes(
        b"{\n  \"a\": 1,\n  \"b\" 2\n}",
        &ValidationConfig::default(),
        now(),
    )
    .unwrap_err();
    assert_eq!(errors[0].code, ErrorCode::MalformedJson);
    assert!(
        errors[0]
            .message
            .starts_with("malformed JSON at line 3 column 7: expected `:`"),
        "{}",
        errors[0].message
    );
}

#[test]
fn invalid_utf8_is_malformed_json() {
    let mut bytes = serde_json::to_vec(&base_event()).unwrap();
    let at = bytes.iter().position(|&b| b == b'c').unwrap();
    bytes[at] = 0xff;
    let errors = parse_event_bytes(&bytes, &ValidationConfig::default(), now()).unwrap_err();
    assert_eq!(errors[0].code, ErrorCode::MalformedJson);
}

#[test]
fn limits_are_inclusive() {
    let mut record = serde_json::Map::new();
    record.insert("id".into(), json!("r"));
    for i in 1..MAX_PROPERTIES {
        record.insert(format!("p{i}"), json!(i));
    }
    assert!(parse(&with_record(serde_json::Value::Object(record.clone()))).is_ok());
    record.insert("one_more".into(), json!(0));
    assert_eq!(
        codes(parse(&with_record(serde_json::Value::Object(record)))),
        [ErrorCode::TooManyProperties]
    );

    let key = "k".repeat(MAX_KEY_CHARS);
    assert!(parse(&with_record(json!({"id": 1, key: 1}))).is_ok());
    let string = "é".repeat(MAX_STRING_BYTES / 2);
    assert!(parse(&with_record(json!({"id": 1, "s": string}))).is_ok());
    let items = vec![true; MAX_ARRAY_ITEMS];
    assert!(parse(&with_record(json!({"id": 1, "a": items}))).is_ok());
}

#[test]
fn key_length_counts_characters() {
    let key = "é".repeat(MAX_KEY_CHARS);
    assert!(parse(&with_record(json!({"id": 1, key: 1}))).is_ok());
    let key = "é".repeat(MAX_KEY_CHARS + 1);
    assert_eq!(
        codes(parse(&with_record(json!({"id": 1, key: 1})))),
        [ErrorCode::InvalidKey]
    );
}

#[test]
fn future_skew_is_configurable_and_can_be_turned_off() {
    let mut event = base_event();
    event["timestamp"] = json!("2025-01-01T00:00:10Z");
    let strict = ValidationConfig {
        max_future_skew_ms: 10_000,
        ..ValidationConfig::default()
    };
    assert!(parse_event(&event, &strict, now()).is_ok());
    event["timestamp"] = json!("2025-01-01T00:00:10.001Z");
    assert_eq!(
        codes(parse_event(&event, &strict, now())),
        [ErrorCode::TimestampInFuture]
    );
    event["timestamp"] = json!("9999-12-31T23:59:59.999Z");
    let off = ValidationConfig {
        max_future_skew_ms: 0,
        ..ValidationConfig::default()
    };
    assert!(parse_event(&event, &off, now()).is_ok());
}

#[test]
fn seconds_hint_names_the_milliseconds() {
    let mut event = base_event();
    event["timestamp"] = json!(1_641_419_812);
    let errors = parse(&event).unwrap_err();
    assert_eq!(errors[0].code, ErrorCode::TimestampInSeconds);
    assert!(
        errors[0].message.contains("1641419812000"),
        "{}",
        errors[0].message
    );
    event["timestamp"] = json!(1_641_419_812_000_i64);
    assert!(parse(&event).is_ok());
}

#[test]
fn every_timestamp_form_is_the_same_instant() {
    let expected = Timestamp::parse("2024-12-20T16:04:11Z").unwrap();
    for form in [
        json!("2024-12-20T16:04:11Z"),
        json!("2024-12-20T16:04:11.000Z"),
        json!("2024-12-20T17:04:11+01:00"),
        json!("2024-12-20 16:04:11"),
        json!("2024-12-20T16:04:11"),
        json!(1_734_710_651_000_i64),
        // JSON Schema's integers include a zero fraction.
        json!(1_734_710_651_000.0_f64),
    ] {
        let mut event = base_event();
        event["timestamp"] = form.clone();
        assert_eq!(parse(&event).unwrap().event.timestamp, expected, "{form}");
    }
    let mut event = base_event();
    event["timestamp"] = json!(1_734_710_651_000.5_f64);
    assert_eq!(
        parse(&event).unwrap_err()[0].code,
        ErrorCode::InvalidTimestamp,
        "a fraction of a millisecond"
    );
}

#[test]
fn integer_and_string_ids_are_one_key() {
    let integer = parse(&with_record(json!({"id": 485}))).unwrap().event;
    let string = parse(&with_record(json!({"id": "485"}))).unwrap().event;
    assert_eq!(integer.key(), string.key());
    assert_eq!(integer.record.id(), &RecordId::from_integer(485));
    // The id property keeps the type it was sent with, so the record round-trips.
    assert_eq!(integer.record.get("id"), Some(&Value::Number(485.into())));
    assert_eq!(string.record.get("id"), Some(&Value::String("485".into())));
}

fn pii_event() -> serde_json::Value {
    with_record(json!({
        "id": "john@example.com",
        "email": "lucas.carter@yourcompany.com",
        "tags": ["vip", "4111 1111 1111 1111"],
        "amount": 12
    }))
}

fn config(pii_policy: PiiPolicy) -> ValidationConfig {
    ValidationConfig {
        pii_policy,
        ..ValidationConfig::default()
    }
}

#[test]
fn pii_warn_lists_and_keeps() {
    let parsed = parse_event(&pii_event(), &config(PiiPolicy::Warn), now()).unwrap();
    let expected = [
        PiiWarning {
            path: "/record/email".into(),
            kind: PiiKind::Email,
        },
        PiiWarning {
            path: "/record/tags/1".into(),
            kind: PiiKind::CardNumber,
        },
    ];
    assert_eq!(parsed.warnings, expected);
    assert_eq!(
        parsed.event.record.get("email").and_then(Value::as_str),
        Some("lucas.carter@yourcompany.com")
    );
    assert_eq!(pii::scan_record(&parsed.event.record), expected);
}

#[test]
fn pii_mask_rewrites_strings_but_not_the_id() {
    let parsed = parse_event(&pii_event(), &config(PiiPolicy::Mask), now()).unwrap();
    assert_eq!(parsed.warnings.len(), 2);
    let record = &parsed.event.record;
    assert_eq!(
        record.get("email").and_then(Value::as_str),
        Some("l***.c***@yourcompany.com")
    );
    assert_eq!(
        record.get("tags").map(Value::to_json),
        Some(json!(["vip", "4*** **** **** ****"]))
    );
    assert_eq!(record.id().as_str(), "john@example.com");
    assert!(pii::scan_record(record).is_empty());
}

#[test]
fn pii_reject_and_off() {
    let errors = parse_event(&pii_event(), &config(PiiPolicy::Reject), now()).unwrap_err();
    let paths: Vec<&str> = errors.iter().map(|error| error.path.as_str()).collect();
    assert_eq!(paths, ["/record/email", "/record/tags/1"]);
    assert!(
        errors
            .iter()
            .all(|error| error.code == ErrorCode::PiiDetected)
    );
    let parsed = parse_event(&pii_event(), &config(PiiPolicy::Off), now()).unwrap();
    assert!(parsed.warnings.is_empty());
}

#[test]
fn pii_reject_reports_alongside_other_errors() {
    let mut event = pii_event();
    event["event_type"] = json!("");
    let found = codes(parse_event(&event, &config(PiiPolicy::Reject), now()));
    assert_eq!(
        found,
        [
            ErrorCode::Empty,
            ErrorCode::PiiDetected,
            ErrorCode::PiiDetected
        ]
    );
}

#[test]
fn paths_escape_json_pointer_characters() {
    let errors = parse(&with_record(json!({"id": 1, "a/b~c": {"x": 1}}))).unwrap_err();
    assert_eq!(errors[0].path, "/record/a~1b~0c");
}

#[test]
fn config_deserializes_with_defaults() {
    let config: ValidationConfig = serde_json::from_value(json!({"pii_policy": "mask"})).unwrap();
    assert_eq!(config.pii_policy, PiiPolicy::Mask);
    assert_eq!(config.max_future_skew_ms, 86_400_000);
}
