//! Price versions (docs/billing.md, "Price versions"): every change of a
//! product's prices (its price groups or bounds) is kept as a new version
//! with the instant from which it prices periods.
//!
//! A period is priced with the version in effect at its start: among the
//! versions whose `effective_from` is at or before the start, the one with
//! the latest `effective_from` (ties: the later version). The first version
//! has none: it is in effect since always, so a product created today prices
//! a subscription that started last month. A change effective inside a
//! period therefore applies from the next period; one effective at or before
//! a period's start reprices that period's draft (never a finalized invoice,
//! which keeps its own snapshot).

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use tally_event::Timestamp;
use tally_store::{PriceGroup, Product, StoreError};

use crate::error::{BillingError, BillingResult};
use crate::invoice::basis::BasisGroup;

/// One version of a product's prices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriceVersion {
    /// 1, 2, … per product.
    pub version: u32,
    /// From when it prices periods (by their start); `None`: since always
    /// (the first version).
    pub effective_from: Option<Timestamp>,
    /// Minor units per period.
    pub min_amount: Option<Decimal>,
    /// Minor units per period.
    pub max_amount: Option<Decimal>,
    /// The prices, in order; a group keeps its id across versions.
    pub price_groups: Vec<BasisGroup>,
    /// When the version was made.
    pub created_at: Timestamp,
}

impl PriceVersion {
    /// The prices of `product` as one version.
    pub(crate) fn of(
        product: &Product,
        version: u32,
        effective_from: Option<Timestamp>,
        created_at: Timestamp,
    ) -> Self {
        PriceVersion {
            version,
            effective_from,
            min_amount: product.min_amount,
            max_amount: product.max_amount,
            price_groups: product.price_groups.iter().map(BasisGroup::from).collect(),
            created_at,
        }
    }

    /// Whether `other` prices like this version (same groups and bounds).
    pub(crate) fn same_prices(&self, other: &PriceVersion) -> bool {
        self.min_amount == other.min_amount
            && self.max_amount == other.max_amount
            && self.price_groups == other.price_groups
    }
}

/// Every version of the product's prices, oldest first. A product stored
/// before versions were kept has one: its prices, since always.
pub fn price_versions(product: &Product) -> BillingResult<Vec<PriceVersion>> {
    let versions: Vec<PriceVersion> = serde_json::from_value(product.price_versions.clone())
        .map_err(|e| {
            BillingError::Store(StoreError::Corrupt(format!(
                "product {} price versions: {e}",
                product.id
            )))
        })?;
    if versions.is_empty() {
        return Ok(vec![PriceVersion::of(product, 1, None, product.created_at)]);
    }
    Ok(versions)
}

/// The version in effect at `at`: the latest `effective_from` at or before
/// it (ties: the later version); the first version before any.
pub fn version_at(versions: &[PriceVersion], at: Timestamp) -> Option<&PriceVersion> {
    versions
        .iter()
        .filter(|v| v.effective_from.is_none_or(|from| from <= at))
        .max_by_key(|v| (v.effective_from, v.version))
}

/// The product as it prices a period starting at `at`: its price groups and
/// bounds those of the version in effect then.
pub fn product_at(product: &Product, at: Timestamp) -> BillingResult<Product> {
    let versions = price_versions(product)?;
    let Some(version) = version_at(&versions, at) else {
        return Ok(product.clone());
    };
    let groups = version
        .price_groups
        .iter()
        .map(BasisGroup::to_store)
        .collect::<BillingResult<Vec<PriceGroup>>>()?;
    Ok(Product {
        min_amount: version.min_amount,
        max_amount: version.max_amount,
        price_groups: groups,
        ..product.clone()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(n: u32, from: Option<i64>) -> PriceVersion {
        PriceVersion {
            version: n,
            effective_from: from.map(|ms| Timestamp::from_millis(ms).unwrap()),
            min_amount: None,
            max_amount: None,
            price_groups: Vec::new(),
            created_at: Timestamp::from_millis(0).unwrap(),
        }
    }

    fn picked(versions: &[PriceVersion], at: i64) -> u32 {
        version_at(versions, Timestamp::from_millis(at).unwrap())
            .unwrap()
            .version
    }

    #[test]
    fn the_latest_effective_version_at_or_before_the_instant_prices_it() {
        // v2 from 100, v3 (made later) from 50, v4 from 100 again.
        let versions = [
            version(1, None),
            version(2, Some(100)),
            version(3, Some(50)),
            version(4, Some(100)),
        ];
        assert_eq!(picked(&versions, 0), 1, "the first version since always");
        assert_eq!(picked(&versions, 49), 1);
        assert_eq!(picked(&versions, 50), 3);
        assert_eq!(picked(&versions, 99), 3);
        assert_eq!(picked(&versions, 100), 4, "ties: the later version");
        assert_eq!(picked(&versions, 1_000), 4);
    }
}
