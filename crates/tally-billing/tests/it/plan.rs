//! The streamed attribution plan gives exactly what `tally_pricing::attribute`
//! gives with every share in memory, for random models and events.

use proptest::prelude::*;
use rust_decimal::Decimal;
use tally_billing::consumption::plan::{Judged, Plan, PlanBuilder, Totals};
use tally_pricing::{
    Attribution, AttributionRule, PackageRounding, PriceModel, PriceModelDef, TierDef, Usage,
    attribute, price, price_events,
};

fn amount() -> impl Strategy<Value = Decimal> {
    (0i64..100_000_000, 0u32..=4).prop_map(|(mantissa, scale)| Decimal::new(mantissa, scale))
}

fn tiers() -> impl Strategy<Value = Vec<TierDef>> {
    prop::collection::vec((1i64..3_000, 0u32..=2, amount(), amount()), 1..5).prop_map(|rows| {
        let last = rows.len() - 1;
        let mut bound = Decimal::ZERO;
        let mut out = Vec::new();
        for (index, (step, scale, unit_amount, flat_amount)) in rows.into_iter().enumerate() {
            bound += Decimal::new(step, scale);
            out.push(TierDef {
                up_to: (index < last).then_some(bound),
                unit_amount,
                flat_amount,
            });
        }
        out
    })
}

fn model() -> impl Strategy<Value = PriceModelDef> {
    prop_oneof![
        amount().prop_map(|amount| PriceModelDef::Flat { amount }),
        amount().prop_map(|unit_amount| PriceModelDef::PerUnit { unit_amount }),
        (amount(), 1i64..500, any::<bool>()).prop_map(|(package_amount, size, up)| {
            PriceModelDef::Package {
                package_amount,
                package_size: Decimal::new(size, 1),
                rounding: if up {
                    PackageRounding::Up
                } else {
                    PackageRounding::Down
                },
            }
        }),
        tiers().prop_map(|tiers| PriceModelDef::Graduated { tiers }),
        tiers().prop_map(|tiers| PriceModelDef::Volume { tiers }),
        (amount(), amount(), prop::option::of(amount())).prop_map(|(rate, fixed, cap)| {
            PriceModelDef::Percentage {
                rate: rate / Decimal::from(1000),
                property: "amount".into(),
                fixed_amount: fixed / Decimal::from(1000),
                per_event_floor: None,
                per_event_cap: cap,
            }
        }),
    ]
}

/// Count-like (all 1) or sum-like contributions, up to 60 events.
fn contributions() -> impl Strategy<Value = Vec<Decimal>> {
    prop_oneof![
        (0usize..60).prop_map(|n| vec![Decimal::ONE; n]),
        prop::collection::vec((0i64..300_000).prop_map(|c| Decimal::new(c, 2)), 0..60),
    ]
}

fn walked(model: &PriceModel, rule: AttributionRule, values: &[Decimal]) -> (Plan, Vec<i64>) {
    let judged: Vec<Judged> = values
        .iter()
        .map(|&quantity| Judged {
            quantity,
            behind: true,
        })
        .collect();
    let mut totals = Totals::default();
    for &one in &judged {
        totals.push(model, one).unwrap();
    }
    let mut builder = PlanBuilder::new(model, rule, totals).unwrap();
    for &one in &judged {
        builder.push(one).unwrap();
    }
    let plan = builder.finish().unwrap();
    let (mut shares, mut spread) = (plan.shares(), plan.spread());
    let amounts = judged
        .iter()
        .map(|&one| spread.amount(shares.next(one).unwrap()).unwrap())
        .collect();
    (plan, amounts)
}

fn in_memory(model: &PriceModel, values: &[Decimal]) -> Attribution {
    attribute(model, Usage::Contributions(values)).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn the_streamed_walk_equals_the_in_memory_attribution(
        def in model(),
        values in contributions(),
    ) {
        let model = PriceModel::parse(&def).unwrap();
        let expected = in_memory(&model, &values);
        let (plan, amounts) = walked(&model, expected.rule, &values);
        let line = match model.percentage_property() {
            Some(_) => price_events(&model, &values).unwrap().subtotal,
            None => price(&model, values.iter().copied().sum()).unwrap().subtotal,
        };
        prop_assert_eq!(plan.subtotal, line);
        prop_assert_eq!(plan.unattributed + amounts.iter().sum::<i64>(), line);
        prop_assert!(amounts.iter().all(|&amount| amount >= 0), "{:?}", amounts);
        prop_assert_eq!(plan.unattributed, expected.unattributed);
        prop_assert_eq!(amounts, expected.per_event);
    }

    #[test]
    fn equal_shares_add_up_over_the_events_behind(
        def in model().prop_filter("priced by quantity", |def| {
            !matches!(def, PriceModelDef::Percentage { .. })
        }),
        behind in prop::collection::vec(any::<bool>(), 0..50),
        quantity in (0i64..100_000).prop_map(|q| Decimal::new(q, 1)),
    ) {
        let model = PriceModel::parse(&def).unwrap();
        let judged: Vec<Judged> = behind
            .iter()
            .map(|&behind| Judged { quantity: Decimal::ZERO, behind })
            .collect();
        let mut totals = Totals::default();
        for &one in &judged {
            totals.push(&model, one).unwrap();
        }
        totals.quantity = quantity;
        let mut builder = PlanBuilder::new(&model, AttributionRule::EqualShares, totals).unwrap();
        for &one in &judged {
            builder.push(one).unwrap();
        }
        let plan = builder.finish().unwrap();
        let (mut shares, mut spread) = (plan.shares(), plan.spread());
        let amounts: Vec<i64> = judged
            .iter()
            .map(|&one| spread.amount(shares.next(one).unwrap()).unwrap())
            .collect();
        let expected = attribute(
            &model,
            Usage::Opaque { quantity, events: behind.iter().filter(|b| **b).count() },
        )
        .unwrap();
        prop_assert_eq!(plan.unattributed + amounts.iter().sum::<i64>(), expected.subtotal);
        prop_assert!(amounts.iter().all(|&amount| amount >= 0));
        let behind_amounts: Vec<i64> = amounts
            .iter()
            .zip(&behind)
            .filter(|(_, behind)| **behind)
            .map(|(amount, _)| *amount)
            .collect();
        prop_assert_eq!(behind_amounts, expected.per_event);
    }
}
