//! Table-driven tests over `fixtures/events/{valid,invalid}/*.json`.
//!
//! Valid files are events that must parse. Invalid files are
//! `{"description", "config"?, "event" | "raw", "expected_codes"}`: `raw` is the body
//! as text (for malformed JSON and numbers no JSON library round-trips), `config` a
//! `ValidationConfig` overriding the defaults. Each invalid file is checked against its
//! expected codes and against an insta snapshot of its full error list.

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;

use serde::Deserialize;
use tally_event::{
    ErrorCode, ParsedEvent, PiiWarning, ValidationConfig, ValidationError, parse_event,
    parse_event_bytes,
};

use crate::support::{fixtures_dir, now};

#[derive(Deserialize)]
struct InvalidCase {
    #[allow(dead_code)] // documentation for the reader of the fixture
    description: String,
    #[serde(default)]
    config: ValidationConfig,
    event: Option<serde_json::Value>,
    raw: Option<String>,
    expected_codes: Vec<ErrorCode>,
}

fn json_files(folder: &str) -> Vec<(String, PathBuf)> {
    let mut files: Vec<(String, PathBuf)> = fs::read_dir(fixtures_dir().join(folder))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .map(|path| {
            (
                path.file_stem().unwrap().to_string_lossy().into_owned(),
                path,
            )
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no fixtures in {folder}");
    files
}

#[test]
fn valid_fixtures_parse_and_round_trip() {
    let mut warnings: BTreeMap<String, Vec<PiiWarning>> = BTreeMap::new();
    for (name, path) in json_files("valid") {
        let bytes = fs::read(&path).unwrap();
        let parsed: ParsedEvent = parse_event_bytes(&bytes, &ValidationConfig::default(), now())
            .unwrap_or_else(|errors| panic!("{name}: {errors:#?}"));
        let again = parse_event(&parsed.event.to_json(), &ValidationConfig::default(), now())
            .unwrap_or_else(|errors| panic!("{name} round trip: {errors:#?}"));
        assert_eq!(again.event, parsed.event, "{name}");
        if !parsed.warnings.is_empty() {
            warnings.insert(name, parsed.warnings);
        }
    }
    insta::assert_json_snapshot!("valid_fixture_pii_warnings", warnings);
}

#[test]
fn invalid_fixtures_report_their_codes() {
    for (name, path) in json_files("invalid") {
        let case: InvalidCase = serde_json::from_slice(&fs::read(&path).unwrap())
            .unwrap_or_else(|error| panic!("{name}: bad fixture: {error}"));
        let errors = run(&name, &case);
        let mut actual: Vec<ErrorCode> = errors.iter().map(|error| error.code).collect();
        let mut expected = case.expected_codes.clone();
        actual.sort_by_key(|code| code.as_str());
        expected.sort_by_key(|code| code.as_str());
        assert_eq!(actual, expected, "{name}: {errors:#?}");
        for error in &errors {
            assert_message_style(&name, error);
        }
        insta::assert_json_snapshot!(name.as_str(), errors);
    }
}

fn run(name: &str, case: &InvalidCase) -> Vec<ValidationError> {
    let result = match (&case.event, &case.raw) {
        (Some(event), None) => parse_event(event, &case.config, now()),
        (None, Some(raw)) => parse_event_bytes(raw.as_bytes(), &case.config, now()),
        _ => panic!("{name}: a fixture has exactly one of event and raw"),
    };
    match result {
        Ok(parsed) => panic!("{name}: accepted: {:?}", parsed.event),
        Err(errors) => errors,
    }
}

/// Messages are lowercase, without a trailing period; paths are JSON pointers.
fn assert_message_style(name: &str, error: &ValidationError) {
    let first = error.message.chars().next().unwrap();
    assert!(!first.is_uppercase(), "{name}: {}", error.message);
    assert!(!error.message.ends_with('.'), "{name}: {}", error.message);
    assert!(
        error.path.is_empty() || error.path.starts_with('/'),
        "{name}: {}",
        error.path
    );
}
