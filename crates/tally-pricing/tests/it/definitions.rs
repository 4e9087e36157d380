//! The serde form: JSON numbers and strings, round trips, unknown fields.

use rust_decimal::Decimal;
use serde_json::json;
use tally_pricing::{ModelType, PriceModel, PriceModelDef, TierDef};

use crate::dec;

fn def_of(text: &str) -> PriceModelDef {
    match serde_json::from_str(text) {
        Ok(def) => def,
        Err(error) => panic!("{text} does not deserialize: {error}"),
    }
}

#[test]
fn tagged_model_reads_numbers_and_strings_alike() {
    let from_numbers = def_of(
        r#"{"type": "graduated", "tiers": [
            {"up_to": 1000, "unit_amount": 0.15, "flat_amount": 0},
            {"up_to": null, "unit_amount": 0.1, "flat_amount": 12345678901234567890.5}]}"#,
    );
    let from_strings = def_of(
        r#"{"type": "graduated", "tiers": [
            {"up_to": "1000", "unit_amount": "0.15", "flat_amount": "0"},
            {"up_to": null, "unit_amount": "0.1", "flat_amount": "12345678901234567890.5"}]}"#,
    );
    let expected = PriceModelDef::Graduated {
        tiers: vec![
            TierDef {
                up_to: Some(dec("1000")),
                unit_amount: dec("0.15"),
                flat_amount: Decimal::ZERO,
            },
            TierDef {
                up_to: None,
                unit_amount: dec("0.1"),
                flat_amount: dec("12345678901234567890.5"),
            },
        ],
    };
    assert_eq!(from_numbers, expected);
    assert_eq!(from_strings, expected);
}

#[test]
fn every_model_reads_from_numbers() {
    let cases = [
        (r#"{"type": "flat", "amount": 2900}"#, ModelType::Flat),
        (
            r#"{"type": "per_unit", "unit_amount": 0.15}"#,
            ModelType::PerUnit,
        ),
        (
            r#"{"type": "package", "package_amount": 500, "package_size": 100, "rounding": "down"}"#,
            ModelType::Package,
        ),
        (
            r#"{"type": "volume", "tiers": [{"up_to": 10, "unit_amount": 1}, {"unit_amount": 0.5}]}"#,
            ModelType::Volume,
        ),
        (
            r#"{"type": "percentage", "rate": 2.9, "property": "amount", "fixed_amount": 30, "per_event_floor": 50, "per_event_cap": 1e3}"#,
            ModelType::Percentage,
        ),
    ];
    for (text, model_type) in cases {
        let model: PriceModel = match serde_json::from_str(text) {
            Ok(model) => model,
            Err(error) => panic!("{text}: {error}"),
        };
        assert_eq!(model.model_type(), model_type, "{text}");
    }
}

#[test]
fn numbers_stay_exact() {
    let def =
        def_of(r#"{"type": "per_unit", "unit_amount": 0.1000000000000000055511151231257827}"#);
    assert_eq!(
        def,
        PriceModelDef::PerUnit {
            unit_amount: dec("0.1000000000000000055511151231257827")
        }
    );
}

#[test]
fn definition_serializes_decimals_as_strings_and_round_trips() {
    let def = def_of(r#"{"type": "package", "package_amount": 500, "package_size": 100}"#);
    let json = serde_json::to_value(&def).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        json,
        json!({"type": "package", "package_amount": "500", "package_size": "100", "rounding": "up"})
    );
    let back: PriceModelDef = serde_json::from_value(json).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(back, def);
}

#[test]
fn validated_model_round_trips_through_its_definition() {
    let text = r#"{"type": "percentage", "rate": "2.9", "property": "amount", "fixed_amount": "30", "per_event_floor": null, "per_event_cap": "500"}"#;
    let model: PriceModel = serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(model.percentage_property(), Some("amount"));
    let json = serde_json::to_string(&model).unwrap_or_else(|e| panic!("{e}"));
    let again: PriceModel = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(again, model);
}

#[test]
fn unknown_fields_and_types_are_rejected() {
    for text in [
        r#"{"type": "flat", "amount": 1, "amonut": 2}"#,
        r#"{"type": "tiered", "tiers": []}"#,
        r#"{"type": "graduated", "tiers": [{"upto": 5}]}"#,
        r#"{"type": "per_unit", "unit_amount": "abc"}"#,
        r#"{"type": "per_unit", "unit_amount": 1e400}"#,
    ] {
        assert!(
            serde_json::from_str::<PriceModelDef>(text).is_err(),
            "{text} was accepted"
        );
    }
}

#[test]
fn deserializing_a_model_validates_it() {
    let text = r#"{"type": "package", "package_amount": 5, "package_size": 0}"#;
    let error = serde_json::from_str::<PriceModel>(text)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(error.contains("/package_size"), "{error}");
}
