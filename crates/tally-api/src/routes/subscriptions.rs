//! `/v1/subscriptions`: CRUD.

use axum::extract::State;
use axum::http::StatusCode;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use tally_billing::{BillingIntervalInput, Pagination, SubscriptionInput};
use tally_store::Subscription;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::middleware::Account;
use crate::page::Paginated;
use crate::routes::page_request;
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_subscription, list_subscriptions))
        .routes(routes!(
            get_subscription,
            update_subscription,
            delete_subscription
        ))
}

/// `{"period": "days"|"weeks"|"months"|"years", "count": 1}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BillingInterval {
    #[schema(value_type = crate::routes::enums::IntervalPeriod, required = true)]
    pub period: Option<String>,
    #[schema(minimum = 1, maximum = 1000)]
    #[serde(default, deserialize_with = "integral")]
    pub count: Option<i64>,
}

/// An integer, also written `12.0`: JSON has one number type, and JSON
/// Schema counts a number with no fraction as an integer.
fn integral<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
    use serde::de::Error;
    let Some(number) = Option::<serde_json::Number>::deserialize(deserializer)? else {
        return Ok(None);
    };
    if let Some(integer) = number.as_i64() {
        return Ok(Some(integer));
    }
    match number.as_f64() {
        // In range and without a fraction, the cast is exact.
        Some(float) if float.fract() == 0.0 && float.abs() < 9.0e15 => Ok(Some(float as i64)),
        _ => Err(D::Error::custom(format!(
            "expected an integer, got {number}"
        ))),
    }
}

/// A subscription as created or replaced.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"customer_id": "cus_…", "product_ids": ["itm_…"],
    "starts_at": "2024-01-01T00:00:00Z", "billing_interval": {"period": "months", "count": 1},
    "tax_rate": "20", "currency": "EUR"}))]
pub struct SubscriptionRequest {
    /// `cus_` id or external id.
    #[schema(value_type = crate::routes::wire::IdText, required = true)]
    pub customer_id: Option<String>,
    #[serde(default)]
    #[schema(value_type = crate::routes::wire::ProductIdList, required = true)]
    pub product_ids: Vec<String>,
    /// Periods are anchored on it.
    #[schema(value_type = Option<crate::routes::wire::TimestampParam>)]
    pub starts_at: Option<String>,
    pub billing_interval: Option<BillingInterval>,
    /// Percent, as a string or a number.
    #[schema(value_type = Option<crate::routes::wire::PercentInput>)]
    pub tax_rate: Option<Decimal>,
    #[schema(value_type = Option<crate::routes::wire::CurrencyCode>)]
    pub currency: Option<String>,
}

impl From<SubscriptionRequest> for SubscriptionInput {
    fn from(request: SubscriptionRequest) -> Self {
        SubscriptionInput {
            customer_id: request.customer_id,
            product_ids: request.product_ids,
            starts_at: request.starts_at,
            billing_interval: request
                .billing_interval
                .map(|interval| BillingIntervalInput {
                    period: interval.period,
                    count: interval.count,
                }),
            tax_rate: request.tax_rate,
            currency: request.currency,
        }
    }
}

/// A subscription.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SubscriptionView {
    pub id: String,
    pub customer_id: String,
    pub product_ids: Vec<String>,
    pub starts_at: String,
    pub billing_interval: BillingInterval,
    pub tax_rate: Option<String>,
    pub currency: String,
    pub created_at: String,
}

impl From<Subscription> for SubscriptionView {
    fn from(subscription: Subscription) -> Self {
        let interval = subscription.billing_interval;
        SubscriptionView {
            id: subscription.id.to_string(),
            customer_id: subscription.customer_id.to_string(),
            product_ids: subscription
                .product_ids
                .iter()
                .map(ToString::to_string)
                .collect(),
            starts_at: subscription.starts_at.to_rfc3339(),
            billing_interval: BillingInterval {
                period: Some(interval.unit.as_str().to_owned()),
                count: Some(i64::from(interval.count)),
            },
            tax_rate: subscription.tax_rate.map(|rate| rate.to_string()),
            currency: subscription.currency,
            created_at: subscription.created_at.to_rfc3339(),
        }
    }
}

