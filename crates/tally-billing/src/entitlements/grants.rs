//! Entitlements: the value a product grants its subscribers, and a
//! customer's own override (docs/entitlements.md, "Entitlements").

use tally_store::{AccountId, CustomerEntitlement, Feature, ProductEntitlement, ProductId};

use super::values::check_value;
use crate::catalog::check_optional_text;
use crate::error::{BillingError, BillingResult, Problems};
use crate::input::parse_date;
use crate::service::Billing;

/// A product's value of a feature (`PUT /v1/products/{id}/entitlements/{code}`).
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = ProductEntitlementRequest, example = json!({"value": 10})))]
#[serde(deny_unknown_fields)]
pub struct EntitlementInput {
    /// Required, of the feature's type: `true`/`false`, or a number (`null`:
    /// unlimited).
    #[serde(default, deserialize_with = "crate::input::present_value")]
    #[cfg_attr(feature = "openapi", schema(value_type = crate::schema::FeatureValueInput, required = true))]
    pub value: Option<serde_json::Value>,
}

/// A customer's override (`PUT /v1/customers/{id}/entitlements/{code}`).
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = CustomerEntitlementRequest, example = json!({"value": true, "reason": "pilot", "expires_at": null})))]
#[serde(deny_unknown_fields)]
pub struct CustomerEntitlementInput {
    /// Required, of the feature's type: `true`/`false`, or a number (`null`:
    /// unlimited).
    #[serde(default, deserialize_with = "crate::input::present_value")]
    #[cfg_attr(feature = "openapi", schema(value_type = crate::schema::FeatureValueInput, required = true))]
    pub value: Option<serde_json::Value>,
    /// Why it was granted: non-blank, at most 255 characters.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::schema::NameText>))]
    pub reason: Option<String>,
    /// From this instant on the override no longer applies; `null`: never.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::schema::TimestampParam>))]
    pub expires_at: Option<String>,
}

impl Billing {
    /// Sets what a product grants of a feature. `NotFound` for the product
    /// or the feature; `Invalid` for a value of the wrong type.
    pub async fn put_product_entitlement(
        &self,
        account: &AccountId,
        product: &str,
        code: &str,
        input: &EntitlementInput,
    ) -> BillingResult<ProductEntitlement> {
        let product = self.get_product(account, product).await?;
        let feature = self.get_feature(account, code).await?;
        let mut problems = Problems::default();
        let value = required_value(&feature, input.value.as_ref(), &mut problems);
        let value = problems.finish_with(value)?;
        let entitlement = ProductEntitlement {
            product_id: product.id,
            feature_code: feature.code,
            value,
            updated_at: self.now(),
        };
        let done = self
            .store
            .put_product_entitlement(account, &entitlement)
            .await?;
        self.product_grants_changed(account, &done.product_id).await;
        Ok(done)
    }

    /// Removes what a product grants of a feature; `NotFound` when it grants
    /// nothing of it.
    pub async fn delete_product_entitlement(
        &self,
        account: &AccountId,
        product: &str,
        code: &str,
    ) -> BillingResult<()> {
        let product = self.get_product(account, product).await?;
        self.store
            .delete_product_entitlement(account, &product.id, code)
            .await?;
        self.product_grants_changed(account, &product.id).await;
        Ok(())
    }

    /// Everything a product grants, by feature code.
    pub async fn product_entitlements(
        &self,
        account: &AccountId,
        product: &str,
    ) -> BillingResult<Vec<ProductEntitlement>> {
        let id = ProductId::parse(product).map_err(|_| BillingError::not_found("product"))?;
        let product = self.store.get_product(account, &id).await?;
        Ok(self
            .store
            .product_entitlements(account, std::slice::from_ref(&product.id))
            .await?)
    }

    /// Sets a customer's override of a feature (by `cus_` id or external
    /// id). `NotFound` for the customer or the feature; `Invalid` for a value
    /// of the wrong type, a blank reason or a bad date.
    pub async fn put_customer_entitlement(
        &self,
        account: &AccountId,
        customer: &str,
        code: &str,
        input: &CustomerEntitlementInput,
    ) -> BillingResult<CustomerEntitlement> {
        let customer = self.find_customer(account, customer).await?;
        let feature = self.get_feature(account, code).await?;
        let mut problems = Problems::default();
        let value = required_value(&feature, input.value.as_ref(), &mut problems);
        if let Some(reason) = &input.reason {
            check_optional_text(reason, "/reason", &mut problems);
        }
        let expires_at = parse_date(input.expires_at.as_deref(), "/expires_at", &mut problems);
        let value = problems.finish_with(value)?;
        let entitlement = CustomerEntitlement {
            customer_id: customer.id,
            feature_code: feature.code,
            value,
            reason: input.reason.clone(),
            expires_at: expires_at.ok().flatten(),
            updated_at: self.now(),
        };
        let done = self
            .store
            .put_customer_entitlement(account, &entitlement)
            .await?;
        // Only this customer's limits moved.
        self.watch_thresholds(account, [done.customer_id.clone()])
            .await;
        Ok(done)
    }

    /// Removes a customer's override; `NotFound` when there is none.
    pub async fn delete_customer_entitlement(
        &self,
        account: &AccountId,
        customer: &str,
        code: &str,
    ) -> BillingResult<()> {
        let customer = self.find_customer(account, customer).await?;
        self.store
            .delete_customer_entitlement(account, &customer.id, code)
            .await?;
        self.watch_thresholds(account, [customer.id]).await;
        Ok(())
    }

    /// Every override of a customer, expired ones included, by feature code.
    pub async fn customer_entitlements(
        &self,
        account: &AccountId,
        customer: &str,
    ) -> BillingResult<Vec<CustomerEntitlement>> {
        let customer = self.find_customer(account, customer).await?;
        Ok(self
            .store
            .customer_entitlements(account, &customer.id)
            .await?)
    }
}

impl Billing {
    /// A product's grants changed: the limits of the customers subscribed
    /// to it may have moved. A failure to list them is kept for
    /// [`Billing::threshold_error`], not the change's.
    async fn product_grants_changed(&self, account: &AccountId, product: &ProductId) {
        match self.all_subscriptions(account, None).await {
            Ok(subscriptions) => {
                let customers = subscriptions
                    .into_iter()
                    .filter(|s| s.product_ids.contains(product))
                    .map(|s| s.customer_id);
                self.watch_thresholds(account, customers).await;
            }
            Err(error) => self.record_threshold_error(error.to_string()),
        }
    }
}

fn required_value(
    feature: &Feature,
    value: Option<&serde_json::Value>,
    problems: &mut Problems,
) -> Option<tally_store::FeatureValue> {
    match value {
        None => {
            problems.push("/value", "required", "this field is required");
            None
        }
        Some(value) => check_value(feature.value_type, value, "/value", problems),
    }
}
