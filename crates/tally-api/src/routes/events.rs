//! `/v1/events`: ingestion (single and batch), listing and deletion.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use tally_billing::readers::UsageWarning;
use tally_billing::{BatchOutcome, DeleteEvents, EventFilter, IngestedEvent, Pagination};
use tally_store::StoredEvent;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ApiResult, ErrorBody, FieldError};
use crate::extract::{ApiJson, ApiQuery, JsonBytes};
use crate::middleware::Account;
use crate::page::Paginated;
use crate::routes::page_request;
use crate::state::AppState;

/// The batch route reads its body itself, under `batch_body_limit_bytes`
/// (crate::batch), so it needs no body-limit layer.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(ingest_event))
        .routes(routes!(list_events, delete_events))
        .routes(routes!(ingest_batch))
}

/// A usage event as sent (docs/events.md); validated by the engine, every problem
/// reported at once.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"customer_id": "cus_fh4585Jjrekkk", "timestamp": "2022-01-05 21:56:52",
    "event_type": "new_transaction", "record": {"id": 485, "amount": 2500}}))]
pub struct EventInput {
    /// A `cus_` id or the customer's external id; an unknown one creates the customer.
    #[schema(value_type = crate::routes::wire::IdText)]
    pub customer_id: String,
    /// `[A-Za-z0-9_.:-]`, 1 to 100 characters.
    #[schema(value_type = crate::routes::wire::EventTypeText)]
    pub event_type: String,
    /// RFC 3339, naive `YYYY-MM-DD HH:MM:SS[.fff]` (UTC), or epoch milliseconds.
    #[schema(value_type = crate::routes::wire::EventTimestamp)]
    pub timestamp: serde_json::Value,
    /// A flat object with an `id` (string or integer) and at most 25 properties.
    #[schema(value_type = crate::routes::wire::EventRecord)]
    pub record: serde_json::Value,
}

/// Something to know about an accepted event: personal data found in it, or
/// why it may bill less than expected.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Warning {
    /// JSON pointer of the value (`/record/email`, `/record/amount`, `/event_type`).
    pub path: String,
    /// Personal data: `email`, `card_number`, `iban` or `phone`. Usage:
    /// `no_aggregator` (no aggregator reads this event type) or `not_numeric`
    /// (the aggregator `aggregator_id` selects the event but needs a number
    /// here: it will skip the event).
    pub kind: String,
    /// `not_numeric` only: the aggregator that will skip the event.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aggregator_id: Option<String>,
}

fn warnings(event: &IngestedEvent) -> Vec<Warning> {
    let personal = event.warnings.iter().map(|warning| Warning {
        path: warning.path.clone(),
        kind: warning.kind.as_str().to_owned(),
        aggregator_id: None,
    });
    let usage = event.usage_warnings.iter().map(|warning| match warning {
        UsageWarning::NoAggregator => Warning {
            path: "/event_type".to_owned(),
            kind: "no_aggregator".to_owned(),
            aggregator_id: None,
        },
        UsageWarning::NotNumeric {
            aggregator_id,
            path,
        } => Warning {
            path: path.clone(),
            kind: "not_numeric".to_owned(),
            aggregator_id: Some(aggregator_id.to_string()),
        },
    });
    personal.chain(usage).collect()
}

/// What happened to an ingested event.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct IngestResponse {
    /// The id of the event stored under its key (`evt_…`).
    pub id: String,
    /// `created`, `updated` (now the current version), `stale` (older than the
    /// current version: kept as history, the current version unchanged) or
    /// `unchanged` (identical to the current version: nothing stored).
    pub outcome: String,
    pub warnings: Vec<Warning>,
}

impl From<&IngestedEvent> for IngestResponse {
    fn from(event: &IngestedEvent) -> Self {
        IngestResponse {
            id: event.id.to_string(),
            outcome: event.outcome.as_str().to_owned(),
            warnings: warnings(event),
        }
    }
}

