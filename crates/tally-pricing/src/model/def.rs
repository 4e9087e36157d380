//! The serde form of a price model: what the store persists and the API accepts.
//!
//! Decimal parameters deserialize from JSON strings (`"0.15"`) or numbers (`0.15`)
//! exactly, and serialize as strings so no reader turns them into floats.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// A price model as written, before validation. Build a
/// [`PriceModel`](crate::PriceModel) from it to price anything.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum PriceModelDef {
    /// `amount` per period, whatever the quantity.
    Flat {
        /// Minor units per period (`"2900"` is 29.00 €), ≥ 0.
        #[cfg_attr(feature = "openapi", schema(value_type = crate::model::def::DecimalText))]
        amount: Decimal,
    },
    /// `unit_amount` × quantity.
    PerUnit {
        /// Minor units per unit, ≥ 0; may be fractional (`"0.15"` cent per call).
        #[cfg_attr(feature = "openapi", schema(value_type = crate::model::def::DecimalText))]
        unit_amount: Decimal,
    },
    /// `package_amount` per started (`up`) or completed (`down`) block.
    Package {
        /// Minor units per block, ≥ 0.
        #[cfg_attr(feature = "openapi", schema(value_type = crate::model::def::DecimalText))]
        package_amount: Decimal,
        /// Units per block, > 0; may be fractional.
        #[cfg_attr(feature = "openapi", schema(value_type = crate::model::def::DecimalText))]
        package_size: Decimal,
        /// Which blocks are charged; `up` when absent.
        #[serde(default)]
        rounding: PackageRounding,
    },
    /// Each unit priced by the tier it falls in.
    Graduated {
        /// At least one tier; bounds strictly increasing, only the last open.
        tiers: Vec<TierDef>,
    },
    /// All units priced by the tier the total reaches.
    Volume {
        /// At least one tier; bounds strictly increasing, only the last open.
        tiers: Vec<TierDef>,
    },
    /// Per event: `clamp(rate % × value + fixed_amount, per_event_floor, per_event_cap)`.
    Percentage {
        /// Percent of the event's value (`"2.9"` is 2.9 %).
        #[cfg_attr(feature = "openapi", schema(value_type = crate::model::def::DecimalText))]
        rate: Decimal,
        /// The record property holding each event's value.
        property: String,
        /// Minor units added to every event's fee (`"30"`: 0.30 € per payment).
        #[serde(default)]
        #[cfg_attr(feature = "openapi", schema(value_type = crate::model::def::DecimalText))]
        fixed_amount: Decimal,
        /// Smallest fee per event, in minor units.
        #[serde(default)]
        #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::model::def::DecimalText>))]
        per_event_floor: Option<Decimal>,
        /// Largest fee per event, in minor units; not below the floor.
        #[serde(default)]
        #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::model::def::DecimalText>))]
        per_event_cap: Option<Decimal>,
    },
}

/// One tier: an inclusive upper bound (`null` or absent: open) and its prices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TierDef {
    /// Inclusive upper bound in units; `None` for the open last tier.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::model::def::DecimalText>))]
    pub up_to: Option<Decimal>,
    /// Minor units per unit in this tier, ≥ 0; 0 when absent.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = crate::model::def::DecimalText))]
    pub unit_amount: Decimal,
    /// Minor units charged once when the tier is used, ≥ 0; 0 when absent.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = crate::model::def::DecimalText))]
    pub flat_amount: Decimal,
}

/// Which blocks a package price charges: every started one (`up`, the default,
/// as Stripe's `round: up`) or only completed ones (`down`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum PackageRounding {
    /// Charge every started block: 1001 units in blocks of 1000 are 2 blocks.
    #[default]
    Up,
    /// Charge completed blocks only: 1999 units in blocks of 1000 are 1 block.
    Down,
}

/// A decimal as the API reads it: a JSON number or a numeric string
/// (`"0.15"`), exact; for the OpenAPI document only.
#[cfg(feature = "openapi")]
pub struct DecimalText;

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for DecimalText {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
        OneOfBuilder::new()
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::Number)
                    .minimum(Some(0))
                    .maximum(Some(1e12)),
            )
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some("^[0-9]{1,12}(\\.[0-9]{1,6})?$")),
            )
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for DecimalText {}
