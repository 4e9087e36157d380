//! Helpers shared by the test modules.

use std::path::PathBuf;

use tally_event::{
    ErrorCode, ParsedEvent, Timestamp, ValidationConfig, ValidationError, parse_event,
};

/// The tests' "now": 2025-01-01T00:00:00Z.
pub fn now() -> Timestamp {
    Timestamp::from_millis(1_735_689_600_000).unwrap()
}

pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/events")
}

/// Parses with the default configuration and the tests' `now`.
pub fn parse(json: &serde_json::Value) -> Result<ParsedEvent, Vec<ValidationError>> {
    parse_event(json, &ValidationConfig::default(), now())
}

/// The codes of a failed parse, in order; panics if the event was accepted.
pub fn codes(result: Result<ParsedEvent, Vec<ValidationError>>) -> Vec<ErrorCode> {
    match result {
        Ok(parsed) => panic!("expected errors, got {:?}", parsed.event),
        Err(errors) => errors.into_iter().map(|error| error.code).collect(),
    }
}

/// A valid event to start from: seed 001's transaction.
pub fn base_event() -> serde_json::Value {
    serde_json::json!({
        "customer_id": "cus_fh4585Jjrekkk",
        "timestamp": "2022-01-05 21:56:52",
        "event_type": "new_transaction",
        "record": {"id": 485, "amount": 2500}
    })
}

/// `base_event` with `record` replaced.
pub fn with_record(record: serde_json::Value) -> serde_json::Value {
    let mut event = base_event();
    event["record"] = record;
    event
}
