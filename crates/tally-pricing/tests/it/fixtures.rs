//! The hand-checked tables in `fixtures/pricing/*.json`.

use std::path::{Path, PathBuf};

use rust_decimal::Decimal;
use serde::Deserialize;
use tally_pricing::{
    Adjustment, AttributionRule, Currency, Money, PriceModel, PriceModelDef, ProductBounds, Quote,
    TaxRate, Usage, attribute, price, price_events,
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Table {
    #[allow(dead_code)]
    description: String,
    #[serde(default)]
    cases: Vec<Case>,
    #[serde(default)]
    bounds: Vec<BoundsCase>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    price: PriceModelDef,
    currency: Currency,
    tax_rate: TaxRate,
    #[serde(default)]
    quantity: Option<Decimal>,
    #[serde(default)]
    values: Option<Vec<Decimal>>,
    expected: Expected,
    #[serde(default)]
    attribution: Option<ExpectedAttribution>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Expected {
    amount: Decimal,
    subtotal: i64,
    tax: i64,
    total: i64,
    total_major: Decimal,
    breakdown: Vec<Decimal>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectedAttribution {
    rule: AttributionRule,
    contributions: Vec<Decimal>,
    per_event: Vec<i64>,
    unattributed: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BoundsCase {
    name: String,
    min_amount: Option<Decimal>,
    max_amount: Option<Decimal>,
    group_subtotals: Vec<i64>,
    adjustment: Option<Adjustment>,
    total: i64,
}

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/pricing")
}

fn tables() -> Vec<(String, Table)> {
    let entries = std::fs::read_dir(fixture_dir()).unwrap_or_else(|e| panic!("fixtures: {e}"));
    let mut tables: Vec<(String, Table)> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
            let table = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path:?}: {e}"));
            (path.display().to_string(), table)
        })
        .collect();
    tables.sort_by(|a, b| a.0.cmp(&b.0));
    tables
}

fn quote_of(case: &Case, model: &PriceModel) -> Quote {
    let result = match (&case.quantity, &case.values) {
        (Some(quantity), None) => price(model, *quantity),
        (None, Some(values)) => price_events(model, values),
        _ => panic!("{}: give either quantity or values", case.name),
    };
    result.unwrap_or_else(|e| panic!("{}: {e}", case.name))
}

fn check_case(case: &Case) {
    let name = &case.name;
    let model = PriceModel::parse(&case.price).unwrap_or_else(|e| panic!("{name}: {e}"));
    let quote = quote_of(case, &model);
    let expected = &case.expected;
    assert_eq!(quote.amount, expected.amount, "{name}: amount");
    let amounts: Vec<Decimal> = quote.breakdown.iter().map(|line| line.amount).collect();
    assert_eq!(amounts, expected.breakdown, "{name}: breakdown");
    let taxed = quote
        .with_tax(case.tax_rate)
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(
        (taxed.subtotal, taxed.tax, taxed.total),
        (expected.subtotal, expected.tax, expected.total),
        "{name}: subtotal, tax, total"
    );
    let major = Money::new(taxed.total, case.currency).to_major();
    assert_eq!(major, expected.total_major, "{name}: total in major units");
    assert_eq!(
        major.scale(),
        case.currency.exponent(),
        "{name}: major scale"
    );
    if let Some(attribution) = &case.attribution {
        check_attribution(name, &model, &quote, attribution);
    }
}

fn check_attribution(
    name: &str,
    model: &PriceModel,
    quote: &Quote,
    expected: &ExpectedAttribution,
) {
    let got = attribute(model, Usage::Contributions(&expected.contributions))
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(got.rule, expected.rule, "{name}: rule");
    assert_eq!(got.per_event, expected.per_event, "{name}: per event");
    assert_eq!(
        got.unattributed, expected.unattributed,
        "{name}: unattributed"
    );
    let attributed: i64 = got.per_event.iter().sum::<i64>() + got.unattributed;
    assert_eq!(attributed, got.subtotal, "{name}: attribution adds up");
    // The table's quantity (or values) and contributions describe the same period.
    assert_eq!(got.subtotal, quote.subtotal, "{name}: attribution subtotal");
}

fn check_bounds(case: &BoundsCase) {
    let name = &case.name;
    let bounds = ProductBounds::parse(case.min_amount, case.max_amount)
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let total: i64 = case.group_subtotals.iter().sum();
    let adjustment = bounds
        .apply(total)
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(adjustment, case.adjustment, "{name}: adjustment");
    let bounded = total + adjustment.map_or(0, |line| line.amount);
    assert_eq!(bounded, case.total, "{name}: total");
}

#[test]
fn every_table_gives_its_hand_checked_amounts() {
    let tables = tables();
    let names: Vec<&str> = tables
        .iter()
        .filter_map(|(path, _)| path.rsplit('/').next())
        .collect();
    for model in [
        "bounds",
        "flat",
        "graduated",
        "package",
        "per_unit",
        "percentage",
        "volume",
    ] {
        assert!(
            names.contains(&format!("{model}.json").as_str()),
            "missing {model}.json in {names:?}"
        );
    }
    let mut checked = 0;
    for (_, table) in &tables {
        for case in &table.cases {
            check_case(case);
            checked += 1;
        }
        for case in &table.bounds {
            check_bounds(case);
            checked += 1;
        }
    }
    assert!(checked >= 30, "only {checked} cases");
}
