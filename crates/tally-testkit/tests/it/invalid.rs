//! Invalid events are rejected, every error with the code the strategy expects,
//! and every code is reached.

use std::collections::HashSet;

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use tally_event::{ErrorCode, PiiPolicy, ValidationConfig, parse_event};
use tally_testkit::{EventConfig, invalid_codes, invalid_event};

fn reject_config() -> EventConfig {
    EventConfig {
        validation: ValidationConfig {
            pii_policy: PiiPolicy::Reject,
            ..ValidationConfig::default()
        },
        ..EventConfig::default()
    }
}

fn check(
    config: &EventConfig,
    json: &serde_json::Value,
    code: ErrorCode,
) -> Result<(), TestCaseError> {
    let result = parse_event(json, &config.validation, config.now);
    prop_assert!(result.is_err(), "accepted, expected {code}: {json}");
    let errors = result.unwrap_err();
    prop_assert!(!errors.is_empty());
    // one rule broken: every error is about it
    for error in &errors {
        prop_assert_eq!(error.code, code, "{:?}", errors);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn invalid_events_are_rejected_with_the_expected_code((json, code) in invalid_event(&EventConfig::default())) {
        check(&EventConfig::default(), &json, code)?;
    }

    #[test]
    fn pii_is_one_more_broken_rule_under_reject((json, code) in invalid_event(&reject_config())) {
        check(&reject_config(), &json, code)?;
    }
}

/// Draws from the strategy until every expected code has come up.
fn codes_seen(config: &EventConfig) -> HashSet<ErrorCode> {
    let strategy = invalid_event(config);
    let mut runner = TestRunner::deterministic();
    (0..4000)
        .map(|_| strategy.new_tree(&mut runner).unwrap().current().1)
        .collect()
}

#[test]
fn every_code_but_malformed_json_is_reached() {
    let config = reject_config();
    let expected: HashSet<ErrorCode> = invalid_codes(&config).into_iter().collect();
    assert_eq!(expected.len(), ErrorCode::ALL.len() - 1);
    assert!(!expected.contains(&ErrorCode::MalformedJson));
    assert_eq!(codes_seen(&config), expected);
}

#[test]
fn without_a_skew_or_a_reject_policy_those_codes_are_not_expected() {
    let config = EventConfig {
        validation: ValidationConfig {
            max_future_skew_ms: 0,
            pii_policy: PiiPolicy::Warn,
        },
        ..EventConfig::default()
    };
    let codes = invalid_codes(&config);
    assert!(!codes.contains(&ErrorCode::TimestampInFuture));
    assert!(!codes.contains(&ErrorCode::PiiDetected));
    assert_eq!(codes_seen(&config), codes.into_iter().collect());
}