/// Ingest one event; upserts by (`event_type`, `record.id`).
#[utoipa::path(post, path = "/v1/events", tag = "events", request_body = EventInput,
    responses(
        (status = 202, description = "stored", body = IngestResponse),
        (status = 400, description = "invalid event, every problem listed", body = ErrorBody),
        (status = 401, description = "missing or unknown api key", body = ErrorBody),
        (status = 413, description = "body too large", body = ErrorBody),
        (status = 415, description = "not json", body = ErrorBody),
        (status = 429, description = "rate limited", body = ErrorBody),
        (status = 503, description = "ingestion queue full (`overloaded`, with Retry-After) or store unavailable", body = ErrorBody)))]
pub async fn ingest_event(
    State(state): State<AppState>,
    Account(account): Account,
    JsonBytes(body): JsonBytes,
) -> ApiResult<(StatusCode, axum::Json<IngestResponse>)> {
    let result = state.billing().ingest_event_bytes(&account, &body).await;
    let metrics = state.metrics();
    match &result {
        Ok(event) => metrics.record_ingested(event.outcome.as_str(), 1),
        Err(_) => metrics.record_ingested("failed", 1),
    }
    let event = result?;
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(IngestResponse::from(&event)),
    ))
}

/// One accepted event of a batch.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BatchCreated {
    /// Position in the request array.
    pub index: usize,
    pub id: String,
    pub outcome: String,
    pub warnings: Vec<Warning>,
}

/// One refused event of a batch, echoed with every problem found.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BatchFailed {
    pub index: usize,
    /// The item as sent: any JSON value (a refused item need not be an object).
    #[schema(schema_with = crate::routes::enums::any_json)]
    pub event: serde_json::Value,
    pub errors: Vec<FieldError>,
}

/// A batch's outcome: valid events are stored even when others fail.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BatchResponse {
    pub events_created: Vec<BatchCreated>,
    pub events_failed: Vec<BatchFailed>,
}

fn batch_response(outcome: BatchOutcome, events: &mut [serde_json::Value]) -> BatchResponse {
    let events_created = outcome
        .accepted
        .iter()
        .map(|accepted| BatchCreated {
            index: accepted.index,
            id: accepted.event.id.to_string(),
            outcome: accepted.event.outcome.as_str().to_owned(),
            warnings: warnings(&accepted.event),
        })
        .collect();
    let events_failed = outcome
        .rejected
        .into_iter()
        .map(|rejected| BatchFailed {
            index: rejected.index,
            event: events
                .get_mut(rejected.index)
                .map(std::mem::take)
                .unwrap_or_default(),
            errors: rejected.errors.into_iter().map(FieldError::from).collect(),
        })
        .collect();
    BatchResponse {
        events_created,
        events_failed,
    }
}

/// Ingest 1 to 5000 events (a JSON array) with partial success.
#[utoipa::path(post, path = "/v1/events/batch", tag = "events", request_body = crate::routes::wire::EventBatch,
    responses(
        (status = 202, description = "valid events stored, the others listed", body = BatchResponse),
        (status = 400, description = "not an array, empty, or over 5000 events", body = ErrorBody),
        (status = 413, description = "body too large", body = ErrorBody),
        (status = 503, description = "ingestion queue full (`overloaded`, with Retry-After) or store unavailable", body = ErrorBody)))]
pub async fn ingest_batch(
    State(state): State<AppState>,
    Account(account): Account,
    request: axum::extract::Request,
) -> ApiResult<(StatusCode, axum::Json<BatchResponse>)> {
    if !crate::extract::is_json(request.headers()) {
        return Err(ApiError::unsupported_media_type());
    }
    // The body's exact length when known (a `Content-Length`, or a body
    // built in process).
    let content_length = axum::body::HttpBody::size_hint(request.body()).exact();
    let limit = state.config().batch_body_limit_bytes;
    // Counted while parsed; a large body is parsed as it arrives, off the
    // request threads (crate::batch).
    let mut events =
        crate::batch::read_batch_body(request.into_body(), content_length, limit).await?;
    let outcome = state.billing().ingest_batch(&account, &events).await?;
    let metrics = state.metrics();
    for accepted in &outcome.accepted {
        metrics.record_ingested(accepted.event.outcome.as_str(), 1);
    }
    metrics.record_ingested("failed", outcome.rejected.len() as u64);
    let response = batch_response(outcome, &mut events);
    Ok((StatusCode::ACCEPTED, axum::Json(response)))
}

