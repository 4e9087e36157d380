//! Invoices: create a subscription's draft for a period, read (drafts are
//! recomputed), list, finalize. Amounts are integers in minor units;
//! quantities and breakdown decimals are exact JSON numbers.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use tally_billing::invoice::{BreakdownEntry, line_item_id};
use tally_billing::{BillingError, InvoiceFilter, InvoiceLine, InvoiceView, LineType, Pagination};
use tally_event::{Timestamp, decimal_to_json};
use tally_store::InvoiceId;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ApiResult, ErrorBody, ErrorStatus};
use crate::extract::{ApiJson, ApiPath, ApiQuery, RawBody, is_json, parse_json};
use crate::middleware::Account;
use crate::page::Paginated;
use crate::routes::page_request;
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_invoice))
        .routes(routes!(create_invoices))
        .routes(routes!(list_invoices))
        .routes(routes!(get_invoice))
        .routes(routes!(finalize_invoice))
}

/// An object id in the path.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct IdPath {
    /// `sub_` id (create) or `inv_` id.
    pub id: String,
}

/// Optional body of `POST /v1/subscriptions/{id}/invoices`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateInvoiceRequest {
    /// Invoice the billing period containing this instant; default now.
    #[schema(value_type = Option<crate::routes::wire::TimestampParam>)]
    pub at: Option<String>,
}

/// A price group as a line names it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LineGroupView {
    pub id: String,
    pub name: String,
}

/// One explained part of a line's amount; decimals are exact JSON numbers.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BreakdownView {
    /// `tier`, `unit`, `package`, `flat`, `percentage`, `fixed_fee`, `floor`, `cap`.
    pub kind: String,
    pub tier: Option<usize>,
    #[schema(value_type = f64)]
    pub from: serde_json::Value,
    #[schema(value_type = Option<f64>)]
    pub to: serde_json::Value,
    #[schema(value_type = f64)]
    pub quantity: serde_json::Value,
    #[schema(value_type = f64)]
    pub unit_amount: serde_json::Value,
    #[schema(value_type = f64)]
    pub flat_amount: serde_json::Value,
    /// Exact minor units before the line rounds.
    #[schema(value_type = f64)]
    pub amount: serde_json::Value,
}

/// One line item of an invoice (Hyperline's `line_items`), with Tally's
/// breakdown and diagnostics as extra fields.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InvoiceLineView {
    /// `ili_…`: stable for the invoice's line of this type, product and price
    /// group (a draft's lines keep their ids when recomputed).
    pub id: String,
    /// `usage`, `fee`, `minimum_adjustment` or `maximum_adjustment`.
    #[serde(rename = "type")]
    pub line_type: String,
    pub product_id: String,
    pub product_name: String,
    pub price_group: Option<LineGroupView>,
    /// The priced quantity, an exact JSON number (null for adjustments).
    #[schema(value_type = Option<f64>)]
    pub quantity: serde_json::Value,
    pub amount_excluding_tax: i64,
    pub tax_amount: i64,
    pub total_amount: i64,
    pub breakdown: Vec<BreakdownView>,
    /// Usage lines: the events the price group selected, and those skipped
    /// because their value was missing or not a number; null otherwise.
    pub diagnostics: Option<LineDiagnosticsView>,
}

/// What a usage line's events were, beyond its quantity.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LineDiagnosticsView {
    pub matched_events: u64,
    pub skipped_missing: u64,
    pub skipped_not_numeric: u64,
}

/// An invoice, in Hyperline's shape: `line_items`, the period's bounds and
/// the totals at the top level.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InvoiceResponse {
    pub id: String,
    /// `INV-1`, `INV-2`, … per account, without gaps.
    pub number: String,
    /// `draft` (recomputed on every read) or `finalized` (frozen).
    pub status: String,
    pub subscription_id: Option<String>,
    pub customer_id: String,
    /// The billing period's start (RFC 3339), inclusive.
    pub period_starts_at: String,
    /// The billing period's end, exclusive.
    pub period_ends_at: String,
    pub currency: String,
    /// Minor units: the sum of the line items' `amount_excluding_tax`.
    pub amount_excluding_tax: i64,
    /// Minor units: the sum of their `tax_amount`.
    pub tax_amount: i64,
    /// Minor units: the sum of their `total_amount`.
    pub total_amount: i64,
    pub line_items: Vec<InvoiceLineView>,
    pub created_at: String,
    pub finalized_at: Option<String>,
    /// Finalized invoices: the account's ingestion sequence the lines were
    /// read at; its consumption, CSV and ZIP read the events as of it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub known_seq: Option<i64>,
}

fn decimal(value: rust_decimal::Decimal) -> serde_json::Value {
    decimal_to_json(value.normalize())
}

fn breakdown(entry: BreakdownEntry) -> BreakdownView {
    BreakdownView {
        kind: entry.kind,
        tier: entry.tier,
        from: decimal(entry.from),
        to: entry.to.map_or(serde_json::Value::Null, decimal),
        quantity: decimal(entry.quantity),
        unit_amount: decimal(entry.unit_amount),
        flat_amount: decimal(entry.flat_amount),
        amount: decimal(entry.amount),
    }
}

