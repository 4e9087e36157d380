//! Snapshots of quote breakdowns, preview curves and attributions, reviewed by
//! hand when they change.

use insta::assert_json_snapshot;
use rust_decimal::Decimal;
use tally_pricing::{PriceModel, TaxRate, Usage, attribute, preview, price, price_events};

use crate::dec;

fn model(json: &str) -> PriceModel {
    serde_json::from_str(json).unwrap_or_else(|e| panic!("{json}: {e}"))
}

const GRADUATED: &str = r#"{"type": "graduated", "tiers": [
    {"up_to": "1000", "unit_amount": "2", "flat_amount": "0"},
    {"up_to": "5000", "unit_amount": "1.5", "flat_amount": "100"},
    {"up_to": null, "unit_amount": "1", "flat_amount": "0"}]}"#;

const VOLUME: &str = r#"{"type": "volume", "tiers": [
    {"up_to": "1000", "unit_amount": "2", "flat_amount": "0"},
    {"up_to": null, "unit_amount": "1.5", "flat_amount": "500"}]}"#;

#[test]
fn graduated_breakdown_across_three_tiers() {
    let quote = price(&model(GRADUATED), dec("6000")).unwrap_or_else(|e| panic!("{e}"));
    assert_json_snapshot!(quote);
}

#[test]
fn graduated_breakdown_just_past_a_bound() {
    let quote = price(&model(GRADUATED), dec("1000.5")).unwrap_or_else(|e| panic!("{e}"));
    assert_json_snapshot!(quote);
}

#[test]
fn volume_breakdown_just_past_a_bound() {
    let quote = price(&model(VOLUME), dec("1000.5")).unwrap_or_else(|e| panic!("{e}"));
    assert_json_snapshot!(quote);
}

#[test]
fn package_breakdown_counts_blocks() {
    let package = model(r#"{"type": "package", "package_amount": "500", "package_size": "100"}"#);
    let quote = price(&package, dec("250")).unwrap_or_else(|e| panic!("{e}"));
    assert_json_snapshot!(quote);
}

#[test]
fn percentage_breakdown_with_floor_and_cap() {
    let fees = model(
        r#"{"type": "percentage", "rate": "2.9", "property": "amount", "fixed_amount": "30",
            "per_event_floor": "50", "per_event_cap": "500"}"#,
    );
    let values: Vec<Decimal> = ["500", "1000", "2500", "10000", "20000"].map(dec).to_vec();
    let quote = price_events(&fees, &values).unwrap_or_else(|e| panic!("{e}"));
    let taxed = quote.with_tax(TaxRate::new(dec("20")).unwrap_or(TaxRate::ZERO));
    assert_json_snapshot!((quote, taxed.ok()));
}

#[test]
fn graduated_preview_curve() {
    let quantities = ["0", "500", "1000", "1000.5", "3000", "5000", "6000"].map(dec);
    let curve = preview(&model(GRADUATED), &quantities).unwrap_or_else(|e| panic!("{e}"));
    assert_json_snapshot!(curve);
}

#[test]
fn attribution_of_a_graduated_line() {
    let contributions = ["400", "400", "400.5", "4000", "799.5"].map(dec);
    let got = attribute(&model(GRADUATED), Usage::Contributions(&contributions))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_json_snapshot!(got);
}
