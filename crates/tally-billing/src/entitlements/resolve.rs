//! Which value of each feature a customer has at an instant (docs/entitlements.md,
//! "Resolution"): its own override if one applies, else what the products of
//! its started subscriptions grant, combined by the feature's strategy, else
//! the feature's default.

use rust_decimal::Decimal;
use tally_event::Timestamp;
use tally_store::{
    AccountId, CustomerEntitlement, CustomerId, Feature, FeatureValue, ProductEntitlement,
    ProductId, ResolutionStrategy, Subscription,
};

use crate::error::{BillingError, BillingResult, Problems};
use crate::input::parse_date;
use crate::service::{Billing, all_pages};

/// Where a customer's value of a feature comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntitlementSource {
    /// The customer's own override.
    Customer,
    /// The products of its started subscriptions.
    Product,
    /// The feature's default: nothing grants it.
    Default,
}

impl EntitlementSource {
    /// The wire name: `customer`, `product` or `default`.
    pub fn as_str(self) -> &'static str {
        match self {
            EntitlementSource::Customer => "customer",
            EntitlementSource::Product => "product",
            EntitlementSource::Default => "default",
        }
    }
}

/// A customer's value of one feature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedFeature {
    /// The feature.
    pub feature: Feature,
    /// Its value for the customer.
    pub value: FeatureValue,
    /// Where the value comes from.
    pub source: EntitlementSource,
    /// The products granting it, in subscription order (empty unless the
    /// source is `product`).
    pub products: Vec<ProductId>,
    /// When the customer's override stops applying (source `customer`).
    pub expires_at: Option<Timestamp>,
}

/// Every feature of the account, resolved for a customer at an instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerFeatures {
    /// The instant the values hold at.
    pub at: Timestamp,
    /// One per feature of the account, oldest feature first.
    pub features: Vec<ResolvedFeature>,
}

/// What resolution reads about one customer at one instant.
pub(crate) struct Grants {
    /// The customer's started subscriptions, oldest first.
    pub(crate) subscriptions: Vec<Subscription>,
    products: Vec<ProductEntitlement>,
    overrides: Vec<CustomerEntitlement>,
}

impl Grants {
    /// The feature's value from these grants at `at`.
    pub(crate) fn resolve(&self, feature: &Feature, at: Timestamp) -> ResolvedFeature {
        let own = self
            .overrides
            .iter()
            .find(|o| o.feature_code == feature.code && o.applies_at(at));
        if let Some(own) = own {
            return ResolvedFeature {
                feature: feature.clone(),
                value: own.value,
                source: EntitlementSource::Customer,
                products: Vec::new(),
                expires_at: own.expires_at,
            };
        }
        // One grant per subscribed product: a product in two subscriptions
        // grants twice (two packs of seats add up under `sum`).
        let granted: Vec<&ProductEntitlement> = self
            .subscriptions
            .iter()
            .flat_map(|s| &s.product_ids)
            .filter_map(|product| {
                self.products
                    .iter()
                    .find(|g| &g.product_id == product && g.feature_code == feature.code)
            })
            .collect();
        let values: Vec<FeatureValue> = granted.iter().map(|g| g.value).collect();
        match combine(feature.resolution_strategy, &values) {
            None => ResolvedFeature {
                feature: feature.clone(),
                value: feature.default_value,
                source: EntitlementSource::Default,
                products: Vec::new(),
                expires_at: None,
            },
            Some(value) => {
                let mut products: Vec<ProductId> = Vec::new();
                for grant in granted {
                    if !products.contains(&grant.product_id) {
                        products.push(grant.product_id.clone());
                    }
                }
                ResolvedFeature {
                    feature: feature.clone(),
                    value,
                    source: EntitlementSource::Product,
                    products,
                    expires_at: None,
                }
            }
        }
    }
}

/// Several products' values of one feature as one: a boolean is on when any
/// product turns it on; numbers take the maximum or the sum, unlimited
/// winning either way. `None` when no product grants the feature.
pub(crate) fn combine(
    strategy: Option<ResolutionStrategy>,
    values: &[FeatureValue],
) -> Option<FeatureValue> {
    let (first, rest) = values.split_first()?;
    Some(rest.iter().fold(*first, |total, value| {
        match (total, value) {
            (FeatureValue::Boolean(a), FeatureValue::Boolean(b)) => FeatureValue::Boolean(a || *b),
            (FeatureValue::Unlimited, _) | (_, FeatureValue::Unlimited) => FeatureValue::Unlimited,
            (FeatureValue::Number(a), FeatureValue::Number(b)) => match strategy {
                Some(ResolutionStrategy::Sum) => a
                    .checked_add(*b)
                    .map_or(FeatureValue::Unlimited, FeatureValue::Number),
                _ => FeatureValue::Number(a.max(*b)),
            },
            // A stored value of the other type cannot be written through the
            // checks; keep what was combined so far.
            (total, _) => total,
        }
    }))
}

