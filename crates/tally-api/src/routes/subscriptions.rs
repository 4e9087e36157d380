//! `/v1/subscriptions`: CRUD.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use tally_billing::{Pagination, SubscriptionInput};
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
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct BillingInterval {
    #[schema(value_type = crate::routes::enums::IntervalPeriod, required = true)]
    pub period: Option<String>,
    #[schema(minimum = 1, maximum = 1000)]
    pub count: Option<i64>,
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
    request_body = SubscriptionInput,
    responses(
        (status = 201, description = "created", body = SubscriptionView),
        (status = 400, description = "invalid subscription, every problem listed", body = ErrorBody)))]
pub async fn create_subscription(
    State(state): State<AppState>,
    Account(account): Account,
    ApiJson(input): ApiJson<SubscriptionInput>,
) -> ApiResult<(StatusCode, axum::Json<SubscriptionView>)> {
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
    params(SubscriptionPath), request_body = SubscriptionInput,
    responses(
        (status = 200, description = "the updated subscription", body = SubscriptionView),
        (status = 400, description = "invalid subscription", body = ErrorBody),
        (status = 404, description = "no such subscription in this account", body = ErrorBody)))]
pub async fn update_subscription(
    State(state): State<AppState>,
    Account(account): Account,
    ApiPath(path): ApiPath<SubscriptionPath>,
    ApiJson(input): ApiJson<SubscriptionInput>,
) -> ApiResult<axum::Json<SubscriptionView>> {
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
