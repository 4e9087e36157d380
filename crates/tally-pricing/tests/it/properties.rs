//! Invariants under proptest.

use proptest::prelude::*;
use rust_decimal::Decimal;
use tally_pricing::{
    AttributionRule, PriceModel, PriceModelDef, PricingError, ProblemCode, TaxRate, TierDef, Usage,
    attribute, attribute_with, price, price_events, round_minor, tax_amount,
};
use tally_testkit::{amount, quantity, quantity_model, tiers};

fn parse(def: &PriceModelDef) -> PriceModel {
    PriceModel::parse(def).unwrap_or_else(|e| panic!("{def:?}: {e}"))
}

fn subtotal(model: &PriceModel, quantity: Decimal) -> Decimal {
    price(model, quantity)
        .map(|q| q.amount)
        .unwrap_or_else(|e| panic!("{quantity}: {e}"))
}

/// Per-event contributions small enough that a walk over up to 40 events passes
/// through several tiers (bounds total at most 25 000) instead of jumping past all.
fn contributions() -> impl Strategy<Value = Vec<Decimal>> {
    let one = prop_oneof![
        (0i64..2_000).prop_map(Decimal::from),
        (0i64..200_000).prop_map(|cents| Decimal::new(cents, 2)),
    ];
    prop::collection::vec(one, 0..40)
}

fn check_adds_up(model: &PriceModel, usage: Usage<'_>, rule: Option<AttributionRule>) -> Vec<i64> {
    let got = match rule {
        Some(rule) => attribute_with(model, rule, usage),
        None => attribute(model, usage),
    }
    .unwrap_or_else(|e| panic!("{e}"));
    let sum: i64 = got.per_event.iter().sum::<i64>() + got.unattributed;
    assert_eq!(sum, got.subtotal, "{got:?}");
    got.per_event
}

