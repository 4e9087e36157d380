//! CSV and ZIP exports of the events behind an invoice or a subscription
//! period (seed 000). Everything that can fail with a status (unknown invoice,
//! product outside the invoice, bad dates) is settled before the response
//! starts; the body is then streamed from a task that writes the export into a
//! bounded channel, so memory holds a few 64 KiB chunks whatever the number of
//! events. A failure after the first byte cannot change the status: the body is
//! cut with an error, so the client sees an incomplete transfer, never a
//! complete-looking file.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use futures::channel::mpsc;
use futures::{SinkExt, StreamExt, future};
use serde::Deserialize;
use tally_billing::DateRange;
use tally_billing::export::{CsvExport, ExportError, ZipExport};
use tracing::Instrument;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiPath, ApiQuery};
use crate::middleware::Account;
use crate::routes::usage::RangeQuery;
use crate::state::AppState;

/// Chunks in flight between the exporting task and the connection: a slow
/// client slows the export down instead of filling memory.
const CHANNEL_CHUNKS: usize = 4;

pub const CSV_CONTENT_TYPE: &str = "text/csv; charset=utf-8";
pub const ZIP_CONTENT_TYPE: &str = "application/zip";

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
    Ok(csv_response(export, &path.product_id))
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
    Ok(csv_response(export, &path.product_id))
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
    let file_name = export.file_name();
    let body = streamed(Export::Zip(export));
    Ok(attachment(body, ZIP_CONTENT_TYPE, &file_name))
}

/// A product id is `itm_` and base62: safe in a header as it is.
fn csv_response(export: CsvExport, product_id: &str) -> Response {
    let file_name = format!("events-{product_id}.csv");
    attachment(
        streamed(Export::Csv(Box::new(export))),
        CSV_CONTENT_TYPE,
        &file_name,
    )
}

fn attachment(body: Body, content_type: &'static str, file_name: &str) -> Response {
    let disposition = format!("attachment; filename=\"{file_name}\"");
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    response
}

enum Export {
    Csv(Box<CsvExport>),
    Zip(ZipExport),
}

/// A body fed by a task writing the export into a bounded channel.
fn streamed(export: Export) -> Body {
    let (sender, receiver) = mpsc::channel::<Result<Vec<u8>, std::io::Error>>(CHANNEL_CHUNKS);
    let task = async move {
        let mut cut = sender.clone();
        let mut chunks = sender.with(|chunk| future::ready(Ok::<_, mpsc::SendError>(Ok(chunk))));
        let written = match export {
            Export::Csv(export) => export.write_to(&mut chunks, &mut |_| {}).await,
            Export::Zip(export) => export.write_to(&mut chunks, &mut |_| {}).await,
        };
        match written {
            Ok(rows) => tracing::debug!(rows, "export written"),
            Err(ExportError::Closed) => tracing::debug!("export abandoned by the client"),
            Err(error) => {
                tracing::error!(%error, "export failed after its first byte");
                let _ = cut.send(Err(std::io::Error::other("export failed"))).await;
            }
        }
    };
    tokio::spawn(task.in_current_span());
    Body::from_stream(receiver.map(|chunk| chunk.map_err(axum::Error::new)))
}
