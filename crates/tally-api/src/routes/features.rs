//! `/v1/features`, the entitlements of products and customers, a customer's
//! resolved features and the usage-limit check (docs/entitlements.md).

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use tally_billing::Pagination;
use tally_billing::entitlements::{
    CustomerEntitlementInput, CustomerFeatures, EntitlementInput, FeatureInput, FeaturePatch,
    LimitCheck, ResolvedFeature, value_to_json,
};
use tally_event::decimal_to_json;
use tally_store::{CustomerEntitlement, Feature, ProductEntitlement};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::middleware::Account;
use crate::page::Paginated;
use crate::routes::{PageQuery, page_request};
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_feature, list_features))
        .routes(routes!(get_feature, update_feature))
        .routes(routes!(list_product_entitlements))
        .routes(routes!(put_product_entitlement, delete_product_entitlement))
        .routes(routes!(list_customer_entitlements))
        .routes(routes!(
            put_customer_entitlement,
            delete_customer_entitlement
        ))
        .routes(routes!(customer_features))
        .routes(routes!(check_feature))
}

/// A feature.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FeatureView {
    pub code: String,
    pub name: String,
    pub description: Option<String>,
    /// `boolean` or `number`.
    pub value_type: String,
    /// A boolean, a number, or null (unlimited).
    #[schema(value_type = tally_billing::schema::FeatureValueOutput)]
    pub default_value: serde_json::Value,
    /// `maximum` or `sum` for a number feature; null for a boolean one.
    pub resolution_strategy: Option<String>,
    /// Set: the feature is a usage limit over this aggregator's quantity.
    pub aggregator_id: Option<String>,
    pub aggregator_filter_id: Option<String>,
    /// Thresholds of a usage limit, in percent of the customer's limit.
    #[schema(value_type = Vec<f64>)]
    pub threshold_percents: Vec<serde_json::Value>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<Feature> for FeatureView {
    fn from(feature: Feature) -> Self {
        FeatureView {
            code: feature.code,
            name: feature.name,
            description: feature.description,
            value_type: feature.value_type.as_str().to_owned(),
            default_value: value_to_json(feature.default_value),
            resolution_strategy: feature.resolution_strategy.map(|s| s.as_str().to_owned()),
            aggregator_id: feature.aggregator_id.map(|id| id.to_string()),
            aggregator_filter_id: feature.aggregator_filter_id.map(|id| id.to_string()),
            threshold_percents: feature
                .threshold_percents
                .into_iter()
                .map(decimal_to_json)
                .collect(),
            created_at: feature.created_at.to_rfc3339(),
            updated_at: feature.updated_at.to_rfc3339(),
        }
    }
}

/// Path of a feature.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct FeaturePath {
    /// The feature's code.
    pub code: String,
}

/// Create a feature.
#[utoipa::path(post, path = "/v1/features", tag = "features", request_body = FeatureInput,
    responses(
        (status = 201, description = "created", body = FeatureView),
        (status = 400, description = "invalid feature, every problem listed", body = ErrorBody),
        (status = 404, description = "the aggregator or filter named does not exist", body = ErrorBody),
        (status = 409, description = "a feature has this code", body = ErrorBody)))]
pub async fn create_feature(
    State(state): State<AppState>,
    Account(account): Account,
    ApiJson(input): ApiJson<FeatureInput>,
) -> ApiResult<(StatusCode, axum::Json<FeatureView>)> {
    let feature = state.billing().create_feature(&account, &input).await?;
    Ok((StatusCode::CREATED, axum::Json(feature.into())))
}

/// List features, oldest first.
#[utoipa::path(get, path = "/v1/features", tag = "features", params(PageQuery),
    responses(
        (status = 200, description = "a page of features", body = Paginated<FeatureView>),
        (status = 400, description = "invalid pagination", body = ErrorBody)))]
pub async fn list_features(
    State(state): State<AppState>,
    Account(account): Account,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> ApiResult<axum::Json<Paginated<FeatureView>>> {
    let page = Pagination::from(query);
    let features = state.billing().list_features(&account, page).await?;
    Ok(axum::Json(Paginated::from_page(
        features,
        page_request(page),
        FeatureView::from,
    )))
}

/// Get a feature by code.
#[utoipa::path(get, path = "/v1/features/{code}", tag = "features", params(FeaturePath),
    responses(
        (status = 200, description = "the feature", body = FeatureView),
        (status = 404, description = "no such feature in this account", body = ErrorBody)))]
pub async fn get_feature(
    State(state): State<AppState>,
    Account(account): Account,
    ApiPath(path): ApiPath<FeaturePath>,
) -> ApiResult<axum::Json<FeatureView>> {
    let feature = state.billing().get_feature(&account, &path.code).await?;
    Ok(axum::Json(feature.into()))
}

