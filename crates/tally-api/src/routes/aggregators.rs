//! `/v1/aggregators`: CRUD, with named filters (`agf_…`) inside the aggregator.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use tally_aggregate::{AggregatorDef, AggregatorFilterDef, ThresholdDef};
use tally_billing::{AggregatorEntry, Pagination};
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
        .routes(routes!(create_aggregator, list_aggregators))
        .routes(routes!(
            get_aggregator,
            update_aggregator,
            delete_aggregator
        ))
}

/// A named filter: a sub-series of the aggregator.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AggregatorFilter {
    /// Assigned on creation; send it back on update to keep the filter.
    #[serde(default)]
    pub id: Option<String>,
    #[schema(value_type = crate::routes::wire::NameText)]
    pub name: String,
    /// A `where` tree, or null for every event of the aggregator.
    #[serde(rename = "where", default)]
    #[schema(value_type = Option<crate::routes::enums::FilterTree>)]
    pub where_: Option<serde_json::Value>,
}

/// A usage threshold: crossing it for a customer's period sends
/// `usage.threshold_crossed` (docs/entitlements.md, "Thresholds").
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AggregatorThreshold {
    #[schema(value_type = crate::routes::wire::NameText)]
    pub name: String,
    /// A number, or the same as a string; kept exact.
    #[schema(value_type = tally_billing::schema::ThresholdValue)]
    pub threshold_value: serde_json::Value,
    /// `gte` (default): crossed at the value; `gt`: past it.
    #[serde(default = "gte")]
    #[schema(value_type = crate::routes::enums::ComparisonOperator)]
    pub comparison_operator: String,
}

fn gte() -> String {
    "gte".to_owned()
}

/// An aggregator as created or replaced (docs/aggregation.md). Missing fields are reported
/// with every other problem.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "API calls", "event_type": "api_call", "operation": "count",
    "unit_name": "call", "custom_event_name": "{record.id}",
    "filters": [{"name": "verified", "where": {"conditional": "and",
        "fields": [{"property": "isVerified", "operator": "equals", "value": true}]}}]}))]
pub struct AggregatorRequest {
    #[schema(value_type = crate::routes::wire::NameText, required = true)]
    pub name: Option<String>,
    #[schema(value_type = crate::routes::wire::EventTypeText, required = true)]
    pub event_type: Option<String>,
    /// `count`, `sum`, `min`, `max`, `avg`, `unique_count`, `latest` or `formula`.
    #[schema(value_type = crate::routes::enums::Operation, required = true)]
    pub operation: Option<String>,
    pub property: Option<String>,
    /// For `operation: formula`, e.g. `greatest(sum(totalMinutes) - 50000, 0)`.
    pub formula: Option<String>,
    /// `metered` (default) or `licensed`.
    #[serde(rename = "type")]
    #[schema(value_type = Option<crate::routes::enums::AggregatorType>)]
    pub kind: Option<String>,
    pub unit_name: Option<String>,
    #[serde(default)]
    pub allow_negative_values: bool,
    /// `{"conditional": "and"|"or", "fields": [condition | tree]}`.
    #[serde(rename = "where")]
    #[schema(value_type = Option<crate::routes::enums::FilterTree>)]
    pub where_: Option<serde_json::Value>,
    /// Display name of each event, e.g. `{record.work_email} ({record.id})`.
    pub custom_event_name: Option<String>,
    #[schema(value_type = Option<Vec<crate::routes::wire::RecordKey>>)]
    pub exposed_event_keys: Option<Vec<String>>,
    #[serde(default)]
    pub filters: Vec<AggregatorFilter>,
    /// At most 20, each with its own comparison and value.
    #[serde(default)]
    #[schema(max_items = 20)]
    pub thresholds: Vec<AggregatorThreshold>,
}

impl From<AggregatorRequest> for AggregatorDef {
    fn from(request: AggregatorRequest) -> Self {
        AggregatorDef {
            name: request.name.unwrap_or_default(),
            event_type: request.event_type.unwrap_or_default(),
            operation: request.operation.unwrap_or_default(),
            property: request.property,
            formula: request.formula,
            kind: request.kind.unwrap_or_else(|| "metered".to_owned()),
            unit_name: request.unit_name,
            allow_negative_values: request.allow_negative_values,
            where_: request.where_,
            custom_event_name: request.custom_event_name,
            exposed_event_keys: request.exposed_event_keys,
            filters: request
                .filters
                .into_iter()
                .map(|filter| AggregatorFilterDef {
                    id: filter.id.unwrap_or_default(),
                    name: filter.name,
                    where_: filter.where_,
                })
                .collect(),
            thresholds: request
                .thresholds
                .into_iter()
                .map(|threshold| ThresholdDef {
                    name: threshold.name,
                    threshold_value: threshold.threshold_value,
                    comparison_operator: threshold.comparison_operator,
                })
                .collect(),
        }
    }
}

/// An aggregator, its filters with their ids.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AggregatorView {
    pub id: String,
    pub name: String,
    pub event_type: String,
    pub operation: String,
    pub property: Option<String>,
    pub formula: Option<String>,
    #[serde(rename = "type")]
    pub kind: String,
    pub unit_name: Option<String>,
    pub allow_negative_values: bool,
    #[serde(rename = "where")]
    #[schema(value_type = Option<crate::routes::enums::FilterTree>)]
    pub where_: Option<serde_json::Value>,
    pub custom_event_name: Option<String>,
    #[schema(value_type = Option<Vec<crate::routes::wire::RecordKey>>)]
    pub exposed_event_keys: Option<Vec<String>>,
    pub filters: Vec<AggregatorFilter>,
    pub thresholds: Vec<AggregatorThreshold>,
    pub created_at: String,
    /// Where the aggregator's rollups are (docs/rollups.md): usage reads come
    /// from them once `ready`, and scan the raw events before.
    pub usage_rollup: UsageRollup,
}