impl Billing {
    /// Every feature's value for a customer (`cus_` id or external id) at
    /// `at` (the forms events accept; default now).
    pub async fn customer_features(
        &self,
        account: &AccountId,
        customer: &str,
        at: Option<&str>,
    ) -> BillingResult<CustomerFeatures> {
        let mut problems = Problems::default();
        let at = parse_date(at, "/at", &mut problems);
        problems.finish()?;
        let at = at.ok().flatten().unwrap_or_else(|| self.now());
        let customer = self.find_customer(account, customer).await?;
        let features = self.all_features(account).await?;
        let grants = self.grants(account, &customer.id, at).await?;
        Ok(CustomerFeatures {
            at,
            features: features.iter().map(|f| grants.resolve(f, at)).collect(),
        })
    }

    /// What resolution reads for a customer at `at`: three store reads
    /// whatever the number of features.
    pub(crate) async fn grants(
        &self,
        account: &AccountId,
        customer: &CustomerId,
        at: Timestamp,
    ) -> BillingResult<Grants> {
        let subscriptions = self.active_subscriptions(account, customer, at).await?;
        let mut products: Vec<ProductId> = Vec::new();
        for product in subscriptions.iter().flat_map(|s| &s.product_ids) {
            if !products.contains(product) {
                products.push(product.clone());
            }
        }
        Ok(Grants {
            products: self.store.product_entitlements(account, &products).await?,
            overrides: self.store.customer_entitlements(account, customer).await?,
            subscriptions,
        })
    }

    /// Every feature of the account, oldest first (catalogs are small).
    pub(crate) async fn all_features(&self, account: &AccountId) -> BillingResult<Vec<Feature>> {
        all_pages(|page| self.store.list_features(account, page)).await
    }
}

/// `Invalid` at `/quantity` unless `quantity` is a non-negative decimal.
pub(crate) fn requested_quantity(quantity: Option<&str>) -> BillingResult<Option<Decimal>> {
    let Some(text) = quantity else {
        return Ok(None);
    };
    match text.parse::<Decimal>() {
        Ok(number) if number >= Decimal::ZERO => Ok(Some(number)),
        Ok(_) => Err(BillingError::invalid(
            "/quantity",
            "out_of_range",
            "quantity must not be negative",
        )),
        Err(_) => Err(BillingError::invalid(
            "/quantity",
            "invalid_number",
            "quantity must be a decimal number",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(value: i64) -> FeatureValue {
        FeatureValue::Number(Decimal::from(value))
    }

    #[test]
    fn products_combine_by_strategy_and_unlimited_wins() {
        let max = Some(ResolutionStrategy::Maximum);
        let sum = Some(ResolutionStrategy::Sum);
        assert_eq!(combine(max, &[]), None);
        assert_eq!(combine(max, &[n(5), n(12), n(3)]), Some(n(12)));
        assert_eq!(combine(sum, &[n(5), n(12), n(3)]), Some(n(20)));
        assert_eq!(
            combine(sum, &[n(5), FeatureValue::Unlimited]),
            Some(FeatureValue::Unlimited)
        );
        assert_eq!(
            combine(max, &[FeatureValue::Unlimited, n(5)]),
            Some(FeatureValue::Unlimited)
        );
        let on = FeatureValue::Boolean(true);
        let off = FeatureValue::Boolean(false);
        assert_eq!(combine(None, &[off, on, off]), Some(on));
        assert_eq!(combine(None, &[off, off]), Some(off));
    }

    #[test]
    fn a_quantity_is_a_non_negative_decimal() {
        assert_eq!(requested_quantity(None).unwrap(), None);
        assert_eq!(
            requested_quantity(Some("2.5")).unwrap(),
            Some(Decimal::new(25, 1))
        );
        assert!(requested_quantity(Some("-1")).is_err());
        assert!(requested_quantity(Some("lots")).is_err());
    }
}
