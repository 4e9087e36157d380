//! Usage: a customer's totals, one aggregator's total and its events (seed 002),
//! and an aggregator's time series. Quantities are exact JSON numbers.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use tally_aggregate::{Bucket, Diagnostics};
use tally_billing::{
    AggregatorUsage, DateRange, Pagination, TimeSeries, TimeSeriesQuery, UsageEventsPage,
    UsageEventsQuery, UsageSummary,
};
use tally_event::decimal_to_json;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiPath, ApiQuery};
use crate::middleware::Account;
use crate::page::{PageMeta, Paginated};
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(customer_usage))
        .routes(routes!(aggregator_usage))
        .routes(routes!(usage_events))
        .routes(routes!(time_series))
}

/// Path of a customer's usage.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct CustomerUsagePath {
    /// `cus_` id or external id.
    pub id: String,
}

/// Path of a customer's usage of one aggregator.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct AggregatorUsagePath {
    /// `cus_` id or external id.
    pub id: String,
    /// `agg_` id.
    pub aggregator_id: String,
}

/// The events behind a quantity beyond those counted: nothing is skipped
/// silently.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DiagnosticsView {
    /// Events selected (type, window, `where` and filter), usable or not.
    pub matched_events: u64,
    /// Selected events whose property was missing or null.
    pub skipped_missing: u64,
    /// Selected events whose property was not a number where one was needed.
    pub skipped_not_numeric: u64,
    /// The negative quantity that `allow_negative_values: false` turned into 0.
    #[schema(value_type = Option<f64>)]
    pub clamped_from: serde_json::Value,
}

impl From<&Diagnostics> for DiagnosticsView {
    fn from(diagnostics: &Diagnostics) -> Self {
        DiagnosticsView {
            matched_events: diagnostics.matched_events,
            skipped_missing: diagnostics.skipped_missing,
            skipped_not_numeric: diagnostics.skipped_not_numeric,
            clamped_from: diagnostics
                .clamped_from
                .map_or(serde_json::Value::Null, decimal_to_json),
        }
    }
}

/// One aggregator's usage in the customer's current period.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UsageSummaryView {
    pub aggregator_id: String,
    pub name: String,
    pub unit_name: Option<String>,
    /// The quantity, an exact JSON number.
    #[schema(value_type = f64)]
    pub total: serde_json::Value,
    /// Events behind the quantity.
    pub count: u64,
    pub period_start: String,
    pub period_end: String,
    pub diagnostics: DiagnosticsView,
}

impl From<UsageSummary> for UsageSummaryView {
    fn from(summary: UsageSummary) -> Self {
        UsageSummaryView {
            aggregator_id: summary.aggregator_id.to_string(),
            name: summary.name,
            unit_name: summary.unit_name,
            total: decimal_to_json(summary.total),
            count: summary.count,
            period_start: summary.period.start().to_rfc3339(),
            period_end: summary.period.end().to_rfc3339(),
            diagnostics: DiagnosticsView::from(&summary.diagnostics),
        }
    }
}

/// An optional aggregator filter.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FilterQuery {
    /// Only this filter's events (`agf_…`): the usage of the one aggregator
    /// owning it; a 400 when none of the customer's aggregators does.
    pub aggregator_filter_id: Option<String>,
}

/// The customer's usage of every aggregator its subscriptions bill (or, with
/// none, every aggregator over the current calendar month).
#[utoipa::path(get, path = "/v1/customers/{id}/usage", tag = "usage",
    params(CustomerUsagePath, FilterQuery),
    responses(
        (status = 200, description = "usage per aggregator", body = Vec<UsageSummaryView>),
        (status = 400, description = "unknown filter or query parameter", body = ErrorBody),
        (status = 404, description = "no such customer in this account", body = ErrorBody)))]
pub async fn customer_usage(
    State(state): State<AppState>,
    Account(account): Account,
    ApiPath(path): ApiPath<CustomerUsagePath>,
    ApiQuery(query): ApiQuery<FilterQuery>,
) -> ApiResult<axum::Json<Vec<UsageSummaryView>>> {
    let usage = state
        .billing()
        .customer_usage_of(&account, &path.id, query.aggregator_filter_id.as_deref())
        .await?;
    Ok(axum::Json(usage.into_iter().map(Into::into).collect()))
}

