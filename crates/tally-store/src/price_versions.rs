//! One version of a product's prices, as a product keeps every one of them
//! (docs/billing.md, "Price versions"; `tally-billing` decides which prices a
//! period).

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use tally_event::Timestamp;
use tally_pricing::ProductBounds;

use crate::catalog::PriceGroup;

/// One version of a product's prices: its price groups and bounds, and from
/// when they price periods.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "PriceVersionDocument", try_from = "PriceVersionDocument")]
pub struct PriceVersion {
    /// 1, 2, … per product.
    pub version: u32,
    /// From when it prices periods (by their start); `None`: since always
    /// (the first version).
    pub effective_from: Option<Timestamp>,
    /// The product's minimum and maximum per period in this version.
    pub bounds: ProductBounds,
    /// The prices, in order; a group keeps its id across versions.
    pub price_groups: Vec<PriceGroup>,
    /// When the version was made.
    pub created_at: Timestamp,
}

/// The stored form: the bounds as the decimals the product's own columns hold
/// (`"100000"`), which is how versions have always been written.
#[derive(Serialize, Deserialize)]
struct PriceVersionDocument {
    version: u32,
    effective_from: Option<Timestamp>,
    min_amount: Option<Decimal>,
    max_amount: Option<Decimal>,
    price_groups: Vec<PriceGroup>,
    created_at: Timestamp,
}

impl From<PriceVersion> for PriceVersionDocument {
    fn from(version: PriceVersion) -> Self {
        PriceVersionDocument {
            version: version.version,
            effective_from: version.effective_from,
            min_amount: version.bounds.min_amount().map(Decimal::from),
            max_amount: version.bounds.max_amount().map(Decimal::from),
            price_groups: version.price_groups,
            created_at: version.created_at,
        }
    }
}

impl TryFrom<PriceVersionDocument> for PriceVersion {
    type Error = tally_pricing::PricingError;

    fn try_from(document: PriceVersionDocument) -> Result<Self, Self::Error> {
        Ok(PriceVersion {
            version: document.version,
            effective_from: document.effective_from,
            bounds: ProductBounds::parse(document.min_amount, document.max_amount)?,
            price_groups: document.price_groups,
            created_at: document.created_at,
        })
    }
}
