//! Generated filters, aggregators, price models, tiers and subscriptions are
//! accepted by the crates that validate them.

use proptest::prelude::*;
use rust_decimal::Decimal;
use tally_aggregate::{Aggregator, Filter, Operand, Operator};
use tally_pricing::{PriceModel, PriceModelDef, ProductBounds, TaxRate, price, price_events};
use tally_testkit::{
    AggregatorConfig, FilterConfig, aggregator_def, condition, product_price, quantity,
    subscription, tiers, where_json,
};

proptest! {
    #[test]
    fn filters_parse_back_from_either_spelling((json, filter) in where_json(&FilterConfig::default())) {
        prop_assert_eq!(Filter::parse(&json).unwrap(), filter.clone());
        prop_assert_eq!(Filter::parse(&filter.to_json()).unwrap(), filter);
    }

    #[test]
    fn operands_have_the_shape_of_their_operator(c in condition(&FilterConfig::default())) {
        let shape_ok = match (c.op, &c.operand) {
            (Operator::IsNull | Operator::IsNotNull, Operand::None) => true,
            (Operator::In | Operator::NotIn, Operand::List(_)) => true,
            (Operator::IsNull | Operator::IsNotNull | Operator::In | Operator::NotIn, _) => false,
            (_, operand) => matches!(operand, Operand::Value(_)),
        };
        prop_assert!(shape_ok, "{:?}", c);
        prop_assert!(Filter::parse(&c.to_json()).is_ok());
    }

    #[test]
    fn aggregators_compile(def in aggregator_def(&AggregatorConfig::default())) {
        let compiled = Aggregator::compile(&def);
        prop_assert!(compiled.is_ok(), "{:?}: {:?}", def, compiled.err());
    }

    #[test]
    fn tiers_are_valid(tiers in tiers()) {
        let (last, bounded) = tiers.split_last().unwrap();
        prop_assert!(last.up_to.is_none());
        let bounds: Vec<Decimal> = bounded.iter().map(|t| t.up_to.unwrap()).collect();
        prop_assert!(bounds.windows(2).all(|w| w[0] < w[1]));
        prop_assert!(bounds.first().is_none_or(|b| *b > Decimal::ZERO));
        for def in [PriceModelDef::Graduated { tiers: tiers.clone() }, PriceModelDef::Volume { tiers }] {
            prop_assert!(PriceModel::parse(&def).is_ok());
        }
    }

    #[test]
    fn product_prices_validate_and_price(product in product_price(), q in quantity(), values in prop::collection::vec(quantity(), 0..5)) {
        let model = PriceModel::parse(&product.model);
        prop_assert!(model.is_ok(), "{:?}", model.err());
        let model = model.unwrap();
        let bounds = ProductBounds::parse(product.min_amount, product.max_amount);
        prop_assert!(bounds.is_ok(), "{:?}", product);
        prop_assert!(TaxRate::new(product.tax_rate).is_ok());
        let priced = match product.model {
            PriceModelDef::Percentage { .. } => price_events(&model, &values),
            _ => price(&model, q),
        };
        prop_assert!(priced.is_ok(), "{:?}", priced.err());
    }

    #[test]
    fn periods_contain_their_instant(case in subscription()) {
        let period = case.period();
        prop_assert!(period.is_ok(), "{:?}", case);
        let period = period.unwrap();
        prop_assert!(period.contains(case.at));
        prop_assert!(period.start() >= case.starts_at);
    }
}
