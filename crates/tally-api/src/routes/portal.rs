//! `POST /v1/customers/{id}/portal_sessions`: a signed link to the customer's
//! read-only billing page (docs/portal.md). Nothing is stored: the link
//! carries the account, the customer and its expiry, signed with the
//! server's portal secret.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use tally_billing::BillingError;
use tally_event::Timestamp;
use tally_web::{DEFAULT_LINK_SECONDS, MAX_LINK_SECONDS, MIN_LINK_SECONDS};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiPath, RawBody, is_json, parse_json};
use crate::middleware::Account;
use crate::routes::customers::CustomerPath;
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create_portal_session))
}

/// Optional body of `POST /v1/customers/{id}/portal_sessions`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PortalSessionRequest {
    /// How long the link opens, in seconds: 60..=604800, default 3600.
    /// A whole number, also written with a zero fraction (`900.0`).
    #[schema(value_type = Option<i64>, minimum = 60, maximum = 604800)]
    pub expires_in_seconds: Option<serde_json::Number>,
}

/// A link to the customer's billing page.
#[derive(Debug, Serialize, ToSchema)]
pub struct PortalSession {
    /// `{public URL}/portal/{token}`: whoever has it sees this customer's
    /// subscriptions and invoices until `expires_at`.
    pub url: String,
    /// The instant the link stops opening (RFC 3339, UTC).
    pub expires_at: String,
}

/// Create a link to the customer's read-only billing page.
#[utoipa::path(post, path = "/v1/customers/{id}/portal_sessions", tag = "customers",
    params(CustomerPath),
    request_body(content = Option<PortalSessionRequest>, description = "optional"),
    responses(
        (status = 201, description = "the link", body = PortalSession),
        (status = 400, description = "`expires_in_seconds` not an integer in 60..=604800", body = ErrorBody),
        (status = 404, description = "no such customer in this account", body = ErrorBody)))]
pub async fn create_portal_session(
    State(state): State<AppState>,
    Account(account): Account,
    ApiPath(path): ApiPath<CustomerPath>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> ApiResult<(StatusCode, axum::Json<PortalSession>)> {
    let seconds = lifetime(&headers, &body)?;
    let customer = state.billing().get_customer(&account, &path.id).await?;
    let now = state.billing().now();
    let expires_at = Timestamp::from_millis(now.as_millis() + i64::from(seconds) * 1000)
        .map_err(|e| ApiError::internal(format!("link expiry: {e}")))?;
    let url = state
        .config()
        .portal
        .link(&account, &customer.id, expires_at);
    let session = PortalSession {
        url,
        expires_at: expires_at.to_rfc3339(),
    };
    Ok((StatusCode::CREATED, axum::Json(session)))
}

/// The link's life in seconds: the body's, or the default without a body.
fn lifetime(headers: &HeaderMap, body: &Bytes) -> ApiResult<u32> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(DEFAULT_LINK_SECONDS);
    }
    if !is_json(headers) {
        return Err(ApiError::unsupported_media_type());
    }
    // `null` reads as no body, as the document's optional body allows; any
    // other body is an object.
    if body.trim_ascii() != b"null" {
        crate::extract::require_an_object(body)?;
    }
    let request: Option<PortalSessionRequest> = parse_json(body)?;
    let Some(seconds) = request.and_then(|request| request.expires_in_seconds) else {
        return Ok(DEFAULT_LINK_SECONDS);
    };
    let Some(seconds) = tally_billing::input::integral(&seconds) else {
        return Err(BillingError::invalid(
            "/expires_in_seconds",
            "invalid_value",
            "expires_in_seconds must be a whole number of seconds",
        )
        .into());
    };
    u32::try_from(seconds)
        .ok()
        .filter(|s| (MIN_LINK_SECONDS..=MAX_LINK_SECONDS).contains(s))
        .ok_or_else(|| {
            BillingError::invalid(
                "/expires_in_seconds",
                "out_of_range",
                format!(
                    "expires_in_seconds must be between {MIN_LINK_SECONDS} and {MAX_LINK_SECONDS}"
                ),
            )
            .into()
        })
}
