//! The streamed attribution plan gives exactly what `tally_pricing::attribute`
//! gives with every share in memory, for random models and events.

use proptest::prelude::*;
use rust_decimal::Decimal;
use tally_billing::consumption::plan::{Judged, Plan, PlanBuilder, Planning, Totals};
use tally_pricing::{
    Attribution, AttributionRule, PriceModel, PriceModelDef, Usage, attribute, price, price_events,
};
use tally_testkit::price_model as model;

/// Count-like (all 1) or sum-like contributions, up to 60 events.
fn contributions() -> impl Strategy<Value = Vec<Decimal>> {
    prop_oneof![
        (0usize..60).prop_map(|n| vec![Decimal::ONE; n]),
        prop::collection::vec((0i64..300_000).prop_map(|c| Decimal::new(c, 2)), 0..60),
    ]
}

/// The plan of a walk over `judged`, replaying it as often as the plan asks.
fn plan_of(
    model: &PriceModel,
    rule: AttributionRule,
    totals: Totals,
    judged: &[Judged],
    limit: usize,
) -> Plan {
    let mut builder = PlanBuilder::with_exact_limit(model, rule, totals, limit).unwrap();
    for &one in judged {
        builder.push(one).unwrap();
    }
    let mut planning = builder.finish().unwrap();
    loop {
        let mut refiner = match planning {
            Planning::Done(plan) => return *plan,
            Planning::Refine(refiner) => refiner,
        };
        for &one in judged {
            refiner.push(one).unwrap();
        }
        planning = refiner.finish().unwrap();
    }
}

/// The whole amounts of the last pass.
fn amounts_of(plan: &Plan, judged: &[Judged]) -> Vec<i64> {
    let (mut shares, mut spread) = (plan.shares(), plan.spread());
    judged
        .iter()
        .map(|&one| spread.amount(shares.next(one).unwrap()).unwrap())
        .collect()
}

fn walked(
    model: &PriceModel,
    rule: AttributionRule,
    values: &[Decimal],
    limit: usize,
) -> (Plan, Vec<i64>) {
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
    let plan = plan_of(model, rule, totals, &judged, limit);
    let amounts = amounts_of(&plan, &judged);
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
        limit in prop_oneof![Just(1usize), Just(3), Just(4096)],
    ) {
        let model = PriceModel::parse(&def).unwrap();
        let expected = in_memory(&model, &values);
        let (plan, amounts) = walked(&model, expected.rule, &values, limit);
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
        limit in prop_oneof![Just(1usize), Just(4096)],
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
        let plan = plan_of(&model, AttributionRule::EqualShares, totals, &judged, limit);
        let amounts = amounts_of(&plan, &judged);
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

#[test]
fn too_many_distinct_fractions_take_narrowing_passes_and_agree() {
    let def: PriceModelDef =
        serde_json::from_value(serde_json::json!({"type": "per_unit", "unit_amount": "1"}))
            .unwrap();
    let model = PriceModel::parse(&def).unwrap();
    let values: Vec<Decimal> = ["0.3", "0.7", "0.55", "1.2", "0.05", "2.45"]
        .iter()
        .map(|v| v.parse().unwrap())
        .collect();
    let judged: Vec<Judged> = values
        .iter()
        .map(|&quantity| Judged {
            quantity,
            behind: true,
        })
        .collect();
    let mut totals = Totals::default();
    for &one in &judged {
        totals.push(&model, one).unwrap();
    }
    let mut builder =
        PlanBuilder::with_exact_limit(&model, AttributionRule::Marginal, totals, 1).unwrap();
    for &one in &judged {
        builder.push(one).unwrap();
    }
    assert!(matches!(builder.finish().unwrap(), Planning::Refine(_)));
    let (plan, amounts) = walked(&model, AttributionRule::Marginal, &values, 1);
    let expected = in_memory(&model, &values);
    assert_eq!(
        (plan.unattributed, amounts),
        (expected.unattributed, expected.per_event.clone())
    );
    // 5.25 rounds to 5: floors 0+0+0+1+0+2 = 3, residue 2 to .7 and .55.
    assert_eq!(expected.per_event, [0, 1, 1, 1, 0, 2]);
}