/// The state of an aggregator's rollups.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UsageRollup {
    /// `ready`, `building` (a backfill runs) or `none` (no rollup: a licensed
    /// `min`, `max` or `latest`).
    #[schema(value_type = crate::routes::enums::RollupStatus)]
    pub status: &'static str,
    /// Current events the backfill has read so far.
    pub backfilled_events: u64,
}

impl From<AggregatorEntry> for AggregatorView {
    fn from(entry: AggregatorEntry) -> Self {
        let def = entry.definition;
        AggregatorView {
            id: entry.id.to_string(),
            name: def.name,
            event_type: def.event_type,
            operation: def.operation,
            property: def.property,
            formula: def.formula,
            kind: def.kind,
            unit_name: def.unit_name,
            allow_negative_values: def.allow_negative_values,
            where_: def.where_,
            custom_event_name: def.custom_event_name,
            exposed_event_keys: def.exposed_event_keys,
            filters: def
                .filters
                .into_iter()
                .map(|filter| AggregatorFilter {
                    id: Some(filter.id),
                    name: filter.name,
                    where_: filter.where_,
                })
                .collect(),
            thresholds: def
                .thresholds
                .into_iter()
                .map(|threshold| AggregatorThreshold {
                    name: threshold.name,
                    threshold_value: threshold.threshold_value,
                    comparison_operator: threshold.comparison_operator,
                })
                .collect(),
            created_at: entry.created_at.to_rfc3339(),
            usage_rollup: UsageRollup {
                status: entry.rollup.as_str(),
                backfilled_events: entry.rollup.backfilled_events(),
            },
        }
    }
}

/// Create an aggregator; each filter gets an `agf_` id.
#[utoipa::path(post, path = "/v1/aggregators", tag = "aggregators", request_body = AggregatorRequest,
    responses(
        (status = 201, description = "created", body = AggregatorView),
        (status = 400, description = "invalid definition, every problem listed", body = ErrorBody)))]
pub async fn create_aggregator(
    State(state): State<AppState>,
    Account(account): Account,
    ApiJson(request): ApiJson<AggregatorRequest>,
) -> ApiResult<(StatusCode, axum::Json<AggregatorView>)> {
    let def = AggregatorDef::from(request);
    let entry = state.billing().create_aggregator(&account, &def).await?;
    Ok((StatusCode::CREATED, axum::Json(entry.into())))
}

/// List aggregators, oldest first.
#[utoipa::path(get, path = "/v1/aggregators", tag = "aggregators", params(PageQuery),
    responses(
        (status = 200, description = "a page of aggregators", body = Paginated<AggregatorView>),
        (status = 400, description = "invalid pagination", body = ErrorBody)))]
pub async fn list_aggregators(
    State(state): State<AppState>,
    Account(account): Account,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> ApiResult<axum::Json<Paginated<AggregatorView>>> {
    let page = Pagination::from(query);
    let entries = state.billing().list_aggregators(&account, page).await?;
    Ok(axum::Json(Paginated::from_page(
        entries,
        page_request(page),
        AggregatorView::from,
    )))
}

/// Path of an aggregator.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct AggregatorPath {
    /// `agg_` id.
    pub id: String,
}

/// Get an aggregator.
#[utoipa::path(get, path = "/v1/aggregators/{id}", tag = "aggregators", params(AggregatorPath),
    responses(
        (status = 200, description = "the aggregator", body = AggregatorView),
        (status = 404, description = "no such aggregator in this account", body = ErrorBody)))]
pub async fn get_aggregator(
    State(state): State<AppState>,
    Account(account): Account,
    ApiPath(path): ApiPath<AggregatorPath>,
) -> ApiResult<axum::Json<AggregatorView>> {
    let entry = state.billing().get_aggregator(&account, &path.id).await?;
    Ok(axum::Json(entry.into()))
}

/// Replace an aggregator's definition; filters sent with their id are kept.
#[utoipa::path(put, path = "/v1/aggregators/{id}", tag = "aggregators", params(AggregatorPath),
    request_body = AggregatorRequest,
    responses(
        (status = 200, description = "the updated aggregator", body = AggregatorView),
        (status = 400, description = "invalid definition", body = ErrorBody),
        (status = 404, description = "no such aggregator in this account", body = ErrorBody),
        (status = 409, description = "a removed filter is used by a price group", body = ErrorBody)))]
pub async fn update_aggregator(
    State(state): State<AppState>,
    Account(account): Account,
    ApiPath(path): ApiPath<AggregatorPath>,
    ApiJson(request): ApiJson<AggregatorRequest>,
) -> ApiResult<axum::Json<AggregatorView>> {
    let def = AggregatorDef::from(request);
    let entry = state
        .billing()
        .update_aggregator(&account, &path.id, &def)
        .await?;
    Ok(axum::Json(entry.into()))
}

/// Delete an aggregator that no product uses.
#[utoipa::path(delete, path = "/v1/aggregators/{id}", tag = "aggregators", params(AggregatorPath),
    responses(
        (status = 204, description = "deleted"),
        (status = 404, description = "no such aggregator in this account", body = ErrorBody),
        (status = 409, description = "a product uses it", body = ErrorBody)))]
pub async fn delete_aggregator(
    State(state): State<AppState>,
    Account(account): Account,
    ApiPath(path): ApiPath<AggregatorPath>,
) -> ApiResult<StatusCode> {
    state
        .billing()
        .delete_aggregator(&account, &path.id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