pub(crate) fn line_type(kind: LineType) -> String {
    let name = match kind {
        LineType::Usage => "usage",
        LineType::Fee => "fee",
        LineType::MinimumAdjustment => "minimum_adjustment",
        LineType::MaximumAdjustment => "maximum_adjustment",
    };
    name.to_owned()
}

impl InvoiceLineView {
    fn of(invoice: &InvoiceId, line: InvoiceLine) -> Self {
        InvoiceLineView {
            id: line_item_id(invoice, &line),
            line_type: line_type(line.line_type),
            product_id: line.product_id,
            product_name: line.product_name,
            price_group: line.price_group.map(|group| LineGroupView {
                id: group.id,
                name: group.name,
            }),
            quantity: line.quantity.map_or(serde_json::Value::Null, decimal),
            amount_excluding_tax: line.amount_excluding_tax,
            tax_amount: line.tax_amount,
            total_amount: line.total_amount,
            breakdown: line.breakdown.into_iter().map(breakdown).collect(),
            diagnostics: line.diagnostics.map(|d| LineDiagnosticsView {
                matched_events: d.matched_events,
                skipped_missing: d.skipped_missing,
                skipped_not_numeric: d.skipped_not_numeric,
            }),
        }
    }
}

impl From<InvoiceView> for InvoiceResponse {
    fn from(invoice: InvoiceView) -> Self {
        InvoiceResponse {
            id: invoice.id.to_string(),
            number: invoice.number.to_string(),
            status: invoice.status.as_str().to_owned(),
            subscription_id: invoice.subscription_id.map(|id| id.to_string()),
            customer_id: invoice.customer_id.to_string(),
            period_starts_at: invoice.period.start().to_rfc3339(),
            period_ends_at: invoice.period.end().to_rfc3339(),
            currency: invoice.currency,
            amount_excluding_tax: invoice.totals.amount_excluding_tax,
            tax_amount: invoice.totals.tax_amount,
            total_amount: invoice.totals.total_amount,
            line_items: invoice
                .lines
                .into_iter()
                .map(|line| InvoiceLineView::of(&invoice.id, line))
                .collect(),
            created_at: invoice.created_at.to_rfc3339(),
            finalized_at: invoice.finalized_at.map(|at| at.to_rfc3339()),
            known_seq: invoice.known_seq.map(|seq| seq.get()),
        }
    }
}

/// The optional body: none (or an empty one) invoices the current period.
fn create_request(headers: &HeaderMap, body: &Bytes) -> ApiResult<Option<Timestamp>> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    if !is_json(headers) {
        return Err(ApiError::unsupported_media_type());
    }
    // `null` reads as no body, as the document's optional body allows; any
    // other body is an object.
    if body.trim_ascii() != b"null" {
        crate::extract::require_an_object(body)?;
    }
    let request: Option<CreateInvoiceRequest> = parse_json(body)?;
    let Some(text) = request.and_then(|request| request.at) else {
        return Ok(None);
    };
    let at = Timestamp::parse_input(&text)
        .map_err(|e| BillingError::invalid("/at", e.code(), tally_billing::date_message(&e)))?;
    Ok(Some(at))
}

/// Create the draft invoice of a subscription's billing period.
#[utoipa::path(post, path = "/v1/subscriptions/{id}/invoices", tag = "invoices",
    params(IdPath), request_body(content = Option<CreateInvoiceRequest>, description = "optional"),
    responses(
        (status = 201, description = "the draft", body = InvoiceResponse),
        (status = 400, description = "invalid `at`, or before the subscription starts", body = ErrorBody),
        (status = 404, description = "no such subscription in this account", body = ErrorBody),
        (status = 409, description = "the period already has an invoice", body = ErrorBody)))]
pub async fn create_invoice(
    State(state): State<AppState>,
    Account(account): Account,
    ApiPath(path): ApiPath<IdPath>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> ApiResult<(StatusCode, axum::Json<InvoiceResponse>)> {
    let at = create_request(&headers, &body)?;
    let invoice = state
        .billing()
        .create_invoice(&account, &path.id, at)
        .await?;
    Ok((StatusCode::CREATED, axum::Json(invoice.into())))
}

/// Body of `POST /v1/invoices/batch`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateInvoicesRequest {
    /// `sub_` ids, at most 1000; each gets the draft of its period containing
    /// `at`, numbered in this order.
    #[schema(max_items = 1000)]
    pub subscription_ids: Vec<String>,
    /// Invoice the billing periods containing this instant; default now.
    #[schema(value_type = Option<crate::routes::wire::TimestampParam>)]
    pub at: Option<String>,
}