proptest! {
    #[test]
    fn graduated_never_decreases(tiers in tiers(), a in quantity(), b in quantity()) {
        let model = parse(&PriceModelDef::Graduated { tiers });
        let (low, high) = (a.min(b), a.max(b));
        prop_assert!(subtotal(&model, low) <= subtotal(&model, high));
    }

    #[test]
    fn graduated_with_one_open_tier_is_per_unit(unit_amount in amount(), q in quantity()) {
        let graduated = parse(&PriceModelDef::Graduated {
            tiers: vec![TierDef { up_to: None, unit_amount, flat_amount: Decimal::ZERO }],
        });
        let per_unit = parse(&PriceModelDef::PerUnit { unit_amount });
        prop_assert_eq!(subtotal(&graduated, q), subtotal(&per_unit, q));
        prop_assert_eq!(subtotal(&per_unit, q), q * unit_amount);
    }

    #[test]
    fn volume_is_the_reached_tier_times_quantity_plus_its_flat(tiers in tiers(), q in quantity()) {
        let model = parse(&PriceModelDef::Volume { tiers: tiers.clone() });
        // The first tier whose inclusive bound holds q, found independently.
        let tier = tiers.iter().find(|t| t.up_to.is_none_or(|bound| q <= bound));
        let tier = tier.unwrap_or_else(|| panic!("no tier for {q}"));
        prop_assert_eq!(subtotal(&model, q), tier.unit_amount * q + tier.flat_amount);
    }

    #[test]
    fn attribution_adds_up_and_is_never_negative(def in quantity_model(), contributions in contributions()) {
        let model = parse(&def);
        for rule in [None, Some(AttributionRule::Marginal), Some(AttributionRule::ProRata), Some(AttributionRule::EqualShares)] {
            let per_event = check_adds_up(&model, Usage::Contributions(&contributions), rule);
            prop_assert_eq!(per_event.len(), contributions.len());
            // Marginal on volume may go negative at a tier change (why volume defaults to pro rata).
            let marginal_volume = rule == Some(AttributionRule::Marginal) && def_is_volume(&def);
            if !marginal_volume {
                prop_assert!(per_event.iter().all(|&amount| amount >= 0), "{rule:?}: {per_event:?}");
            }
        }
        let quantity: Decimal = contributions.iter().sum();
        let line = price(&model, quantity).unwrap_or_else(|e| panic!("{e}"));
        let got = attribute(&model, Usage::Contributions(&contributions)).unwrap_or_else(|e| panic!("{e}"));
        prop_assert_eq!(got.subtotal, line.subtotal);
    }

    #[test]
    fn equal_shares_add_up(def in quantity_model(), q in quantity(), events in 0usize..50) {
        let model = parse(&def);
        let per_event = check_adds_up(&model, Usage::Opaque { quantity: q, events }, None);
        prop_assert!(per_event.iter().all(|&amount| amount >= 0));
        let (min, max) = (per_event.iter().min(), per_event.iter().max());
        if let (Some(min), Some(max)) = (min, max) {
            prop_assert!(max - min <= 1, "{per_event:?}");
        }
    }

    #[test]
    fn own_fees_add_up_to_the_line(def in tally_testkit::percentage_model("amount"), values in contributions()) {
        let model = parse(&def);
        let per_event = check_adds_up(&model, Usage::Contributions(&values), None);
        prop_assert!(per_event.iter().all(|&amount| amount >= 0), "{per_event:?}");
        let line = price_events(&model, &values).unwrap_or_else(|e| panic!("{e}"));
        prop_assert_eq!(per_event.iter().sum::<i64>(), line.subtotal);
    }

    #[test]
    fn tax_is_the_rounded_percentage_of_the_subtotal(subtotal in -10_000_000_000i64..10_000_000_000, basis in 0i64..=10_000) {
        // `basis` hundredths of a percent; integer half-away-from-zero rounding.
        let rate = TaxRate::new(Decimal::new(basis, 2)).unwrap_or(TaxRate::ZERO);
        let scaled = i128::from(subtotal) * i128::from(basis);
        let magnitude = (scaled.abs() * 2 + 10_000) / 20_000;
        let expected = if scaled < 0 { -magnitude } else { magnitude };
        prop_assert_eq!(tax_amount(subtotal, rate).map(i128::from), Ok(expected));
    }

    #[test]
    fn huge_amounts_overflow_or_are_exact(parts in any::<(u32, u32, u32)>(), scale in 0u32..=6, unit in 1i64..10_000_000) {
        // Any 96-bit quantity, up to Decimal's maximum of about 7.9e28.
        let q = Decimal::from_parts(parts.0, parts.1, parts.2, false, scale);
        let unit_amount = Decimal::new(unit, 2);
        let model = parse(&PriceModelDef::PerUnit { unit_amount });
        let exact = q.checked_mul(unit_amount);
        match (price(&model, q), exact.map(round_minor)) {
            (Ok(quote), Some(Ok(rounded))) => prop_assert_eq!(quote.subtotal, rounded),
            (Err(error), None | Some(Err(_))) => prop_assert_eq!(error, PricingError::Overflow),
            (got, exact) => prop_assert!(false, "{got:?} but exact {exact:?}"),
        }
    }

    #[test]
    fn nothing_panics_on_arbitrary_definitions(
        json in arbitrary_json_model(),
        q in any::<(i64, u32)>(),
        values in prop::collection::vec(any::<i64>(), 0..8),
    ) {
        let q = Decimal::new(q.0, q.1 % 29);
        let values: Vec<Decimal> = values.into_iter().map(|v| Decimal::new(v, 3)).collect();
        let outcome = serde_json::from_str::<PriceModel>(&json).map_err(|e| e.to_string()).map(|model| {
            let priced = price(&model, q).or_else(|_| price_events(&model, &values));
            let attributed = attribute(&model, Usage::Contributions(&values));
            (priced.is_ok(), attributed.map(|a| a.per_event.iter().sum::<i64>() + a.unattributed == a.subtotal))
        });
        // Whatever the input, attribution that succeeds adds up.
        if let Ok((_, Ok(adds_up))) = outcome {
            prop_assert!(adds_up);
        }
    }

    #[test]
    fn validation_names_the_broken_tier(tiers in tiers(), broken in any::<prop::sample::Index>(), how in 0u8..3) {
        let mut tiers = tiers;
        if tiers.len() < 2 {
            tiers.insert(0, TierDef { up_to: Some(Decimal::ZERO), unit_amount: Decimal::ONE, flat_amount: Decimal::ZERO });
        }
        let last = tiers.len() - 1;
        if how == 0 && last < 2 {
            // Two tiers leave no bounded tier after the first to break.
            return Ok(());
        }
        let (index, code) = match how {
            // A bound that does not exceed the previous one.
            0 => {
                let index = 1 + broken.index(last - 1);
                let previous = tiers.get(index - 1).and_then(|t| t.up_to);
                if let (Some(tier), Some(previous)) = (tiers.get_mut(index), previous) {
                    tier.up_to = Some(previous);
                }
                (index, ProblemCode::TiersNotIncreasing)
            }
            // An open tier before the last.
            1 => {
                let index = broken.index(last);
                if let Some(tier) = tiers.get_mut(index) {
                    tier.up_to = None;
                }
                (index, ProblemCode::OpenTierNotLast)
            }
            // A bounded last tier.
            _ => {
                let top = tiers.iter().filter_map(|t| t.up_to).max().unwrap_or_default();
                if let Some(tier) = tiers.get_mut(last) {
                    tier.up_to = Some(top + Decimal::ONE);
                }
                (last, ProblemCode::LastTierMustBeOpen)
            }
        };
        let error = PriceModel::parse(&PriceModelDef::Volume { tiers }).err().unwrap_or(PricingError::Overflow);
        let path = format!("/tiers/{index}/up_to");
        prop_assert!(
            error.problems().iter().any(|p| p.code == code && p.path == path),
            "{code:?} at {path}: {error}"
        );
    }
}

