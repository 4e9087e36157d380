//! Price models, tier lists and product prices (docs/pricing.md).

use std::ops::RangeInclusive;

use proptest::prelude::*;
use rust_decimal::Decimal;
use tally_pricing::{MAX_TIERS, PackageRounding, PriceModelDef, TierDef};

/// A price parameter in minor units: non-negative, below 10^9, up to 4 decimals
/// (`"0.15"` cent per call is a real price).
pub fn amount() -> impl Strategy<Value = Decimal> {
    (0_i64..1_000_000_000, 0_u32..=4).prop_map(|(mantissa, scale)| Decimal::new(mantissa, scale))
}

/// A non-negative quantity: mostly on the scale of [`TierConfig::default`]'s bounds
/// (below 30 000, whole or with 3 decimals) so that tier changes are crossed,
/// sometimes far beyond them (below 10^9).
pub fn quantity() -> impl Strategy<Value = Decimal> {
    prop_oneof![
        4 => (0_i64..30_000).prop_map(Decimal::from),
        4 => (0_i64..30_000_000).prop_map(|milli| Decimal::new(milli, 3)),
        1 => (0_i64..1_000_000_000, 0_u32..=3).prop_map(|(m, scale)| Decimal::new(m, scale)),
    ]
}

/// What [`tiers_with`] generates.
#[derive(Debug, Clone)]
pub struct TierConfig {
    /// How many tiers, the open one included (at most [`MAX_TIERS`]).
    pub tiers: RangeInclusive<usize>,
    /// The width of each bounded tier (its `up_to` minus the previous one); must
    /// yield positive values.
    pub widths: BoxedStrategy<Decimal>,
    /// Unit and flat amounts (non-negative).
    pub prices: BoxedStrategy<Decimal>,
}

impl Default for TierConfig {
    /// 1..=5 tiers, widths of 0.01 to 4999 units (whole, or with 1 or 2
    /// decimals), prices from [`amount`].
    fn default() -> Self {
        Self {
            tiers: 1..=5,
            widths: (1_i64..5_000, 0_u32..=2)
                .prop_map(|(step, scale)| Decimal::new(step, scale))
                .boxed(),
            prices: amount().boxed(),
        }
    }
}

/// A valid tier list with the default [`TierConfig`].
///
/// ```
/// use proptest::prelude::*;
/// use tally_pricing::{PriceModel, PriceModelDef};
///
/// proptest!(|(tiers in tally_testkit::tiers())| {
///     prop_assert!(tiers.last().unwrap().up_to.is_none());
///     let def = PriceModelDef::Graduated { tiers };
///     prop_assert!(PriceModel::parse(&def).is_ok());
/// });
/// ```
pub fn tiers() -> BoxedStrategy<Vec<TierDef>> {
    tiers_with(&TierConfig::default())
}

/// A valid tier list: strictly increasing positive bounds (each the previous one
/// plus a width), only the last tier open, non-negative prices.
///
/// ```
/// use proptest::prelude::*;
/// use rust_decimal::Decimal;
/// use tally_testkit::{TierConfig, tiers_with};
///
/// // Three tiers of 1 to 99 units each, whole-cent prices.
/// let config = TierConfig {
///     tiers: 3..=3,
///     widths: (1_i64..100).prop_map(Decimal::from).boxed(),
///     prices: (0_i64..500).prop_map(Decimal::from).boxed(),
/// };
/// proptest!(|(tiers in tiers_with(&config))| {
///     prop_assert_eq!(tiers.len(), 3);
///     prop_assert!(tiers[0].up_to < tiers[1].up_to);
/// });
/// ```
pub fn tiers_with(config: &TierConfig) -> BoxedStrategy<Vec<TierDef>> {
    let count = (*config.tiers.start()).max(1)..=(*config.tiers.end()).clamp(1, MAX_TIERS);
    let row = (
        config
            .widths
            .clone()
            .prop_filter("a positive width", |w| *w > Decimal::ZERO),
        config.prices.clone(),
        config.prices.clone(),
    );
    prop::collection::vec(row, count)
        .prop_map(|rows| {
            let last = rows.len() - 1;
            let mut bound = Decimal::ZERO;
            rows.into_iter()
                .enumerate()
                .map(|(index, (width, unit_amount, flat_amount))| {
                    bound += width;
                    TierDef {
                        up_to: (index < last).then_some(bound),
                        unit_amount,
                        flat_amount,
                    }
                })
                .collect()
        })
        .boxed()
}

