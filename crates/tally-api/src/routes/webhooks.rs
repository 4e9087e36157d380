//! `/v1/webhooks`: endpoints (CRUD; the secret is shown once, in the
//! create's answer) and messages (a list with their attempts, manual
//! retries). docs/webhooks.md has the delivery rules.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use tally_billing::{MessageFilter, Pagination, WebhookEndpointInput, WebhookEndpointPatch};
use tally_store::{DeliveryAttempt, WebhookEndpoint, WebhookMessage};
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
        .routes(routes!(create_endpoint, list_endpoints))
        .routes(routes!(get_endpoint, update_endpoint, delete_endpoint))
        .routes(routes!(list_messages))
        .routes(routes!(retry_message))
}

/// A webhook endpoint (its secret is shown only when it is created).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EndpointView {
    /// `we_…`.
    pub id: String,
    pub description: Option<String>,
    pub url: String,
    /// The event types sent to it.
    #[schema(value_type = Vec<WebhookEventTypeName>)]
    pub event_types: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<WebhookEndpoint> for EndpointView {
    fn from(endpoint: WebhookEndpoint) -> Self {
        EndpointView {
            id: endpoint.id.to_string(),
            description: endpoint.description,
            url: endpoint.url,
            event_types: endpoint
                .event_types
                .iter()
                .map(|t| t.as_str().to_owned())
                .collect(),
            created_at: endpoint.created_at.to_rfc3339(),
            updated_at: endpoint.updated_at.to_rfc3339(),
        }
    }
}

/// A new webhook endpoint, with its signing secret: keep it, no other
/// answer shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CreatedEndpointView {
    /// `we_…`.
    pub id: String,
    pub description: Option<String>,
    pub url: String,
    #[schema(value_type = Vec<WebhookEventTypeName>)]
    pub event_types: Vec<String>,
    /// `whsec_…`: the key (base64) that signs every message.
    pub secret: String,
    pub created_at: String,
    pub updated_at: String,
}

impl From<WebhookEndpoint> for CreatedEndpointView {
    fn from(endpoint: WebhookEndpoint) -> Self {
        let secret = endpoint.secret.clone();
        let view = EndpointView::from(endpoint);
        CreatedEndpointView {
            id: view.id,
            description: view.description,
            url: view.url,
            event_types: view.event_types,
            secret,
            created_at: view.created_at,
            updated_at: view.updated_at,
        }
    }
}

/// The webhook event types.
#[derive(ToSchema)]
#[allow(dead_code)]
pub enum WebhookEventTypeName {
    #[schema(rename = "invoice.created")]
    InvoiceCreated,
    #[schema(rename = "invoice.finalized")]
    InvoiceFinalized,
    #[schema(rename = "event.price_calculated")]
    EventPriceCalculated,
    #[schema(rename = "usage.threshold_crossed")]
    UsageThresholdCrossed,
    #[schema(rename = "usage.threshold_cleared")]
    UsageThresholdCleared,
    #[schema(rename = "entitlement.limit_reached")]
    EntitlementLimitReached,
}

/// Where a message is.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum MessageStatusName {
    Pending,
    Delivering,
    Succeeded,
    Failed,
}

/// One delivery attempt.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AttemptView {
    /// 1 for the message's first attempt, over every run.
    pub attempt: u32,
    /// When the request started.
    pub timestamp: String,
    /// The receiver's status, when it answered.
    pub status_code: Option<u16>,
    /// Why the attempt failed (a timeout, a refused connection, a non-2xx
    /// status); null when it succeeded.
    pub error: Option<String>,
    /// Until the answer's head, or the failure.
    pub duration_ms: u64,
}

impl From<DeliveryAttempt> for AttemptView {
    fn from(attempt: DeliveryAttempt) -> Self {
        AttemptView {
            attempt: attempt.attempt,
            timestamp: attempt.started_at.to_rfc3339(),
            status_code: attempt.status_code,
            error: attempt.error,
            duration_ms: attempt.duration_ms,
        }
    }
}

/// What a message carries: the body's `payload`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PayloadView {
    #[schema(value_type = WebhookEventTypeName)]
    pub event_type: String,
    /// The event's data (docs/webhooks.md, "Event types").
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

/// One event for one endpoint, with its attempts.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MessageView {
    /// `msg_…`: the `webhook-id` header of every attempt.
    pub id: String,
    pub endpoint_id: String,
    /// `evt_…`.
    pub event_id: String,
    pub payload: PayloadView,
    #[schema(value_type = MessageStatusName)]
    pub status: String,
    /// When the next attempt is due, while pending.
    pub next_attempt_at: Option<String>,
    /// Oldest first.
    pub attempts: Vec<AttemptView>,
    pub created_at: String,
}

impl From<WebhookMessage> for MessageView {
    fn from(message: WebhookMessage) -> Self {
        MessageView {
            id: message.id.to_string(),
            endpoint_id: message.endpoint_id.to_string(),
            event_id: message.event_id.to_string(),
            payload: PayloadView {
                event_type: message.event_type.as_str().to_owned(),
                data: message.data,
            },
            status: message.status.as_str().to_owned(),
            next_attempt_at: message.next_attempt_at.map(|t| t.to_rfc3339()),
            attempts: message
                .attempts
                .into_iter()
                .map(AttemptView::from)
                .collect(),
            created_at: message.created_at.to_rfc3339(),
        }
    }
}

/// An object id in the path.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct IdPath {
    /// `we_…` (endpoints) or `msg_…` (messages).
    pub id: String,
}