/// Change a feature: absent fields are kept, `null` clears; the code and
/// the value type never change.
#[utoipa::path(patch, path = "/v1/features/{code}", tag = "features", params(FeaturePath),
    request_body = FeaturePatch,
    responses(
        (status = 200, description = "the updated feature", body = FeatureView),
        (status = 400, description = "invalid change, every problem listed", body = ErrorBody),
        (status = 404, description = "no such feature, or the aggregator or filter named does not exist", body = ErrorBody)))]
pub async fn update_feature(
    State(state): State<AppState>,
    Account(account): Account,
    ApiPath(path): ApiPath<FeaturePath>,
    ApiJson(patch): ApiJson<FeaturePatch>,
) -> ApiResult<axum::Json<FeatureView>> {
    let feature = state
        .billing()
        .update_feature(&account, &path.code, &patch)
        .await?;
    Ok(axum::Json(feature.into()))
}

/// What a product grants of a feature.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProductEntitlementView {
    pub product_id: String,
    pub feature_code: String,
    #[schema(value_type = tally_billing::schema::FeatureValueOutput)]
    pub value: serde_json::Value,
    pub updated_at: String,
}

impl From<ProductEntitlement> for ProductEntitlementView {
    fn from(entitlement: ProductEntitlement) -> Self {
        ProductEntitlementView {
            product_id: entitlement.product_id.to_string(),
            feature_code: entitlement.feature_code,
            value: value_to_json(entitlement.value),
            updated_at: entitlement.updated_at.to_rfc3339(),
        }
    }
}

/// A list of a product's entitlements.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProductEntitlements {
    pub entitlements: Vec<ProductEntitlementView>,
}

/// Path of a product's entitlements.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ProductEntitlementsPath {
    /// `itm_` id.
    pub id: String,
}

/// Path of a product's entitlement to one feature.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ProductEntitlementPath {
    /// `itm_` id.
    pub id: String,
    /// The feature's code.
    pub feature_code: String,
}

/// Everything a product grants, by feature code.
#[utoipa::path(get, path = "/v1/products/{id}/entitlements", tag = "features",
    params(ProductEntitlementsPath),
    responses(
        (status = 200, description = "the product's entitlements", body = ProductEntitlements),
        (status = 404, description = "no such product in this account", body = ErrorBody)))]
pub async fn list_product_entitlements(
    State(state): State<AppState>,
    Account(account): Account,
    ApiPath(path): ApiPath<ProductEntitlementsPath>,
) -> ApiResult<axum::Json<ProductEntitlements>> {
    let entitlements = state
        .billing()
        .product_entitlements(&account, &path.id)
        .await?;
    Ok(axum::Json(ProductEntitlements {
        entitlements: entitlements.into_iter().map(Into::into).collect(),
    }))
}

/// Set what a product grants its subscribers of a feature.
#[utoipa::path(put, path = "/v1/products/{id}/entitlements/{feature_code}", tag = "features",
    params(ProductEntitlementPath), request_body = EntitlementInput,
    responses(
        (status = 200, description = "the entitlement as stored", body = ProductEntitlementView),
        (status = 400, description = "a value of the wrong type", body = ErrorBody),
        (status = 404, description = "no such product or feature", body = ErrorBody)))]
pub async fn put_product_entitlement(
    State(state): State<AppState>,
    Account(account): Account,
    ApiPath(path): ApiPath<ProductEntitlementPath>,
    ApiJson(input): ApiJson<EntitlementInput>,
) -> ApiResult<axum::Json<ProductEntitlementView>> {
    let entitlement = state
        .billing()
        .put_product_entitlement(&account, &path.id, &path.feature_code, &input)
        .await?;
    Ok(axum::Json(entitlement.into()))
}

/// Stop a product granting a feature.
#[utoipa::path(delete, path = "/v1/products/{id}/entitlements/{feature_code}", tag = "features",
    params(ProductEntitlementPath),
    responses(
        (status = 204, description = "removed"),
        (status = 404, description = "no such product, or it grants nothing of this feature", body = ErrorBody)))]
pub async fn delete_product_entitlement(
    State(state): State<AppState>,
    Account(account): Account,
    ApiPath(path): ApiPath<ProductEntitlementPath>,
) -> ApiResult<StatusCode> {
    state
        .billing()
        .delete_product_entitlement(&account, &path.id, &path.feature_code)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A customer's override of a feature.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CustomerEntitlementView {
    pub customer_id: String,
    pub feature_code: String,
    #[schema(value_type = tally_billing::schema::FeatureValueOutput)]
    pub value: serde_json::Value,
    pub reason: Option<String>,
    /// From then on it no longer applies; null: never.
    pub expires_at: Option<String>,
    pub updated_at: String,
}

