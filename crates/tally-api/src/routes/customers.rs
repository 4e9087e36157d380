//! `/v1/customers`: CRUD. A customer is named in paths by its `cus_` id or its
//! external id.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use tally_billing::{CustomerInput, Pagination};
use tally_store::Customer;
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
        .routes(routes!(create_customer, list_customers))
        .routes(routes!(get_customer, update_customer, delete_customer))
}

/// A customer.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CustomerView {
    pub id: String,
    pub external_id: Option<String>,
    pub name: Option<String>,
    /// `corporate`, `person` or `automatically_created`.
    #[serde(rename = "type")]
    pub customer_type: String,
    pub currency: Option<String>,
    /// Percent, as a decimal string.
    pub tax_rate: Option<String>,
    pub created_at: String,
}

impl From<Customer> for CustomerView {
    fn from(customer: Customer) -> Self {
        CustomerView {
            id: customer.id.to_string(),
            external_id: customer.external_id,
            name: customer.name,
            customer_type: customer.customer_type.as_str().to_owned(),
            currency: customer.currency,
            tax_rate: customer.tax_rate.map(|rate| rate.to_string()),
            created_at: customer.created_at.to_rfc3339(),
        }
    }
}

/// Create a customer.
#[utoipa::path(post, path = "/v1/customers", tag = "customers", request_body = CustomerInput,
    responses(
        (status = 201, description = "created", body = CustomerView),
        (status = 400, description = "invalid customer, every problem listed", body = ErrorBody),
        (status = 409, description = "external id taken", body = ErrorBody)))]
pub async fn create_customer(
    State(state): State<AppState>,
    Account(account): Account,
    ApiJson(input): ApiJson<CustomerInput>,
) -> ApiResult<(StatusCode, axum::Json<CustomerView>)> {
    let customer = state.billing().create_customer(&account, &input).await?;
    Ok((StatusCode::CREATED, axum::Json(customer.into())))
}

/// List customers, oldest first.
#[utoipa::path(get, path = "/v1/customers", tag = "customers", params(PageQuery),
    responses(
        (status = 200, description = "a page of customers", body = Paginated<CustomerView>),
        (status = 400, description = "invalid pagination", body = ErrorBody)))]
pub async fn list_customers(
    State(state): State<AppState>,
    Account(account): Account,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> ApiResult<axum::Json<Paginated<CustomerView>>> {
    let page = Pagination::from(query);
    let customers = state.billing().list_customers(&account, page).await?;
    Ok(axum::Json(Paginated::from_page(
        customers,
        page_request(page),
        CustomerView::from,
    )))
}

/// Path of a customer: its `cus_` id or its external id.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct CustomerPath {
    /// `cus_` id or external id.
    pub id: String,
}

/// Get a customer by `cus_` id or external id.
#[utoipa::path(get, path = "/v1/customers/{id}", tag = "customers", params(CustomerPath),
    responses(
        (status = 200, description = "the customer", body = CustomerView),
        (status = 404, description = "no such customer in this account", body = ErrorBody)))]
pub async fn get_customer(
    State(state): State<AppState>,
    Account(account): Account,
    ApiPath(path): ApiPath<CustomerPath>,
) -> ApiResult<axum::Json<CustomerView>> {
    let customer = state.billing().get_customer(&account, &path.id).await?;
    Ok(axum::Json(customer.into()))
}

/// Replace a customer (every field but the id and creation time).
#[utoipa::path(put, path = "/v1/customers/{id}", tag = "customers", params(CustomerPath),
    request_body = CustomerInput,
    responses(
        (status = 200, description = "the updated customer", body = CustomerView),
        (status = 400, description = "invalid customer", body = ErrorBody),
        (status = 404, description = "no such customer in this account", body = ErrorBody),
        (status = 409, description = "external id taken", body = ErrorBody)))]
pub async fn update_customer(
    State(state): State<AppState>,
    Account(account): Account,
    ApiPath(path): ApiPath<CustomerPath>,
    ApiJson(input): ApiJson<CustomerInput>,
) -> ApiResult<axum::Json<CustomerView>> {
    let customer = state
        .billing()
        .update_customer(&account, &path.id, &input)
        .await?;
    Ok(axum::Json(customer.into()))
}

/// Delete a customer without subscriptions; its events stay as history.
#[utoipa::path(delete, path = "/v1/customers/{id}", tag = "customers", params(CustomerPath),
    responses(
        (status = 204, description = "deleted"),
        (status = 404, description = "no such customer in this account", body = ErrorBody),
        (status = 409, description = "the customer has subscriptions", body = ErrorBody)))]
pub async fn delete_customer(
    State(state): State<AppState>,
    Account(account): Account,
    ApiPath(path): ApiPath<CustomerPath>,
) -> ApiResult<StatusCode> {
    state.billing().delete_customer(&account, &path.id).await?;
    Ok(StatusCode::NO_CONTENT)
}