/// Filters and page of the message list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MessageListQuery {
    /// Only this endpoint's messages (`we_…`).
    pub endpoint_id: Option<String>,
    /// Only messages in this state.
    #[param(value_type = Option<MessageStatusName>)]
    pub status: Option<String>,
    /// 0..=100, default 50.
    #[param(minimum = 0, maximum = 100)]
    pub take: Option<i64>,
    /// ≥ 0, default 0.
    #[param(minimum = 0)]
    pub skip: Option<i64>,
}

/// Register a webhook endpoint.
#[utoipa::path(post, path = "/v1/webhooks/endpoints", tag = "webhooks",
    request_body = WebhookEndpointInput,
    responses(
        (status = 201, description = "created; the only answer showing the secret", body = CreatedEndpointView),
        (status = 400, description = "invalid endpoint (a private address, an unknown event type…), every problem listed", body = ErrorBody)))]
pub async fn create_endpoint(
    State(state): State<AppState>,
    Account(account): Account,
    ApiJson(input): ApiJson<WebhookEndpointInput>,
) -> ApiResult<(StatusCode, axum::Json<CreatedEndpointView>)> {
    let endpoint = state
        .billing()
        .create_webhook_endpoint(&account, &input)
        .await?;
    Ok((StatusCode::CREATED, axum::Json(endpoint.into())))
}

/// List webhook endpoints, oldest first.
#[utoipa::path(get, path = "/v1/webhooks/endpoints", tag = "webhooks", params(PageQuery),
    responses(
        (status = 200, description = "a page of endpoints", body = Paginated<EndpointView>),
        (status = 400, description = "invalid pagination", body = ErrorBody)))]
pub async fn list_endpoints(
    State(state): State<AppState>,
    Account(account): Account,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> ApiResult<axum::Json<Paginated<EndpointView>>> {
    let page = Pagination::from(query);
    let endpoints = state
        .billing()
        .list_webhook_endpoints(&account, page)
        .await?;
    Ok(axum::Json(Paginated::from_page(
        endpoints,
        page_request(page),
        EndpointView::from,
    )))
}

/// Get a webhook endpoint.
#[utoipa::path(get, path = "/v1/webhooks/endpoints/{id}", tag = "webhooks", params(IdPath),
    responses(
        (status = 200, description = "the endpoint", body = EndpointView),
        (status = 404, description = "no such endpoint in this account", body = ErrorBody)))]
pub async fn get_endpoint(
    State(state): State<AppState>,
    Account(account): Account,
    ApiPath(path): ApiPath<IdPath>,
) -> ApiResult<axum::Json<EndpointView>> {
    let endpoint = state
        .billing()
        .get_webhook_endpoint(&account, &path.id)
        .await?;
    Ok(axum::Json(endpoint.into()))
}

/// Change a webhook endpoint: the fields sent replace the stored ones.
#[utoipa::path(patch, path = "/v1/webhooks/endpoints/{id}", tag = "webhooks", params(IdPath),
    request_body = WebhookEndpointPatch,
    responses(
        (status = 200, description = "the endpoint after the change", body = EndpointView),
        (status = 400, description = "invalid change, every problem listed", body = ErrorBody),
        (status = 404, description = "no such endpoint in this account", body = ErrorBody)))]
pub async fn update_endpoint(
    State(state): State<AppState>,
    Account(account): Account,
    ApiPath(path): ApiPath<IdPath>,
    ApiJson(patch): ApiJson<WebhookEndpointPatch>,
) -> ApiResult<axum::Json<EndpointView>> {
    let endpoint = state
        .billing()
        .update_webhook_endpoint(&account, &path.id, &patch)
        .await?;
    Ok(axum::Json(endpoint.into()))
}

/// Delete a webhook endpoint and its messages.
#[utoipa::path(delete, path = "/v1/webhooks/endpoints/{id}", tag = "webhooks", params(IdPath),
    responses(
        (status = 204, description = "deleted"),
        (status = 404, description = "no such endpoint in this account", body = ErrorBody)))]
pub async fn delete_endpoint(
    State(state): State<AppState>,
    Account(account): Account,
    ApiPath(path): ApiPath<IdPath>,
) -> ApiResult<StatusCode> {
    state
        .billing()
        .delete_webhook_endpoint(&account, &path.id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// List webhook messages, newest first, with their attempts.
#[utoipa::path(get, path = "/v1/webhooks/messages", tag = "webhooks", params(MessageListQuery),
    responses(
        (status = 200, description = "a page of messages", body = Paginated<MessageView>),
        (status = 400, description = "an invalid status or page", body = ErrorBody)))]
pub async fn list_messages(
    State(state): State<AppState>,
    Account(account): Account,
    ApiQuery(query): ApiQuery<MessageListQuery>,
) -> ApiResult<axum::Json<Paginated<MessageView>>> {
    let page = Pagination {
        take: query.take,
        skip: query.skip,
    };
    let filter = MessageFilter {
        endpoint_id: query.endpoint_id,
        status: query.status,
    };
    let messages = state
        .billing()
        .list_webhook_messages(&account, &filter, page)
        .await?;
    Ok(axum::Json(Paginated::from_page(
        messages,
        page_request(page),
        MessageView::from,
    )))
}

/// Send a message again: a new run of attempts, due now, whatever its state
/// (a `failed` one included).
#[utoipa::path(post, path = "/v1/webhooks/messages/{id}/retry", tag = "webhooks", params(IdPath),
    responses(
        (status = 200, description = "the message, pending", body = MessageView),
        (status = 404, description = "no such message in this account", body = ErrorBody),
        (status = 409, description = "an attempt is in progress", body = ErrorBody)))]
pub async fn retry_message(
    State(state): State<AppState>,
    Account(account): Account,
    ApiPath(path): ApiPath<IdPath>,
) -> ApiResult<axum::Json<MessageView>> {
    let message = state
        .billing()
        .retry_webhook_message(&account, &path.id)
        .await?;
    Ok(axum::Json(message.into()))
}
