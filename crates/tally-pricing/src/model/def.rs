//! The serde form of a price model: what the store persists and the API accepts.
//!
//! Decimal parameters deserialize from JSON strings (`"0.15"`) or numbers (`0.15`)
//! exactly, and serialize as strings so no reader turns them into floats.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// A price model as written, before validation. Build a
/// [`PriceModel`](crate::PriceModel) from it to price anything.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum PriceModelDef {
    /// `amount` per period, whatever the quantity.
    Flat { amount: Decimal },
    /// `unit_amount` × quantity.
    PerUnit { unit_amount: Decimal },
    /// `package_amount` per started (`up`) or completed (`down`) block.
    Package {
        package_amount: Decimal,
        package_size: Decimal,
        #[serde(default)]
        rounding: PackageRounding,
    },
    /// Each unit priced by the tier it falls in.
    Graduated { tiers: Vec<TierDef> },
    /// All units priced by the tier the total reaches.
    Volume { tiers: Vec<TierDef> },
    /// Per event: `clamp(rate % × value + fixed_amount, per_event_floor, per_event_cap)`.
    Percentage {
        /// Percent of the event's value (`"2.9"` is 2.9 %).
        rate: Decimal,
        /// The record property holding each event's value.
        property: String,
        #[serde(default)]
        fixed_amount: Decimal,
        #[serde(default)]
        per_event_floor: Option<Decimal>,
        #[serde(default)]
        per_event_cap: Option<Decimal>,
    },
}

/// One tier: an inclusive upper bound (`null` or absent: open) and its prices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TierDef {
    #[serde(default)]
    pub up_to: Option<Decimal>,
    #[serde(default)]
    pub unit_amount: Decimal,
    #[serde(default)]
    pub flat_amount: Decimal,
}

/// Which blocks a package price charges: every started one (`up`, the default,
/// as Stripe's `round: up`) or only completed ones (`down`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PackageRounding {
    #[default]
    Up,
    Down,
}