impl From<CustomerEntitlement> for CustomerEntitlementView {
    fn from(entitlement: CustomerEntitlement) -> Self {
        CustomerEntitlementView {
            customer_id: entitlement.customer_id.to_string(),
            feature_code: entitlement.feature_code,
            value: value_to_json(entitlement.value),
            reason: entitlement.reason,
            expires_at: entitlement.expires_at.map(|at| at.to_rfc3339()),
            updated_at: entitlement.updated_at.to_rfc3339(),
        }
    }
}

/// A list of a customer's overrides.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CustomerEntitlements {
    pub entitlements: Vec<CustomerEntitlementView>,
}

/// Path of a customer's features or overrides.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct CustomerFeaturesPath {
    /// `cus_` id or external id.
    pub id: String,
}

/// Path of a customer's override of, or check of, one feature.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct CustomerFeaturePath {
    /// `cus_` id or external id.
    pub id: String,
    /// The feature's code.
    pub feature_code: String,
}

/// Every override of a customer, expired ones included.
#[utoipa::path(get, path = "/v1/customers/{id}/entitlements", tag = "features",
    params(CustomerFeaturesPath),
    responses(
        (status = 200, description = "the customer's overrides", body = CustomerEntitlements),
        (status = 404, description = "no such customer in this account", body = ErrorBody)))]
pub async fn list_customer_entitlements(
    State(state): State<AppState>,
    Account(account): Account,
    ApiPath(path): ApiPath<CustomerFeaturesPath>,
) -> ApiResult<axum::Json<CustomerEntitlements>> {
    let entitlements = state
        .billing()
        .customer_entitlements(&account, &path.id)
        .await?;
    Ok(axum::Json(CustomerEntitlements {
        entitlements: entitlements.into_iter().map(Into::into).collect(),
    }))
}

/// Set a customer's own value of a feature: it wins over its products'.
#[utoipa::path(put, path = "/v1/customers/{id}/entitlements/{feature_code}", tag = "features",
    params(CustomerFeaturePath), request_body = CustomerEntitlementInput,
    responses(
        (status = 200, description = "the override as stored", body = CustomerEntitlementView),
        (status = 400, description = "a value of the wrong type, a bad date or reason", body = ErrorBody),
        (status = 404, description = "no such customer or feature", body = ErrorBody)))]
pub async fn put_customer_entitlement(
    State(state): State<AppState>,
    Account(account): Account,
    ApiPath(path): ApiPath<CustomerFeaturePath>,
    ApiJson(input): ApiJson<CustomerEntitlementInput>,
) -> ApiResult<axum::Json<CustomerEntitlementView>> {
    let entitlement = state
        .billing()
        .put_customer_entitlement(&account, &path.id, &path.feature_code, &input)
        .await?;
    Ok(axum::Json(entitlement.into()))
}

/// Remove a customer's override.
#[utoipa::path(delete, path = "/v1/customers/{id}/entitlements/{feature_code}", tag = "features",
    params(CustomerFeaturePath),
    responses(
        (status = 204, description = "removed"),
        (status = 404, description = "no such customer, or no override of this feature", body = ErrorBody)))]
pub async fn delete_customer_entitlement(
    State(state): State<AppState>,
    Account(account): Account,
    ApiPath(path): ApiPath<CustomerFeaturePath>,
) -> ApiResult<StatusCode> {
    state
        .billing()
        .delete_customer_entitlement(&account, &path.id, &path.feature_code)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A customer's value of one feature.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ResolvedFeatureView {
    /// `boolean` or `number`.
    pub value_type: String,
    /// A boolean, a number, or null (unlimited).
    #[schema(value_type = tally_billing::schema::FeatureValueOutput)]
    pub value: serde_json::Value,
    /// `customer` (an override), `product` or `default`.
    pub source: String,
    /// The products granting it (source `product`), in subscription order.
    pub product_ids: Vec<String>,
    /// When the override stops applying (source `customer`).
    pub expires_at: Option<String>,
    /// Set for a usage limit.
    pub aggregator_id: Option<String>,
}

impl From<ResolvedFeature> for ResolvedFeatureView {
    fn from(resolved: ResolvedFeature) -> Self {
        ResolvedFeatureView {
            value_type: resolved.feature.value_type.as_str().to_owned(),
            value: value_to_json(resolved.value),
            source: resolved.source.as_str().to_owned(),
            product_ids: resolved.products.iter().map(ToString::to_string).collect(),
            expires_at: resolved.expires_at.map(|at| at.to_rfc3339()),
            aggregator_id: resolved.feature.aggregator_id.map(|id| id.to_string()),
        }
    }
}

