//! Event history: `GET /v1/events/history` (every version of one event) and
//! `POST /v1/events/purge` (erase every version for good).

use axum::extract::State;
use serde::{Deserialize, Serialize};
use tally_billing::DeleteEvents;
use tally_store::EventVersion;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiQuery};
use crate::middleware::Account;
use crate::routes::events::EventView;
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(event_history))
        .routes(routes!(purge_events))
}

/// The key of one event.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// The event's type.
    #[param(value_type = crate::routes::wire::EventTypeText)]
    pub event_type: String,
    /// Its record id (integer ids as their digits).
    #[param(value_type = crate::routes::wire::IdText)]
    pub record_id: String,
}

/// One stored version of an event.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct VersionView {
    /// The ingestion sequence number of this version (per account, increasing).
    pub seq: i64,
    /// `current`, `superseded` (a later version replaced it), `stale` (older
    /// than the current version when it arrived: history only) or `deleted`.
    pub status: String,
    /// The sequence from which it stopped being the current version, if it did.
    pub current_until: Option<i64>,
    /// The sequence of the deletion that ended the event, if it was deleted.
    pub deleted_at: Option<i64>,
    /// The version itself.
    pub event: EventView,
}

impl From<EventVersion> for VersionView {
    fn from(version: EventVersion) -> Self {
        VersionView {
            seq: version.event.seq.get(),
            status: version.status().as_str().to_owned(),
            current_until: version.current_until.map(|s| s.get()),
            deleted_at: version.deleted_at.map(|s| s.get()),
            event: EventView::from(version.event),
        }
    }
}

/// Every version of one event.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HistoryResponse {
    /// In sequence order: the order they were stored.
    pub data: Vec<VersionView>,
}

/// Every stored version of one event (created, updated, stale, deleted), in
/// the order they were stored.
#[utoipa::path(get, path = "/v1/events/history", tag = "events", params(HistoryQuery),
    responses(
        (status = 200, description = "every version", body = HistoryResponse),
        (status = 400, description = "invalid key", body = ErrorBody),
        (status = 404, description = "no version of this event", body = ErrorBody)))]
pub async fn event_history(
    State(state): State<AppState>,
    Account(account): Account,
    ApiQuery(query): ApiQuery<HistoryQuery>,
) -> ApiResult<axum::Json<HistoryResponse>> {
    let history = state
        .billing()
        .event_history(&account, &query.event_type, &query.record_id)
        .await?;
    Ok(axum::Json(HistoryResponse {
        data: history.into_iter().map(VersionView::from).collect(),
    }))
}

/// How many events a purge erased.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PurgeEventsResponse {
    /// Events (keys) that had any version.
    pub purged: u64,
}

/// Erase every version of events by record ids, deleted or not: the way to
/// remove personal data for good. Unlike `DELETE /v1/events`, nothing is kept:
/// no read, as of any earlier time, sees them again.
#[utoipa::path(post, path = "/v1/events/purge", tag = "events", request_body = DeleteEvents,
    responses(
        (status = 200, description = "how many events had any version", body = PurgeEventsResponse),
        (status = 400, description = "invalid request", body = ErrorBody)))]
pub async fn purge_events(
    State(state): State<AppState>,
    Account(account): Account,
    ApiJson(request): ApiJson<DeleteEvents>,
) -> ApiResult<axum::Json<PurgeEventsResponse>> {
    let purged = state.billing().purge_events(&account, &request).await?;
    Ok(axum::Json(PurgeEventsResponse { purged }))
}