fn def_is_volume(def: &PriceModelDef) -> bool {
    matches!(def, PriceModelDef::Volume { .. })
}

/// JSON price definitions with arbitrary numbers (huge, tiny, negative) and
/// arbitrary tier shapes.
fn arbitrary_json_model() -> impl Strategy<Value = String> {
    let number = prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        (any::<i64>(), 0u32..28).prop_map(|(n, s)| format!("\"{}\"", Decimal::new(n, s))),
        Just("79228162514264337593543950335".to_owned()),
        Just("\"0.0000000000000000000000000001\"".to_owned()),
        Just("null".to_owned()),
    ];
    let tier = (number.clone(), number.clone(), number.clone()).prop_map(|(u, a, f)| {
        format!(r#"{{"up_to": {u}, "unit_amount": {a}, "flat_amount": {f}}}"#)
    });
    let tiers = prop::collection::vec(tier, 0..5).prop_map(|t| t.join(","));
    prop_oneof![
        number.clone().prop_map(|n| format!(r#"{{"type": "per_unit", "unit_amount": {n}}}"#)),
        number.clone().prop_map(|n| format!(r#"{{"type": "flat", "amount": {n}}}"#)),
        (number.clone(), number.clone()).prop_map(|(a, s)| format!(r#"{{"type": "package", "package_amount": {a}, "package_size": {s}}}"#)),
        tiers.clone().prop_map(|t| format!(r#"{{"type": "graduated", "tiers": [{t}]}}"#)),
        tiers.prop_map(|t| format!(r#"{{"type": "volume", "tiers": [{t}]}}"#)),
        (number.clone(), number.clone(), number.clone(), number).prop_map(|(r, f, lo, hi)| format!(
            r#"{{"type": "percentage", "rate": {r}, "property": "amount", "fixed_amount": {f}, "per_event_floor": {lo}, "per_event_cap": {hi}}}"#
        )),
    ]
}