/// Create a subscription.
#[utoipa::path(post, path = "/v1/subscriptions", tag = "subscriptions",
    request_body = SubscriptionRequest,
    responses(
        (status = 201, description = "created", body = SubscriptionView),
        (status = 400, description = "invalid subscription, every problem listed", body = ErrorBody)))]
pub async fn create_subscription(
    State(state): State<AppState>,
    Account(account): Account,
    ApiJson(request): ApiJson<SubscriptionRequest>,
) -> ApiResult<(StatusCode, axum::Json<SubscriptionView>)> {
    let input = SubscriptionInput::from(request);
    let subscription = state
        .billing()
        .create_subscription(&account, &input)
        .await?;
    Ok((StatusCode::CREATED, axum::Json(subscription.into())))
}

/// Filters of `GET /v1/subscriptions`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SubscriptionListQuery {
    /// Only this customer's (`cus_` id or external id).
    pub customer_id: Option<String>,
    /// 0..=100, default 50.
    #[param(minimum = 0, maximum = 100)]
    pub take: Option<i64>,
    /// ≥ 0, default 0.
    #[param(minimum = 0)]
    pub skip: Option<i64>,
}

/// List subscriptions, oldest first.
#[utoipa::path(get, path = "/v1/subscriptions", tag = "subscriptions",
    params(SubscriptionListQuery),
    responses(
        (status = 200, description = "a page of subscriptions", body = Paginated<SubscriptionView>),
        (status = 400, description = "invalid pagination", body = ErrorBody)))]
pub async fn list_subscriptions(
    State(state): State<AppState>,
    Account(account): Account,
    ApiQuery(query): ApiQuery<SubscriptionListQuery>,
) -> ApiResult<axum::Json<Paginated<SubscriptionView>>> {
    let page = Pagination {
        take: query.take,
        skip: query.skip,
    };
    let subscriptions = state
        .billing()
        .list_subscriptions(&account, query.customer_id.as_deref(), page)
        .await?;
    Ok(axum::Json(Paginated::from_page(
        subscriptions,
        page_request(page),
        SubscriptionView::from,
    )))
}

/// Path of a subscription.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct SubscriptionPath {
    /// `sub_` id.
    pub id: String,
}

/// Get a subscription.
#[utoipa::path(get, path = "/v1/subscriptions/{id}", tag = "subscriptions",
    params(SubscriptionPath),
    responses(
        (status = 200, description = "the subscription", body = SubscriptionView),
        (status = 404, description = "no such subscription in this account", body = ErrorBody)))]
pub async fn get_subscription(
    State(state): State<AppState>,
    Account(account): Account,
    ApiPath(path): ApiPath<SubscriptionPath>,
) -> ApiResult<axum::Json<SubscriptionView>> {
    let subscription = state.billing().get_subscription(&account, &path.id).await?;
    Ok(axum::Json(subscription.into()))
}

/// Replace a subscription.
#[utoipa::path(put, path = "/v1/subscriptions/{id}", tag = "subscriptions",
    params(SubscriptionPath), request_body = SubscriptionRequest,
    responses(
        (status = 200, description = "the updated subscription", body = SubscriptionView),
        (status = 400, description = "invalid subscription", body = ErrorBody),
        (status = 404, description = "no such subscription in this account", body = ErrorBody)))]
pub async fn update_subscription(
    State(state): State<AppState>,
    Account(account): Account,
    ApiPath(path): ApiPath<SubscriptionPath>,
    ApiJson(request): ApiJson<SubscriptionRequest>,
) -> ApiResult<axum::Json<SubscriptionView>> {
    let input = SubscriptionInput::from(request);
    let subscription = state
        .billing()
        .update_subscription(&account, &path.id, &input)
        .await?;
    Ok(axum::Json(subscription.into()))
}

/// Delete a subscription.
#[utoipa::path(delete, path = "/v1/subscriptions/{id}", tag = "subscriptions",
    params(SubscriptionPath),
    responses(
        (status = 204, description = "deleted"),
        (status = 404, description = "no such subscription in this account", body = ErrorBody)))]
pub async fn delete_subscription(
    State(state): State<AppState>,
    Account(account): Account,
    ApiPath(path): ApiPath<SubscriptionPath>,
) -> ApiResult<StatusCode> {
    state
        .billing()
        .delete_subscription(&account, &path.id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
