//! The consumption explorer (seed 000): per usage product and price group, a
//! page of the events with the amount billed for each. Over all pages,
//! `unattributed + Σ amount == amount_excluding_tax` for every group.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use tally_billing::{
    ConsumedEvent, ConsumptionQuery, ConsumptionView, DateRange, GroupView, Pagination, ProductView,
};
use tally_event::decimal_to_json;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiPath, ApiQuery};
use crate::middleware::Account;
use crate::page::{PageMeta, Paginated};
use crate::routes::PageQuery;
use crate::routes::invoices::IdPath;
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(subscription_consumption))
        .routes(routes!(invoice_consumption))
}

/// Which period of a subscription, and which page of each group's events.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SubscriptionConsumptionQuery {
    /// ISO 8601; with `end_date`, any range (priced as one period). Default:
    /// the current billing period.
    #[param(value_type = Option<crate::routes::wire::TimestampParam>)]
    pub start_date: Option<String>,
    /// ISO 8601, exclusive; after `start_date`.
    #[param(value_type = Option<crate::routes::wire::TimestampParam>)]
    pub end_date: Option<String>,
    /// 0..=100, default 50 (per price group).
    #[param(minimum = 0, maximum = 100)]
    pub take: Option<i64>,
    /// ≥ 0, default 0.
    #[param(minimum = 0)]
    pub skip: Option<i64>,
}

/// The invoice a view explains.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ConsumptionInvoice {
    pub id: String,
    pub number: String,
    pub status: String,
}

/// One event and the amount billed for it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ConsumedEventView {
    pub id: String,
    /// From the aggregator's `custom_event_name`.
    pub name: String,
    pub timestamp: String,
    /// What the event adds to the quantity, an exact JSON number; null when
    /// the aggregation is not additive (min, max, avg, latest, formula).
    #[schema(value_type = Option<f64>)]
    pub quantity: serde_json::Value,
    /// Minor units billed for this event.
    pub amount: i64,
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
}

/// One price group: its amount, how it is shared, a page of its events.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ConsumptionGroup {
    pub id: String,
    pub name: String,
    /// `marginal`, `pro_rata`, `own_fee` or `equal_shares` (docs/pricing.md).
    pub rule: String,
    #[schema(value_type = f64)]
    pub quantity: serde_json::Value,
    /// The subtotal over the current events.
    pub amount_excluding_tax: i64,
    /// The part no event carries (a flat amount, a first tier's flat fee).
    pub unattributed: i64,
    /// Invoices only: the line's amount on the invoice (frozen once finalized).
    pub invoice_line_amount: Option<i64>,
    pub events: Paginated<ConsumedEventView>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ConsumptionProduct {
    pub product_id: String,
    pub name: String,
    pub price_groups: Vec<ConsumptionGroup>,
}

/// The consumption of a subscription period or of an invoice.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ConsumptionResponse {
    pub subscription_id: String,
    pub customer_id: String,
    pub invoice: Option<ConsumptionInvoice>,
    pub period_start: String,
    pub period_end: String,
    pub currency: String,
    /// Invoices only: true when events under a finalized invoice changed after
    /// it was finalized; null for drafts and subscriptions (always current).
    pub events_changed_since_finalization: Option<bool>,
    pub products: Vec<ConsumptionProduct>,
}

fn event(event: ConsumedEvent) -> ConsumedEventView {
    ConsumedEventView {
        id: event.id.to_string(),
        name: event.name,
        timestamp: event.timestamp.to_rfc3339(),
        quantity: event
            .quantity
            .map_or(serde_json::Value::Null, |q| decimal_to_json(q.normalize())),
        amount: event.amount,
        payload: event.payload,
    }
}

fn group(group: GroupView) -> ConsumptionGroup {
    let rule = serde_json::to_value(group.rule)
        .ok()
        .and_then(|rule| rule.as_str().map(str::to_owned))
        .unwrap_or_default();
    ConsumptionGroup {
        id: group.price_group.id.to_string(),
        name: group.price_group.name,
        rule,
        quantity: decimal_to_json(group.quantity.normalize()),
        amount_excluding_tax: group.amount_excluding_tax,
        unattributed: group.unattributed,
        invoice_line_amount: group.invoice_line_amount,
        events: Paginated {
            meta: PageMeta {
                total: group.total,
                taken: group.taken,
                skipped: group.skipped,
            },
            data: group.events.into_iter().map(event).collect(),
        },
    }
}

fn product(product: ProductView) -> ConsumptionProduct {
    ConsumptionProduct {
        product_id: product.product_id,
        name: product.name,
        price_groups: product.groups.into_iter().map(group).collect(),
    }
}

impl From<ConsumptionView> for ConsumptionResponse {
    fn from(view: ConsumptionView) -> Self {
        ConsumptionResponse {
            subscription_id: view.subscription_id.to_string(),
            customer_id: view.customer_id.to_string(),
            invoice: view.invoice.map(|invoice| ConsumptionInvoice {
                id: invoice.id.to_string(),
                number: invoice.number.to_string(),
                status: invoice.status.as_str().to_owned(),
            }),
            period_start: view.period.start().to_rfc3339(),
            period_end: view.period.end().to_rfc3339(),
            currency: view.currency,
            events_changed_since_finalization: view.events_changed_since_finalization,
            products: view.products.into_iter().map(product).collect(),
        }
    }
}

/// A subscription's consumption: its current period, or the given dates.
#[utoipa::path(get, path = "/v1/subscriptions/{id}/consumption", tag = "consumption",
    params(IdPath, SubscriptionConsumptionQuery),
    responses(
        (status = 200, description = "per product and price group, the events and their amounts", body = ConsumptionResponse),
        (status = 400, description = "invalid dates or pagination", body = ErrorBody),
        (status = 404, description = "no such subscription in this account", body = ErrorBody)))]
pub async fn subscription_consumption(
    State(state): State<AppState>,
    Account(account): Account,
    ApiPath(path): ApiPath<IdPath>,
    ApiQuery(query): ApiQuery<SubscriptionConsumptionQuery>,
) -> ApiResult<axum::Json<ConsumptionResponse>> {
    let query = ConsumptionQuery {
        range: DateRange {
            start_date: query.start_date,
            end_date: query.end_date,
        },
        page: Pagination {
            take: query.take,
            skip: query.skip,
        },
    };
    let view = state
        .billing()
        .subscription_consumption(&account, &path.id, &query)
        .await?;
    Ok(axum::Json(view.into()))
}

/// An invoice's consumption over its period.
#[utoipa::path(get, path = "/v1/invoices/{id}/consumption", tag = "consumption",
    params(IdPath, PageQuery),
    responses(
        (status = 200, description = "per product and price group, the events and their amounts", body = ConsumptionResponse),
        (status = 400, description = "take or skip out of range", body = ErrorBody),
        (status = 404, description = "no such invoice in this account", body = ErrorBody)))]
pub async fn invoice_consumption(
    State(state): State<AppState>,
    Account(account): Account,
    ApiPath(path): ApiPath<IdPath>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> ApiResult<axum::Json<ConsumptionResponse>> {
    let view = state
        .billing()
        .invoice_consumption(&account, &path.id, Pagination::from(query))
        .await?;
    Ok(axum::Json(view.into()))
}
