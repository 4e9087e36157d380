//! `/v1/products`: CRUD, each product with its price groups (`grp_…`).

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use tally_billing::catalog::price_versions::price_versions;
use tally_billing::{Pagination, ProductInput};
use tally_pricing::PriceModel;
use tally_store::{Page, PriceGroup, PriceVersion, Product};
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
        .routes(routes!(create_product, list_products))
        .routes(routes!(get_product, update_product, delete_product))
}

/// A price group.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PriceGroupView {
    pub id: String,
    pub name: String,
    pub aggregator_filter_id: Option<String>,
    #[schema(value_type = Object)]
    pub price: PriceModel,
}

/// A product.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProductView {
    pub id: String,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub aggregator_id: Option<String>,
    pub currency: String,
    /// Minor units, an exact JSON number.
    #[schema(value_type = Option<f64>)]
    pub min_amount: Option<serde_json::Value>,
    /// Minor units, an exact JSON number.
    #[schema(value_type = Option<f64>)]
    pub max_amount: Option<serde_json::Value>,
    pub price_groups: Vec<PriceGroupView>,
    /// Every version of the prices, oldest first; the last is the one above.
    pub price_versions: Vec<PriceVersionView>,
    pub created_at: String,
}

/// One version of a product's prices.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PriceVersionView {
    /// 1, 2, … per product.
    pub version: u32,
    /// From when it prices periods, by their start; null: since always.
    pub effective_from: Option<String>,
    #[schema(value_type = Option<f64>)]
    pub min_amount: Option<serde_json::Value>,
    #[schema(value_type = Option<f64>)]
    pub max_amount: Option<serde_json::Value>,
    pub price_groups: Vec<PriceGroupView>,
    pub created_at: String,
}

impl From<PriceVersion> for PriceVersionView {
    fn from(version: PriceVersion) -> Self {
        PriceVersionView {
            version: version.version,
            effective_from: version.effective_from.map(|at| at.to_rfc3339()),
            min_amount: amount(version.bounds.min_amount()),
            max_amount: amount(version.bounds.max_amount()),
            price_groups: version.price_groups.into_iter().map(Into::into).collect(),
            created_at: version.created_at.to_rfc3339(),
        }
    }
}

impl From<PriceGroup> for PriceGroupView {
    fn from(group: PriceGroup) -> Self {
        PriceGroupView {
            id: group.id.to_string(),
            name: group.name,
            aggregator_filter_id: group.aggregator_filter_id.map(|id| id.to_string()),
            price: group.price,
        }
    }
}

/// A bound in minor units, as a JSON number.
fn amount(minor_units: Option<i64>) -> Option<serde_json::Value> {
    minor_units.map(serde_json::Value::from)
}

/// The product as the API shows it, its price versions read.
fn view(product: Product) -> ProductView {
    let versions = price_versions(&product);
    ProductView {
        id: product.id.to_string(),
        name: product.name,
        kind: product.kind.as_str().to_owned(),
        aggregator_id: product.aggregator_id.map(|id| id.to_string()),
        currency: product.currency.code().to_owned(),
        min_amount: amount(product.bounds.min_amount()),
        max_amount: amount(product.bounds.max_amount()),
        price_groups: product.price_groups.into_iter().map(Into::into).collect(),
        price_versions: versions.into_iter().map(Into::into).collect(),
        created_at: product.created_at.to_rfc3339(),
    }
}

/// Create a product with its price groups.
#[utoipa::path(post, path = "/v1/products", tag = "products", request_body = ProductInput,
    responses(
        (status = 201, description = "created", body = ProductView),
        (status = 400, description = "invalid product, every problem listed", body = ErrorBody)))]
pub async fn create_product(
    State(state): State<AppState>,
    Account(account): Account,
    ApiJson(input): ApiJson<ProductInput>,
) -> ApiResult<(StatusCode, axum::Json<ProductView>)> {
    let product = state.billing().create_product(&account, &input).await?;
    Ok((StatusCode::CREATED, axum::Json(view(product))))
}

/// List products, oldest first.
#[utoipa::path(get, path = "/v1/products", tag = "products", params(PageQuery),
    responses(
        (status = 200, description = "a page of products", body = Paginated<ProductView>),
        (status = 400, description = "invalid pagination", body = ErrorBody)))]
pub async fn list_products(
    State(state): State<AppState>,
    Account(account): Account,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> ApiResult<axum::Json<Paginated<ProductView>>> {
    let page = Pagination::from(query);
    let products = state.billing().list_products(&account, page).await?;
    let viewed = Page {
        total: products.total,
        items: products.items.into_iter().map(view).collect(),
    };
    Ok(axum::Json(Paginated::from_page(
        viewed,
        page_request(page),
        |product| product,
    )))
}

/// Path of a product.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ProductPath {
    /// `itm_` id.
    pub id: String,
}

/// Get a product.
#[utoipa::path(get, path = "/v1/products/{id}", tag = "products", params(ProductPath),
    responses(
        (status = 200, description = "the product", body = ProductView),
        (status = 404, description = "no such product in this account", body = ErrorBody)))]
pub async fn get_product(
    State(state): State<AppState>,
    Account(account): Account,
    ApiPath(path): ApiPath<ProductPath>,
) -> ApiResult<axum::Json<ProductView>> {
    let product = state.billing().get_product(&account, &path.id).await?;
    Ok(axum::Json(view(product)))
}

/// Replace a product, price groups included.
#[utoipa::path(put, path = "/v1/products/{id}", tag = "products", params(ProductPath),
    request_body = ProductInput,
    responses(
        (status = 200, description = "the updated product", body = ProductView),
        (status = 400, description = "invalid product", body = ErrorBody),
        (status = 404, description = "no such product in this account", body = ErrorBody)))]
pub async fn update_product(
    State(state): State<AppState>,
    Account(account): Account,
    ApiPath(path): ApiPath<ProductPath>,
    ApiJson(input): ApiJson<ProductInput>,
) -> ApiResult<axum::Json<ProductView>> {
    let product = state
        .billing()
        .update_product(&account, &path.id, &input)
        .await?;
    Ok(axum::Json(view(product)))
}

/// Delete a product that no subscription uses.
#[utoipa::path(delete, path = "/v1/products/{id}", tag = "products", params(ProductPath),
    responses(
        (status = 204, description = "deleted"),
        (status = 404, description = "no such product in this account", body = ErrorBody),
        (status = 409, description = "a subscription uses it", body = ErrorBody)))]
pub async fn delete_product(
    State(state): State<AppState>,
    Account(account): Account,
    ApiPath(path): ApiPath<ProductPath>,
) -> ApiResult<StatusCode> {
    state.billing().delete_product(&account, &path.id).await?;
    Ok(StatusCode::NO_CONTENT)
}