/// Any valid model priced from an aggregated quantity: `flat`, `per_unit`,
/// `package` (either rounding, sizes 0.1 to 99.9), `graduated` and `volume`.
pub fn quantity_model() -> BoxedStrategy<PriceModelDef> {
    prop_oneof![
        amount().prop_map(|amount| PriceModelDef::Flat { amount }),
        amount().prop_map(|unit_amount| PriceModelDef::PerUnit { unit_amount }),
        (amount(), 1_i64..1000, any::<bool>()).prop_map(|(package_amount, size, up)| {
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
    ]
    .boxed()
}

/// A valid `percentage` model over `property`: a rate below 10^7 % (usually a few
/// percent), a fixed amount, and an optional floor and cap (floor ≤ cap).
pub fn percentage_model(property: &str) -> BoxedStrategy<PriceModelDef> {
    let property = property.to_owned();
    (
        amount(),
        amount(),
        prop::option::of(amount()),
        prop::option::of(amount()),
    )
        .prop_map(move |(rate, fixed_amount, a, b)| {
            let (floor, cap) = match (a, b) {
                (Some(a), Some(b)) => (Some(a.min(b)), Some(a.max(b))),
                other => other,
            };
            PriceModelDef::Percentage {
                rate: rate / Decimal::ONE_HUNDRED,
                property: property.clone(),
                fixed_amount,
                per_event_floor: floor,
                per_event_cap: cap,
            }
        })
        .boxed()
}

/// Any valid model of the six, percentage models reading `amount`.
///
/// ```
/// use proptest::prelude::*;
/// use tally_pricing::PriceModel;
///
/// proptest!(|(def in tally_testkit::price_model())| {
///     prop_assert!(PriceModel::parse(&def).is_ok());
/// });
/// ```
pub fn price_model() -> BoxedStrategy<PriceModelDef> {
    prop_oneof![5 => quantity_model(), 1 => percentage_model("amount")].boxed()
}

/// A product's price group with its bounds and the subscription's tax rate.
#[derive(Debug, Clone, PartialEq)]
pub struct ProductPrice {
    /// The price model.
    pub model: PriceModelDef,
    /// `min_amount`, in whole minor units.
    pub min_amount: Option<Decimal>,
    /// `max_amount`, in whole minor units, never below `min_amount`.
    pub max_amount: Option<Decimal>,
    /// Tax rate in percent, 0 to 100 with up to 2 decimals.
    pub tax_rate: Decimal,
}

/// A valid model with optional `min_amount`/`max_amount` (either, both or none;
/// whole minor units below 10^9, min ≤ max) and a tax rate, all accepted by
/// `PriceModel::parse`, `ProductBounds::parse` and `TaxRate::new`.
///
/// ```
/// use proptest::prelude::*;
/// use tally_pricing::{PriceModel, ProductBounds, TaxRate};
///
/// proptest!(|(product in tally_testkit::product_price())| {
///     prop_assert!(PriceModel::parse(&product.model).is_ok());
///     prop_assert!(ProductBounds::parse(product.min_amount, product.max_amount).is_ok());
///     prop_assert!(TaxRate::new(product.tax_rate).is_ok());
/// });
/// ```
pub fn product_price() -> BoxedStrategy<ProductPrice> {
    let bound = || prop::option::of((0_i64..1_000_000_000).prop_map(Decimal::from));
    (price_model(), bound(), bound(), 0_i64..=10_000)
        .prop_map(|(model, a, b, basis_points)| {
            let (min_amount, max_amount) = match (a, b) {
                (Some(a), Some(b)) => (Some(a.min(b)), Some(a.max(b))),
                other => other,
            };
            ProductPrice {
                model,
                min_amount,
                max_amount,
                tax_rate: Decimal::new(basis_points, 2),
            }
        })
        .boxed()
}