/// Filters of `GET /v1/events`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventListQuery {
    #[param(value_type = Option<crate::routes::wire::EventTypeText>)]
    pub event_type: Option<String>,
    /// A `cus_` id or an external id.
    pub customer_id: Option<String>,
    /// Comma-separated record ids.
    #[serde(rename = "record_id__in")]
    #[param(value_type = Option<crate::routes::wire::RecordIdList>)]
    pub record_ids_in: Option<String>,
    /// Inclusive lower bound.
    #[param(value_type = Option<crate::routes::wire::TimestampParam>)]
    pub timestamp_gte: Option<String>,
    /// Inclusive upper bound.
    #[param(value_type = Option<crate::routes::wire::TimestampParam>)]
    pub timestamp_lte: Option<String>,
    /// `asc` (default) or `desc`, by timestamp.
    #[param(value_type = Option<crate::routes::enums::SortOrder>)]
    pub order: Option<String>,
    /// 0..=100, default 50.
    #[param(minimum = 0, maximum = 100)]
    pub take: Option<i64>,
    /// ≥ 0, default 0.
    #[param(minimum = 0)]
    pub skip: Option<i64>,
}

/// A stored event (its current version).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EventView {
    pub id: String,
    pub event_type: String,
    pub customer_id: String,
    /// RFC 3339, UTC, milliseconds.
    pub timestamp: String,
    #[schema(value_type = Object)]
    pub record: serde_json::Value,
    pub ingested_at: String,
}

impl From<StoredEvent> for EventView {
    fn from(event: StoredEvent) -> Self {
        EventView {
            id: event.id.to_string(),
            event_type: event.event_type.to_string(),
            customer_id: event.customer_id.to_string(),
            timestamp: event.timestamp.to_rfc3339(),
            record: event.record.to_json(),
            ingested_at: event.ingested_at.to_rfc3339(),
        }
    }
}

/// List stored events, oldest first unless `order=desc`.
#[utoipa::path(get, path = "/v1/events", tag = "events", params(EventListQuery),
    responses(
        (status = 200, description = "a page of events", body = Paginated<EventView>),
        (status = 400, description = "invalid filter or pagination", body = ErrorBody)))]
pub async fn list_events(
    State(state): State<AppState>,
    Account(account): Account,
    ApiQuery(query): ApiQuery<EventListQuery>,
) -> ApiResult<axum::Json<Paginated<EventView>>> {
    let page = Pagination {
        take: query.take,
        skip: query.skip,
    };
    let filter = EventFilter {
        event_type: query.event_type,
        customer_id: query.customer_id,
        record_ids: query
            .record_ids_in
            .map(|ids| ids.split(',').map(|id| id.trim().to_owned()).collect()),
        timestamp_gte: query.timestamp_gte,
        timestamp_lte: query.timestamp_lte,
        order: query.order,
        page,
    };
    let request = page_request(page);
    let events = state.billing().list_events(&account, &filter).await?;
    Ok(axum::Json(Paginated::from_page(
        events,
        request,
        EventView::from,
    )))
}

/// How many events a delete removed.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeleteEventsResponse {
    /// Events that had a current version.
    pub deleted: u64,
}

/// Delete events of one type by record ids: they stop counting from now on,
/// and their history is kept (`POST /v1/events/purge` erases it).
#[utoipa::path(delete, path = "/v1/events", tag = "events", request_body = DeleteEvents,
    responses(
        (status = 200, description = "how many had a current version", body = DeleteEventsResponse),
        (status = 400, description = "invalid request", body = ErrorBody)))]
pub async fn delete_events(
    State(state): State<AppState>,
    Account(account): Account,
    ApiJson(request): ApiJson<DeleteEvents>,
) -> ApiResult<axum::Json<DeleteEventsResponse>> {
    let deleted = state.billing().delete_events(&account, &request).await?;
    Ok(axum::Json(DeleteEventsResponse { deleted }))
}
