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

use tally_event::Timestamp;
use tally_store::{PriceVersion, Product};

/// The prices of `product` as one version.
pub(crate) fn version_of(
    product: &Product,
    version: u32,
    effective_from: Option<Timestamp>,
    created_at: Timestamp,
) -> PriceVersion {
    PriceVersion {
        version,
        effective_from,
        bounds: product.bounds,
        price_groups: product.price_groups.clone(),
        created_at,
    }
}

/// Whether `a` and `b` price alike (same groups and bounds). Prices compare
/// as stored, so one sent again with other decimal text (`"1.50"` for
/// `"1.5"`) is a new version: the text a client sent is kept.
pub(crate) fn same_prices(a: &PriceVersion, b: &PriceVersion) -> bool {
    let documents =
        |version: &PriceVersion| tally_store::documents::to_document(&version.price_groups).ok();
    a.bounds == b.bounds && documents(a) == documents(b)
}

/// Every version of the product's prices, oldest first. A product stored
/// before versions were kept has one: its prices, since always.
pub fn price_versions(product: &Product) -> Vec<PriceVersion> {
    if product.price_versions.is_empty() {
        return vec![version_of(product, 1, None, product.created_at)];
    }
    product.price_versions.clone()
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
pub fn product_at(product: &Product, at: Timestamp) -> Product {
    // Read in place: a product without versions prices as itself, which is
    // what its one implied version (`price_versions`) holds.
    let Some(version) = version_at(&product.price_versions, at) else {
        return product.clone();
    };
    Product {
        bounds: version.bounds,
        price_groups: version.price_groups.clone(),
        ..product.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(n: u32, from: Option<i64>) -> PriceVersion {
        PriceVersion {
            version: n,
            effective_from: from.map(|ms| Timestamp::from_millis(ms).unwrap()),
            bounds: tally_pricing::ProductBounds::default(),
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
