//! Pricing one event (seed 003): simulated without storing it, or ingested and
//! priced in one call.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use tally_billing::{Calculation, SimulateOptions};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiQuery};
use crate::middleware::Account;
use crate::routes::events::{EventInput, IngestResponse};
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(simulate_prices))
        .routes(routes!(ingest_and_price))
}

/// Which prices to compute.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PriceParams {
    /// Only this product (`itm_…`).
    pub product_id: Option<String>,
    /// Only this subscription (`sub_…`).
    pub subscription_id: Option<String>,
    /// Whether to compute tax (otherwise `tax_amount` is 0).
    pub include_tax: Option<bool>,
}

impl From<PriceParams> for SimulateOptions {
    fn from(params: PriceParams) -> Self {
        SimulateOptions {
            product_id: params.product_id,
            subscription_id: params.subscription_id,
            include_tax: params.include_tax.unwrap_or(false),
        }
    }
}

/// A price group, named.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PriceGroupName {
    pub id: String,
    pub name: String,
}

/// The event's marginal amount for one subscription, product and price group,
/// in minor units.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PricedLineView {
    pub customer_id: String,
    pub subscription_id: String,
    pub product_id: String,
    pub price_group: PriceGroupName,
    /// The subscription period the amount moves (RFC 3339, UTC).
    pub period_start: String,
    /// Exclusive.
    pub period_end: String,
    /// What the event changes in the group's subtotal: its marginal amount
    /// when new, 0 for a no-op update, negative when it stops counting.
    pub amount_excluding_tax: i64,
    pub tax_amount: i64,
    pub total_amount: i64,
    pub currency: String,
}

/// A calculation (`cal_…`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CalculationView {
    pub id: String,
    pub result: Vec<PricedLineView>,
}

impl From<Calculation> for CalculationView {
    fn from(calculation: Calculation) -> Self {
        CalculationView {
            id: calculation.id.to_string(),
            result: calculation
                .result
                .into_iter()
                .map(|line| PricedLineView {
                    customer_id: line.customer_id.to_string(),
                    subscription_id: line.subscription_id.to_string(),
                    product_id: line.product_id.to_string(),
                    price_group: PriceGroupName {
                        id: line.price_group.id.to_string(),
                        name: line.price_group.name,
                    },
                    period_start: line.period.start().to_rfc3339(),
                    period_end: line.period.end().to_rfc3339(),
                    amount_excluding_tax: line.amount_excluding_tax,
                    tax_amount: line.tax_amount,
                    total_amount: line.total_amount,
                    currency: line.currency,
                })
                .collect(),
        }
    }
}

/// Price one event without storing it: the change it would make (a new
/// event's marginal amount, 0 for a no-op update, negative when it stops
/// counting), per subscription period, product and price group it counts in.
#[utoipa::path(post, path = "/v1/events/simulate-prices", tag = "prices",
    params(PriceParams), request_body = EventInput,
    responses(
        (status = 200, description = "event prices simulated", body = CalculationView),
        (status = 400, description = "invalid event", body = ErrorBody),
        (status = 404, description = "unknown customer, product or subscription", body = ErrorBody)))]
pub async fn simulate_prices(
    State(state): State<AppState>,
    Account(account): Account,
    ApiQuery(params): ApiQuery<PriceParams>,
    ApiJson(event): ApiJson<serde_json::Value>,
) -> ApiResult<axum::Json<CalculationView>> {
    let options = SimulateOptions::from(params);
    let calculation = state
        .billing()
        .simulate_prices(&account, &event, &options)
        .await?;
    Ok(axum::Json(calculation.into()))
}

/// An ingested event and its prices.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PricedEventView {
    /// The calculation id (`cal_…`).
    pub id: String,
    pub result: Vec<PricedLineView>,
    /// What the upsert did.
    pub event: IngestResponse,
}

/// Ingest an event and price the change it made, against what was known
/// just before it was stored (a stale event changes no metered amount).
#[utoipa::path(post, path = "/v1/events/prices", tag = "prices",
    params(PriceParams), request_body = EventInput,
    responses(
        (status = 202, description = "stored and priced", body = PricedEventView),
        (status = 400, description = "invalid event", body = ErrorBody),
        (status = 404, description = "unknown product or subscription", body = ErrorBody),
        (status = 503, description = "ingestion queue full (`overloaded`, with Retry-After) or store unavailable", body = ErrorBody)))]
pub async fn ingest_and_price(
    State(state): State<AppState>,
    Account(account): Account,
    ApiQuery(params): ApiQuery<PriceParams>,
    ApiJson(event): ApiJson<serde_json::Value>,
) -> ApiResult<(StatusCode, axum::Json<PricedEventView>)> {
    let options = SimulateOptions::from(params);
    let result = state
        .billing()
        .ingest_and_price(&account, &event, &options)
        .await;
    let metrics = state.metrics();
    match &result {
        Ok(priced) => metrics.record_ingested(priced.event.outcome.as_str(), 1),
        Err(_) => metrics.record_ingested("failed", 1),
    }
    let priced = result?;
    let calculation = CalculationView::from(priced.calculation);
    let view = PricedEventView {
        id: calculation.id,
        result: calculation.result,
        event: IngestResponse::from(&priced.event),
    };
    Ok((StatusCode::ACCEPTED, axum::Json(view)))
}
