//! What changed under a finalized invoice since it was finalized: the events
//! added, changed or deleted in its period, and each line as it would be now
//! (docs/billing.md, "Changes since finalization").

use axum::extract::State;
use serde::Serialize;
use tally_billing::{EventChange, InvoiceChanges, LineChange, Pagination};
use tally_event::decimal_to_json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiPath, ApiQuery};
use crate::middleware::Account;
use crate::routes::PageQuery;
use crate::routes::events::EventView;
use crate::routes::invoices::{IdPath, LineGroupView};
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(invoice_changes))
}

/// One event that changed under the invoice.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EventChangeView {
    /// `added`, `changed` or `deleted` (deleted, or moved out of the period or
    /// to another customer).
    pub change: String,
    pub event_type: String,
    pub record_id: String,
    /// The usage products whose aggregator reads it.
    pub product_ids: Vec<String>,
    /// The version the invoice was finalized with; null when added.
    pub before: Option<EventView>,
    /// The version read now; null when deleted.
    pub after: Option<EventView>,
}

impl From<EventChange> for EventChangeView {
    fn from(change: EventChange) -> Self {
        EventChangeView {
            change: change.kind.as_str().to_owned(),
            event_type: change.event_type.to_string(),
            record_id: change.record_id.as_str().to_owned(),
            product_ids: change.product_ids.iter().map(ToString::to_string).collect(),
            before: change.before.map(EventView::from),
            after: change.after.map(EventView::from),
        }
    }
}

/// One line as finalized and as it would be now, in minor units.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LineChangeView {
    /// `usage`, `fee`, `minimum_adjustment` or `maximum_adjustment`.
    #[serde(rename = "type")]
    pub line_type: String,
    pub product_id: String,
    pub price_group: Option<LineGroupView>,
    /// Exact JSON number; null for adjustments and lines the invoice lacks.
    #[schema(value_type = Option<f64>)]
    pub finalized_quantity: serde_json::Value,
    /// Exact JSON number; null for adjustments and lines gone now.
    #[schema(value_type = Option<f64>)]
    pub current_quantity: serde_json::Value,
    /// `amount_excluding_tax` on the invoice (0 for a line it lacks).
    pub finalized_amount: i64,
    /// `amount_excluding_tax` over the events as known now, same prices.
    pub current_amount: i64,
    /// `current_amount - finalized_amount`.
    pub delta: i64,
}

impl From<LineChange> for LineChangeView {
    fn from(line: LineChange) -> Self {
        LineChangeView {
            line_type: crate::routes::invoices::line_type(line.line_type),
            product_id: line.product_id,
            price_group: line.price_group.map(|g| LineGroupView {
                id: g.id,
                name: g.name,
            }),
            finalized_quantity: line
                .finalized_quantity
                .map_or(serde_json::Value::Null, decimal_to_json),
            current_quantity: line
                .current_quantity
                .map_or(serde_json::Value::Null, decimal_to_json),
            finalized_amount: line.finalized_amount,
            current_amount: line.current_amount,
            delta: line.delta,
        }
    }
}

/// A total on the invoice and now.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AmountChangeView {
    pub finalized: i64,
    pub current: i64,
    pub delta: i64,
}

impl AmountChangeView {
    fn new(finalized: i64, current: i64, delta: i64) -> Self {
        AmountChangeView {
            finalized,
            current,
            delta,
        }
    }
}

/// What changed under a finalized invoice.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InvoiceChangesResponse {
    pub invoice_id: String,
    /// The ingestion sequence the invoice's lines were read at.
    pub known_seq: i64,
    /// The account's ingestion sequence when the changes were read.
    pub latest_seq: i64,
    /// True exactly when `total` > 0.
    pub events_changed_since_finalization: bool,
    /// Changed events over every page, and per kind.
    pub total: u64,
    pub added: u64,
    pub changed: u64,
    pub deleted: u64,
    /// Events on this page and skipped before it.
    pub taken: u64,
    pub skipped: u64,
    /// Changes found in place, in (timestamp, record id) order; then events
    /// moved or deleted, by record id; then events added, by record id.
    pub events: Vec<EventChangeView>,
    /// The invoice's lines, then any line only the recomputation has.
    pub lines: Vec<LineChangeView>,
    pub amount_excluding_tax: AmountChangeView,
    pub tax_amount: AmountChangeView,
    pub total_amount: AmountChangeView,
}

impl From<InvoiceChanges> for InvoiceChangesResponse {
    fn from(changes: InvoiceChanges) -> Self {
        let (before, now, delta) = (
            changes.finalized_totals,
            changes.current_totals,
            changes.delta_totals,
        );
        InvoiceChangesResponse {
            invoice_id: changes.invoice_id.to_string(),
            known_seq: changes.known_seq.get(),
            latest_seq: changes.latest_seq.get(),
            events_changed_since_finalization: changes.total > 0,
            total: changes.total,
            added: changes.added,
            changed: changes.changed,
            deleted: changes.deleted,
            taken: changes.events.len() as u64,
            skipped: changes.skipped,
            events: changes.events.into_iter().map(Into::into).collect(),
            lines: changes.lines.into_iter().map(Into::into).collect(),
            amount_excluding_tax: AmountChangeView::new(
                before.amount_excluding_tax,
                now.amount_excluding_tax,
                delta.amount_excluding_tax,
            ),
            tax_amount: AmountChangeView::new(before.tax_amount, now.tax_amount, delta.tax_amount),
            total_amount: AmountChangeView::new(
                before.total_amount,
                now.total_amount,
                delta.total_amount,
            ),
        }
    }
}

/// The events added, changed or deleted in a finalized invoice's period since
/// it was finalized, and what each line would be now at the invoice's prices.
#[utoipa::path(get, path = "/v1/invoices/{id}/changes", tag = "invoices",
    params(IdPath, PageQuery),
    responses(
        (status = 200, description = "the changes, a page of events and every line", body = InvoiceChangesResponse),
        (status = 400, description = "take or skip out of range", body = ErrorBody),
        (status = 404, description = "no such invoice in this account", body = ErrorBody),
        (status = 409, description = "a draft, or an invoice finalized before versions were kept", body = ErrorBody)))]
pub async fn invoice_changes(
    State(state): State<AppState>,
    Account(account): Account,
    ApiPath(path): ApiPath<IdPath>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> ApiResult<axum::Json<InvoiceChangesResponse>> {
    let changes = state
        .billing()
        .invoice_changes(&account, &path.id, Pagination::from(query))
        .await?;
    Ok(axum::Json(changes.into()))
}