/// What became of one subscription of a batch: its draft (`status` 201), or
/// the error `POST /v1/subscriptions/{id}/invoices` would have answered
/// for it alone (`status` 400, 404 or 409).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BatchInvoiceResult {
    pub subscription_id: String,
    /// The HTTP status of this subscription's outcome.
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invoice: Option<InvoiceResponse>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorBody>,
}

/// The outcome of each subscription of a batch, in the request's order.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BatchInvoicesResponse {
    pub data: Vec<BatchInvoiceResult>,
}

/// Create the drafts of many subscriptions' billing periods at once: the
/// end-of-period run. Each subscription is invoiced as by
/// `POST /v1/subscriptions/{id}/invoices`; one that cannot be gets its own
/// error, and the others are created, all in one durable commit.
#[utoipa::path(post, path = "/v1/invoices/batch", tag = "invoices",
    request_body = CreateInvoicesRequest,
    responses(
        (status = 200, description = "each subscription's draft or error", body = BatchInvoicesResponse),
        (status = 400, description = "more than 1000 subscriptions, or an invalid `at`", body = ErrorBody)))]
pub async fn create_invoices(
    State(state): State<AppState>,
    Account(account): Account,
    ApiJson(request): ApiJson<CreateInvoicesRequest>,
) -> ApiResult<axum::Json<BatchInvoicesResponse>> {
    let at = request
        .at
        .map(|text| {
            Timestamp::parse_input(&text).map_err(|e| {
                BillingError::invalid("/at", e.code(), tally_billing::date_message(&e))
            })
        })
        .transpose()?;
    let created = state
        .billing()
        .create_invoices(&account, &request.subscription_ids, at)
        .await?;
    let data = created
        .into_iter()
        .map(|item| match item.result {
            Ok(invoice) => BatchInvoiceResult {
                subscription_id: item.subscription_id,
                status: StatusCode::CREATED.as_u16(),
                invoice: Some(invoice.into()),
                error: None,
            },
            Err(error) => {
                let error = ApiError::from(error);
                BatchInvoiceResult {
                    subscription_id: item.subscription_id,
                    status: error.code().status().as_u16(),
                    invoice: None,
                    error: Some(error.body()),
                }
            }
        })
        .collect();
    Ok(axum::Json(BatchInvoicesResponse { data }))
}

/// An invoice; a draft's lines are recomputed from the current events.
#[utoipa::path(get, path = "/v1/invoices/{id}", tag = "invoices", params(IdPath),
    responses(
        (status = 200, description = "the invoice", body = InvoiceResponse),
        (status = 404, description = "no such invoice in this account", body = ErrorBody)))]
pub async fn get_invoice(
    State(state): State<AppState>,
    Account(account): Account,
    ApiPath(path): ApiPath<IdPath>,
) -> ApiResult<axum::Json<InvoiceResponse>> {
    let invoice = state.billing().get_invoice(&account, &path.id).await?;
    Ok(axum::Json(invoice.into()))
}

/// Filters of `GET /v1/invoices`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InvoiceListQuery {
    /// Only this subscription's (`sub_` id).
    pub subscription_id: Option<String>,
    /// Only this customer's (`cus_` id or external id).
    pub customer_id: Option<String>,
    /// 0..=100, default 50.
    #[param(minimum = 0, maximum = 100)]
    pub take: Option<i64>,
    /// ≥ 0, default 0.
    #[param(minimum = 0)]
    pub skip: Option<i64>,
}

/// Invoices, highest number first.
#[utoipa::path(get, path = "/v1/invoices", tag = "invoices", params(InvoiceListQuery),
    responses(
        (status = 200, description = "a page of invoices", body = Paginated<InvoiceResponse>),
        (status = 400, description = "take or skip out of range", body = ErrorBody)))]
pub async fn list_invoices(
    State(state): State<AppState>,
    Account(account): Account,
    ApiQuery(query): ApiQuery<InvoiceListQuery>,
) -> ApiResult<axum::Json<Paginated<InvoiceResponse>>> {
    let page = Pagination {
        take: query.take,
        skip: query.skip,
    };
    let filter = InvoiceFilter {
        subscription_id: query.subscription_id,
        customer_id: query.customer_id,
    };
    let invoices = state
        .billing()
        .list_invoices(&account, &filter, page)
        .await?;
    Ok(axum::Json(Paginated::from_page(
        invoices,
        page_request(page),
        Into::into,
    )))
}

/// Freeze a draft: its lines and totals never change afterwards.
#[utoipa::path(post, path = "/v1/invoices/{id}/finalize", tag = "invoices", params(IdPath),
    responses(
        (status = 200, description = "the finalized invoice", body = InvoiceResponse),
        (status = 404, description = "no such invoice in this account", body = ErrorBody),
        (status = 409, description = "already finalized", body = ErrorBody)))]
pub async fn finalize_invoice(
    State(state): State<AppState>,
    Account(account): Account,
    ApiPath(path): ApiPath<IdPath>,
) -> ApiResult<axum::Json<InvoiceResponse>> {
    let invoice = state.billing().finalize_invoice(&account, &path.id).await?;
    Ok(axum::Json(invoice.into()))
}
