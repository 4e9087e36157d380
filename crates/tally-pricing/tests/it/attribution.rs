//! Attribution rules beyond the fixture tables: opaque aggregations, negative
//! contributions, explicit rules and their misuse.

use rust_decimal::Decimal;
use tally_pricing::{
    AttributionRule, PriceModel, PricingError, Usage, attribute, attribute_with, price,
};

use crate::dec;

fn model(json: &str) -> PriceModel {
    serde_json::from_str(json).unwrap_or_else(|e| panic!("{json}: {e}"))
}

fn decs(values: &[&str]) -> Vec<Decimal> {
    values.iter().map(|v| dec(v)).collect()
}

const PER_UNIT: &str = r#"{"type": "per_unit", "unit_amount": "10"}"#;

#[test]
fn opaque_aggregations_share_equally_earliest_first() {
    // `max` of seats: 7 seats at 10 = 70 over the 3 events behind the maximum.
    let got = attribute(
        &model(PER_UNIT),
        Usage::Opaque {
            quantity: dec("7"),
            events: 3,
        },
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(got.rule, AttributionRule::EqualShares);
    assert_eq!(got.subtotal, 70);
    assert_eq!(got.per_event, [24, 23, 23]);
    assert_eq!(got.unattributed, 0);
}

#[test]
fn opaque_aggregation_without_events_is_unattributed() {
    let flat = model(r#"{"type": "flat", "amount": "2900"}"#);
    let got = attribute(
        &flat,
        Usage::Opaque {
            quantity: Decimal::ZERO,
            events: 0,
        },
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (got.subtotal, got.unattributed, got.per_event.len()),
        (2900, 2900, 0)
    );
}

#[test]
fn negative_contributions_earn_credits_and_the_sum_stays_exact() {
    // A `sum` over +5, -3, +4 (a refund in the middle): quantities 5, 2, 6.
    let got = attribute(
        &model(PER_UNIT),
        Usage::Contributions(&decs(&["5", "-3", "4"])),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(got.per_event, [50, -30, 40]);
    assert_eq!(got.subtotal, 60);
}

#[test]
fn running_quantity_is_floored_at_zero_while_walking() {
    // -3 first: the running quantity would be -3; it prices as 0 and the next
    // event pays only for what brings the total above zero.
    let got = attribute(&model(PER_UNIT), Usage::Contributions(&decs(&["-3", "5"])))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(got.per_event, [0, 20]);
    assert_eq!(got.subtotal, 20);
}

#[test]
fn negative_total_is_an_error_as_in_price() {
    let contributions = decs(&["2", "-5"]);
    let got = attribute(&model(PER_UNIT), Usage::Contributions(&contributions));
    assert_eq!(got, Err(PricingError::NegativeQuantity));
    assert_eq!(
        price(&model(PER_UNIT), dec("-3")).err(),
        Some(PricingError::NegativeQuantity)
    );
}

#[test]
fn pro_rata_with_a_zero_total_leaves_the_fee_unattributed() {
    let volume = model(
        r#"{"type": "volume", "tiers": [{"up_to": "10", "flat_amount": "100"}, {"up_to": null, "unit_amount": "5"}]}"#,
    );
    let got = attribute(&volume, Usage::Contributions(&decs(&["4", "-4"])))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((got.subtotal, got.unattributed), (100, 100));
    assert_eq!(got.per_event, [0, 0]);
}

#[test]
fn explicit_rules_apply_to_any_non_percentage_model() {
    let volume = model(
        r#"{"type": "volume", "tiers": [{"up_to": "2", "unit_amount": "10"}, {"up_to": null, "unit_amount": "5"}]}"#,
    );
    // Marginal over volume can go negative at a tier change: the reason volume
    // defaults to pro rata. 10, 10, then 3 units at 5 = 15 total: the third pays -5.
    let contributions = decs(&["1", "1", "1"]);
    let marginal = attribute_with(
        &volume,
        AttributionRule::Marginal,
        Usage::Contributions(&contributions),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(marginal.per_event, [10, 10, -5]);
    let pro_rata =
        attribute(&volume, Usage::Contributions(&contributions)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(pro_rata.per_event, [5, 5, 5]);
    let equal = attribute_with(
        &volume,
        AttributionRule::EqualShares,
        Usage::Contributions(&contributions),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(equal.per_event, [5, 5, 5]);
}

#[test]
fn rules_that_need_contributions_refuse_opaque_usage() {
    let opaque = Usage::Opaque {
        quantity: dec("3"),
        events: 2,
    };
    for rule in [
        AttributionRule::Marginal,
        AttributionRule::ProRata,
        AttributionRule::OwnFee,
    ] {
        assert_eq!(
            attribute_with(&model(PER_UNIT), rule, opaque),
            Err(PricingError::NeedsContributions)
        );
    }
}

#[test]
fn percentage_needs_values_and_other_models_have_no_fee() {
    let fees = model(r#"{"type": "percentage", "rate": "1", "property": "amount"}"#);
    let opaque = Usage::Opaque {
        quantity: dec("3"),
        events: 2,
    };
    assert_eq!(
        attribute(&fees, opaque),
        Err(PricingError::NeedsEventValues)
    );
    let values = decs(&["100"]);
    assert_eq!(
        attribute_with(
            &fees,
            AttributionRule::Marginal,
            Usage::Contributions(&values)
        ),
        Err(PricingError::NeedsEventValues)
    );
    assert_eq!(
        attribute_with(
            &model(PER_UNIT),
            AttributionRule::OwnFee,
            Usage::Contributions(&values)
        ),
        Err(PricingError::NotPerEvent)
    );
}

#[test]
fn negative_percentage_value_is_a_credit_unless_floored() {
    let fees = model(r#"{"type": "percentage", "rate": "10", "property": "amount"}"#);
    let got = attribute(&fees, Usage::Contributions(&decs(&["1000", "-300"])))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(got.per_event, [100, -30]);
    let floored = model(
        r#"{"type": "percentage", "rate": "10", "property": "amount", "per_event_floor": "0"}"#,
    );
    let got = attribute(&floored, Usage::Contributions(&decs(&["1000", "-300"])))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(got.per_event, [100, 0]);
}

#[test]
fn huge_contributions_overflow_instead_of_lying() {
    let contributions = decs(&["79228162514264337593543950335", "1"]);
    assert_eq!(
        attribute(&model(PER_UNIT), Usage::Contributions(&contributions)),
        Err(PricingError::Overflow)
    );
}
