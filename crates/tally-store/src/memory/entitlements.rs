//! `EntitlementStore` for `MemoryStore`.

use async_trait::async_trait;

use super::MemoryStore;
use super::catalog::{get, oldest_first};
use crate::entitlements::{CustomerEntitlement, Feature, ProductEntitlement};
use crate::error::{StoreError, StoreResult};
use crate::ids::{AccountId, CustomerId, ProductId};
use crate::page::{Page, PageRequest};
use crate::traits::EntitlementStore;

#[async_trait]
impl EntitlementStore for MemoryStore {
    async fn create_feature(&self, account: &AccountId, feature: &Feature) -> StoreResult<Feature> {
        self.with_tenant(account, |t| {
            if t.features.contains_key(&feature.code) {
                return Err(StoreError::conflict("feature", "code already exists"));
            }
            t.features.insert(feature.code.clone(), feature.clone());
            Ok(feature.clone())
        })
    }

    async fn get_feature(&self, account: &AccountId, code: &str) -> StoreResult<Feature> {
        self.with_tenant(account, |t| get(&t.features, &code.to_owned(), "feature"))
    }

    async fn list_features(
        &self,
        account: &AccountId,
        page: PageRequest,
    ) -> StoreResult<Page<Feature>> {
        self.with_tenant(account, |t| {
            oldest_first(t.features.values().cloned(), page, |f| {
                (f.created_at, f.code.clone())
            })
        })
    }

    async fn update_feature(&self, account: &AccountId, feature: &Feature) -> StoreResult<Feature> {
        self.with_tenant(account, |t| {
            let stored = t
                .features
                .get_mut(&feature.code)
                .ok_or(StoreError::not_found("feature"))?;
            *stored = Feature {
                value_type: stored.value_type,
                created_at: stored.created_at,
                ..feature.clone()
            };
            Ok(stored.clone())
        })
    }

    async fn put_product_entitlement(
        &self,
        account: &AccountId,
        entitlement: &ProductEntitlement,
    ) -> StoreResult<ProductEntitlement> {
        self.with_tenant(account, |t| {
            let key = (
                entitlement.product_id.clone(),
                entitlement.feature_code.clone(),
            );
            t.product_entitlements.insert(key, entitlement.clone());
            Ok(entitlement.clone())
        })
    }

    async fn delete_product_entitlement(
        &self,
        account: &AccountId,
        product: &ProductId,
        feature_code: &str,
    ) -> StoreResult<()> {
        self.with_tenant(account, |t| {
            let key = (product.clone(), feature_code.to_owned());
            t.product_entitlements
                .remove(&key)
                .map(|_| ())
                .ok_or(StoreError::not_found("entitlement"))
        })
    }

    async fn product_entitlements(
        &self,
        account: &AccountId,
        products: &[ProductId],
    ) -> StoreResult<Vec<ProductEntitlement>> {
        self.with_tenant(account, |t| {
            Ok(t.product_entitlements
                .values()
                .filter(|e| products.contains(&e.product_id))
                .cloned()
                .collect())
        })
    }

    async fn put_customer_entitlement(
        &self,
        account: &AccountId,
        entitlement: &CustomerEntitlement,
    ) -> StoreResult<CustomerEntitlement> {
        self.with_tenant(account, |t| {
            let key = (
                entitlement.customer_id.clone(),
                entitlement.feature_code.clone(),
            );
            t.customer_entitlements.insert(key, entitlement.clone());
            Ok(entitlement.clone())
        })
    }

    async fn delete_customer_entitlement(
        &self,
        account: &AccountId,
        customer: &CustomerId,
        feature_code: &str,
    ) -> StoreResult<()> {
        self.with_tenant(account, |t| {
            let key = (customer.clone(), feature_code.to_owned());
            t.customer_entitlements
                .remove(&key)
                .map(|_| ())
                .ok_or(StoreError::not_found("entitlement"))
        })
    }

    async fn customer_entitlements(
        &self,
        account: &AccountId,
        customer: &CustomerId,
    ) -> StoreResult<Vec<CustomerEntitlement>> {
        self.with_tenant(account, |t| {
            Ok(t.customer_entitlements
                .values()
                .filter(|e| &e.customer_id == customer)
                .cloned()
                .collect())
        })
    }
}