/// `start_date` and `end_date` (ISO 8601); a missing bound comes from the
/// customer's current period.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RangeQuery {
    /// ISO 8601, inclusive.
    #[param(value_type = Option<crate::routes::wire::TimestampParam>)]
    pub start_date: Option<String>,
    /// ISO 8601, exclusive; after `start_date`.
    #[param(value_type = Option<crate::routes::wire::TimestampParam>)]
    pub end_date: Option<String>,
}

/// One aggregator's usage over a period.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AggregatorUsageView {
    pub aggregator_id: String,
    /// The quantity, an exact JSON number.
    #[schema(value_type = f64)]
    pub total: serde_json::Value,
    pub count: u64,
    pub period_start: String,
    pub period_end: String,
    pub diagnostics: DiagnosticsView,
}

impl From<AggregatorUsage> for AggregatorUsageView {
    fn from(usage: AggregatorUsage) -> Self {
        AggregatorUsageView {
            aggregator_id: usage.aggregator_id.to_string(),
            total: decimal_to_json(usage.total),
            count: usage.count,
            period_start: usage.period_start.to_rfc3339(),
            period_end: usage.period_end.to_rfc3339(),
            diagnostics: DiagnosticsView::from(&usage.diagnostics),
        }
    }
}

/// `start_date`, `end_date` and an optional filter of the aggregator.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AggregatorUsageQuery {
    /// ISO 8601, inclusive.
    #[param(value_type = Option<crate::routes::wire::TimestampParam>)]
    pub start_date: Option<String>,
    /// ISO 8601, exclusive; after `start_date`.
    #[param(value_type = Option<crate::routes::wire::TimestampParam>)]
    pub end_date: Option<String>,
    /// Only this filter's events (`agf_…`); another aggregator's filter is a
    /// 400 (`filter_of_another_aggregator`), one no aggregator has a 404
    /// (`unknown_filter`).
    pub aggregator_filter_id: Option<String>,
}

/// The customer's usage of one aggregator over `[start_date, end_date)`.
#[utoipa::path(get, path = "/v1/customers/{id}/usage/{aggregator_id}", tag = "usage",
    params(AggregatorUsagePath, AggregatorUsageQuery),
    responses(
        (status = 200, description = "the total", body = AggregatorUsageView),
        (status = 400, description = "invalid dates", body = ErrorBody),
        (status = 404, description = "customer or aggregator not found", body = ErrorBody)))]
pub async fn aggregator_usage(
    State(state): State<AppState>,
    Account(account): Account,
    ApiPath(path): ApiPath<AggregatorUsagePath>,
    ApiQuery(query): ApiQuery<AggregatorUsageQuery>,
) -> ApiResult<axum::Json<AggregatorUsageView>> {
    let range = DateRange {
        start_date: query.start_date,
        end_date: query.end_date,
    };
    let usage = state
        .billing()
        .customer_filter_usage(
            &account,
            &path.id,
            &path.aggregator_id,
            &range,
            query.aggregator_filter_id.as_deref(),
        )
        .await?;
    Ok(axum::Json(usage.into()))
}

/// Query of the usage events list (seed 002).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UsageEventsParams {
    /// ISO 8601.
    #[param(value_type = Option<crate::routes::wire::TimestampParam>)]
    pub start_date: Option<String>,
    /// ISO 8601.
    #[param(value_type = Option<crate::routes::wire::TimestampParam>)]
    pub end_date: Option<String>,
    /// Restricts the events to that filter; must belong to the aggregator.
    pub aggregator_filter_id: Option<String>,
    /// 0..=100, default 50.
    #[param(minimum = 0, maximum = 100)]
    pub take: Option<i64>,
    /// ≥ 0, default 0.
    #[param(minimum = 0)]
    pub skip: Option<i64>,
}

/// A raw billable event (seed 002 `CustomerUsageEvent`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CustomerUsageEvent {
    /// Event ID.
    pub id: String,
    /// Display name derived from the event record (`custom_event_name`).
    pub name: String,
    /// Event timestamp (ISO-8601).
    pub timestamp: String,
    /// Raw event payload as ingested.
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
}

fn usage_events_page(page: UsageEventsPage) -> Paginated<CustomerUsageEvent> {
    Paginated {
        meta: PageMeta {
            total: page.total,
            taken: page.taken,
            skipped: page.skipped,
        },
        data: page
            .data
            .into_iter()
            .map(|event| CustomerUsageEvent {
                id: event.id.to_string(),
                name: event.name,
                timestamp: event.timestamp.to_rfc3339(),
                payload: event.payload,
            })
            .collect(),
    }
}