/// Every feature of the account, resolved for a customer.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CustomerFeaturesView {
    /// The instant the values hold at.
    pub at: String,
    /// By feature code.
    pub features: BTreeMap<String, ResolvedFeatureView>,
}

impl From<CustomerFeatures> for CustomerFeaturesView {
    fn from(resolved: CustomerFeatures) -> Self {
        CustomerFeaturesView {
            at: resolved.at.to_rfc3339(),
            features: resolved
                .features
                .into_iter()
                .map(|f| (f.feature.code.clone(), f.into()))
                .collect(),
        }
    }
}

/// When to resolve.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AtQuery {
    /// An instant in the forms events accept; default now.
    #[param(value_type = Option<tally_billing::schema::TimestampParam>)]
    pub at: Option<String>,
}

/// A customer's value of every feature, from its override, its started
/// subscriptions' products, or the feature's default.
#[utoipa::path(get, path = "/v1/customers/{id}/features", tag = "features",
    params(CustomerFeaturesPath, AtQuery),
    responses(
        (status = 200, description = "every feature, resolved", body = CustomerFeaturesView),
        (status = 400, description = "a bad instant", body = ErrorBody),
        (status = 404, description = "no such customer in this account", body = ErrorBody)))]
pub async fn customer_features(
    State(state): State<AppState>,
    Account(account): Account,
    ApiPath(path): ApiPath<CustomerFeaturesPath>,
    ApiQuery(query): ApiQuery<AtQuery>,
) -> ApiResult<axum::Json<CustomerFeaturesView>> {
    let features = state
        .billing()
        .customer_features(&account, &path.id, query.at.as_deref())
        .await?;
    Ok(axum::Json(features.into()))
}

/// How much more to check for.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CheckQuery {
    /// "May I use this much more": a non-negative decimal. Without it the
    /// check asks whether the limit is not reached yet.
    #[param(value_type = Option<String>, pattern = "^[0-9]{1,15}(\\.[0-9]{1,6})?$")]
    pub quantity: Option<String>,
}

/// The answer of a check.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LimitCheckView {
    pub code: String,
    pub allowed: bool,
    /// The customer's value: the limit of a usage limit (null: unlimited),
    /// the flag of a boolean feature.
    #[schema(value_type = tally_billing::schema::FeatureValueOutput)]
    pub limit: serde_json::Value,
    /// The period's usage (usage limits only).
    #[schema(value_type = Option<f64>)]
    pub usage: Option<serde_json::Value>,
    /// Left before the limit, never negative; null when unlimited or not a
    /// usage limit.
    #[schema(value_type = Option<f64>)]
    pub remaining: Option<serde_json::Value>,
    /// The quantity asked for, if any.
    #[schema(value_type = Option<f64>)]
    pub quantity: Option<serde_json::Value>,
    /// `customer`, `product` or `default`.
    pub source: String,
    pub period_start: Option<String>,
    pub period_end: Option<String>,
}

impl From<LimitCheck> for LimitCheckView {
    fn from(check: LimitCheck) -> Self {
        LimitCheckView {
            code: check.code,
            allowed: check.allowed,
            limit: value_to_json(check.value),
            usage: check.usage.map(decimal_to_json),
            remaining: check.remaining.map(decimal_to_json),
            quantity: check.quantity.map(decimal_to_json),
            source: check.source.as_str().to_owned(),
            period_start: check.period.map(|p| p.start().to_rfc3339()),
            period_end: check.period.map(|p| p.end().to_rfc3339()),
        }
    }
}

/// Check a feature for a customer now, from every acknowledged event: a
/// boolean feature's flag, or a usage limit against the period's usage.
#[utoipa::path(get, path = "/v1/customers/{id}/features/{feature_code}/check", tag = "features",
    params(CustomerFeaturePath, CheckQuery),
    responses(
        (status = 200, description = "the answer", body = LimitCheckView),
        (status = 400, description = "a bad quantity, or a number feature that is not a usage limit", body = ErrorBody),
        (status = 404, description = "no such customer or feature", body = ErrorBody)))]
pub async fn check_feature(
    State(state): State<AppState>,
    Account(account): Account,
    ApiPath(path): ApiPath<CustomerFeaturePath>,
    ApiQuery(query): ApiQuery<CheckQuery>,
) -> ApiResult<axum::Json<LimitCheckView>> {
    let check = state
        .billing()
        .check_feature(
            &account,
            &path.id,
            &path.feature_code,
            query.quantity.as_deref(),
        )
        .await?;
    Ok(axum::Json(check.into()))
}
