//! CSV and ZIP exports of the events behind an invoice or a subscription
//! period (seed 000). Everything that can fail with a status (unknown invoice,
//! product outside the invoice, bad dates) is settled before the response
//! starts; the body is then streamed ([`tally_web::download`], shared with
//! the portal's download links).

use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use tally_billing::DateRange;
use tally_web::download;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiPath, ApiQuery};
use crate::middleware::Account;
use crate::routes::usage::RangeQuery;
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(invoice_product_csv))
        .routes(routes!(subscription_product_csv))
        .routes(routes!(invoice_zip))
}

/// A ZIP archive: binary, for the OpenAPI document only (the body is
/// streamed, never built as a value).
#[derive(ToSchema)]
#[schema(value_type = String, format = Binary)]
#[allow(dead_code)]
pub struct ZipArchive(Vec<u8>);

/// Path of an invoice's product.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct InvoiceProductPath {
    /// `inv_` id.
    pub id: String,
    /// `itm_` id of a usage product on the invoice.
    pub product_id: String,
}

/// Path of a subscription's product.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct SubscriptionProductPath {
    /// `sub_` id.
    pub id: String,
    /// `itm_` id of a usage product of the subscription.
    pub product_id: String,
}

/// Path of an invoice.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct InvoicePath {
    /// `inv_` id.
    pub id: String,
}

/// The CSV of one usage product's events on an invoice, with the amount
/// billed for each. Columns: `id`, `timestamp`, `name`, `record.{key}` (the
/// aggregator's `exposed_event_keys`, or every key seen), `price_group` (when
/// the product has several), `quantity`, `amount` (major units), `currency`.
#[utoipa::path(get, path = "/v1/invoices/{id}/products/{product_id}/events.csv", tag = "exports",
    params(InvoiceProductPath),
    responses(
        (status = 200, description = "the events, streamed", content_type = "text/csv; charset=utf-8", body = String),
        (status = 400, description = "a fee product (no events)", body = ErrorBody),
        (status = 404, description = "no such invoice in this account, or product not on it", body = ErrorBody)))]
pub async fn invoice_product_csv(
    State(state): State<AppState>,
    Account(account): Account,
    ApiPath(path): ApiPath<InvoiceProductPath>,
) -> ApiResult<Response> {
    let billing = state.billing();
    let scope = billing.invoice_scope(&account, &path.id).await?;
    let export = billing
        .product_csv(&account, &scope, &path.product_id)
        .await?;
    Ok(download::csv(export, &path.product_id))
}

/// The same CSV over a subscription's current period, or `start_date` to
/// `end_date`.
#[utoipa::path(get, path = "/v1/subscriptions/{id}/products/{product_id}/events.csv", tag = "exports",
    params(SubscriptionProductPath, RangeQuery),
    responses(
        (status = 200, description = "the events, streamed", content_type = "text/csv; charset=utf-8", body = String),
        (status = 400, description = "bad dates, or a fee product", body = ErrorBody),
        (status = 404, description = "no such subscription in this account, or product not on it", body = ErrorBody)))]
pub async fn subscription_product_csv(
    State(state): State<AppState>,
    Account(account): Account,
    ApiPath(path): ApiPath<SubscriptionProductPath>,
    ApiQuery(query): ApiQuery<RangeQuery>,
) -> ApiResult<Response> {
    let billing = state.billing();
    let range = DateRange {
        start_date: query.start_date,
        end_date: query.end_date,
    };
    let scope = billing
        .subscription_scope(&account, &path.id, &range)
        .await?;
    let export = billing
        .product_csv(&account, &scope, &path.product_id)
        .await?;
    Ok(download::csv(export, &path.product_id))
}

/// Every usage product's CSV in one ZIP, `events-{invoiceNumber}.zip`, each
/// file named after its product (made safe for every OS and unique).
#[utoipa::path(get, path = "/v1/invoices/{id}/events.zip", tag = "exports", params(InvoicePath),
    responses(
        (status = 200, description = "the archive, streamed", content_type = "application/zip", body = ZipArchive),
        (status = 404, description = "no such invoice in this account", body = ErrorBody)))]
pub async fn invoice_zip(
    State(state): State<AppState>,
    Account(account): Account,
    ApiPath(path): ApiPath<InvoicePath>,
) -> ApiResult<Response> {
    let export = state.billing().invoice_zip(&account, &path.id).await?;
    Ok(download::zip(export))
}
