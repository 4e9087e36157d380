//! Validation: every problem, with its path and code.

use tally_pricing::{PriceModel, PriceModelDef, PricingError, ProblemCode, ProductBounds};

use crate::dec;

/// Parses `json` and returns its problems as (path, code) pairs.
fn problems(json: &str) -> Vec<(String, ProblemCode)> {
    let def: PriceModelDef = serde_json::from_str(json).unwrap_or_else(|e| panic!("{json}: {e}"));
    match PriceModel::parse(&def) {
        Ok(_) => Vec::new(),
        Err(error) => error
            .problems()
            .iter()
            .map(|p| (p.path.clone(), p.code))
            .collect(),
    }
}

fn check(json: &str, expected: &[(&str, ProblemCode)]) {
    let expected: Vec<(String, ProblemCode)> = expected
        .iter()
        .map(|(path, code)| ((*path).to_owned(), *code))
        .collect();
    assert_eq!(problems(json), expected, "{json}");
}

#[test]
fn valid_models_have_no_problems() {
    for json in [
        r#"{"type": "flat", "amount": "0"}"#,
        r#"{"type": "per_unit", "unit_amount": "0.15"}"#,
        r#"{"type": "package", "package_amount": "500", "package_size": "0.5", "rounding": "down"}"#,
        r#"{"type": "graduated", "tiers": [{"up_to": null, "unit_amount": "1"}]}"#,
        r#"{"type": "volume", "tiers": [{"up_to": "0", "flat_amount": "0"}, {"up_to": null, "flat_amount": "100"}]}"#,
        r#"{"type": "percentage", "rate": "0", "property": "amount", "per_event_floor": "5", "per_event_cap": "5"}"#,
    ] {
        check(json, &[]);
    }
}

#[test]
fn tier_lists_are_checked() {
    use ProblemCode::*;
    check(
        r#"{"type": "graduated", "tiers": []}"#,
        &[("/tiers", EmptyTiers)],
    );
    check(
        r#"{"type": "volume", "tiers": [{"up_to": "10"}, {"up_to": "10"}, {"up_to": null}]}"#,
        &[("/tiers/1/up_to", TiersNotIncreasing)],
    );
    check(
        r#"{"type": "graduated", "tiers": [{"up_to": "10"}, {"up_to": "5"}, {"up_to": null}]}"#,
        &[("/tiers/1/up_to", TiersNotIncreasing)],
    );
    check(
        r#"{"type": "graduated", "tiers": [{"up_to": null}, {"up_to": null}]}"#,
        &[("/tiers/0/up_to", OpenTierNotLast)],
    );
    check(
        r#"{"type": "volume", "tiers": [{"up_to": "10"}, {"up_to": "20"}]}"#,
        &[("/tiers/1/up_to", LastTierMustBeOpen)],
    );
    check(
        r#"{"type": "graduated", "tiers": [{"up_to": "-1"}, {"up_to": null}]}"#,
        &[("/tiers/0/up_to", NegativeBound)],
    );
}

#[test]
fn every_problem_is_reported_at_once() {
    use ProblemCode::*;
    check(
        r#"{"type": "graduated", "tiers": [
            {"up_to": "100", "unit_amount": "-1", "flat_amount": "-2"},
            {"up_to": null, "unit_amount": "1"},
            {"up_to": "50", "unit_amount": "1"}]}"#,
        &[
            ("/tiers/0/unit_amount", NegativeAmount),
            ("/tiers/0/flat_amount", NegativeAmount),
            ("/tiers/1/up_to", OpenTierNotLast),
            ("/tiers/2/up_to", LastTierMustBeOpen),
        ],
    );
}

#[test]
fn too_many_tiers_are_rejected() {
    let mut tiers: Vec<String> = (1..=100)
        .map(|bound| format!(r#"{{"up_to": {bound}}}"#))
        .collect();
    tiers.push(r#"{"up_to": null}"#.to_owned());
    let json = format!(r#"{{"type": "graduated", "tiers": [{}]}}"#, tiers.join(","));
    check(&json, &[("/tiers", ProblemCode::TooManyTiers)]);
}

#[test]
fn simple_models_are_checked() {
    use ProblemCode::*;
    check(
        r#"{"type": "flat", "amount": "-1"}"#,
        &[("/amount", NegativeAmount)],
    );
    check(
        r#"{"type": "per_unit", "unit_amount": "-0.01"}"#,
        &[("/unit_amount", NegativeAmount)],
    );
    check(
        r#"{"type": "package", "package_amount": "-5", "package_size": "0"}"#,
        &[
            ("/package_amount", NegativeAmount),
            ("/package_size", InvalidPackageSize),
        ],
    );
    check(
        r#"{"type": "package", "package_amount": "5", "package_size": "-10"}"#,
        &[("/package_size", InvalidPackageSize)],
    );
}

#[test]
fn percentage_models_are_checked() {
    use ProblemCode::*;
    check(
        r#"{"type": "percentage", "rate": "-1", "property": " ", "fixed_amount": "-3", "per_event_floor": "10", "per_event_cap": "5"}"#,
        &[
            ("/rate", NegativeRate),
            ("/property", EmptyProperty),
            ("/fixed_amount", NegativeAmount),
            ("/per_event_floor", FloorAboveCap),
        ],
    );
    check(
        r#"{"type": "percentage", "rate": "1", "property": "amount", "per_event_cap": "-5"}"#,
        &[("/per_event_cap", NegativeAmount)],
    );
}

#[test]
fn errors_carry_stable_codes_and_lowercase_messages() {
    let def: PriceModelDef = serde_json::from_str(r#"{"type": "graduated", "tiers": []}"#)
        .unwrap_or_else(|e| panic!("{e}"));
    let error = PriceModel::parse(&def)
        .err()
        .unwrap_or(PricingError::Overflow);
    assert_eq!(error.code(), "invalid_price");
    assert_eq!(
        error.to_string(),
        "invalid price: /tiers: at least one tier is required"
    );
    let problem = &error.problems()[0];
    assert_eq!(problem.code.as_str(), "empty_tiers");
    let json = serde_json::to_value(problem).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        json,
        serde_json::json!({"path": "/tiers", "code": "empty_tiers", "message": "at least one tier is required"})
    );
}

#[test]
fn product_bounds_are_checked() {
    use ProblemCode::*;
    let codes = |min: Option<&str>, max: Option<&str>| -> Vec<(String, ProblemCode)> {
        match ProductBounds::parse(min.map(dec), max.map(dec)) {
            Ok(_) => Vec::new(),
            Err(error) => error
                .problems()
                .iter()
                .map(|p| (p.path.clone(), p.code))
                .collect(),
        }
    };
    assert_eq!(
        codes(Some("10"), Some("5")),
        [("/min_amount".to_owned(), MinAboveMax)]
    );
    assert_eq!(
        codes(Some("-1"), None),
        [("/min_amount".to_owned(), NegativeAmount)]
    );
    assert_eq!(
        codes(None, Some("1.5")),
        [("/max_amount".to_owned(), FractionalAmount)]
    );
    assert_eq!(
        codes(None, Some("1e20")),
        [("/max_amount".to_owned(), AmountTooLarge)]
    );
    assert_eq!(codes(Some("5"), Some("5")), []);
    assert_eq!(codes(None, None), []);
}