/// List raw billable events for a customer and an aggregator over a period.
#[utoipa::path(get, path = "/v1/customers/{id}/usage/{aggregator_id}/events", tag = "usage",
    params(AggregatorUsagePath, UsageEventsParams),
    responses(
        (status = 200, description = "a page of events", body = Paginated<CustomerUsageEvent>),
        (status = 400, description = "invalid dates, filter or pagination", body = ErrorBody),
        (status = 404, description = "customer or aggregator not found", body = ErrorBody)))]
pub async fn usage_events(
    State(state): State<AppState>,
    Account(account): Account,
    ApiPath(path): ApiPath<AggregatorUsagePath>,
    ApiQuery(query): ApiQuery<UsageEventsParams>,
) -> ApiResult<axum::Json<Paginated<CustomerUsageEvent>>> {
    let query = UsageEventsQuery {
        range: DateRange {
            start_date: query.start_date,
            end_date: query.end_date,
        },
        aggregator_filter_id: query.aggregator_filter_id,
        page: Pagination {
            take: query.take,
            skip: query.skip,
        },
    };
    let page = state
        .billing()
        .customer_usage_events(&account, &path.id, &path.aggregator_id, &query)
        .await?;
    Ok(axum::Json(usage_events_page(page)))
}

/// Path of an aggregator's time series.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct TimeSeriesPath {
    /// `agg_` id.
    pub id: String,
}

/// Query of a time series.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TimeSeriesParams {
    /// ISO 8601; default: the start of the current calendar month (UTC).
    #[param(value_type = Option<crate::routes::wire::TimestampParam>)]
    pub start_date: Option<String>,
    /// ISO 8601; default: the end of the current calendar month (UTC).
    #[param(value_type = Option<crate::routes::wire::TimestampParam>)]
    pub end_date: Option<String>,
    /// `hour`, `day` (default) or `month`.
    #[param(value_type = Option<crate::routes::enums::GroupBy>)]
    pub group_by: Option<String>,
    pub aggregator_filter_id: Option<String>,
    /// Only this customer (`cus_` id or external id); default every customer.
    pub customer_id: Option<String>,
}

/// One bucket of a time series.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TimeSeriesPointView {
    pub start: String,
    pub end: String,
    #[schema(value_type = f64)]
    pub total: serde_json::Value,
    pub count: u64,
}

/// Per-bucket usage of an aggregator.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TimeSeriesView {
    pub aggregator_id: String,
    pub group_by: String,
    pub period_start: String,
    pub period_end: String,
    pub data: Vec<TimeSeriesPointView>,
}

fn bucket_name(bucket: Bucket) -> &'static str {
    match bucket {
        Bucket::Hour => "hour",
        Bucket::Day => "day",
        Bucket::Month => "month",
    }
}

impl From<TimeSeries> for TimeSeriesView {
    fn from(series: TimeSeries) -> Self {
        TimeSeriesView {
            aggregator_id: series.aggregator_id.to_string(),
            group_by: bucket_name(series.group_by).to_owned(),
            period_start: series.period_start.to_rfc3339(),
            period_end: series.period_end.to_rfc3339(),
            data: series
                .points
                .into_iter()
                .map(|point| TimeSeriesPointView {
                    start: point.start.to_rfc3339(),
                    end: point.end.to_rfc3339(),
                    total: decimal_to_json(point.total),
                    count: point.count,
                })
                .collect(),
        }
    }
}

/// An aggregator's usage per hour, day or month (UTC buckets, empty ones 0).
#[utoipa::path(get, path = "/v1/aggregators/{id}/usage/timeseries", tag = "usage",
    params(TimeSeriesPath, TimeSeriesParams),
    responses(
        (status = 200, description = "the series", body = TimeSeriesView),
        (status = 400, description = "invalid dates, grouping or filter", body = ErrorBody),
        (status = 404, description = "no such aggregator in this account", body = ErrorBody)))]
pub async fn time_series(
    State(state): State<AppState>,
    Account(account): Account,
    ApiPath(path): ApiPath<TimeSeriesPath>,
    ApiQuery(query): ApiQuery<TimeSeriesParams>,
) -> ApiResult<axum::Json<TimeSeriesView>> {
    let query = TimeSeriesQuery {
        range: DateRange {
            start_date: query.start_date,
            end_date: query.end_date,
        },
        group_by: query.group_by,
        aggregator_filter_id: query.aggregator_filter_id,
        customer_id: query.customer_id,
    };
    let series = state
        .billing()
        .aggregator_time_series(&account, &path.id, &query)
        .await?;
    Ok(axum::Json(series.into()))
}
